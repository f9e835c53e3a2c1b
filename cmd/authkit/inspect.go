package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/opaque"
	"github.com/authkit-go/authkit/internal/textsafe"
	"github.com/authkit-go/authkit/verifier"
)

// maxInspectToken bounds the token inspect decodes. authkit's verifier
// refuses tokens over 8 KiB; inspect also decodes other issuers' larger ones.
const maxInspectToken = 64 << 10

// jwksFetchTimeout bounds inspect's verification with a remote JWKS.
const jwksFetchTimeout = 15 * time.Second

// verifyClasses maps a verification error to its class, first match wins.
var verifyClasses = []struct {
	err  error
	name string
	text string
}{
	{authkit.ErrTokenExpired, "authkit.ErrTokenExpired", "token expired"},
	{authkit.ErrTokenRevoked, "authkit.ErrTokenRevoked", "token revoked"},
	{authkit.ErrStoreUnavailable, "authkit.ErrStoreUnavailable", "the keys could not be fetched"},
	{authkit.ErrInvalidRequest, "authkit.ErrInvalidRequest", "malformed token"},
	{authkit.ErrNoCredentials, "authkit.ErrNoCredentials", "empty token"},
	{authkit.ErrInvalidToken, "authkit.ErrInvalidToken", "token invalid"},
}

var (
	// prefixRE is authkit.WithTokenPrefix's rule for a prefix.
	prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)
	// prefixShape is a prefix, possibly followed by the refresh kind "rt".
	prefixShape = regexp.MustCompile(`^[a-z][a-z0-9]{0,17}$`)
)

// inspect runs "authkit inspect".
func (c *cli) inspect(ctx context.Context, args []string) error {
	fs := c.newFlagSet("inspect", "authkit inspect [--jwks FILE|URL] [--profile P] [--issuer ISS] [--audience AUD] [--allow-missing-issuer] [--allow-missing-audience] TOKEN|-", `
Decode a token and print what it says. A JWT's header and claims are printed
WITHOUT verifying them: anyone can write a JWT that says anything. With --jwks
(a JWK set file, public or private, or an https:// URL, http:// for loopback)
the token is also verified — signature, algorithm, key ID, typ, issuer,
audience, times and the claims its profile requires — and inspect prints
"valid" with the subject and scopes, or the class of the failure. --profile
says how to read the token: rfc9068 (authkit's own, the default), oidc (the
access tokens of OAuth/OIDC providers: Auth0, Keycloak, Okta, Entra ID) or
simplejwt (djangorestframework-simplejwt; --user-id-claim for its
USER_ID_CLAIM, --allow-missing-issuer and --allow-missing-audience for a
deployment without its ISSUER and AUDIENCE settings, whose tokens carry
neither claim). Revocation is a server-side fact and is not checked.

For authkit's opaque tokens (API tokens "<prefix>_…", refresh tokens
"<prefix>rt_…") it says which kind the token looks like and whether its
checksum is right; whether it is live only the server can say (POST /introspect).

TOKEN "-" reads the token from standard input, which keeps it out of your shell
history and the process list. Exit status: 0 decoded (and valid, with --jwks),
1 undecodable or not valid.`)
	jwks := fs.String("jwks", "", "verify against this JWK set `FILE or URL`")
	iss := fs.String("issuer", authkit.DefaultIssuer, "with --jwks: the issuer (iss) to require")
	aud := fs.String("audience", authkit.DefaultAudience, "with --jwks: accepted audiences, comma-separated")
	profileName := fs.String("profile", "rfc9068", "with --jwks: the verification `PROFILE`: rfc9068, oidc or simplejwt")
	userIDClaim := fs.String("user-id-claim", "", "with --profile simplejwt: the claim naming the user (simplejwt's USER_ID_CLAIM; default user_id)")
	noIss := fs.Bool("allow-missing-issuer", false, "with --profile simplejwt: accept a token without iss as --issuer's (simplejwt without ISSUER)")
	noAud := fs.Bool("allow-missing-audience", false, "with --profile simplejwt: accept a token without aud (simplejwt without AUDIENCE)")
	prefix := fs.String("prefix", "", "opaque token prefix (default: read from the token)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("inspect takes exactly one token (or - to read it from standard input)")
	}
	if *prefix != "" && !prefixRE.MatchString(*prefix) {
		return usagef("--prefix must be 1-16 lower-case letters and digits, starting with a letter")
	}
	audiences, err := splitList(*aud)
	if err != nil {
		return usagef("--audience: %v", err)
	}
	profile, err := authkit.ProfileNamed(*profileName)
	if err != nil {
		return usagef("--profile: want rfc9068, oidc or simplejwt, not %s", quote(*profileName))
	}
	if *userIDClaim != "" {
		if *profileName != "simplejwt" {
			return usagef("--user-id-claim applies to --profile simplejwt only")
		}
		profile = authkit.SimpleJWTProfile(*userIDClaim)
	}
	if *noIss || *noAud {
		if *profileName != "simplejwt" {
			return usagef("--allow-missing-issuer and --allow-missing-audience apply to --profile simplejwt only")
		}
		profile.AllowMissingIssuer = *noIss
		profile.AllowMissingAudience = *noAud
	}
	token := pos[0]
	if token == "-" {
		if token, err = readTokenLine(c.stdin); err != nil {
			return err
		}
	}
	token = strings.TrimSpace(token)
	for _, scheme := range []string{"Bearer ", "Token "} {
		if len(token) > len(scheme) && strings.EqualFold(token[:len(scheme)], scheme) {
			token = strings.TrimSpace(token[len(scheme):])
		}
	}
	if token == "" {
		return usagef("the token is empty")
	}
	if len(token) > maxInspectToken {
		return fmt.Errorf("the token is longer than %d bytes", maxInspectToken)
	}

	switch strings.Count(token, ".") {
	case 2:
		return c.inspectJWT(ctx, token, *jwks, *iss, audiences, profile)
	case 4:
		fmt.Fprintln(c.stdout, "This looks like an encrypted JWT (JWE, five parts). authkit does not issue or read those.")
		return errReported
	}
	return c.inspectOpaque(token, *prefix, *jwks != "")
}

