package memory_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// One store serves the issuer and the verifier of one process: sessions,
// revocations and API tokens alike. Logging out everywhere ends the
// user's sessions and the access tokens minted in them; an API token,
// which is not a session, stays until it is revoked itself.
func ExampleNew() {
	ctx := context.Background()
	store := memory.New()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		log.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}

	pair, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	apiToken, _, err := iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		log.Fatal(err)
	}
	if err := iss.RevokeSubject(ctx, "alice"); err != nil {
		log.Fatal(err)
	}

	_, err = ver.Verify(ctx, pair.AccessToken)
	fmt.Println("access token after logout-all revoked:", errors.Is(err, authkit.ErrTokenRevoked))
	_, err = iss.Refresh(ctx, pair.RefreshToken)
	fmt.Println("refresh after logout-all revoked:", errors.Is(err, authkit.ErrTokenRevoked))
	p, err := ver.Verify(ctx, apiToken)
	fmt.Println("API token:", p.Method, err)
	// Output:
	// access token after logout-all revoked: true
	// refresh after logout-all revoked: true
	// API token: api_token <nil>
}
