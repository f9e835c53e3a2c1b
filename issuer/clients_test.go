package issuer_test

import (
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

func TestClientSecrets(t *testing.T) {
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()))
	if err != nil {
		t.Fatal(err)
	}
	secret, h, err := iss.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, authkit.DefaultTokenPrefix+"cs_") || h == (authkit.TokenHash{}) {
		t.Fatalf("secret %q…, hash %x", secret[:8], h[:4])
	}
	other, _, _ := iss.NewClientSecret()
	c := authkit.Client{ID: "svc", SecretHash: h}
	changed := secret[:len(secret)-1] + "x" // the last character, never to itself
	if changed == secret {
		changed = secret[:len(secret)-1] + "y"
	}
	for _, tc := range []struct {
		what   string
		c      authkit.Client
		secret string
		want   bool
	}{
		{"its secret", c, secret, true},
		{"another secret", c, other, false},
		{"a changed character", c, changed, false},
		{"empty", c, "", false},
		{"a public client", authkit.Client{ID: "spa"}, secret, false},
	} {
		if got := iss.CheckClientSecret(tc.c, tc.secret); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, got, tc.want)
		}
	}
	// Another hash key is another hash: secrets do not cross servers.
	keyed, _ := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()), authkit.WithTokenHashKey([]byte("0123456789abcdef0123456789abcdef")))
	if keyed.CheckClientSecret(c, secret) {
		t.Error("a secret checked under another WithTokenHashKey")
	}
}
