package sqlstore_test

import (
	"context"
	"database/sql"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Open connects from a DSN and owns the pool; the schema must have been
// applied (authkit migrate --store …, or sqlstore.Migrate). The program
// imports the driver of its DSN: for postgres://,
// import _ "github.com/jackc/pgx/v5/stdlib". This example needs a
// PostgreSQL server, so it only compiles.
func ExampleOpen() {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "postgres://authkit:secret@localhost:5432/app?sslmode=disable")
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

// NewFromDB runs over a pool the application already has; the application
// keeps owning it. Migrate takes the same pool and driver name and is safe
// to call from every server at start-up. As with database/sql, the program
// imports the driver it uses (here: import _ "github.com/go-sql-driver/mysql").
func ExampleNewFromDB() {
	ctx := context.Background()
	db, err := sql.Open("mysql", "authkit:secret@tcp(localhost:3306)/app?interpolateParams=true")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db, "mysql", sqlstore.WithTablePrefix("auth_")); err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.NewFromDB(db, "mysql", sqlstore.WithTablePrefix("auth_"))
	if err != nil {
		log.Fatal(err)
	}
	_ = store // authkit.WithStore(store)
}

// A pgxpool.Pool serves the store through pgx's database/sql adapter,
// stdlib.OpenDBFromPool (github.com/jackc/pgx/v5/stdlib), under the
// driver name "pgx".
func ExampleNewFromDB_pgxpool() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://authkit:secret@localhost:5432/app?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db, "pgx"); err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.NewFromDB(db, "pgx")
	if err != nil {
		log.Fatal(err)
	}
	_ = store // authkit.WithStore(store)
}
