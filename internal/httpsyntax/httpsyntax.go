// Package httpsyntax holds small checks of HTTP credential syntax shared by
// the verifier and the HTTP layer.
package httpsyntax

import (
	"strings"

	"github.com/authkit-go/authkit/internal/opaque"
)

// IsB64Token reports whether s is an RFC 6750 §2.1 b64token (also RFC 7235's
// token68): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func IsB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Credentials splits an Authorization header value into its auth-scheme
// and what follows it, without the spaces between them. The scheme ends at
// the first space or horizontal tab; RFC 7235 §2.1 allows only spaces
// there, so tab reports a tab among them: a malformed credential of that
// scheme, not a header of another scheme (found by review: "Bearer<TAB>…"
// was taken for no credentials at all, and a revoked token then passed as
// anonymous, or a cookie was used instead).
func Credentials(v string) (scheme, rest string, tab bool) {
	i := 0
	for i < len(v) && v[i] != ' ' && v[i] != '\t' {
		i++
	}
	scheme = v[:i]
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		tab = tab || v[i] == '\t'
		i++
	}
	return scheme, v[i:], tab
}

// SchemeIs reports whether scheme is name, compared ASCII case-insensitively
// as HTTP compares auth-schemes. strings.EqualFold also folds Unicode: "Baſic"
// (a long s) and "ToKen" with a Kelvin sign matched, which a proxy
// comparing ASCII would not recognise (found by review).
func SchemeIs(scheme, name string) bool {
	if len(scheme) != len(name) {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		a, b := scheme[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// JWTShaped reports whether s looks like a JWS in compact form: a b64token
// of three segments, the first a JSON object ("eyJ", base64url of `{"`).
func JWTShaped(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 && IsB64Token(s)
}

// maxLogPath bounds a path in a log line.
const maxLogPath = 256

// LogPath returns a URL path as a log line may carry it: every segment
// that may hold a secret — most of one of authkit's opaque tokens, of any
// prefix and kind (opaque.Embedded), or a JWT — replaced by "[redacted]",
// then cut to 256 bytes. Clients do put tokens in paths: an API token's
// secret where its ID belongs (DELETE /api-tokens/{token}, as DRF's key is
// its row's key; found by review: the live token reached the request log).
// It does not allocate for a short path it leaves as it is.
func LogPath(p string) string {
	if opaque.Embedded(p) || strings.Contains(p, "eyJ") {
		var b strings.Builder
		for i, seg := range strings.Split(p, "/") {
			if i > 0 {
				b.WriteByte('/')
			}
			if opaque.Embedded(seg) || JWTShaped(seg) {
				seg = "[redacted]"
			}
			b.WriteString(seg)
		}
		p = b.String()
	}
	if len(p) > maxLogPath {
		p = p[:maxLogPath] + "…"
	}
	return p
}
