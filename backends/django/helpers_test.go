package django_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// backend is a database Django runs on, with the driver the test uses.
type backend struct {
	name   string
	driver string
	dir    string // testdata/<dir>: the DDL of this database
	// fresh returns a DSN of an empty database of t's own.
	fresh func(t testing.TB) string
}

var backends = []backend{
	{name: "postgres-pgx", driver: "pgx", dir: "postgres", fresh: func(t testing.TB) string { return testservers.Postgres(t) }},
	{name: "postgres-libpq", driver: "postgres", dir: "postgres", fresh: func(t testing.TB) string { return testservers.Postgres(t) }},
	{name: "sqlite", driver: "sqlite", dir: "sqlite", fresh: func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "django.sqlite3") + "?_pragma=busy_timeout(5000)"
	}},
	// The second name pgx's stdlib registers, which sqlx has no
	// placeholder style for (found by review: every lookup failed).
	{name: "postgres-pgx-v5", driver: "pgx/v5", dir: "postgres", fresh: func(t testing.TB) string { return testservers.Postgres(t) }},
	// MySQL and MariaDB, whose default collations ignore case and
	// trailing spaces in comparisons.
	{name: "mysql", driver: "mysql", dir: "mysql", fresh: func(t testing.TB) string { return testservers.MySQL(t) }},
}

