package authkit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

func validClient() authkit.Client {
	return authkit.Client{
		ID:           "app",
		Name:         "App",
		JWKS:         []byte(`{"keys":[]}`),
		GrantTypes:   []string{authkit.GrantAuthorizationCode},
		Scopes:       []string{"read"},
		RedirectURIs: []string{"https://app.example/cb"},
		AccessTTL:    time.Minute,
		RefreshTTL:   time.Hour,
		CreatedAt:    time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC),
	}
}

func validCode() authkit.AuthorizationCode {
	return authkit.AuthorizationCode{
		ClientID:    "app",
		RedirectURI: "https://app.example/cb",
		Scopes:      []string{"read"},
		Challenge:   strings.Repeat("c", 43),
		Claims:      []byte(`{}`),
		SessionTTL:  time.Hour,
		AccessTTL:   time.Minute,
	}
}

func nStrings(n, each int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat("x", each)
	}
	return out
}

// Each limit refuses one over and accepts the value at it; the error
// matches ErrInvalidRequest and names the field.
func TestValidateClient(t *testing.T) {
	if err := authkit.ValidateClient(validClient()); err != nil {
		t.Fatalf("ValidateClient of a valid client: %v", err)
	}
	for _, x := range []struct {
		field    string
		bad, max func(c *authkit.Client)
	}{
		{"Client.ID", func(c *authkit.Client) { c.ID = "" }, func(c *authkit.Client) { c.ID = strings.Repeat("i", authkit.MaxClientIDLen) }},
		{"Client.ID", func(c *authkit.Client) { c.ID = strings.Repeat("i", authkit.MaxClientIDLen+1) }, func(c *authkit.Client) { c.ID = "!~" }},
		{"Client.ID", func(c *authkit.Client) { c.ID = "a b" }, nil},
		{"Client.ID", func(c *authkit.Client) { c.ID = "app\x7f" }, nil},
		{"Client.ID", func(c *authkit.Client) { c.ID = "äpp" }, nil},
		{"Client.Name", func(c *authkit.Client) { c.Name = strings.Repeat("n", authkit.MaxClientNameLen+1) }, func(c *authkit.Client) { c.Name = strings.Repeat("n", authkit.MaxClientNameLen) }},
		{"Client.JWKS", func(c *authkit.Client) { c.JWKS = make([]byte, authkit.MaxClientJWKSLen+1) }, func(c *authkit.Client) { c.JWKS = make([]byte, authkit.MaxClientJWKSLen) }},
		{"Client.GrantTypes", func(c *authkit.Client) { c.GrantTypes = nStrings(authkit.MaxClientGrantTypes+1, 4) }, func(c *authkit.Client) { c.GrantTypes = nStrings(authkit.MaxClientGrantTypes, authkit.MaxScopeLen) }},
		{"Client.GrantTypes[0]", func(c *authkit.Client) { c.GrantTypes = []string{""} }, nil},
		{"Client.GrantTypes[1]", func(c *authkit.Client) { c.GrantTypes = []string{"a", strings.Repeat("g", authkit.MaxScopeLen+1)} }, nil},
		{"Client.Scopes", func(c *authkit.Client) { c.Scopes = nStrings(authkit.MaxClientScopes+1, 4) }, func(c *authkit.Client) { c.Scopes = nStrings(authkit.MaxClientScopes, authkit.MaxScopeLen) }},
		{"Client.Scopes[0]", func(c *authkit.Client) { c.Scopes = []string{strings.Repeat("s", authkit.MaxScopeLen+1)} }, nil},
		{"Client.Scopes[1]", func(c *authkit.Client) { c.Scopes = []string{"a", ""} }, nil},
		{"Client.RedirectURIs", func(c *authkit.Client) { c.RedirectURIs = nStrings(authkit.MaxRedirectURIs+1, 4) }, func(c *authkit.Client) { c.RedirectURIs = nStrings(authkit.MaxRedirectURIs, authkit.MaxRedirectURILen) }},
		{"Client.RedirectURIs[0]", func(c *authkit.Client) { c.RedirectURIs = []string{strings.Repeat("u", authkit.MaxRedirectURILen+1)} }, nil},
		{"Client.RedirectURIs[0]", func(c *authkit.Client) { c.RedirectURIs = []string{""} }, nil},
		{"Client.AccessTTL", func(c *authkit.Client) { c.AccessTTL = -1 }, func(c *authkit.Client) { c.AccessTTL = 0 }},
		{"Client.RefreshTTL", func(c *authkit.Client) { c.RefreshTTL = -time.Second }, func(c *authkit.Client) { c.RefreshTTL = 0 }},
		{"Client.CreatedAt", func(c *authkit.Client) { c.CreatedAt = time.Time{} }, nil},
	} {
		c := validClient()
		x.bad(&c)
		err := authkit.ValidateClient(c)
		if !errors.Is(err, authkit.ErrInvalidRequest) || !strings.Contains(err.Error(), x.field+" ") {
			t.Errorf("ValidateClient with a bad %s returned %v, want an error matching ErrInvalidRequest naming %s", x.field, err, x.field)
		}
		if x.max != nil {
			c := validClient()
			x.max(&c)
			if err := authkit.ValidateClient(c); err != nil {
				t.Errorf("ValidateClient with %s at its limit: %v", x.field, err)
			}
		}
	}
	if authkit.ValidClientID("a\x00") || !authkit.ValidClientID("urn:app:1") {
		t.Error("ValidClientID disagrees with ValidateClient")
	}
}

