package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/redact"
	"github.com/authkit-go/authkit/internal/sqlerr"
)

// Open connects to the database a DSN names and returns a Store that owns
// the pool (Close closes it). It pings the database and checks that every
// migration the package embeds has been applied (CheckSchema), refusing a
// database that lacks one with an error naming it; it does not apply them.
// A SQLite file that is not there is refused the same way
// (ErrMigrationsNotApplied), and not created: Migrate creates it.
//
// DSN forms:
//
//	postgres://user:pass@host:5432/db?sslmode=verify-full   (or postgresql://)
//	mysql://user:pass@host:3306/db?tls=true                  (or mariadb://)
//	sqlite:path/to/authkit.db   sqlite:///abs/path.db   (or sqlite://rel/path.db)
//
// Like database/sql, the package links no driver: the program imports the
// one its DSN needs, and Open names the missing import in its error
// (matching authkit.ErrInvalidConfig) when it has not:
//
//	import _ "github.com/jackc/pgx/v5/stdlib"   // postgres:// (driver "pgx")
//	import _ "github.com/lib/pq"                // postgres:// with WithDriver("postgres")
//	import _ "github.com/go-sql-driver/mysql"   // mysql://, mariadb://
//	import _ "modernc.org/sqlite"               // sqlite:
//
// or passes WithConnector to build the driver's connector itself.
//
// A postgres:// DSN goes to the driver as it is. A mysql:// URL becomes a
// github.com/go-sql-driver/mysql DSN with parseTime=true and
// interpolateParams=true (one round trip per query instead of prepare,
// execute, close) unless it sets them; its other query parameters pass
// through as driver parameters. A sqlite: path opens with
// modernc.org/sqlite in WAL mode with busy_timeout=5000, foreign keys on
// and _txlock=immediate; "_pragma=…" parameters pass through.
//
// A DSN the store or the driver refuses — an sslmode no PostgreSQL client
// knows, an sslrootcert, sslcert or sslkey file that is not there, a
// parameter pgx cannot parse (it parses at the first connection) — is an
// error matching authkit.ErrInvalidConfig that names the parameter, not
// ErrStoreUnavailable; it never repeats the DSN.
//
// The pool is sized for a server: see OpenDB.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, watch, err := openDB(ctx, dsn, false, opts...)
	if err != nil {
		return nil, err
	}
	s, err := New(db, opts...)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned, s.watch = true, watch
	if err := s.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// OpenDB connects to the database a DSN names (the forms and driver
// imports Open takes) and pings it: what `authkit migrate --store` and Open
// use, for an application that wants the pool itself (to run Migrate, then
// New). The caller closes it.
//
// The pool keeps up to 4×GOMAXPROCS connections (at least 8) open and as
// many idle, recycled after 30 minutes and after 5 idle minutes; change
// them on the returned DB (SetMaxOpenConns, …) to fit the database's
// connection limit across all application servers. On SQLite they are
// recycled after 10 seconds, and each new one is refused once the path no
// longer leads to the file first opened (removed or replaced).
func OpenDB(ctx context.Context, dsn string, opts ...Option) (*sqlx.DB, error) {
	db, _, err := openDB(ctx, dsn, true, opts...)
	return db, err
}

