package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revlisten"
	"github.com/authkit-go/authkit/internal/storeerr"
)

var (
	_ authkit.Store          = (*Store)(nil)
	_ authkit.Pinger         = (*Store)(nil)
	_ authkit.RevocationFeed = (*Store)(nil)
)

// DefaultTablePrefix is the prefix of every table name unless
// WithTablePrefix says otherwise. The shipped .sql files use it.
const DefaultTablePrefix = "authkit_"

// MaxTablePrefixLen bounds WithTablePrefix, so that the longest name built
// from it (an index name) stays within PostgreSQL's 63-byte identifiers.
const MaxTablePrefixLen = 24

// Length limits of the identities the store keeps, in bytes. Writes with a
// longer value fail with an error matching authkit.ErrInvalidRequest, the
// same on every dialect.
const (
	// MaxIDLen bounds session IDs and API token IDs.
	MaxIDLen = 255
	// MaxKeyLen bounds subjects, and the jti, sid and subject keys of
	// revocations.
	MaxKeyLen = 1024
)

// Option configures New, NewFromDB, Open, OpenDB and Migrate.
type Option func(*config) error

type config struct {
	prefix string
	driver string // "" = detect from the *sqlx.DB, or pgx for postgres:// URLs
	// connectors are WithConnector's functions, by driver name.
	connectors map[string]func(dsn string) (driver.Connector, error)
	// pollInterval and retention are the revocation feed's (feed.go).
	pollInterval time.Duration
	retention    time.Duration
	// listener is WithNotifications' (notify.go).
	listener Listener
}

var prefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// WithTablePrefix sets the prefix of the store's table and index names.
// The default is DefaultTablePrefix ("authkit_"). It must match
// [a-z_][a-z0-9_]* and be at most MaxTablePrefixLen bytes; the store, its
// migrations and Migrate must all be given the same prefix. Several
// prefixes let several independent stores share one database.
func WithTablePrefix(prefix string) Option {
	return func(c *config) error {
		if len(prefix) == 0 || len(prefix) > MaxTablePrefixLen || !prefixRE.MatchString(prefix) {
			return fmt.Errorf("sqlstore: WithTablePrefix(%q): must match [a-z_][a-z0-9_]* and be 1 to %d bytes", prefix, MaxTablePrefixLen)
		}
		c.prefix = prefix
		return nil
	}
}

// WithDriver names the database/sql driver. For Open and OpenDB it chooses
// the PostgreSQL driver of a postgres:// DSN: "pgx" (the default,
// github.com/jackc/pgx/v5/stdlib) or "postgres" (github.com/lib/pq). For
// New, NewFromDB and Migrate it overrides the driver name the dialect is
// detected from, for a *sql.DB opened through a wrapping driver (tracing,
// metrics) registered under another name. Valid names: "pgx", "postgres",
// "mysql", "sqlite".
func WithDriver(name string) Option {
	return func(c *config) error {
		if _, err := dialectFor(name); err != nil {
			return err
		}
		c.driver = name
		return nil
	}
}

// WithConnector has Open and OpenDB build the pool of a DSN for driverName
// ("pgx", "postgres", "mysql" or "sqlite") from the connector fn returns,
// instead of from the driver the program registered with database/sql
// under that name. fn receives the DSN in that driver's own form: a
// postgres:// URL as it is, the github.com/go-sql-driver/mysql form that a
// mysql:// URL translates to (user:pass@tcp(host:port)/db?…), the
// modernc.org/sqlite file name with its parameters. It is the way to
// configure a driver beyond its DSN — the MySQL driver's per-connector
// Logger, a pgx tracer — with sqlstore still parsing the DSN and sizing
// the pool:
//
//	sqlstore.WithConnector("mysql", func(dsn string) (driver.Connector, error) {
//		cfg, err := mysql.ParseDSN(dsn)
//		if err != nil {
//			return nil, err
//		}
//		cfg.Logger = mysqlLogger{log} // its Print(v ...any) calls log.Warn
//		return mysql.NewConnector(cfg)
//	})
//
// An error of fn is reported without its text (a driver's names the
// server and the user), unless it matches authkit.ErrInvalidConfig: fn
// then says what is wrong in words it chose to show, as
//
//	return nil, fmt.Errorf("%w: the MySQL DSN's parameters: %v", authkit.ErrInvalidConfig, err)
//
// does for the MySQL driver's parse errors, which name a parameter and its
// value.
//
// New, NewFromDB and Migrate ignore it. The last WithConnector of a
// driver wins.
func WithConnector(driverName string, fn func(dsn string) (driver.Connector, error)) Option {
	return func(c *config) error {
		if _, err := dialectFor(driverName); err != nil {
			return err
		}
		if fn == nil {
			return fmt.Errorf("sqlstore: WithConnector(%q, nil)", driverName)
		}
		if c.connectors == nil {
			c.connectors = map[string]func(string) (driver.Connector, error){}
		}
		c.connectors[driverName] = fn
		return nil
	}
}

