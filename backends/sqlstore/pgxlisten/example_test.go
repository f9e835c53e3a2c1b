package pgxlisten_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// A verifier mirrors the revocations of a PostgreSQL store; the LISTEN
// connection comes from the store's own pgx pool, so that a revocation
// written by any replica reaches this one as soon as it commits.
func ExampleNew() {
	ctx := context.Background()
	dsn := "postgres://authkit:secret@localhost:5432/app?sslmode=disable"
	store, err := sqlstore.Open(ctx, dsn, sqlstore.WithNotifications(pgxlisten.New()))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Every server that signs or verifies these tokens loads the same
	// keys: the file authkit keygen wrote (a key generated per process
	// would make each server refuse the others' tokens).
	data, err := os.ReadFile("/etc/authkit/keys.json")
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.ParseJWKS(data)
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store),
		authkit.WithRevocationMirror(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
}

// Behind PgBouncer in transaction mode the pool cannot carry a LISTEN:
// the Listener opens its own connection to the server itself.
func ExampleDedicated() {
	ctx := context.Background()
	config, err := pgx.ParseConfig("postgres://authkit:secret@db-primary:5432/app?sslmode=verify-full&connect_timeout=5")
	if err != nil {
		log.Fatal(err)
	}
	l, err := pgxlisten.Dedicated(config)
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.Open(ctx, "postgres://authkit:secret@pgbouncer:6432/app?sslmode=verify-full",
		sqlstore.WithNotifications(l))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	_ = store // authkit.WithStore(store), with authkit.WithRevocationMirror on the verifier
}