// forEach runs f as a subtest on every backend.
func forEach(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// djangoDB is a database holding tables as Django's migrations made them,
// written to as Django writes.
type djangoDB struct {
	*sqlx.DB
	b   backend
	dsn string // what DB was opened with
}

// open returns a fresh database of b's with the tables of the named
// testdata files (auth_user always first).
func open(t *testing.T, b backend, tables ...string) *djangoDB {
	t.Helper()
	dsn := b.fresh(t)
	db, err := sqlx.Open(b.driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testservers.LimitPool(db.DB)
	d := &djangoDB{DB: db, b: b, dsn: dsn}
	for _, name := range append([]string{"auth_user"}, tables...) {
		ddl, err := os.ReadFile(filepath.Join("testdata", b.dir, name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(ddl), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s/%s.sql: %v\n%s", b.dir, name, err, stmt)
			}
		}
	}
	return d
}

// ts is a DateTimeField value as Django writes it: a timestamptz on
// PostgreSQL, UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]" on SQLite (USE_TZ).
func (d *djangoDB) ts(t time.Time) any {
	if d.b.dir != "sqlite" {
		return t
	}
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// boolean is a BooleanField value: boolean on PostgreSQL, 0/1 on SQLite.
func (d *djangoDB) boolean(v bool) any {
	if d.b.dir != "sqlite" {
		return v
	}
	if v {
		return 1
	}
	return 0
}

func (d *djangoDB) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if err := d.tryExec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// tryExec runs q, written with "quoted" identifiers and ? placeholders,
// in the database's own dialect.
func (d *djangoDB) tryExec(q string, args ...any) error {
	// Django's side writes with PostgreSQL's placeholders whatever the
	// driver's name (sqlx knows none for pgx/v5).
	switch d.b.dir {
	case "postgres":
		q = sqlx.Rebind(sqlx.DOLLAR, q)
	case "mysql":
		q = strings.ReplaceAll(q, `"`, "`")
	}
	_, err := d.Exec(d.Rebind(q), args...)
	return err
}

// schema returns the qualifier of d's tables: SQLite's main, the
// PostgreSQL schema, the MySQL database.
func (d *djangoDB) schema(t *testing.T) string {
	t.Helper()
	q := map[string]string{"sqlite": "", "postgres": "SELECT current_schema()", "mysql": "SELECT DATABASE()"}[d.b.dir]
	if q == "" {
		return "main"
	}
	var s string
	if err := d.Get(&s, q); err != nil {
		t.Fatal(err)
	}
	return s
}

// readOnly returns a pool on d's database that can only read it: a
// PostgreSQL role and a MySQL user granted SELECT alone (dropped when t
// ends), an SQLite file opened with mode=ro.
func (d *djangoDB) readOnly(t *testing.T) *djangoDB {
	t.Helper()
	name, pw := "authkit_ro_"+randomHex(t, 6), randomHex(t, 16)
	var dsn string
	switch d.b.dir {
	case "sqlite":
		dsn = "file:" + d.dsn + "&mode=ro"
	case "postgres":
		schema := d.schema(t)
		t.Cleanup(func() {
			for _, q := range []string{"DROP OWNED BY " + name, "DROP ROLE " + name} {
				if _, err := d.Exec(q); err != nil {
					t.Errorf("%s: %v", q, err)
				}
			}
		})
		d.exec(t, "CREATE ROLE "+name+" LOGIN PASSWORD '"+pw+"'")
		d.exec(t, "GRANT USAGE ON SCHEMA "+schema+" TO "+name)
		d.exec(t, "GRANT SELECT ON ALL TABLES IN SCHEMA "+schema+" TO "+name)
		u, err := url.Parse(d.dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(name, pw)
		dsn = u.String()
	case "mysql":
		cfg, err := mysql.ParseDSN(d.dsn)
		if err != nil {
			t.Fatal(err)
		}
		user := "'" + name + "'@'%'"
		t.Cleanup(func() {
			if _, err := d.Exec("DROP USER " + user); err != nil {
				t.Errorf("DROP USER %s: %v", user, err)
			}
		})
		d.exec(t, "CREATE USER "+user+" IDENTIFIED BY '"+pw+"'")
		d.exec(t, "GRANT SELECT ON `"+cfg.DBName+"`.* TO "+user)
		cfg.User, cfg.Passwd = name, pw
		dsn = cfg.FormatDSN()
	}
	db, err := sqlx.Open(d.b.driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testservers.LimitPool(db.DB)
	return &djangoDB{DB: db, b: d.b, dsn: dsn}
}

// unreachable returns a pool of b's driver on which every query fails as
// when the database is down, and where, the address (or file) it names,
// which no error may repeat: a loopback port nothing listens on for a
// server, a file in a directory that does not exist for SQLite.
func unreachable(t *testing.T, b backend) (db *sqlx.DB, where string) {
	t.Helper()
	var dsn string
	if b.dir == "sqlite" {
		where = filepath.Join(t.TempDir(), "missing", "django.sqlite3")
		dsn = where
	} else {
		where = testservers.ClosedAddr(t)
		dsn = testservers.WithAddr(t, b.fresh(t), where)
	}
	db, err := sqlx.Open(b.driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, where
}

// user inserts a user as django.contrib.auth does.
func (d *djangoDB) user(t *testing.T, id int, username string, active bool) {
	t.Helper()
	d.exec(t, `INSERT INTO "auth_user" ("id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active", "date_joined") VALUES (?, ?, NULL, ?, ?, '', '', ?, ?, ?, ?)`,
		id, "pbkdf2_sha256$870000$salt$hash", d.boolean(false), username, username+"@example.com", d.boolean(false), d.boolean(active), d.ts(base.Add(-48*time.Hour)))
}

// drfKey inserts a DRF authtoken row.
func (d *djangoDB) drfKey(t *testing.T, key string, userID int) {
	t.Helper()
	d.exec(t, `INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES (?, ?, ?)`, key, d.ts(base.Add(-time.Hour)), userID)
}

// knox inserts a knox_authtoken row of the Knox5 or Knox42 layout; expiry
// nil is NULL.
func (d *djangoDB) knox(t *testing.T, digest, tokenKey string, userID int, expiry *time.Time) {
	t.Helper()
	var exp any
	if expiry != nil {
		exp = d.ts(*expiry)
	}
	d.exec(t, `INSERT INTO "knox_authtoken" ("digest", "created", "user_id", "expiry", "token_key") VALUES (?, ?, ?, ?, ?)`,
		digest, d.ts(base.Add(-time.Hour)), userID, exp, tokenKey)
}

// base is the tests' now.
var base = time.Now().UTC().Truncate(time.Second)

func clock() time.Time { return base }

// newVerifier returns a verifier over store, as a Go service would build
// it, with a fixed clock at base.
func newVerifier(t *testing.T, store authkit.APITokenStore, extra ...authkit.Option) *verifier.Verifier {
	t.Helper()
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(append([]authkit.Option{authkit.WithKeys(set), authkit.WithAPITokenStore(store), authkit.WithClock(clock)}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// authenticate sends token with scheme through verifier.Authenticate on an
// httptest request.
func authenticate(v *verifier.Verifier, scheme, token string) (*authkit.Principal, error) {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/api/things", nil)
	r.Header.Set("Authorization", scheme+" "+token)
	return v.Authenticate(r)
}