// WithFeedPollInterval sets how often FollowRevocations asks the database
// whether the revocation log has grown (DefaultFeedPollInterval unless
// set): the most a revocation waits before a follower sees it. A follower
// asking for a shorter heartbeat polls at half its heartbeat instead. When
// nothing changed a poll is one primary-key read of a one-row table. On
// PostgreSQL with WithNotifications it applies only while the LISTEN
// connection is down. d must be from 10ms to 1 minute.
func WithFeedPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond || d > time.Minute {
			return fmt.Errorf("sqlstore: WithFeedPollInterval(%v): must be from 10ms to 1m", d)
		}
		c.pollInterval = d
		return nil
	}
}

// WithFeedRetention sets how long the revocation log keeps a change
// (DefaultFeedRetention unless set): DeleteExpiredRevocations trims older
// ones, and a follower that comes back from an outage longer than that
// gets authkit.ErrFeedPositionLost and takes a new snapshot. d must be
// from 1 minute to 7 days.
func WithFeedRetention(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Minute || d > 7*24*time.Hour {
			return fmt.Errorf("sqlstore: WithFeedRetention(%v): must be from 1m to 168h", d)
		}
		c.retention = d
		return nil
	}
}

func buildConfig(opts []Option) (config, error) {
	c := config{prefix: DefaultTablePrefix, pollInterval: DefaultFeedPollInterval, retention: DefaultFeedRetention}
	for _, o := range opts {
		if o == nil {
			return config{}, errors.New("sqlstore: nil Option")
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// Store is an authkit.Store kept in a SQL database. Make one with New,
// NewFromDB or Open; it is safe for concurrent use by many goroutines and
// by many processes sharing the database.
type Store struct {
	db    *sqlx.DB
	d     *dialect
	q     queries
	cfg   config
	owned bool // Close closes db (Open made it)
	// gate admits one write at a time on SQLite (see write); nil on the
	// other dialects.
	gate chan struct{}
	// push is the revocation feed's PostgreSQL notifications (notify.go).
	push push
	// deadlines: every call ends at its context's deadline (pgx,
	// go-sql-driver/mysql); see HonorsDeadlines.
	deadlines bool
	// heldTx: transactions are heldTx under the caller's ctx
	// (go-sql-driver/mysql, whose Commit has no context).
	heldTx bool
	// listeners hear of each revocation written (ListenRevocations).
	listeners revlisten.Listeners
	// watch is the SQLite file Open opened (sqlitefile.go); nil otherwise.
	watch *fileWatch
}

// New returns a Store over db, an open pool of the "pgx", "postgres"
// (lib/pq), "mysql" or "sqlite" (modernc.org/sqlite) driver; the dialect
// is detected from db.DriverName() unless WithDriver names it. The tables
// must exist: apply the migrations first (Migrate, or the shipped .sql
// files). New does not touch the database. The caller owns db: Close on
// the Store leaves it open.
//
// For SQLite, open the file with busy_timeout set (and preferably WAL),
// as Open does; see the package documentation.
func New(db *sqlx.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: New: nil *sqlx.DB")
	}
	c, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	d, err := detect(db, c)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, d: d, q: buildQueries(d, c.prefix), cfg: c,
		deadlines: db.DB != nil && endsAtDeadline(d, driverPackage(db.Driver()))}
	s.heldTx = s.deadlines && d.name == "mysql"
	s.push = newPush(d, s.q, c, db.DB)
	if d.immediate {
		s.gate = make(chan struct{}, 1)
	}
	return s, nil
}

// NewFromDB is New for an application that holds a *sql.DB rather than a
// *sqlx.DB: driverName is the name it was opened with ("pgx", "postgres",
// "mysql", "sqlite"). A pool of one of those drivers named as another
// dialect's is refused with an error matching authkit.ErrInvalidConfig.
func NewFromDB(db *sql.DB, driverName string, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: NewFromDB: nil *sql.DB")
	}
	return New(sqlx.NewDb(db, driverName), opts...)
}