// openDB is OpenDB, also returning the watch of a SQLite pool's file (nil
// for the other databases, and for a pool a WithConnector function made).
// With create false (Open), a SQLite database file that is not there is
// refused, as not migrated, before the driver creates it: Open's schema
// check would refuse the empty file it made, and a mistyped path in a
// command that only reads (authkit clients list) left a database behind
// (found by review).
func openDB(ctx context.Context, dsn string, create bool, opts ...Option) (*sqlx.DB, *fileWatch, error) {
	c, err := buildConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	driverName, driverDSN, err := parseDSN(dsn, c.driver)
	if err != nil {
		return nil, nil, err
	}
	var watch *fileWatch
	if driverName == driverSQLite {
		if !create {
			// The directory there, the file not (a missing directory is
			// the driver's SQLite error 14, as before, and creates nothing).
			path := sqlitePath(driverDSN)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && isDir(filepath.Dir(path)) {
				if c.connectors[driverName] == nil {
					if err := driverMissing(driverName); err != nil {
						return nil, nil, err // the first thing to fix
					}
				}
				return nil, nil, &schemaError{msg: "sqlstore: migration 0001_init is not applied: the SQLite database file does not exist (apply the migrations, which create it: authkit migrate, or sqlstore.Migrate)", notApplied: true}
			}
		}
		if err := createPrivate(driverDSN); err != nil {
			return nil, nil, err
		}
		if err := checkWritable(sqlitePath(driverDSN)); err != nil {
			return nil, nil, err
		}
		if c.connectors[driverName] == nil {
			watch = watchFile(sqlitePath(driverDSN))
		}
	}
	pool, err := openPool(driverName, driverDSN, c, watch)
	if err != nil {
		return nil, nil, err
	}
	db := sqlx.NewDb(pool, driverName)
	n := max(8, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(30 * time.Minute)
	if watch != nil {
		db.SetConnMaxLifetime(sqliteLifetime)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	err = ping(ctx, db.DB, driverName == driverSQLite)
	if want := dsnSearchPath(dsn); len(want) > 0 && err == nil {
		if err := checkSearchPath(ctx, db.DB, want...); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	if err != nil {
		db.Close()
		// Neither the DSN (it may hold a password) nor the driver's text
		// (it names the user, the database and the server): dbErr.
		if ctx.Err() != nil {
			cause := dbErr(err)
			if !errors.Is(cause, ctx.Err()) { // else it would say it twice
				cause = fmt.Errorf("%w: %w", ctx.Err(), cause)
			}
			return nil, nil, fmt.Errorf("sqlstore: connecting: %w: %w", authkit.ErrStoreUnavailable, cause)
		}
		if isParseConfig(err) {
			// pgx parses the DSN at the first connection: a parameter it
			// refuses is a configuration mistake, not an outage (found by
			// review: "store unavailable: *errors.errorString (message
			// withheld)" for sslmode=verify_full).
			return nil, nil, fmt.Errorf("sqlstore: the %s DSN: %w: %w", driverName, authkit.ErrInvalidConfig, dbErr(err))
		}
		return nil, nil, fmt.Errorf("sqlstore: connecting to the %s database: %w: %w", driverName, authkit.ErrStoreUnavailable, dbErr(err))
	}
	return db, watch, nil
}

// dsnSearchPath is the search_path a postgres:// DSN gives, as each driver
// may read it ('+' is a space to lib/pq and a '+' to pgx), none when it
// gives none (or is another kind of DSN).
func dsnSearchPath(dsn string) []string {
	scheme, _, _ := strings.Cut(dsn, ":")
	if s := strings.ToLower(scheme); s != "postgres" && s != "postgresql" {
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	q := u.Query()
	if !q.Has("search_path") {
		return nil
	}
	out := []string{q.Get("search_path")}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == "search_path" {
			if p, err := url.PathUnescape(v); err == nil && p != out[0] {
				out = append(out, p)
			}
			break
		}
	}
	return out
}

// checkSearchPath refuses a connection whose search_path is not the one
// its DSN gives (want): a pooler dropped the startup parameter (PgBouncer's
// ignore_startup_parameters), and the store — or Migrate — would use the
// role's default schema, another deployment's tables perhaps (found by
// review). The server compares: set_config returns want in the form
// current_setting gives the session's value in, whatever its spelling
// (quotes, spaces, "$user", case, long names).
func checkSearchPath(ctx context.Context, db *sql.DB, want ...string) error {
	var have, asked string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('search_path')").Scan(&have); err != nil {
		return fmt.Errorf("sqlstore: check search_path: %w: %w", authkit.ErrStoreUnavailable, dbErr(err))
	}
	for _, w := range want {
		// Local to the statement's own transaction: nothing stays set.
		if err := db.QueryRowContext(ctx, "SELECT set_config('search_path', $1, true)", w).Scan(&asked); err != nil {
			return fmt.Errorf("sqlstore: check search_path: %w: %w", authkit.ErrStoreUnavailable, dbErr(err))
		}
		if asked == have {
			return nil
		}
	}
	return fmt.Errorf("sqlstore: check search_path: %w: the DSN's search_path is %q but the connection's is %q: a pooler in between (PgBouncer's ignore_startup_parameters) may have dropped it; give the store's role its schema instead (ALTER ROLE … SET search_path = …)", authkit.ErrInvalidConfig, asked, have)
}

// isParseConfig reports whether err's chain holds a pgx
// *pgconn.ParseConfigError.
func isParseConfig(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := sqlerr.PgxParseConfig(e); ok {
			return true
		}
	}
	return false
}

// ping pings db. On SQLite a connection that gets SQLITE_BUSY while
// opening did nothing — it lost the race to switch a new file to WAL mode
// (found by review: a few of many `authkit migrate` started at once on a
// new file failed so), which busy_timeout does not wait out — and is
// retried (retryBusy), as a write would be.
func ping(ctx context.Context, db *sql.DB, sqlite bool) error {
	if !sqlite {
		return db.PingContext(ctx)
	}
	return retryBusy(ctx, func() error { return db.PingContext(ctx) })
}

// driverImports are the import paths of the drivers the store knows, by
// the name each registers with database/sql.
var driverImports = map[string]string{
	driverPgx:    "github.com/jackc/pgx/v5/stdlib",
	"pgx/v5":     "github.com/jackc/pgx/v5/stdlib",
	driverPq:     "github.com/lib/pq",
	driverMySQL:  "github.com/go-sql-driver/mysql",
	driverSQLite: "modernc.org/sqlite",
}

// openPool makes the database/sql pool of driverName over driverDSN: from
// the WithConnector function for that driver if there is one, else from
// the driver the program registered (sql.Open), naming the import it
// lacks when it registered none.
// isDir reports whether path is a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// driverMissing is the error of a program that did not import the
// database/sql driver driverName.
func driverMissing(driverName string) error {
	if slices.Contains(sql.Drivers(), driverName) {
		return nil
	}
	return fmt.Errorf("sqlstore: %w: no database/sql driver %q is registered; the program must import it: import _ %q (or pass sqlstore.WithConnector)",
		authkit.ErrInvalidConfig, driverName, driverImports[driverName])
}

func openPool(driverName, driverDSN string, c config, watch *fileWatch) (*sql.DB, error) {
	if fn := c.connectors[driverName]; fn != nil {
		conn, err := fn(driverDSN)
		if errors.Is(err, authkit.ErrInvalidConfig) {
			// The function says what is wrong, in words it chose to show.
			return nil, fmt.Errorf("sqlstore: the WithConnector function of driver %q: %w", driverName, err)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: the WithConnector function of driver %q: %w", driverName, dbErr(err))
		}
		if conn == nil {
			return nil, fmt.Errorf("sqlstore: the WithConnector function of driver %q returned no connector", driverName)
		}
		return sql.OpenDB(conn), nil
	}
	if err := driverMissing(driverName); err != nil {
		return nil, err
	}
	if watch != nil {
		// Only for the driver: sql.Open of a registered driver opens nothing.
		d, err := sql.Open(driverName, "")
		if err != nil {
			return nil, fmt.Errorf("sqlstore: the %s driver: %w", driverName, dbErr(err))
		}
		drv := d.Driver()
		d.Close()
		return sql.OpenDB(&watchedConnector{drv: drv, dsn: driverDSN, watch: watch}), nil
	}
	db, err := sql.Open(driverName, driverDSN)
	if err != nil {
		if driverName == driverMySQL {
			// The MySQL driver parses the DSN here. The DSN is ours
			// (mysqlDSN): only its parameters can be wrong, and the
			// driver's message names a parameter and its value.
			return nil, fmt.Errorf("sqlstore: the MySQL DSN's parameters: %v", err)
		}
		return nil, fmt.Errorf("sqlstore: the %s DSN does not parse: %w", driverName, dbErr(err))
	}
	return db, nil
}

// errDSN reports a DSN Open cannot use. Its message never repeats the DSN,
// which may hold a password.
var errDSN = errors.New("sqlstore: unsupported DSN (want postgres://…, postgresql://…, mysql://… or sqlite:…)")

// parseDSN turns a DSN of the forms Open takes into the name of the
// database/sql driver that opens it and the DSN in that driver's own form.
// driverName is WithDriver's, "" if none.
func parseDSN(dsn, driverName string) (string, string, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return "", "", errDSN
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		switch driverName {
		case "":
			driverName = driverPgx
		case driverPgx, "pgx/v5", driverPq:
		default:
			return "", "", fmt.Errorf("sqlstore: WithDriver(%q) cannot open a PostgreSQL DSN (want pgx or postgres)", driverName)
		}
		if err := checkPostgresURL(dsn); err != nil {
			return "", "", err
		}
		return driverName, dsn, nil
	case "mysql", "mariadb":
		if driverName != "" && driverName != driverMySQL {
			return "", "", fmt.Errorf("sqlstore: WithDriver(%q) cannot open a MySQL DSN", driverName)
		}
		d, err := mysqlDSN(dsn)
		if err != nil {
			return "", "", err
		}
		return driverMySQL, d, nil
	case "sqlite", "sqlite3", "file":
		if driverName != "" && driverName != driverSQLite {
			return "", "", fmt.Errorf("sqlstore: WithDriver(%q) cannot open a SQLite DSN", driverName)
		}
		d, err := sqliteDSN(rest)
		if err != nil {
			return "", "", err
		}
		return driverSQLite, d, nil
	}
	return "", "", errDSN
}

