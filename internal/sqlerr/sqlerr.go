// Package sqlerr recognises the SQL drivers' errors without linking any
// driver (the stores link none: the application imports the ones it uses),
// by what their error types expose, and describes them by their codes
// alone: a driver's error text names the server, the database and the
// user, which must not reach logs or answers (package internal/redact).
//
//   - PostgreSQL (*pgconn.PgError, *pq.Error): a SQLState() string method;
//   - SQLite (*sqlite.Error of modernc.org/sqlite): a Code() int method;
//   - MySQL/MariaDB (*mysql.MySQLError of github.com/go-sql-driver/mysql),
//     which has no methods to read its code: its exported Number and
//     SQLState fields, read by reflection from the type of that name and
//     package.
package sqlerr

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/authkit-go/authkit/internal/redact"
)

// SQLState is implemented by the errors of both PostgreSQL drivers
// (*pgconn.PgError and *pq.Error).
type SQLState interface {
	error
	SQLState() string
}

// SQLiteCoded is implemented by modernc.org/sqlite's *sqlite.Error.
type SQLiteCoded interface {
	error
	Code() int
}

// MySQL reads the number and SQLSTATE of a *mysql.MySQLError.
func MySQL(err error) (number int, state string, ok bool) {
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

// Describe names the drivers' errors by their codes, for
// redact.Error: the SQLSTATE or error number and its name, never the
// driver's text; ok is false for an error of no driver it knows.
func Describe(err error) (string, bool) {
	if s, ok := err.(SQLState); ok {
		code := s.SQLState()
		if !isCode(code) {
			return "PostgreSQL error", true
		}
		return "PostgreSQL error SQLSTATE " + code + named(pgNames[code]), true
	}
	if n, st, ok := MySQL(err); ok {
		name := myNames[n]
		if n == 1142 {
			name = deniedCommand(err.Error())
		}
		if isCode(st) {
			return fmt.Sprintf("MySQL error %d (SQLSTATE %s)%s", n, st, named(name)), true
		}
		return fmt.Sprintf("MySQL error %d%s", n, named(name)), true
	}
	if s, ok := err.(SQLiteCoded); ok {
		code := s.Code()
		return fmt.Sprintf("SQLite error %d%s", code, named(sqliteNames[code&0xff])), true
	}
	if msg, ok := PgxParseConfig(err); ok {
		s := "the connection string does not parse: " + msg
		if inner := errors.Unwrap(err); inner != nil {
			s += " (" + redact.Describe(inner, Describe) + ")"
		}
		return s, true
	}
	return driverSentinels(err)
}

// deniedRe reads the command and the table of a MySQL error 1142
// ("INSERT command denied to user 'app'@'10.0.0.9' for table
// `db`.`authkit_sessions`").
var deniedRe = regexp.MustCompile("([A-Z][A-Z ]{1,30}) command denied to user .* for table [`']?(?:[^`'.]*[`']?\\.[`']?)?([A-Za-z0-9_]{1,64})[`']?$")

// deniedCommand names a 1142 error by the command and the table it names
// (the privilege to grant), without the user, the host and the database;
// "command denied" when the text does not read so (found by review: an
// account without INSERT saw only "command denied").
func deniedCommand(text string) string {
	m := deniedRe.FindStringSubmatch(text)
	if m == nil {
		return "command denied"
	}
	return m[1] + " command denied on table " + m[2] + ": grant it to the store's account"
}

// PgxParseConfig reads the reason of a github.com/jackc/pgx
// *pgconn.ParseConfigError ("invalid port", "failed to configure TLS"),
// whose text also prints the connection string (user, host, database: its
// password masked at best); ok is false for any other error. pgx's
// database/sql driver parses the connection string at the first connection,
// so such an error comes from a ping, not from sql.Open.
func PgxParseConfig(err error) (msg string, ok bool) {
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return "", false
	}
	v = v.Elem()
	t := v.Type()
	if t.Kind() != reflect.Struct || t.Name() != "ParseConfigError" || !strings.HasPrefix(t.PkgPath(), "github.com/jackc/pgx/") {
		return "", false
	}
	m := v.FieldByName("msg")
	if !m.IsValid() || m.Kind() != reflect.String {
		return "", false
	}
	return m.String(), true
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
	// … parsing a connection string (inside a *pgconn.ParseConfigError)
	"sslmode is invalid", `both "sslcert" and "sslkey" are required`, "failed to decode sslkey",
	"unable to add CA to cert pool", "invalid keyword/value", "unterminated quoted string in connection info string",
	"forbidden NUL byte in connection string", "outside range", "negative timeout",
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
	// A prepared statement another client's session made or dropped: the
	// connection is behind a transaction-pooling proxy the driver was not
	// set up for (found by review: a bare code was all an operator had).
	"42P05": "duplicate prepared statement: behind a transaction pooler such as PgBouncer, use default_query_exec_mode=exec (pgx) or binary_parameters=yes (lib/pq), see docs/backends/sql.md",
	"26000": "invalid statement name: behind a transaction pooler such as PgBouncer, use default_query_exec_mode=exec (pgx) or binary_parameters=yes (lib/pq), see docs/backends/sql.md",
	"08000": "connection exception", "08001": "unable to establish connection", "08003": "connection does not exist",
	"08004": "connection rejected", "08006": "connection failure", "08P01": "protocol violation; behind PgBouncer: a startup parameter it refuses, such as search_path, see docs/backends/sql.md",
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