func detect(db *sqlx.DB, c config) (*dialect, error) {
	name := c.driver
	if name == "" {
		name = db.DriverName()
	}
	d, err := dialectFor(name)
	if err != nil || db.DB == nil {
		return d, err
	}
	// A pool of one of the known drivers named as another dialect would
	// run another dialect's statements, and fail with errors that point
	// elsewhere (a missing column, 503s, a schema "not in effect").
	pkg := driverPackage(db.Driver())
	if real, ok := driverDialects[pkg]; ok && real != d {
		return nil, fmt.Errorf("sqlstore: %w: the pool's driver is %s, a %s driver, but it was named %q, a %s driver: name it as it was opened (pgx, postgres, mysql or sqlite)",
			authkit.ErrInvalidConfig, pkg, real.name, name, d.name)
	}
	return d, nil
}

// driverDialects are the dialects of the known drivers' packages; a
// wrapped driver (tracing, metrics) has a package of its own and is taken
// at its name.
var driverDialects = map[string]*dialect{
	pgxStdlib:            dialectPostgres,
	"github.com/lib/pq":  dialectPostgres,
	mysqlDriver:          dialectMySQL,
	"modernc.org/sqlite": dialectSQLite,
}

// The packages of the database/sql drivers that end a call at its
// context's deadline through a stalled network.
const (
	pgxStdlib   = "github.com/jackc/pgx/v5/stdlib"
	mysqlDriver = "github.com/go-sql-driver/mysql"
)

// endsAtDeadline reports whether every call of a Store of dialect d over
// the driver of package pkg ends at its context's deadline: pgx on
// PostgreSQL; go-sql-driver/mysql on MySQL, whose transactions then
// commit through a heldTx.
func endsAtDeadline(d *dialect, pkg string) bool {
	switch d.name {
	case "postgres":
		return pkg == pgxStdlib
	case "mysql":
		return pkg == mysqlDriver
	}
	return false
}

// driverPackage returns the import path of drv's type ("" for nil).
func driverPackage(drv driver.Driver) string {
	t := reflect.TypeOf(drv)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	return t.PkgPath()
}

// HonorsDeadlines implements authkit.DeadlineStore. It reports true when
// the pool's driver is pgx (github.com/jackc/pgx/v5/stdlib), which ends
// every statement, commit and connection wait at its context's deadline by
// setting that deadline on the socket, or go-sql-driver/mysql, which
// closes the connection when a statement's context ends (the Store then
// runs its transactions on a held connection and sends COMMIT as a
// statement under the context, since database/sql's Commit has none), so
// that the issuer and the verifier call the Store on the request's
// goroutine. It reports false for lib/pq (its cancel request stalls with
// the network it would cancel), SQLite (a lock another process holds is
// waited for through busy_timeout) and any driver it does not know, such
// as one wrapped for tracing: those calls run in a goroutine the caller
// abandons at the deadline (authkit.WithStoreTimeout).
func (s *Store) HonorsDeadlines() bool { return s.deadlines }

// DB returns the pool the Store uses, for Migrate, for tuning and for
// metrics. The Store does not change its settings after Open.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the pool if Open made it. A Store made by New or NewFromDB
// leaves the caller's pool open. Either way it closes the LISTEN
// connection of WithNotifications, for good: followers still running go
// on by polling.
func (s *Store) Close() error {
	s.push.hub.close()
	if !s.owned {
		return nil
	}
	return s.db.Close()
}

