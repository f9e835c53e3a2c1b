// Package httpsyntax holds small checks of HTTP credential syntax shared by
// the verifier and the HTTP layer.
package httpsyntax

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
