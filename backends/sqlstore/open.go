package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/authkit-go/authkit"
)

// Open connects to the database a DSN names and returns a Store that owns
// the pool (Close closes it). It pings the database and checks that the
// migrations have been applied (CheckSchema); it does not apply them.
//
// DSN forms:
//
//	postgres://user:pass@host:5432/db?sslmode=verify-full   (or postgresql://)
//	mysql://user:pass@host:3306/db?tls=true                  (or mariadb://)
//	sqlite:path/to/authkit.db   sqlite:///abs/path.db   (or sqlite://rel/path.db)
//
// A postgres:// DSN is passed to pgx (github.com/jackc/pgx/v5/stdlib) as
// it is, or to lib/pq with WithDriver("postgres"). A mysql:// URL becomes
// a github.com/go-sql-driver/mysql DSN with interpolateParams=true (one
// round trip per query instead of prepare, execute, close); other query
// parameters pass through as driver parameters. A sqlite: path opens with
// modernc.org/sqlite in WAL mode with busy_timeout=5000, foreign keys on
// and _txlock=immediate; "_pragma=…" parameters pass through.
//
// The pool is sized for a server: see OpenDB.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, err := OpenDB(ctx, dsn, opts...)
	if err != nil {
		return nil, err
	}
	s, err := New(db, opts...)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	if err := s.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// OpenDB connects to the database a DSN names (the forms Open accepts) and
// pings it: what `authkit migrate --dsn` and Open use, for an application
// that wants the pool itself (to run Migrate, then New). The caller closes
// it.
//
// The pool keeps up to 4×GOMAXPROCS connections (at least 8) open and as
// many idle, recycled after 30 minutes and after 5 idle minutes; change
// them on the returned DB (SetMaxOpenConns, …) to fit the database's
// connection limit across all application servers.
func OpenDB(ctx context.Context, dsn string, opts ...Option) (*sqlx.DB, error) {
	c, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	connector, driverName, err := connectorFor(dsn, c.driver)
	if err != nil {
		return nil, err
	}
	db := sqlx.NewDb(sql.OpenDB(connector), driverName)
	n := max(8, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// The DSN is not repeated: it may hold a password.
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sqlstore: connecting: %w: %w: %w", authkit.ErrStoreUnavailable, ctx.Err(), err)
		}
		return nil, fmt.Errorf("sqlstore: connecting to the %s database: %w: %w", driverName, authkit.ErrStoreUnavailable, err)
	}
	return db, nil
}

// errDSN reports a DSN Open cannot use. Its message never repeats the DSN,
// which may hold a password.
var errDSN = errors.New("sqlstore: unsupported DSN (want postgres://…, postgresql://…, mysql://… or sqlite:…)")

// connectorFor parses dsn into a database/sql connector and the driver
// name the store detects its dialect from. No driver is registered
// globally: each connector is made directly (sql.OpenDB).
func connectorFor(dsn, driverName string) (driver.Connector, string, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return nil, "", errDSN
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		switch driverName {
		case "", driverPgx, "pgx/v5":
			cfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				// Not the parser's message: it may quote the DSN, password and all.
				return nil, "", errors.New("sqlstore: the PostgreSQL DSN does not parse (want postgres://user:pass@host:5432/db?sslmode=…)")
			}
			return stdlib.GetConnector(*cfg), driverPgx, nil
		case driverPq:
			conn, err := pq.NewConnector(dsn)
			if err != nil {
				return nil, "", errors.New("sqlstore: the PostgreSQL DSN does not parse for lib/pq (want postgres://user:pass@host:5432/db?sslmode=…)")
			}
			return conn, driverPq, nil
		}
		return nil, "", fmt.Errorf("sqlstore: WithDriver(%q) cannot open a PostgreSQL DSN (want pgx or postgres)", driverName)
	case "mysql", "mariadb":
		if driverName != "" && driverName != driverMySQL {
			return nil, "", fmt.Errorf("sqlstore: WithDriver(%q) cannot open a MySQL DSN", driverName)
		}
		cfg, err := mysqlConfig(dsn)
		if err != nil {
			return nil, "", err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, "", fmt.Errorf("sqlstore: the MySQL DSN: %w", err)
		}
		return conn, driverMySQL, nil
	case "sqlite", "sqlite3", "file":
		if driverName != "" && driverName != driverSQLite {
			return nil, "", fmt.Errorf("sqlstore: WithDriver(%q) cannot open a SQLite DSN", driverName)
		}
		name, err := sqliteDSN(rest)
		if err != nil {
			return nil, "", err
		}
		conn, err := sqlite.NewConnector(name)
		if err != nil {
			return nil, "", fmt.Errorf("sqlstore: the SQLite DSN: %w", err)
		}
		return conn, driverSQLite, nil
	}
	return nil, "", errDSN
}

// mysqlConfig translates mysql://user:pass@host:port/db?params into the
// driver's configuration.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("sqlstore: the MySQL DSN is not a URL (want mysql://user:pass@host:3306/db)")
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, errors.New("sqlstore: the MySQL DSN has no host (want mysql://user:pass@host:3306/db)")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return nil, errors.New("sqlstore: the MySQL DSN must name one database (mysql://user:pass@host:3306/db)")
	}
	cfg := mysql.NewConfig()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.DBName = db
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	if len(u.RawQuery) > 0 {
		// The driver parses its own parameters (tls, timeout, charset,
		// anything else as a session variable) from its DSN form.
		parsed, err := mysql.ParseDSN("/?" + u.RawQuery)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: the MySQL DSN's parameters: %w", err)
		}
		parsed.User, parsed.Passwd, parsed.Net, parsed.Addr, parsed.DBName = cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName
		q := u.Query()
		if !q.Has("parseTime") {
			parsed.ParseTime = true
		}
		if !q.Has("interpolateParams") {
			parsed.InterpolateParams = true
		}
		cfg = parsed
	}
	return cfg, nil
}

// sqliteDefaults are the parameters Open adds to a SQLite DSN unless it
// sets them itself.
var sqliteDefaults = []struct{ key, pragma, value string }{
	{"_pragma", "busy_timeout", "busy_timeout(5000)"},
	{"_pragma", "journal_mode", "journal_mode(WAL)"},
	{"_pragma", "foreign_keys", "foreign_keys(1)"},
	{"_pragma", "synchronous", "synchronous(NORMAL)"},
	{"_txlock", "", "immediate"},
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