// Ping implements authkit.Pinger: it checks that the database answers, with
// an error matching authkit.ErrStoreUnavailable when it does not. On
// PostgreSQL it fails too when the server cannot write (a standby, or
// read-only transactions), as Open refuses one, and on MySQL/MariaDB when
// the server is read_only. On a
// SQLite store Open made, it also checks that the path still leads to the
// file Open opened: once it does not, every call fails (see the package
// documentation of SQLite).
func (s *Store) Ping(ctx context.Context) error {
	const op = "ping"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if s.watch != nil {
		if err := s.watch.check(); err != nil {
			// No connection is kept idle from now on: each call opens
			// one, which the watch refuses, so that the store fails at
			// once rather than when its connections are recycled.
			s.db.SetMaxIdleConns(0)
			return s.fail(ctx, op, err)
		}
	}
	if s.d.name == "postgres" {
		// The same round trip as a ping, and it asks whether the server
		// can still write: one that became a standby after Open (an old
		// primary back as a replica behind a fixed address) failed every
		// write with a 503 while /healthz said ok (found by review).
		var cannotWrite bool
		if err := s.db.QueryRowContext(ctx, "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'").Scan(&cannotWrite); err != nil {
			return s.fail(ctx, op, err)
		}
		if cannotWrite {
			return fmt.Errorf("sqlstore: %s: %w: the server is a standby, or the connection's transactions are read-only: it cannot take logins or revocations (a failover moved the primary? point the DSN at the primary: target_session_attrs=read-write with several hosts)", op, authkit.ErrStoreUnavailable)
		}
		return nil
	}
	if s.d.name == "mysql" {
		// As on PostgreSQL: a primary demoted in a failover is read_only
		// (found by review: /healthz said ok while each write failed with
		// error 1290). An account with READ_ONLY ADMIN (MariaDB) or SUPER
		// (MySQL) could still write; a store's account has neither.
		var readOnly bool
		if err := s.db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&readOnly); err != nil {
			return s.fail(ctx, op, err)
		}
		if readOnly {
			return fmt.Errorf("sqlstore: %s: %w: the server is read-only (read_only is on): it cannot take logins or revocations (a failover demoted it? point the DSN at the primary)", op, authkit.ErrStoreUnavailable)
		}
		return nil
	}
	if err := s.db.PingContext(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// ---- errors ----

// deadCtx reports a call made with a context that was already done: the
// database was never asked.
func deadCtx(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// fail classifies an error from the database that is not one of the
// outcomes a method reports on its own (not found, conflict, …).
//
//   - ctx was cancelled during the call: the error matches ctx.Err().
//   - ctx's deadline passed during the call: the database did not answer in
//     time, so the error matches both context.DeadlineExceeded and
//     authkit.ErrStoreUnavailable.
//   - malformed input the database refused (an invalid byte sequence, a
//     value too long): authkit.ErrInvalidRequest.
//   - anything else (refused or broken connections, a server shutting
//     down, too many connections, a missing table, a lock wait timeout):
//     authkit.ErrStoreUnavailable. The caller fails closed. A missing
//     table or column says the migrations are not all applied.
//
// The driver's error is kept as the cause (errors.As reaches it), but not
// its text, which may name the user, the database and the server: dbErr.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	missing := isMissingSchema(err)
	err = dbErr(err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return storeerr.Ctx("sqlstore: "+op, ctxErr, err)
	}
	if isDataError(err) {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, authkit.ErrInvalidRequest, err)
	}
	if missing {
		// Still unavailable (fail closed), but named: a Store made by New
		// or NewFromDB over a schema not migrated answered every request
		// 503 with only the driver's code to go on (found by review).
		return fmt.Errorf("sqlstore: %s: %w: a table or column is missing: the schema's migrations are not all applied (authkit migrate, or sqlstore.Migrate): %w", op, authkit.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("sqlstore: %s: %w: %w", op, authkit.ErrStoreUnavailable, err)
}

// invalid reports input the store refuses before asking the database.
func invalid(op, what string, n, limit int) error {
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: %w: empty %s", op, authkit.ErrInvalidRequest, what)
	}
	return fmt.Errorf("sqlstore: %s: %w: %s is %d bytes, over the limit of %d", op, authkit.ErrInvalidRequest, what, n, limit)
}

// checkLen validates a key the store is about to write.
func checkLen(op, what, v string, limit int) error {
	if len(v) == 0 || len(v) > limit {
		return invalid(op, what, len(v), limit)
	}
	return nil
}

func errLimit(op string, limit int) error {
	return fmt.Errorf("sqlstore: %s: %w: limit %d must be positive", op, authkit.ErrInvalidRequest, limit)
}
