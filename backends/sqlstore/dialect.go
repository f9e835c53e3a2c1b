package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// dialect is everything that differs between the three databases. The
// store has one code path; the few places where the SQL or the
// transaction handling differ read it from here.
type dialect struct {
	// name is "postgres", "mysql" or "sqlite": the directory of its
	// migrations and the word used in messages.
	name string
	// bind is the sqlx bind type the queries are rebound to.
	bind int
	// forUpdate is appended to the SELECTs that lock the rows they read
	// inside a transaction. SQLite has no row locks: its write
	// transactions start with BEGIN IMMEDIATE and run one at a time.
	forUpdate string
	// txOptions are passed to BeginTx. The store's transactions run at
	// READ COMMITTED: every lock the store relies on is an explicit row
	// lock; InnoDB's REPEATABLE READ would add gap locks that only make
	// deadlocks likelier, and PostgreSQL's (a database's default may ask
	// for it) would fail a transaction that waited for a row lock with a
	// serialization error.
	txOptions *sql.TxOptions
	// immediate makes write transactions "BEGIN IMMEDIATE" statements on a
	// dedicated connection (SQLite), whatever _txlock the DSN asked for, so
	// that two writers never both hold a read lock and deadlock upgrading.
	immediate bool
	// upsertMax writes a row or, when its key is taken, keeps the greater of
	// the old and new value of each listed column.
	upsertMax func(table, cols, key string, greatest ...string) string
	// insertIfAbsent inserts a row unless its key is taken.
	insertIfAbsent func(table, col string) string
	// keepExisting is the clause that makes an INSERT keep the row whose
	// key (the columns key) is taken, as it is; col is one of its columns.
	keepExisting func(key, col string) string
	// byCtid makes bounded DELETEs name their rows by ctid (PostgreSQL).
	byCtid bool
	// orderedDelete makes bounded DELETEs MySQL's DELETE … ORDER BY …
	// LIMIT, or a multi-table DELETE joining the batch (see deleteBatch),
	// each ORDER BY ending with a primary key so that a statement-based
	// binary log's replay deletes the same rows.
	orderedDelete bool
	// lastInsertID says that nextSeq returns the new id through
	// sql.Result.LastInsertId (MySQL's LAST_INSERT_ID(expr)), not as a
	// row (UPDATE … RETURNING).
	lastInsertID bool
	// revokeLogged, when set, is a revocation write in one statement: it
	// takes the next log id ($1 subject, $2 kind, $3 ident, $4 until, $5
	// cutoff, $6 written_at), appends the log row and upserts, and writes
	// nothing without the feed row. Otherwise the store runs a transaction
	// of three statements.
	revokeLogged string
	// rotateCall, when set, is a refresh-token rotation in one statement:
	// a call of the routine migration 0003 creates, with the arguments
	// (old hash, next hash, now, next expiry, sealed successor), returning
	// the one row rotateRow reads. Otherwise (or while the routine is
	// missing) the store runs a transaction of four statements.
	rotateCall string
}

// nextSeq returns the statement that takes the next revocation log id from
// the counter row of table, locking the row until the transaction ends.
func (d *dialect) nextSeq(table string) string {
	if d.lastInsertID {
		return fmt.Sprintf("UPDATE %s SET seq = LAST_INSERT_ID(seq + 1) WHERE k = 1", table)
	}
	return fmt.Sprintf("UPDATE %s SET seq = seq + 1 WHERE k = 1 RETURNING seq", table)
}

// deleteBatch returns a DELETE of at most "?" rows of table, those that
// where matches, taken in the order of order (ORDER BY's leading columns;
// on MySQL then of table's primary key, keyCols, appended unless order
// already ends with it), so that each batch removes the oldest garbage
// first: the planner walks the index that order names and stops at the
// limit. where and order name table's columns as {t}col, where a "?" of
// where comes before the limit's.
//
// On MySQL the primary key makes the order total: which rows a batch
// deletes depends on the data alone, not on the plan. MySQL replays a
// DELETE … LIMIT from a STATEMENT binary log on each replica, where ties of
// a non-unique expiry column could otherwise go to different rows. (MySQL
// still warns that the statement is unsafe under binlog_format=STATEMENT:
// it flags every DELETE … LIMIT, ordered or not; MIXED logs it as rows.)
// The key costs no sort there: InnoDB's secondary indexes end with the
// primary key. PostgreSQL and SQLite replicate no statement, and do not
// get it (tieBreak): their gc_at indexes do not end with the key, so each
// run of equal values had to be read whole and sorted before the limit
// took effect, and every revoked session and API token has the same gc_at
// (gcRevoked): a cleanup batch over a million revoked sessions read them
// all, 4.7 s for 1000 rows on PostgreSQL (found by review).
//
// SQL has no portable DELETE … LIMIT:
//
//   - PostgreSQL deletes by ctid = ANY (ARRAY(SELECT t.ctid … LIMIT ?)):
//     a TID scan, where the planner would turn "key IN (SELECT … LIMIT
//     1000)" into a hash join over the whole table.
//   - MySQL runs its own single-table DELETE … WHERE … ORDER BY …
//     LIMIT: a range of the index order leads with. (MariaDB before 11.1
//     runs the derived-table form below as a scan of the whole table
//     that probes the subquery for each row; its single-table DELETE
//     takes no alias, so {t} is the table's own name there.)
//   - SQLite deletes "key IN (SELECT key FROM (SELECT t.key … LIMIT ?)
//     x)", which reads the index and probes the primary key.
func (d *dialect) deleteBatch(table, keyCols, where, order string) string {
	if d.orderedDelete {
		order = totalOrder(order, keyCols)
	}
	if d.orderedDelete {
		r := strings.NewReplacer("{t}", table+".")
		return fmt.Sprintf("DELETE FROM %s WHERE %s ORDER BY %s LIMIT ?", table, r.Replace(where), r.Replace(order))
	}
	r := strings.NewReplacer("{t}", "t.")
	return d.deleteBatchFrom(table, keyCols,
		fmt.Sprintf("FROM %s t WHERE %s ORDER BY %s", table, r.Replace(where), r.Replace(order)))
}

