package sqlstore

import (
	"strings"

	"github.com/authkit-go/authkit/internal/redact"
	"github.com/authkit-go/authkit/internal/sqlerr"
)

// The store links no driver (see Open), so it recognises the drivers'
// errors by what they expose rather than by their types (package
// internal/sqlerr).

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
		if s, ok := e.(sqlerr.SQLState); ok && c.pg == "" {
			c.pg = s.SQLState()
		}
		if s, ok := e.(sqlerr.SQLiteCoded); ok && c.sqlite == 0 {
			c.sqlite = s.Code()
		}
		if n, st, ok := sqlerr.MySQL(e); ok && c.mysql == 0 {
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

// isMissingSchema is isUndefined (schema.go) made sure for SQLite, whose
// SQLITE_ERROR is generic and says "no such table" only in its message:
// an error of a statement naming a table or column the database does not
// have, a schema whose migrations are not all applied.
func isMissingSchema(err error) bool {
	if !isUndefined(err) {
		return false
	}
	if codes(err).sqlite == 0 {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "no such column")
}

// dbErr hides the text of a database error, which the drivers fill with
// the user, the database name and the server's address (see package
// internal/redact): errors.Is and errors.As still reach it.
func dbErr(err error) error { return redact.Error(err, sqlerr.Describe, describeRowError) }

// rowError is this package's error about what a row holds, whose text
// names no identity: dbErr lets it through where it withholds a driver's
// (found by review: an older version's "unknown revocation kind" reached
// the operator as "*errors.errorString (message withheld)").
type rowError struct{ msg string }

func (e *rowError) Error() string { return e.msg }

// describeRowError is dbErr's redact.Describer of a rowError.
func describeRowError(err error) (string, bool) {
	if e, ok := err.(*rowError); ok {
		return e.msg, true
	}
	return "", false
}