// checkPostgresURL catches the mistakes a postgres:// URL can make before
// the driver sees it: the drivers parse it only when they first connect,
// and their parse errors quote it (user, host and database included).
func checkPostgresURL(dsn string) error {
	const want = "(want postgres://user:pass@host:5432/db?sslmode=…)"
	u, err := url.Parse(dsn)
	if err != nil || u.Opaque != "" {
		return errors.New("sqlstore: the PostgreSQL DSN is not a URL " + want)
	}
	for _, host := range strings.Split(u.Host, ",") { // libpq's multi-host form
		_, port, err := net.SplitHostPort(host)
		if err != nil {
			continue // no port
		}
		if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
			return errors.New("sqlstore: the PostgreSQL DSN's port is not a number from 1 to 65535 " + want)
		}
	}
	// What both drivers would refuse only at the first connection, as an
	// outage with the reason withheld (found by review).
	q := u.Query()
	// An empty value is the default, as libpq takes it (found by review:
	// "sslmode=" was refused).
	if m := q.Get("sslmode"); m != "" && !slices.Contains([]string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}, m) {
		return fmt.Errorf("sqlstore: %w: the PostgreSQL DSN's sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full", authkit.ErrInvalidConfig)
	}
	if t := q.Get("connect_timeout"); t != "" {
		if n, err := strconv.Atoi(t); err != nil || n < 0 {
			return fmt.Errorf("sqlstore: %w: the PostgreSQL DSN's connect_timeout must be a whole number of seconds", authkit.ErrInvalidConfig)
		}
	}
	for _, k := range []string{"sslrootcert", "sslcert", "sslkey"} {
		// With lib/pq's sslinline=true they hold the PEM itself.
		if f := q.Get(k); f != "" && !(k == "sslrootcert" && f == "system") && q.Get("sslinline") != "true" {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("sqlstore: %w: the PostgreSQL DSN's %s cannot be read: %s", authkit.ErrInvalidConfig, k, redact.Describe(err))
			}
		}
	}
	return nil
}