// tieBreak returns order followed by ", " and key on a dialect whose
// batches must be in a total order (deleteBatch), else order.
func (d *dialect) tieBreak(order, key string) string {
	if d.orderedDelete {
		return order + ", " + key
	}
	return order
}

// totalOrder returns the ORDER BY list order followed by the primary key
// keyCols, each column as {t}col, unless order already ends with it.
func totalOrder(order, keyCols string) string {
	key := prefixed("{t}", keyCols)
	if order == key || strings.HasSuffix(order, ", "+key) {
		return order
	}
	return order + ", " + key
}

// deleteBatchFrom is deleteBatch for a cleanup that must read another
// table to find its rows: it deletes at most "?" rows of table, those
// the query "SELECT … <from>" finds, where from aliases table as t,
// takes its own parameters first and may end in ORDER BY. Every ORDER BY
// of from (each one a LIMIT bounds) must end with a primary key, that of
// table for the last, so that the batch is the same rows on every replica
// of a STATEMENT binary log, as deleteBatch's (TestBoundedDeletesTotalOrder
// checks the statements). On PostgreSQL it deletes by ctid as
// deleteBatch does; on MySQL, whose DELETE … LIMIT takes one table only,
// it is a multi-table DELETE of the rows that join the batch (a derived
// table, materialised first: MySQL refuses a LIMIT in an IN subquery and
// a subquery that reads the table being deleted from, and MariaDB before
// 11.1 would scan the whole table for "key IN (…)"), which then probes
// the primary key for each; on SQLite, "key IN (SELECT key FROM (SELECT
// … LIMIT ?) x)".
func (d *dialect) deleteBatchFrom(table, keyCols, from string) string {
	if d.byCtid {
		return fmt.Sprintf("DELETE FROM %s WHERE ctid = ANY (ARRAY(SELECT t.ctid %s LIMIT ?))", table, from)
	}
	if d.orderedDelete {
		cols := strings.Split(keyCols, ",")
		on := make([]string, len(cols))
		for i, c := range cols {
			c = strings.TrimSpace(c)
			on[i] = fmt.Sprintf("d.%s = x.%s", c, c)
		}
		return fmt.Sprintf("DELETE d FROM %s d JOIN (SELECT %s %s LIMIT ?) x ON %s",
			table, prefixed("t.", keyCols), from, strings.Join(on, " AND "))
	}
	key := keyCols
	if strings.Contains(keyCols, ",") {
		key = "(" + keyCols + ")"
	}
	return fmt.Sprintf("DELETE FROM %s WHERE %s IN (SELECT %s FROM (SELECT %s %s LIMIT ?) x)",
		table, key, keyCols, prefixed("t.", keyCols), from)
}

