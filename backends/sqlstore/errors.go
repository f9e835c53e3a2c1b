package sqlstore

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/authkit-go/authkit/internal/redact"
)

// The store links no driver (see Open), so it recognises the drivers'
// errors by what they expose rather than by their types:
//
//   - PostgreSQL (*pgconn.PgError, *pq.Error): a SQLState() string method;
//   - SQLite (*sqlite.Error of modernc.org/sqlite): a Code() int method;
//   - MySQL/MariaDB (*mysql.MySQLError of github.com/go-sql-driver/mysql),
//     which has no methods to read its code: its exported Number and
//     SQLState fields, read by reflection from the type of that name and
//     package.

// SQLSTATE codes and vendor error numbers the store acts on.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgDataExceptionClass   = "22"

	myDupEntry         = 1062
	myDupEntryKeyName  = 1586
	myNoReferencedRow  = 1216 // ER_NO_REFERENCED_ROW
	myNoReferencedRow2 = 1452 // ER_NO_REFERENCED_ROW_2
	myDeadlock         = 1213
	myDataTooLong      = 1406
	myIncorrectString  = 1366

	sqliteBusy                 = 5    // SQLITE_BUSY, the primary code of every SQLITE_BUSY_…
	sqliteConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
	sqliteConstraintForeignKey = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
)

// sqlState is implemented by the errors of both PostgreSQL drivers
// (*pgconn.PgError and *pq.Error).
type sqlState interface {
	error
	SQLState() string
}

// sqliteCoded is implemented by modernc.org/sqlite's *sqlite.Error.
type sqliteCoded interface {
	error
	Code() int
}

// mysqlError reads the number and SQLSTATE of a *mysql.MySQLError.
func mysqlError(err error) (number int, state string, ok bool) {
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0, "", false
	}
	v = v.Elem()
	t := v.Type()
	if t.Kind() != reflect.Struct || t.Name() != "MySQLError" || !isMySQLPackage(t.PkgPath()) {
		return 0, "", false
	}
	n := v.FieldByName("Number")
	if !n.IsValid() || n.Kind() != reflect.Uint16 {
		return 0, "", false
	}
	if s := v.FieldByName("SQLState"); s.IsValid() && s.Kind() == reflect.Array && s.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, s.Len())
		for i := range b {
			b[i] = byte(s.Index(i).Uint())
		}
		state = string(b)
	}
	return int(n.Uint()), state, true
}

func isMySQLPackage(p string) bool {
	const path = "github.com/go-sql-driver/mysql"
	return p == path || strings.HasPrefix(p, path+"/v")
}

// errorCodes is what an error chain says about its cause in the three
// dialects' terms: the first of each kind found, outermost first.
type errorCodes struct {
	pg      string // SQLSTATE of a PostgreSQL error
	mysql   int    // MySQL/MariaDB error number
	mystate string
	sqlite  int // SQLite extended result code
}

// codes walks err's chain (Unwrap() error and Unwrap() []error, bounded)
// and collects the codes of the drivers' errors in it.
func codes(err error) errorCodes {
	var c errorCodes
	var visit func(e error, depth int)
	visit = func(e error, depth int) {
		if e == nil || depth > 32 {
			return
		}
		if s, ok := e.(sqlState); ok && c.pg == "" {
			c.pg = s.SQLState()
		}
		if s, ok := e.(sqliteCoded); ok && c.sqlite == 0 {
			c.sqlite = s.Code()
		}
		if n, st, ok := mysqlError(e); ok && c.mysql == 0 {
			c.mysql, c.mystate = n, st
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			visit(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				visit(inner, depth+1)
			}
		}
	}
	visit(err, 0)
	return c
}

// isUniqueViolation reports whether err is a duplicate key, in any dialect.
func isUniqueViolation(err error) bool {
	c := codes(err)
	return c.pg == pgUniqueViolation ||
		c.mysql == myDupEntry || c.mysql == myDupEntryKeyName ||
		c.sqlite == sqliteConstraintUnique || c.sqlite == sqliteConstraintPrimaryKey
}

// isForeignKeyViolation reports whether err is a row that references a
// missing one (an authorization code of a client that is not there), in
// any dialect.
func isForeignKeyViolation(err error) bool {
	c := codes(err)
	return c.pg == pgForeignKeyViolation || c.mysql == myNoReferencedRow || c.mysql == myNoReferencedRow2 ||
		c.sqlite == sqliteConstraintForeignKey
}