// mysqlDSN translates mysql://user:pass@host:port/db?params into the
// DSN form of github.com/go-sql-driver/mysql,
// user:pass@tcp(host:port)/db?params, which its parser reads from the
// last "/" (the database, path-escaped here) and the last "@" before it
// (so a password may hold any character).
func mysqlDSN(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("sqlstore: the MySQL DSN is not a URL (want mysql://user:pass@host:3306/db)")
	}
	if u.Host == "" || u.Opaque != "" {
		return "", errors.New("sqlstore: the MySQL DSN has no host (want mysql://user:pass@host:3306/db)")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return "", errors.New("sqlstore: the MySQL DSN must name one database (mysql://user:pass@host:3306/db)")
	}
	var b strings.Builder
	if u.User != nil {
		user := u.User.Username()
		if strings.Contains(user, ":") {
			return "", errors.New("sqlstore: the MySQL driver cannot take a user name holding \":\"")
		}
		b.WriteString(user)
		if pw, ok := u.User.Password(); ok && pw != "" {
			b.WriteString(":" + pw)
		}
		b.WriteString("@")
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	b.WriteString("tcp(" + addr + ")/" + url.PathEscape(db))
	// The driver parses its own parameters (tls, timeout, charset,
	// anything else as a session variable) and unescapes their values; they
	// pass through as written, but for "/" (loc=Europe/Paris), which its
	// parser would take for the one before the database name.
	params := strings.ReplaceAll(u.RawQuery, "/", "%2F")
	q := u.Query()
	for _, cs := range strings.Split(q.Get("charset"), ",") {
		if cs != "" && unsafeMySQLCharset(cs) {
			return "", fmt.Errorf("sqlstore: %w: the MySQL DSN's charset %q is one whose multibyte characters can end in a backslash, under which the driver's escaping of query parameters is unsafe (SQL injection): use utf8mb4", authkit.ErrInvalidConfig, cs)
		}
	}
	if q.Has("autocommit") && !mysqlTrue(q.Get("autocommit")) {
		return "", fmt.Errorf("sqlstore: %w: the MySQL DSN turns autocommit off (autocommit=%s): every statement the store runs on its own would then open a transaction never committed, its writes lost and its reads frozen (a revocation never seen); leave autocommit on", authkit.ErrInvalidConfig, q.Get("autocommit"))
	}
	for _, p := range []string{"parseTime", "interpolateParams"} {
		if !q.Has(p) {
			if params != "" {
				params += "&"
			}
			params += p + "=true"
		}
	}
	if !q.Has("sql_mode") {
		// Strict whatever the server's default: a value too long is an
		// error, not cut short (CheckSchema refuses a connection without).
		if params != "" {
			params += "&"
		}
		params += "sql_mode=" + url.QueryEscape("CONCAT(@@sql_mode,',STRICT_TRANS_TABLES')")
	}
	b.WriteString("?" + params)
	return b.String(), nil
}

