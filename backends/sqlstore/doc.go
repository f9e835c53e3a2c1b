// Package sqlstore keeps authkit's state — sessions and refresh tokens,
// revocations, API tokens — in a SQL database: PostgreSQL (through
// github.com/jackc/pgx/v5/stdlib or github.com/lib/pq), MySQL 8 or MariaDB
// 10.5+ (github.com/go-sql-driver/mysql) and SQLite (modernc.org/sqlite,
// pure Go). A [Store] implements authkit.Store, authkit.Pinger and
// authkit.RevocationFeed; one code path serves the three dialects, which
// differ only in placeholders, upsert syntax, row locks and column types.
//
// Like database/sql, the package links no driver: the program imports the
// one its database needs, and links only that one (see [Open]):
//
//	import _ "github.com/jackc/pgx/v5/stdlib" // postgres://
//
// From a DSN, with the pool owned by the Store:
//
//	store, err := sqlstore.Open(ctx, "postgres://authkit:secret@db:5432/app?sslmode=verify-full")
//	defer store.Close()
//	iss, err := issuer.New(authkit.WithStore(store), authkit.WithKeys(set))
//
// Or over the *sql.DB (or *sqlx.DB, with New) the application already has,
// which the caller keeps owning; a pgxpool.Pool becomes one with pgx's
// stdlib.OpenDBFromPool:
//
//	db, err := sql.Open("pgx", dsn)
//	if err := sqlstore.Migrate(ctx, db, "pgx"); err != nil { … }
//	store, err := sqlstore.NewFromDB(db, "pgx")
//
// # Schema and migrations
//
// The schema is versioned SQL, one directory per dialect, embedded in the
// package ([Migrations]) and applied by [Migrate], which is idempotent and
// takes a lock so that several servers may start at once; `authkit migrate
// --store …` runs it from the command line. New and Open never change the
// schema. A team that runs its own migration tool applies the same files
// (goose and golang-migrate read them as they are). Table names start with
// a prefix, "authkit_" unless [WithTablePrefix] says otherwise.
//
// Open checks that every migration the package embeds is in effect
// ([Store.CheckSchema]), whichever tool applied it: it looks for what each
// one creates — its tables and the columns the store reads, the columns it
// adds, the rotation routine, the revocation feed's counter row — with
// read-only queries (one, on a complete schema), and refuses a database
// that lacks any, naming the first missing migration by its file
// ("migration 0003_rotate_refresh is not applied …"), rather than failing
// requests later. The epoch marker of 0005 is the exception: a data loss
// removes it too, so its absence alone refuses nothing (the store starts a
// new epoch); only a <prefix>schema_migrations table that does not list
// 0005 does. Deploy in that order: migrate, then start the new version.
// Tables, columns and migrations the package does not know are ignored, so
// a schema newer than the binary (the old version still running during a
// rolling deploy) passes. Every migration so far only adds; one that
// removed or changed what older versions read would need an explicit
// compatibility marker, which this check does not have yet
// (docs/backends/sql.md, "What Open checks").
//
// Times are stored as BIGINT microseconds since the Unix epoch: exact to
// the microsecond the store contract asks for, free of time zones and
// driver conversions. Expiry is judged only against the now the caller
// passes; the database's clock is never read. Token hashes, the sealed
// successor and session claims are byte columns; scopes and audiences are
// JSON arrays of strings. On MySQL every string is a VARBINARY or BLOB so
// that subjects and IDs compare byte for byte (no collation folds "Alice"
// into "alice" or pads "alice " into "alice"). No token secret is ever
// stored.
//
// Every lookup has an index, and none on the request path scans a table
// (a test checks PostgreSQL's plans). Expired rows are deleted in bounded
// batches by the DeleteExpired… methods, which issuer.Issuer.Cleanup calls;
// run it periodically.
//
// # Concurrency
//
// A Store is safe for concurrent use, and so are several Stores (several
// servers) over one database:
//
//   - RotateRefresh is one transaction that locks the presented token's row
//     and its session's (SELECT … FOR UPDATE; SQLite's BEGIN IMMEDIATE takes
//     the database's write lock), classifies them, marks the token used,
//     inserts its successor and moves the session's expiry. Of N concurrent
//     rotations of one token, across any number of pools, exactly one wins;
//     the others get a *authkit.ReuseError naming the winner.
//   - CreateAPIToken with a limit counts and inserts in one transaction that
//     holds a per-subject lock row, so N concurrent creations never exceed
//     the limit.
//   - IsRevoked is one SELECT, one round trip, of four primary-key probes
//     (the token's jti, sid and cutoff, and the epoch marker).
//   - A transaction aborted by a deadlock or a serialization failure is run
//     again (a few times, with a short jittered pause): a lost race is never
//     reported as a failure, nor a failure as a lost race.
//
// # Revocation feed
//
// Every revocation write also appends its change to a log table, in the
// same transaction, under an id taken from a counter row the transaction
// keeps locked until it commits, so that ids are dense and commit in
// their order (revocation writes to one database therefore run one at a
// time). [Store.RevocationSnapshot] and [Store.FollowRevocations] read it:
// following polls one primary-key row, and the log only when it grew,
// every [WithFeedPollInterval] or half the follower's heartbeat. Positions
// carry a random epoch made by the migration. DeleteExpiredRevocations
// trims the log after [WithFeedRetention].
//
// On PostgreSQL the revocation write also sends a NOTIFY in its one
// statement, on a channel named after the table prefix ([NotifyChannel]).
// A Store given [WithNotifications] keeps one LISTEN connection, shared by
// all its followers, and a notification makes them read the log at once:
// a revocation reaches every mirror a few milliseconds after it commits,
// and polling drops to half the heartbeat, as a safety net. The package
// links no driver, so the LISTEN is the driver's part, a [Listener]:
// package pgxlisten for pgx (over the Store's own pool, or a dedicated
// connection), package pqlisten for lib/pq. Notifications are only a
// hint: the log is read for every change, and while the LISTEN connection
// is down (it is opened again, with growing pauses) the followers poll
// every WithFeedPollInterval.
//
// # Data loss
//
// Migration 0005 adds the epoch marker of authkit.ErrDataLoss to the
// revocations table itself (kind 4, subject and ident empty, cutoff_at
// the epoch's start, never garbage-collected), so that whatever empties
// that table — a TRUNCATE, a restore, a failover to a replica that missed
// writes — takes it too. IsRevoked reads it in its one SELECT: a token
// issued at or before it is refused with a *authkit.DataLossError, and a
// check that finds it missing starts a new epoch at its now (in a
// transaction of its own, under the log's counter row, so that every
// handle reads back the same marker), logs it for the feed as a
// RevokedBeforeEpoch change, and judges the token by it. A restored
// backup that still holds its marker is not detected: after a restore,
// delete the marker row (docs/backends/sql.md, "Data loss").
//
// # Errors
//
// Outcomes match authkit's sentinels with errors.Is: ErrNotFound,
// ErrConflict (a duplicate key), ErrLimitExceeded, ErrTokenRevoked,
// ErrTokenExpired, *authkit.ReuseError. A call whose ctx is already done
// returns an error matching ctx.Err() without touching the database. Every
// other failure matches authkit.ErrStoreUnavailable and keeps the driver's
// error as its cause (errors.As reaches *pgconn.PgError, *pq.Error,
// *mysql.MySQLError, *sqlite.Error, *net.OpError): refused or broken connections, a
// server shutting down, a lock wait timeout, a missing table, and a ctx
// whose deadline passed while the database did not answer (that error
// matches context.DeadlineExceeded too; pgx and go-sql-driver close the
// connection at the deadline, while lib/pq can only send the server a
// cancel request, so through a network partition its calls outlive their
// deadline). The verifier refuses the request
// (fail closed); when the database is back, the pool's fresh connections
// work again without a restart. Input the store refuses before asking the
// database — an empty or over-long key ([MaxIDLen], [MaxKeyLen]), or a
// string PostgreSQL's text cannot hold (invalid UTF-8, a NUL byte) —
// matches authkit.ErrInvalidRequest. No error repeats a DSN's password, and
// no error's text repeats what the drivers put in theirs — the database
// user, the database name, the server's host and port, a SQLite file's
// path: it names the failure by kind and code instead ("dial tcp: connect:
// connection refused", "PostgreSQL error SQLSTATE 28P01 (invalid
// password)", "MySQL error 1049 …"), so that it can be logged or answered
// as it is; the driver's error, message and all, stays reachable with
// errors.As.
//
// # SQLite
//
// Open turns on WAL, busy_timeout=5000, foreign keys and
// synchronous=FULL (a commit survives a power loss: a revocation is never
// lost once written). Write transactions are BEGIN IMMEDIATE on a
// connection held for their duration, whatever the DSN says, so writers
// never deadlock upgrading a read lock; a pool opened by the application
// should set busy_timeout (and WAL) too. The writes of one Store queue in
// order in the process, one at a time asking SQLite for its lock (SQLite's
// own busy wait polls, and under load may starve a writer), and a write
// that still finds the database locked by another pool or process after
// busy_timeout is run again until its ctx is done (at most 30 s without a
// deadline). An in-memory database is refused: each connection of a pool
// would see its own.
package sqlstore