// isRetryable reports whether err aborted a transaction that may simply be
// run again: a deadlock or a serialization failure. The store's
// transactions lock few rows, in a fixed order, so these are rare; they are
// retried rather than reported, because a deadlock victim must not be
// taken for a wrong answer (a lost rotation race is a *ReuseError, not a
// failure).
func isRetryable(err error) bool {
	c := codes(err)
	return c.pg == pgSerializationFailure || c.pg == pgDeadlockDetected || c.mysql == myDeadlock
}

// isBusy reports a SQLite statement that found the database locked by
// another connection after its busy_timeout: it did nothing and may be run
// again.
func isBusy(err error) bool {
	return codes(err).sqlite&0xff == sqliteBusy
}

// isDataError reports input the database refused as malformed: a string
// that is not valid UTF-8 or holds a NUL byte (PostgreSQL's text), or a
// value too long for its column (MySQL in strict mode).
func isDataError(err error) bool {
	c := codes(err)
	return strings.HasPrefix(c.pg, pgDataExceptionClass) || c.mysql == myDataTooLong || c.mysql == myIncorrectString
}

// dbErr hides the text of a database error, which the drivers fill with
// the user, the database name and the server's address (see package
// internal/redact): errors.Is and errors.As still reach it.
func dbErr(err error) error { return redact.Error(err, describeSQL) }

// describeSQL names the drivers' errors by their codes.
func describeSQL(err error) (string, bool) {
	if s, ok := err.(sqlState); ok {
		code := s.SQLState()
		if !isCode(code) {
			return "PostgreSQL error", true
		}
		return "PostgreSQL error SQLSTATE " + code + named(pgNames[code]), true
	}
	if n, st, ok := mysqlError(err); ok {
		if isCode(st) {
			return fmt.Sprintf("MySQL error %d (SQLSTATE %s)%s", n, st, named(myNames[n])), true
		}
		return fmt.Sprintf("MySQL error %d%s", n, named(myNames[n])), true
	}
	if s, ok := err.(sqliteCoded); ok {
		code := s.Code()
		return fmt.Sprintf("SQLite error %d%s", code, named(sqliteNames[code&0xff])), true
	}
	return driverSentinels(err)
}

// driverSentinels are the drivers' constant messages that name nothing.
var driverSentinels = redact.Fixed(
	// github.com/go-sql-driver/mysql
	"invalid connection", "bad connection", "malformed packet", "busy buffer",
	"TLS requested but server does not support TLS",
	"commands out of sync. Did you run multiple statements at once?",
	"commands out of sync; you can't run this command now",
	// github.com/jackc/pgx
	"conn closed", "conn busy",
	// github.com/lib/pq
	"pq: SSL is not enabled on the server", "pq: Could not complete SSL handshake",
)

func isCode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func named(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

var pgNames = map[string]string{
	"08000": "connection exception", "08001": "unable to establish connection", "08003": "connection does not exist",
	"08004": "connection rejected", "08006": "connection failure", "08P01": "protocol violation",
	"22001": "value too long", "22021": "invalid byte sequence", "22P05": "untranslatable character",
	"23505": "unique violation", "25006": "read-only transaction", "28000": "invalid authorization",
	"28P01": "invalid password", "3D000": "database does not exist", "3F000": "schema does not exist",
	"40001": "serialization failure", "40P01": "deadlock detected", "42501": "insufficient privilege",
	"42P01": "undefined table", "42703": "undefined column", "53100": "disk full", "53300": "too many connections",
	"55P03": "lock not available", "57014": "query canceled", "57P01": "admin shutdown",
	"57P02": "crash shutdown", "57P03": "cannot connect now",
}

var myNames = map[int]string{
	1040: "too many connections", 1044: "database access denied", 1045: "access denied", 1049: "unknown database",
	1053: "server shutdown", 1062: "duplicate entry", 1142: "command denied", 1146: "no such table",
	1205: "lock wait timeout", 1213: "deadlock", 1290: "read-only", 1366: "incorrect string value",
	1406: "data too long", 1586: "duplicate entry", 1927: "connection killed", 3024: "query timeout",
	4031: "disconnected for inactivity",
}

var sqliteNames = map[int]string{
	1: "SQLITE_ERROR", 2: "SQLITE_INTERNAL", 3: "SQLITE_PERM", 4: "SQLITE_ABORT", 5: "SQLITE_BUSY",
	6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM", 8: "SQLITE_READONLY", 9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR",
	11: "SQLITE_CORRUPT", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN", 15: "SQLITE_PROTOCOL", 17: "SQLITE_SCHEMA",
	18: "SQLITE_TOOBIG", 19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 21: "SQLITE_MISUSE", 23: "SQLITE_AUTH",
	26: "SQLITE_NOTADB",
}