var (
	dialectPostgres = &dialect{
		name:      "postgres",
		bind:      sqlx.DOLLAR,
		forUpdate: " FOR UPDATE",
		byCtid:    true,
		txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted},
		rotateCall: `SELECT o_status, o_used_at, o_successor, o_id, o_subject, o_client_id, o_scopes, o_audience,
			o_claims, o_user_agent, o_ip, o_name, o_created_at, o_last_used_at, o_expires_at, o_idle_expires_at,
			o_revoked_at FROM {p}rotate_refresh($1, $2, $3, $4, $5)`,
		// One round trip instead of five (BEGIN, three statements,
		// COMMIT); the counter row stays locked to the statement's commit.
		revokeLogged: `WITH c AS (UPDATE {p}revocation_feed SET seq = seq + 1 WHERE k = 1 RETURNING seq),
			l AS (INSERT INTO {p}revocation_log (id, kind, subject, ident, cutoff_at, expires_at, written_at)
				SELECT c.seq, $2::smallint, $1::text, $3::text, $5::bigint, $4::bigint, $6::bigint FROM c)
			INSERT INTO {p}revocations (subject, kind, ident, expires_at, cutoff_at)
				SELECT $1::text, $2::smallint, $3::text, $4::bigint, $5::bigint FROM c
			ON CONFLICT (subject, kind, ident) DO UPDATE SET
				expires_at = GREATEST({p}revocations.expires_at, EXCLUDED.expires_at),
				cutoff_at = GREATEST({p}revocations.cutoff_at, EXCLUDED.cutoff_at)`,
		upsertMax: func(table, cols, key string, greatest ...string) string {
			set := make([]string, len(greatest))
			for i, c := range greatest {
				set[i] = fmt.Sprintf("%s = GREATEST(%s.%s, EXCLUDED.%s)", c, table, c, c)
			}
			return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
				table, cols, marks(cols), key, strings.Join(set, ", "))
		},
		insertIfAbsent: func(table, col string) string {
			return fmt.Sprintf("INSERT INTO %s (%s) VALUES (?) ON CONFLICT (%s) DO NOTHING", table, col, col)
		},
		keepExisting: onConflictNothing,
	}
	dialectMySQL = &dialect{
		name:          "mysql",
		bind:          sqlx.QUESTION,
		forUpdate:     " FOR UPDATE",
		lastInsertID:  true,
		orderedDelete: true,
		rotateCall:    `CALL {p}rotate_refresh(?, ?, ?, ?, ?)`,
		txOptions:     &sql.TxOptions{Isolation: sql.LevelReadCommitted},
		upsertMax: func(table, cols, _ string, greatest ...string) string {
			// VALUES(col) is deprecated in MySQL 8.0.20+ but still works
			// there, and it is the only form MariaDB accepts.
			set := make([]string, len(greatest))
			for i, c := range greatest {
				set[i] = fmt.Sprintf("%s = GREATEST(%s, VALUES(%s))", c, c, c)
			}
			return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON DUPLICATE KEY UPDATE %s",
				table, cols, marks(cols), strings.Join(set, ", "))
		},
		insertIfAbsent: func(table, col string) string {
			return fmt.Sprintf("INSERT INTO %s (%s) VALUES (?) ON DUPLICATE KEY UPDATE %s = %s", table, col, col, col)
		},
		keepExisting: func(_, col string) string {
			return fmt.Sprintf(" ON DUPLICATE KEY UPDATE %s = %s", col, col)
		},
	}
	dialectSQLite = &dialect{
		name:      "sqlite",
		bind:      sqlx.QUESTION,
		immediate: true,
		upsertMax: func(table, cols, key string, greatest ...string) string {
			// SQLite's multi-argument max() is NULL if an argument is; the
			// columns kept this way are both NULL or both set.
			set := make([]string, len(greatest))
			for i, c := range greatest {
				set[i] = fmt.Sprintf("%s = max(%s, excluded.%s)", c, c, c)
			}
			return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
				table, cols, marks(cols), key, strings.Join(set, ", "))
		},
		insertIfAbsent: func(table, col string) string {
			return fmt.Sprintf("INSERT INTO %s (%s) VALUES (?) ON CONFLICT (%s) DO NOTHING", table, col, col)
		},
		keepExisting: onConflictNothing,
	}
)

// onConflictNothing is keepExisting on PostgreSQL and SQLite.
func onConflictNothing(key, _ string) string {
	return fmt.Sprintf(" ON CONFLICT (%s) DO NOTHING", key)
}

// marks returns one "?" per comma-separated column.
func marks(cols string) string {
	n := strings.Count(cols, ",") + 1
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Driver names the store recognises (database/sql's DriverName of the
// *sqlx.DB it is given, or the name passed to WithDriver).
const (
	driverPgx    = "pgx"      // github.com/jackc/pgx/v5/stdlib
	driverPq     = "postgres" // github.com/lib/pq
	driverMySQL  = "mysql"    // github.com/go-sql-driver/mysql
	driverSQLite = "sqlite"   // modernc.org/sqlite
)

// dialectFor maps a driver name to its dialect.
func dialectFor(driverName string) (*dialect, error) {
	switch driverName {
	case driverPgx, "pgx/v5", driverPq:
		return dialectPostgres, nil
	case driverMySQL:
		return dialectMySQL, nil
	case driverSQLite:
		return dialectSQLite, nil
	}
	return nil, fmt.Errorf("sqlstore: unknown database/sql driver %q (want pgx, postgres, mysql or sqlite; pass WithDriver for a wrapped driver)", driverName)
}