// mysqlTrue reports whether v, a session variable's value in a DSN,
// turns it on.
func mysqlTrue(v string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(v), "'\"")) {
	case "1", "on", "true":
		return true
	}
	return false
}

// unsafeMySQLCharset reports whether cs is a MySQL character set some of
// whose multibyte characters end in 0x5c (a backslash): under it, escaping
// by backslash — the driver's with interpolateParams, which Open turns on —
// can be undone by a crafted string, and a parameter escapes its literal.
func unsafeMySQLCharset(cs string) bool {
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "big5", "cp932", "gb18030", "gbk", "sjis":
		return true
	}
	return false
}

// sqliteDefaults are the parameters Open adds to a SQLite DSN unless it
// sets them itself.
var sqliteDefaults = []struct{ key, pragma, value string }{
	{"_pragma", "busy_timeout", "busy_timeout(5000)"},
	{"_pragma", "journal_mode", "journal_mode(WAL)"},
	{"_pragma", "foreign_keys", "foreign_keys(1)"},
	// FULL: a commit is on disk when it returns. NORMAL (in WAL mode)
	// loses the last commits to a power loss or an OS crash, and with them
	// revocations, while the epoch marker written long before survives:
	// the tokens they revoked would verify again, unnoticed.
	{"_pragma", "synchronous", "synchronous(FULL)"},
	{"_txlock", "", "immediate"},
}

// createPrivate creates the SQLite database file of dsn (sqliteDSN's form)
// with mode 0600 if it does not exist yet, so that the driver opens it
// instead of creating it with the process's umask (0644, readable by
// every account: found by review). The database holds the hashes of
// tokens and client secrets and the sessions' addresses; SQLite gives its
// WAL and shared-memory files the database file's mode. A file that
// exists is left as it is; an error leaves it to the driver, which
// reports it. (A "mode=ro" parameter changes nothing: without a file: URI,
// which sqliteDSN refuses, the driver ignores it and creates the file
// too.)
//
// A symbolic link that leads nowhere yet is followed, link by link, and
// the file it names is created 0600 (found by review: the driver created
// it with the umask's mode, as O_EXCL does not follow links). A link at
// the file's name, or at a name such a link leads to, owned by another
// account than this process's (or root's) is refused: one planted by an
// account that can write the directory would have a process run as root
// create a database wherever it points. (Links among the directories are
// the operator's own path, not checked.)
func createPrivate(dsn string) error {
	path, _, _ := strings.Cut(dsn, "?")
	for range 40 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f.Close()
		}
		fi, lerr := os.Lstat(path)
		if lerr != nil || fi.Mode()&os.ModeSymlink == 0 {
			return nil // there, or not to be made here: the driver says which
		}
		if !ownLink(fi) {
			return fmt.Errorf("sqlstore: the SQLite database %s is reached through a symbolic link owned by another account: refused (point the DSN at the file itself)", path)
		}
		if _, err := os.Stat(path); err == nil {
			return nil // a link to a database that exists: the driver opens it
		}
		target, err := os.Readlink(path)
		if err != nil {
			return nil
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return nil // a loop: the driver reports it
}

// sqliteDSN turns what follows "sqlite:" into a modernc.org/sqlite DSN.
func sqliteDSN(rest string) (string, error) {
	p, query, _ := strings.Cut(rest, "?")
	p = strings.TrimPrefix(p, "//") // sqlite://rel/path, sqlite:///abs/path
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "file:") || strings.Contains(p, "mode=memory") {
		return "", errors.New("sqlstore: the SQLite DSN must name a database file (an in-memory database lives per connection; use the memory store instead)")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlstore: the SQLite DSN's parameters: %w", err)
	}
	if slices.ContainsFunc(q["vfs"], func(v string) bool { return strings.EqualFold(v, "memdb") }) {
		// An in-memory database too (found by review: migrate reported
		// success and nothing was kept).
		return "", errors.New("sqlstore: the SQLite DSN's vfs=memdb keeps the database in memory, per connection; name a database file (or use the memory store)")
	}
	for _, d := range sqliteDefaults {
		if d.pragma == "" {
			if !q.Has(d.key) {
				q.Set(d.key, d.value)
			}
			continue
		}
		set := false
		for _, v := range q["_pragma"] {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), d.pragma) {
				set = true
			}
		}
		if !set {
			q.Add("_pragma", d.value)
		}
	}
	return p + "?" + q.Encode(), nil
}
