package golangjwt_test

import (
	"context"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// An issuer's scope values that are not RFC 6749 scope-tokens ("files.read
// admin" as one array element, a tab inside the space-separated string)
// are left out of the Principal's scopes: kept, they became two scopes,
// one of them "admin", once joined with spaces again by AccessTokenClaims
// (or introspection) and split (found by review).
func TestScopeValuesThatAreNotScopeTokens(t *testing.T) {
	k, _ := keys.Generate(keys.ES256)
	pub, _ := keys.NewVerificationSet(k.Public())
	now := time.Unix(1893553445, 0)
	v, err := verifier.New(authkit.WithKeys(pub), authkit.WithIssuer("https://idp.example"), authkit.WithAudience("api"),
		authkit.WithClock(func() time.Time { return now }), authkit.WithProfile(authkit.OIDCProfile()))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, scp := range []string{`["files.read admin","files.write"]`, `"files.write files.read\tadmin"`, `["files.write","a\"b","\u00e9"]`} {
		h := `{"alg":"ES256","kid":"` + k.ID() + `","typ":"JWT"}`
		c := `{"iss":"https://idp.example","sub":"u1","aud":"api","exp":1893553505,"iat":1893553445,"scp":` + scp + `}`
		in := base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + base64.RawURLEncoding.EncodeToString([]byte(c))
		sig, err := k.Sign([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), in+"."+base64.RawURLEncoding.EncodeToString(sig))
		if err != nil {
			t.Fatalf("scp %s: %v", scp, err)
		}
		if !slices.Equal(p.Scopes, []string{"files.write"}) {
			t.Errorf("scp %s: Scopes %q, want only the valid [files.write]", scp, p.Scopes)
		}
		ac := golangjwt.AccessTokenClaims(p)
		if got := ac.Scopes(); slices.Contains(got, "admin") {
			t.Errorf("scp %s: AccessTokenClaims' scopes %q hold admin, which the token never granted", scp, got)
		}
	}
}

// AccessClaims.Scopes reads the scope claim as authkit's verifier does:
// split on spaces only, parts that are not RFC 6749 scope-tokens left out.
// It used strings.Fields, which split "files.read\tadmin" (and NBSP, U+0085,
// newlines) into scopes, "admin" among them, that the verifier never grants
// (found by review).
func TestAccessClaimsScopesSplitLikeTheVerifier(t *testing.T) {
	for _, tc := range []struct {
		scope string
		want  []string
	}{
		{"", nil},
		{" ", nil},
		{"read write", []string{"read", "write"}},
		{"  read   write ", []string{"read", "write"}},
		{"files.read\tadmin", nil},
		{"files.write files.read\tadmin", []string{"files.write"}},
		{"files.read\u00a0admin files.write", []string{"files.write"}},
		{"files.read\u0085admin", nil},
		{"files.read\nadmin\rroot", nil},
		{"files.read\vadmin\fx", nil},
		{`a"b c\d é ok`, []string{"ok"}},
	} {
		c := golangjwt.AccessClaims{Scope: tc.scope}
		if got := c.Scopes(); !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("Scopes of %q = %q, want %q", tc.scope, got, tc.want)
		}
	}
}
