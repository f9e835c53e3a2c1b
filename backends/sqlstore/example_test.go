package sqlstore_test

import (
	"context"
	"log"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Open connects from a DSN and owns the pool; the schema must have been
// applied (authkit migrate --dsn …, or sqlstore.Migrate). This example
// needs a PostgreSQL server, so it only compiles.
func ExampleOpen() {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "postgres://authkit:secret@localhost:5432/app?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	pair, err := iss.IssuePair(ctx, "user-42")
	if err != nil {
		log.Fatal(err) // matches authkit.ErrStoreUnavailable when the database is down
	}
	if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
		log.Fatal(err)
	}
	// Run periodically: expired rows go in bounded batches.
	if _, err := iss.Cleanup(ctx, 1000); err != nil {
		log.Print(err)
	}
}

// New runs over a pool the application already has; the application keeps
// owning it. Migrate applies the embedded schema and is safe to call from
// every server at start-up.
func ExampleNew() {
	ctx := context.Background()
	db, err := sqlx.Open("mysql", "authkit:secret@tcp(localhost:3306)/app?interpolateParams=true")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db, sqlstore.WithTablePrefix("auth_")); err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.New(db, sqlstore.WithTablePrefix("auth_"))
	if err != nil {
		log.Fatal(err)
	}
	_ = store // authkit.WithStore(store)
}