func TestValidateAuthorizationCode(t *testing.T) {
	if err := authkit.ValidateAuthorizationCode(validCode()); err != nil {
		t.Fatalf("ValidateAuthorizationCode of a valid code: %v", err)
	}
	for _, x := range []struct {
		field    string
		bad, max func(c *authkit.AuthorizationCode)
	}{
		{"AuthorizationCode.ClientID", func(c *authkit.AuthorizationCode) { c.ClientID = "" }, nil},
		{"AuthorizationCode.ClientID", func(c *authkit.AuthorizationCode) { c.ClientID = "a\nb" }, nil},
		{"AuthorizationCode.RedirectURI", func(c *authkit.AuthorizationCode) { c.RedirectURI = strings.Repeat("u", authkit.MaxRedirectURILen+1) },
			func(c *authkit.AuthorizationCode) { c.RedirectURI = strings.Repeat("u", authkit.MaxRedirectURILen) }},
		{"AuthorizationCode.Scopes", func(c *authkit.AuthorizationCode) { c.Scopes = nStrings(authkit.MaxClientScopes+1, 1) },
			func(c *authkit.AuthorizationCode) { c.Scopes = nStrings(authkit.MaxClientScopes, authkit.MaxScopeLen) }},
		{"AuthorizationCode.Scopes[0]", func(c *authkit.AuthorizationCode) { c.Scopes = []string{""} }, nil},
		{"AuthorizationCode.Challenge", func(c *authkit.AuthorizationCode) { c.Challenge = strings.Repeat("c", authkit.MaxCodeChallengeLen+1) },
			func(c *authkit.AuthorizationCode) { c.Challenge = strings.Repeat("c", authkit.MaxCodeChallengeLen) }},
		{"AuthorizationCode.Claims", func(c *authkit.AuthorizationCode) { c.Claims = make([]byte, authkit.MaxCodeClaimsLen+1) },
			func(c *authkit.AuthorizationCode) { c.Claims = make([]byte, authkit.MaxCodeClaimsLen) }},
		{"AuthorizationCode.SessionTTL", func(c *authkit.AuthorizationCode) { c.SessionTTL = -1 }, func(c *authkit.AuthorizationCode) { c.SessionTTL = 0 }},
		{"AuthorizationCode.AccessTTL", func(c *authkit.AuthorizationCode) { c.AccessTTL = -time.Hour }, func(c *authkit.AuthorizationCode) { c.AccessTTL = 0 }},
	} {
		c := validCode()
		x.bad(&c)
		err := authkit.ValidateAuthorizationCode(c)
		if !errors.Is(err, authkit.ErrInvalidRequest) || !strings.Contains(err.Error(), x.field+" ") {
			t.Errorf("ValidateAuthorizationCode with a bad %s returned %v, want an error matching ErrInvalidRequest naming %s", x.field, err, x.field)
		}
		if x.max != nil {
			c := validCode()
			x.max(&c)
			if err := authkit.ValidateAuthorizationCode(c); err != nil {
				t.Errorf("ValidateAuthorizationCode with %s at its limit: %v", x.field, err)
			}
		}
	}
}