func readTokenLine(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxInspectToken+2), maxInspectToken+2).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", fmt.Errorf("the token is longer than %d bytes", maxInspectToken)
		}
		return "", fmt.Errorf("reading the token: %w", err)
	}
	return string(line), nil
}

func (c *cli) inspectJWT(ctx context.Context, token, jwks, iss string, audiences []string, profile authkit.Profile) error {
	parts := strings.SplitN(token, ".", 3)
	b64 := base64.RawURLEncoding.Strict()
	header, err1 := b64.DecodeString(parts[0])
	payload, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(c.stdout, "Not a JWT: the header and claims must be unpadded base64url.")
		return errReported
	}
	w := c.stdout
	kind := "JWT"
	var h struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(header, &h) == nil && strings.EqualFold(h.Typ, "at+jwt") {
		kind = "JWT access token (typ at+jwt)"
	}
	fmt.Fprintf(w, "%s\n", kind)
	fmt.Fprintln(w, "UNVERIFIED: decoded only. Nothing below can be trusted until the token is verified (--jwks).")
	fmt.Fprint(w, "\nHeader:\n", prettyJSON(header), "\n\nClaims:\n", prettyJSON(payload), "\n")
	if times := claimTimes(payload, time.Now()); times != "" {
		fmt.Fprint(w, "\nTimes (UTC):\n", times)
	}
	if jwks == "" {
		fmt.Fprintln(w, "\nNot verified: give --jwks FILE|URL to check the signature and claims.")
		return nil
	}

	opts := []authkit.Option{authkit.WithIssuer(iss), authkit.WithAudience(audiences...), authkit.WithProfile(profile)}
	// A scheme is matched whatever its case (RFC 3986 §3.1), and any other
	// value that begins with one ("htps://", "ftp://", "https:/") is
	// refused without being repeated: it may hold a password, which the
	// file's open error would have printed (found by review, twice). A
	// one-letter scheme is a Windows drive, and a file that exists is read
	// whatever colons its name has ("keys:v2.json", a timestamp's), unless
	// the value reads as scheme://, which is always a URL (found by review:
	// a directory named "https:" made a URL with a password a file, and
	// its parse error printed it).
	if scheme, ok := uriScheme(jwks); ok && (strings.HasPrefix(jwks[len(scheme):], "://") || !isFile(jwks)) {
		lower := strings.ToLower(scheme)
		if (lower != "https" && lower != "http") || !strings.HasPrefix(jwks[len(scheme):], "://") {
			return usagef("--jwks: a URL must be https (or http on loopback); the value given is neither a file name nor such a URL")
		}
		opts = append(opts, authkit.WithJWKSURL(lower+jwks[len(scheme):]))
	} else {
		set, err := readKeyFile(jwks)
		if err != nil {
			return err
		}
		opts = append(opts, authkit.WithKeys(set))
	}
	v, err := verifier.New(opts...)
	if err != nil {
		return usagef("%v", err)
	}
	defer v.Close()
	vctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	p, err := v.Verify(vctx, token)
	if err == nil {
		fmt.Fprintf(w, "\nVerification: VALID under the %s profile (signature, key, issuer, audience, times and required claims; revocation is not checked offline)\n", profile.Name)
		fmt.Fprintf(w, "  subject  %s\n", safeText(p.Subject))
		scopes := "(none)"
		if len(p.Scopes) > 0 {
			scopes = safeText(strings.Join(p.Scopes, " "))
		}
		fmt.Fprintf(w, "  scopes   %s\n", scopes)
		if p.ClientID != "" {
			fmt.Fprintf(w, "  client   %s\n", safeText(p.ClientID))
		}
		if !p.ExpiresAt.IsZero() {
			fmt.Fprintf(w, "  expires  %s\n", p.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return nil
	}
	name, text := "unclassified error", "not valid"
	for _, cl := range verifyClasses {
		if errors.Is(err, cl.err) {
			name, text = cl.name, cl.text
			break
		}
	}
	fmt.Fprintf(w, "\nVerification: FAILED: %s (%s)\n  %v\n", text, name, err)
	var claimed struct {
		Iss *string `json:"iss"`
	}
	if json.Unmarshal(payload, &claimed) == nil && claimed.Iss != nil && *claimed.Iss != iss {
		// The usual cause of a refusal here (found by an adoption test:
		// the message named neither issuer).
		fmt.Fprintf(w, "  The token's iss is %s and --issuer is %s: give --issuer the token's issuer if it is the one you trust.\n",
			strconv.Quote(safeText(*claimed.Iss)), strconv.Quote(iss))
	}
	return errReported
}

func (c *cli) inspectOpaque(token, prefix string, withJWKS bool) error {
	w := c.stdout
	kind, pfx, ok := opaqueKind(token, prefix)
	if !ok {
		fmt.Fprintln(w, "This is neither a JWT (three dot-separated parts) nor an authkit opaque token (<prefix>_… or <prefix>rt_…).")
		return errReported
	}
	name := map[string]string{opaque.KindAPI: "an API token", opaque.KindRefresh: "a refresh token"}[kind]
	fmt.Fprintf(w, "Opaque token: looks like %s (prefix %q).\n", name, pfx)
	if err := opaque.Check(token, pfx, kind); err != nil {
		fmt.Fprintln(w, "Checksum: BAD. The token is mistyped, truncated or not an authkit token; a server refuses it without a lookup.")
		return errReported
	}
	fmt.Fprintln(w, "Checksum: OK (well-formed). Whether it is live only the server that issued it can say (POST /introspect).")
	if sid := opaque.SessionOf(token, pfx); kind == opaque.KindRefresh && sid != "" {
		// Not secret: every access token of the session carries it (sid).
		fmt.Fprintf(w, "Session: %s (the sid of the session it was issued in).\n", sid)
	}
	if withJWKS {
		fmt.Fprintln(w, "--jwks verifies JWTs only; opaque tokens have no signature to check.")
	}
	return nil
}

// opaqueKind tells the kind and prefix of an opaque token: with prefix
// given, by that prefix; else from the text before the first '_', where a
// trailing "rt" marks a refresh token (authkit's own naming).
func opaqueKind(token, prefix string) (kind, pfx string, ok bool) {
	if prefix != "" {
		switch {
		case opaque.Looks(token, prefix, opaque.KindRefresh):
			return opaque.KindRefresh, prefix, true
		case opaque.Looks(token, prefix, opaque.KindAPI):
			return opaque.KindAPI, prefix, true
		}
		return "", "", false
	}
	head, _, found := strings.Cut(token, "_")
	if !found || !prefixShape.MatchString(head) {
		return "", "", false
	}
	if p, isRefresh := strings.CutSuffix(head, opaque.KindRefresh); isRefresh && prefixRE.MatchString(p) {
		return opaque.KindRefresh, p, true
	}
	if prefixRE.MatchString(head) {
		return opaque.KindAPI, head, true
	}
	return "", "", false
}

// prettyJSON indents a decoded JSON segment for a terminal, or says it is
// not JSON. Untrusted text is made safe to print (see safeText).
func prettyJSON(raw []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return fmt.Sprintf("(not JSON: %d bytes)", len(raw))
	}
	return safeText(out.String())
}

