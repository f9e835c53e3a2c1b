package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the SQLite driver, pure Go

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// On SQLite the whole life of a session runs in process, on a file: apply
// the schema (OpenDB and Migrate; Open alone refuses a database without
// it), then issue, refresh, and present the spent refresh token again. The
// reuse ends the session, and its access tokens with it.
func ExampleOpen_sqlite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "authkit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dsn := "sqlite:" + filepath.Join(dir, "auth.db")

	db, err := sqlstore.OpenDB(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	if err := sqlstore.Migrate(ctx, db.DB, "sqlite"); err != nil {
		log.Fatal(err)
	}
	db.Close()
	store, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

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

	first, err := iss.IssuePair(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	second, err := iss.Refresh(ctx, first.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	p, err := ver.Verify(ctx, second.AccessToken)
	fmt.Println("refreshed:", p.Subject, err)

	_, err = iss.Refresh(ctx, first.RefreshToken) // the spent token, again
	fmt.Println("reuse detected:", errors.Is(err, authkit.ErrTokenReused))
	_, err = ver.Verify(ctx, second.AccessToken)
	fmt.Println("session's access token revoked:", errors.Is(err, authkit.ErrTokenRevoked))
	// Output:
	// refreshed: user-42 <nil>
	// reuse detected: true
	// session's access token revoked: true
}
