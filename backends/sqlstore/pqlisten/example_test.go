package pqlisten_test

import (
	"context"
	"log"

	_ "github.com/lib/pq"

	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pqlisten"
)

// A store on lib/pq whose followers (a verifier's revocation mirror) hear
// of a revocation as soon as it commits. lib/pq dials without a context:
// connect_timeout bounds the LISTEN connection's dial.
func ExampleNew() {
	ctx := context.Background()
	dsn := "postgres://authkit:secret@localhost:5432/app?sslmode=disable&connect_timeout=5"
	l, err := pqlisten.New(dsn)
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.Open(ctx, dsn, sqlstore.WithDriver("postgres"), sqlstore.WithNotifications(l))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	_ = store // authkit.WithStore(store), with authkit.WithRevocationMirror on the verifier
}