// claimTimes lists the NumericDate claims of payload with their distance
// from now.
func claimTimes(payload []byte, now time.Time) string {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if dec.Decode(&claims) != nil {
		return ""
	}
	var b strings.Builder
	for _, name := range []string{"iat", "nbf", "exp", "auth_time"} {
		n, ok := claims[name].(json.Number)
		if !ok {
			continue
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
			fmt.Fprintf(&b, "  %-4s (not a valid NumericDate)\n", name)
			continue
		}
		sec, frac := math.Modf(f)
		t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
		fmt.Fprintf(&b, "  %-4s %s  (%s)\n", name, t.Format(time.RFC3339), relative(t, now))
	}
	if n, ok := claims["exp"].(json.Number); ok {
		if f, err := n.Float64(); err == nil && f < float64(now.Unix()) {
			b.WriteString("  The token has EXPIRED.\n")
		}
	}
	return b.String()
}

func relative(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	switch {
	case d == 0:
		return "now"
	case d > 0:
		return "in " + formatDuration(d)
	}
	return formatDuration(-d) + " ago"
}

// safeText makes untrusted text safe for a terminal: invalid UTF-8,
// control characters other than newline and tab, and bidirectional
// overrides become \uXXXX escapes (still valid inside a JSON string).
func safeText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString(`\ufffd`)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case textsafe.Unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// splitList splits a comma-separated flag value, trimming spaces; it needs
// at least one non-empty item.
func splitList(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("at least one value")
	}
	return out, nil
}

// uriScheme returns the scheme s begins with (RFC 3986 §3.1: a letter,
// then letters, digits, "+", "-" or ".", then ":"), if any of two letters
// or more: a one-letter one is a Windows drive ("C:\keys.json").
func uriScheme(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 1 && c == ':':
			return s[:i], true
		default:
			return "", false
		}
	}
	return "", false
}

// isFile reports whether path names an existing file (not a directory).
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
