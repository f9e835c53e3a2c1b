package main

// backends/sqlstore links no database driver, as database/sql itself does
// not: a program links only the driver it imports. authkit serve and
// authkit migrate open whatever database --store names, so the command
// imports all four drivers the store supports.
import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"   // mysql://, mariadb://; named for its per-connector Logger
	_ "github.com/jackc/pgx/v5/stdlib" // postgres:// (driver "pgx", the default)
	_ "github.com/lib/pq"              // postgres:// with sqlstore.WithDriver("postgres")
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // sqlite:

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/internal/redact"
	"github.com/authkit-go/authkit/internal/sqlerr"
)

// Both go-redis and the MySQL driver write their own log lines (a dial
// that failed, a connection that broke) and, left alone, write them raw to
// standard error, with the server's address in them. The command routes
// them into serve's slog logger instead: the MySQL driver through the
// Logger of each connector sqlstore builds (sqlOptions), go-redis through
// its one process-wide logger (redisLogs).

// driverLogger writes a driver's log lines to an application's logger at
// Warn, attributed to the driver, with every error among their arguments
// described by internal/redact: no host, port, user or database name.
type driverLogger struct {
	log    *slog.Logger
	driver string
}

// Print implements mysql.Logger.
func (d driverLogger) Print(v ...any) {
	d.log.Warn(fmt.Sprint(redactArgs(v)...), "driver", d.driver)
}

// Printf is go-redis's logger method.
func (d driverLogger) Printf(ctx context.Context, format string, v ...any) {
	d.log.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, redactArgs(v)...), "driver", d.driver)
}

// mysqlSentinels are the MySQL driver's constant error messages, which
// name nothing.
var mysqlSentinels = redact.Fixed(mysql.ErrInvalidConn.Error(), mysql.ErrMalformPkt.Error(), mysql.ErrNoTLS.Error(),
	mysql.ErrPktSync.Error(), mysql.ErrPktSyncMul.Error(), mysql.ErrPktTooLarge.Error(), mysql.ErrBusyBuffer.Error())

func redactArgs(v []any) []any {
	out := make([]any, len(v))
	for i, a := range v {
		if err, ok := a.(error); ok {
			a = redact.Describe(err, mysqlSentinels)
		}
		out[i] = a
	}
	return out
}

// sqlOptions are the sqlstore options of a store opened by the command:
// MySQL connectors that log through log, and on PostgreSQL (where the
// command always uses pgx) notifications that push revocations to the
// verifier's revocation mirror over one LISTEN connection taken from the
// store's pool. sqlstore ignores WithNotifications on MySQL and SQLite,
// and in Migrate and OpenDB.
func sqlOptions(log *slog.Logger) []sqlstore.Option {
	return []sqlstore.Option{
		sqlstore.WithNotifications(&loggedListener{Listener: pgxlisten.New(), log: log}),
		sqlstore.WithConnector("mysql", func(dsn string) (driver.Connector, error) {
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				// The DSN is sqlstore's translation of --store: only its
				// parameters can be wrong, and the driver's message names
				// one and its value (found by review: it was withheld, and
				// tls=bogus read as an outage).
				return nil, fmt.Errorf("%w: the MySQL DSN's parameters: %v", authkit.ErrInvalidConfig, err)
			}
			cfg.Logger = driverLogger{log: log, driver: "mysql"}
			return mysql.NewConnector(cfg)
		}),
	}
}

// loggedListener logs, through log, when the store's LISTEN connection
// fails (a PostgreSQL error by its SQLSTATE: found by review, a terminated
// connection was "*pgconn.PgError (message withheld)") and when it is
// back: once per outage, not once per attempt. While
// it is down the revocation mirror's feed polls, so revocations still
// arrive, a poll interval later.
type loggedListener struct {
	sqlstore.Listener
	log     *slog.Logger
	failing atomic.Bool
}

// Listen implements sqlstore.Listener.
func (l *loggedListener) Listen(ctx context.Context, db *sql.DB, channel string, ready, notify func()) error {
	err := l.Listener.Listen(ctx, db, channel, func() {
		if l.failing.Swap(false) {
			l.log.Info("revocation feed: the PostgreSQL LISTEN connection is back")
		}
		ready()
	}, notify)
	if ctx.Err() == nil && !l.failing.Swap(true) {
		l.log.Warn("revocation feed: the PostgreSQL LISTEN connection failed; polling until it is back", "err", redact.Describe(err, sqlerr.Describe))
	}
	return err
}

// redisLogRouter is go-redis's logger in this process. go-redis has one
// logger per process (redis.SetLogger) and no per-client one, so this one
// passes each line to the logger of every Redis store the process has
// open — serve opens one; tests open several — and drops it when none is.
type redisLogRouter struct {
	mu   sync.Mutex
	next int
	logs map[int]driverLogger
}

// add routes go-redis's lines to log until the returned func is called.
func (r *redisLogRouter) add(log *slog.Logger) (remove func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logs == nil {
		r.logs = map[int]driverLogger{}
	}
	id := r.next
	r.next++
	r.logs[id] = driverLogger{log: log, driver: "go-redis"}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.logs, id)
	}
}

// Printf implements go-redis's logger.
func (r *redisLogRouter) Printf(ctx context.Context, format string, v ...any) {
	r.mu.Lock()
	logs := make([]driverLogger, 0, len(r.logs))
	for _, l := range r.logs {
		logs = append(logs, l)
	}
	r.mu.Unlock()
	for _, l := range logs {
		l.Printf(ctx, format, v...)
	}
}

// redisLogs is the process's go-redis logger: a process-wide setting is
// what go-redis offers, and the command, being the program, owns it.
var redisLogs = &redisLogRouter{}

// init installs redisLogs before any goroutine of the program, or of its
// tests, has made a Redis client: go-redis reads its logger without
// synchronisation, so it is set once, here, and never again.
func init() {
	redis.SetLogger(redisLogs)
}
