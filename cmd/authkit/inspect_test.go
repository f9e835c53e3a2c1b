package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/jws"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// keyFile writes a fresh private key set to a file and returns both.
func keyFile(t *testing.T, dir, name string, alg keys.Algorithm, kid string) (string, *keys.Set) {
	t.Helper()
	k, err := generateKey(alg, kid, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, mustWrite(t, set, false), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, set
}

func newTestIssuer(t *testing.T, set *keys.Set, opts ...authkit.Option) *issuer.Issuer {
	t.Helper()
	iss, err := issuer.New(append([]authkit.Option{authkit.WithStore(memory.New()), authkit.WithKeys(set)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestInspectJWT(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	file, set := keyFile(t, dir, "keys.json", keys.EdDSA, "k1")
	otherFile, _ := keyFile(t, dir, "other.json", keys.EdDSA, "k2")
	sameKidFile, _ := keyFile(t, dir, "samekid.json", keys.EdDSA, "k1")
	pubFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(pubFile, mustWrite(t, set, true), 0o644); err != nil {
		t.Fatal(err)
	}

	iss := newTestIssuer(t, set)
	pair, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"), issuer.WithClaims(map[string]any{"note": "hi\x1b[2J", "dir": "rtl\u202eevil"}))
	if err != nil {
		t.Fatal(err)
	}
	tok := pair.AccessToken
	past := newTestIssuer(t, set, authkit.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	old, err := past.IssuePair(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	otherAud := newTestIssuer(t, set, authkit.WithIssuer("https://other.example"), authkit.WithAudience("svc"))
	foreign, err := otherAud.IssuePair(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}

	// Decoding alone: clearly unverified, exit 0.
	r := runCLI(t, "", "inspect", tok)
	r.must(t, exitOK, []string{"JWT access token (typ at+jwt)", "UNVERIFIED", `"alg": "EdDSA"`, `"kid": "k1"`,
		`"sub": "alice"`, `"scope": "read write"`, "Times (UTC):", "exp ", "(in ", "Not verified"}, nil)
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("an escape sequence from a claim reached the terminal:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, `\u001b[2J`) {
		t.Errorf("the escaped claim is missing:\n%s", r.stdout)
	}
	// JSON carries a bidirectional override as it is; inspect does not
	// (found missing by mutation testing).
	if strings.Contains(r.stdout, "\u202e") || !strings.Contains(r.stdout, `rtl\u202eevil`) {
		t.Errorf("a claim's U+202E reached the terminal, or its escape is missing:\n%q", r.stdout)
	}
	if strings.Contains(r.stdout, tok) {
		t.Error("inspect printed the token itself")
	}

	cases := []struct {
		name     string
		args     []string
		code     int
		inStdout []string
	}{
		{"valid (private key file)", []string{tok, "--jwks", file}, exitOK, []string{"Verification: VALID", "subject  alice", "scopes   read write"}},
		{"valid (public JWKS)", []string{"--jwks", pubFile, tok}, exitOK, []string{"Verification: VALID"}},
		{"expired", []string{old.AccessToken, "--jwks", file}, exitFailure, []string{"The token has EXPIRED", "Verification: FAILED: token expired (authkit.ErrTokenExpired)"}},
		{"unknown key", []string{tok, "--jwks", otherFile}, exitFailure, []string{"FAILED: token invalid (authkit.ErrInvalidToken)", "unknown key"}},
		{"wrong key, same kid", []string{tok, "--jwks", sameKidFile}, exitFailure, []string{"FAILED: token invalid (authkit.ErrInvalidToken)", "signature"}},
		{"wrong issuer", []string{foreign.AccessToken, "--jwks", file}, exitFailure, []string{"ErrInvalidToken", "wrong issuer",
			`The token's iss is "https://other.example" and --issuer is "authkit"`}},
		{"wrong audience", []string{foreign.AccessToken, "--jwks", file, "--issuer", "https://other.example"}, exitFailure, []string{"wrong audience"}},
		{"issuer and audience flags", []string{foreign.AccessToken, "--jwks", file, "--issuer", "https://other.example", "--audience", "x, svc"}, exitOK, []string{"VALID", "subject  carol"}},
		{"tampered signature", []string{tok[:len(tok)-4] + "AAAA", "--jwks", file}, exitFailure, []string{"FAILED: token invalid"}},
		{"bearer prefix stripped", []string{"Bearer " + tok}, exitOK, []string{`"sub": "alice"`}},
		{"not base64", []string{"a.b!.c"}, exitFailure, []string{"Not a JWT"}},
		{"not JSON", []string{"bm90IGpzb24.bm90IGpzb24.c2ln"}, exitOK, []string{"(not JSON: 8 bytes)"}},
		{"JWE", []string{"a.b.c.d.e"}, exitFailure, []string{"encrypted JWT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCLI(t, "", append([]string{"inspect"}, tc.args...)...).must(t, tc.code, tc.inStdout, nil)
		})
	}

	// The token from standard input ("-"), so it stays out of shell history.
	runCLI(t, tok+"\n", "inspect", "-", "--jwks", file).must(t, exitOK, []string{`"sub": "alice"`, "VALID"}, nil)

	// Usage errors.
	runCLI(t, "", "inspect").must(t, exitUsage, nil, []string{"exactly one token"})
	runCLI(t, "", "inspect", tok, "--jwks", filepath.Join(dir, "missing.json")).must(t, exitFailure, nil, []string{"no such file"})
	runCLI(t, "", "inspect", tok, "--jwks", "http://example.com/jwks.json").must(t, exitUsage, nil, []string{"must be https"})
	runCLI(t, "", "inspect", tok, "--audience", " , ").must(t, exitUsage, nil, []string{"--audience"})
	runCLI(t, "\n", "inspect", "-").must(t, exitUsage, nil, []string{"the token is empty"})
	// Bounded from the command line as from standard input.
	long := strings.Repeat("a", maxInspectToken+1)
	runCLI(t, "", "inspect", long).must(t, exitFailure, nil, []string{"longer than"})
	runCLI(t, long+"\n", "inspect", "-").must(t, exitFailure, nil, []string{"longer than"})
}

func TestInspectOpaque(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, set := keyFile(t, t.TempDir(), "k.json", keys.ES256, "")
	iss := newTestIssuer(t, set)
	pair, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	api, _, err := iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	custom := newTestIssuer(t, set, authkit.WithTokenPrefix("acme"))
	customAPI, _, err := custom.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string) string { // change the last character: the checksum no longer matches
		last := s[len(s)-1]
		if last == 'a' {
			return s[:len(s)-1] + "b"
		}
		return s[:len(s)-1] + "a"
	}
	cases := []struct {
		name     string
		args     []string
		code     int
		inStdout []string
	}{
		{"refresh", []string{pair.RefreshToken}, exitOK, []string{`looks like a refresh token (prefix "ak")`, "Checksum: OK", "Session: " + pair.SessionID + " "}},
		{"api", []string{api}, exitOK, []string{`looks like an API token (prefix "ak")`, "Checksum: OK"}},
		{"custom prefix", []string{customAPI}, exitOK, []string{`an API token (prefix "acme")`, "Checksum: OK"}},
		{"custom prefix given", []string{customAPI, "--prefix", "acme"}, exitOK, []string{`an API token (prefix "acme")`, "Checksum: OK"}},
		{"wrong prefix given", []string{customAPI, "--prefix", "ak"}, exitFailure, []string{"neither a JWT"}},
		{"tampered refresh", []string{flip(pair.RefreshToken)}, exitFailure, []string{"a refresh token", "Checksum: BAD"}},
		{"truncated api", []string{api[:len(api)-1]}, exitFailure, []string{"Checksum: BAD"}},
		{"with --jwks", []string{api, "--jwks", "unused.json"}, exitOK, []string{"--jwks verifies JWTs only"}},
		{"garbage", []string{"hello world"}, exitFailure, []string{"neither a JWT"}},
		{"upper-case prefix", []string{"AK_abc"}, exitFailure, []string{"neither a JWT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"inspect"}, tc.args...)...)
			r.must(t, tc.code, tc.inStdout, nil)
			if strings.Contains(r.stdout+r.stderr, tc.args[0]) && len(tc.args[0]) > 20 {
				t.Error("inspect echoed the token")
			}
		})
	}
}

func TestSafeText(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"plain\n\tjson":     "plain\n\tjson",
		"bell\x07":          `bell\u0007`,
		"csi\u009b31m":      `csi\u009b31m`,
		"rtl\u202eevil":     `rtl\u202eevil`,
		"bad\xffutf8":       `bad\ufffdutf8`,
		"real \ufffd kept":  "real \ufffd kept",
		"ünïcödé 🔑":         "ünïcödé 🔑",
		"line\u2028sep":     `line\u2028sep`,
		"\x1b]0;title\x07x": `\u001b]0;title\u0007x`,
	}
	for in, want := range cases {
		if got := safeText(in); got != want {
			t.Errorf("safeText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInspectJWKSURLUnreachable(t *testing.T) {
	t.Parallel()
	_, set := keyFile(t, t.TempDir(), "k.json", keys.EdDSA, "")
	pair, err := newTestIssuer(t, set).IssuePair(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback: nothing listens, the fetch fails at once.
	runCLI(t, "", "inspect", pair.AccessToken, "--jwks", "http://127.0.0.1:1/.well-known/jwks.json").
		must(t, exitFailure, []string{"FAILED: the keys could not be fetched (authkit.ErrStoreUnavailable)"}, nil)
}

// A --jwks URL is one whatever the case of its scheme, and a value with
// another scheme is refused: neither is repeated, so a password in it is
// never printed (found by review: "HTTPS://u:pw@…" was opened as a file,
// and the open error printed it whole).
// A key file whose name has a colon after two letters or more, as a URL
// scheme would ("keys:v2.json", a timestamp), is read: only a value that
// is no file is taken for a URL (found by review: such files were
// refused).
func TestInspectJWKSFileWithColon(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, set := keyFile(t, dir, "keys:v2.json", keys.EdDSA, "")
	pair, err := newTestIssuer(t, set).IssuePair(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", "inspect", pair.AccessToken, "--jwks", "keys:v2.json").must(t, exitOK, []string{"VALID"}, nil)
	// scheme:// is a URL even where a file of that name exists (a
	// directory "https:" beside), and is never printed.
	if err := os.MkdirAll(filepath.Join(dir, "https:", "u:s3cret@keys.example"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "https:", "u:s3cret@keys.example", "jwks.json"), []byte(`{"keys":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "inspect", pair.AccessToken, "--jwks", "https://u:s3cret@keys.example/jwks.json")
	if r.code == exitOK || strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("--jwks https://u:s3cret@… beside such a file: exit %d, printed:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestInspectJWKSURLNeverPrinted(t *testing.T) {
	t.Parallel()
	_, set := keyFile(t, t.TempDir(), "k.json", keys.EdDSA, "")
	pair, err := newTestIssuer(t, set).IssuePair(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "inspect", pair.AccessToken, "--jwks", "HTTP://u:pw-s3cret@127.0.0.1:1/jwks?sig=q-s3cret")
	r.must(t, exitFailure, []string{"FAILED: the keys could not be fetched"}, nil)
	for _, v := range []string{"htps://u:pw-s3cret@127.0.0.1:1/jwks", "ftp://u:pw-s3cret@127.0.0.1/jwks",
		"https:/u:pw-s3cret@127.0.0.1/jwks?sig=q-s3cret", `HTTPS:\\u:pw-s3cret@127.0.0.1/jwks`} {
		r := runCLI(t, "", "inspect", pair.AccessToken, "--jwks", v)
		r.must(t, exitUsage, nil, []string{"neither a file name nor such a URL"})
		if strings.Contains(r.stdout+r.stderr, "s3cret") {
			t.Errorf("inspect --jwks %s printed the secret:\n%s%s", v, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("inspect --jwks HTTP://… printed the secret:\n%s%s", r.stdout, r.stderr)
	}
}

// --profile reads the tokens of other issuers: an OIDC provider's (typ
// JWT, scopes in an scp array, no jti, the client in azp) and
// simplejwt's (token_type access, the user in user_id); the default
// rfc9068 profile refuses both, and a refresh token of simplejwt's is
// refused under its profile.
func TestInspectProfiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file, set := keyFile(t, dir, "keys.json", keys.RS256, "okta-1")
	k := set.Active()
	now := time.Now().Unix()
	sign := func(claims map[string]any) string {
		t.Helper()
		payload, err := json.Marshal(claims)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.Sign(k, "JWT", payload)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const iss = "https://idp.example"
	oidc := sign(map[string]any{"iss": iss, "sub": "00u1", "aud": "api://default", "iat": now, "exp": now + 300,
		"scp": []string{"orders:read", "orders:write"}, "azp": "web-app"})
	simple := sign(map[string]any{"iss": iss, "aud": "api", "token_type": "access", "user_id": 42, "jti": "8f1c", "iat": now, "exp": now + 300})
	simpleRefresh := sign(map[string]any{"iss": iss, "aud": "api", "token_type": "refresh", "user_id": 42, "jti": "8f1d", "iat": now, "exp": now + 300})
	uid := sign(map[string]any{"iss": iss, "aud": "api", "token_type": "access", "uid": "u-7", "jti": "8f1e", "iat": now, "exp": now + 300})
	// simplejwt's default settings: neither iss nor aud.
	bare := sign(map[string]any{"token_type": "access", "user_id": 7, "jti": "8f1f", "iat": now, "exp": now + 300})
	noAud := sign(map[string]any{"iss": iss, "token_type": "access", "user_id": 8, "jti": "8f20", "iat": now, "exp": now + 300})

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStdout []string
	}{
		{"oidc", []string{oidc, "--jwks", file, "--profile", "oidc", "--issuer", iss, "--audience", "api://default"}, exitOK,
			[]string{"VALID under the oidc profile", "subject  00u1", "scopes   orders:read orders:write", "client   web-app"}},
		{"oidc under rfc9068", []string{oidc, "--jwks", file, "--issuer", iss, "--audience", "api://default"}, exitFailure,
			[]string{"FAILED: token invalid", "typ"}},
		{"simplejwt", []string{simple, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "api"}, exitOK,
			[]string{"VALID under the simplejwt profile", "subject  42", "scopes   (none)"}},
		{"simplejwt refresh token", []string{simpleRefresh, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "api"}, exitFailure,
			[]string{"FAILED: token invalid", "token type"}},
		{"simplejwt wrong audience", []string{simple, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "other"}, exitFailure,
			[]string{"FAILED"}},
		{"simplejwt USER_ID_CLAIM", []string{uid, "--jwks", file, "--profile", "simplejwt", "--user-id-claim", "uid", "--issuer", iss, "--audience", "api"}, exitOK,
			[]string{"subject  u-7"}},
		{"simplejwt without iss and aud", []string{bare, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "api"}, exitFailure,
			[]string{"FAILED: token invalid"}},
		{"simplejwt without iss and aud, allowed", []string{bare, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "api", "--allow-missing-issuer", "--allow-missing-audience"}, exitOK,
			[]string{"VALID under the simplejwt profile", "subject  7"}},
		{"simplejwt without aud, only iss allowed missing", []string{noAud, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "api", "--allow-missing-issuer"}, exitFailure,
			[]string{"FAILED: token invalid"}},
		{"simplejwt without aud, allowed", []string{noAud, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "api", "--allow-missing-audience"}, exitOK,
			[]string{"subject  8"}},
		{"simplejwt with aud, missing allowed but checked when present", []string{simple, "--jwks", file, "--profile", "simplejwt", "--issuer", iss, "--audience", "other", "--allow-missing-audience"}, exitFailure,
			[]string{"FAILED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runCLI(t, "", append([]string{"inspect"}, tc.args...)...).must(t, tc.code, tc.inStdout, nil)
		})
	}
	runCLI(t, "", "inspect", oidc, "--jwks", file, "--profile", "okta").must(t, exitUsage, nil, []string{"--profile", "rfc9068, oidc or simplejwt"})
	runCLI(t, "", "inspect", oidc, "--jwks", file, "--user-id-claim", "uid").must(t, exitUsage, nil, []string{"--profile simplejwt only"})
	runCLI(t, "", "inspect", oidc, "--jwks", file, "--allow-missing-audience").must(t, exitUsage, nil, []string{"--profile simplejwt only"})
}
