package django_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the database/sql driver of the Django database

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/django"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// A Go service accepts the keys Django REST framework handed out, with
// DRF's "Authorization: Token <key>" header, next to authkit's own API
// tokens (kept here in memory; in production in backends/sqlstore). The
// Django database is SQLite here, with the tables Django's migrations
// create, so that the example runs; in production it is the Django
// service's PostgreSQL, opened with pgx or lib/pq.
func Example() {
	dir, err := os.MkdirTemp("", "django-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlx.Open("sqlite", filepath.Join(dir, "db.sqlite3"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// What Django and DRF had created and written (abridged auth_user).
	for _, q := range []string{
		`CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "username" varchar(150) NOT NULL UNIQUE, "is_active" bool NOT NULL)`,
		`CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED)`,
		`INSERT INTO "auth_user" VALUES (42, 'alice', 1)`,
		`INSERT INTO "authtoken_token" VALUES ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', '2024-05-01 12:00:00.123456', 42)`,
	} {
		if _, err := db.Exec(q); err != nil {
			log.Fatal(err)
		}
	}

	store, err := django.NewAuthTokenStore(db, django.WithFallback(memory.New()))
	if err != nil {
		log.Fatal(err)
	}
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithAPITokenStore(store))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	r := httptest.NewRequestWithContext(context.Background(), "GET", "/api/orders", nil)
	r.Header.Set("Authorization", "Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")
	p, err := v.Authenticate(r)
	if err != nil {
		log.Fatal(err) // matches authkit.ErrStoreUnavailable if the database is down
	}
	fmt.Println(p.Subject, p.Method, p.TokenID, p.IssuedAt.Format("2006-01-02"))
	// Output: 42 api_token authtoken:42 2024-05-01
}
