package sqlerr

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

type pgErr struct{ code string }

func (e pgErr) Error() string {
	return "ERROR: prepared statement \"stmtcache_1\" already exists (user=app host=10.0.0.7)"
}
func (e pgErr) SQLState() string { return e.code }

// The codes a transaction-pooling proxy causes name it and the fix, never
// the driver's text (found by review: "SQLSTATE 42P05" was all an operator
// saw behind PgBouncer).
func TestDescribePoolerCodes(t *testing.T) {
	for _, code := range []string{"42P05", "26000"} {
		s, ok := Describe(pgErr{code})
		if !ok || !strings.Contains(s, code) || !strings.Contains(s, "transaction pooler") || strings.Contains(s, "10.0.0.7") {
			t.Errorf("Describe(%s) = %q, %v", code, s, ok)
		}
	}
	if _, ok := PgxParseConfig(errors.New("cannot parse")); ok {
		t.Error("PgxParseConfig took another error for pgx's")
	}
}

// A 1142 names the command and the table, not the user, host or database
// (found by review: an account without INSERT saw only "command denied").
func TestDeniedCommand(t *testing.T) {
	for text, want := range map[string]string{
		"Error 1142 (42000): INSERT command denied to user 'mo'@'10.0.0.9' for table `mariaops`.`authkit_sessions`": "INSERT command denied on table authkit_sessions",
		"Error 1142 (42000): UPDATE command denied to user 'app'@'localhost' for table 'authkit_sessions'":          "UPDATE command denied on table authkit_sessions",
		"Error 1142 (42000): something else entirely at 10.0.0.9":                                                   "command denied",
	} {
		got := deniedCommand(text)
		if !strings.HasPrefix(got, want) || strings.Contains(got, "10.0.0.9") || strings.Contains(got, "mariaops") || strings.Contains(got, "'mo'") {
			t.Errorf("deniedCommand(%q) = %q, want %q…", text, got, want)
		}
	}
}

// MySQLError is a look-alike of the MySQL driver's error in another
// package: its fields are not read.
type MySQLError struct {
	Number   uint16
	SQLState [5]byte
	Message  string
}

func (e *MySQLError) Error() string { return e.Message }

// Describe reads the MySQL driver's own error, through Describe as
// redact.Error calls it, and prints no text it carries: a 1142's user and
// host, a malformed SQLSTATE, a look-alike type's message (found missing
// by mutation testing: deniedCommand was tested alone, and printing the
// driver's text through Describe passed).
func TestDescribeMySQL(t *testing.T) {
	denied := &mysql.MySQLError{Number: 1142, SQLState: [5]byte{'4', '2', '0', '0', '0'},
		Message: "INSERT command denied to user 'mo'@'10.0.0.9' for table `mariaops`.`authkit_sessions`"}
	if s, ok := Describe(denied); !ok || !strings.HasPrefix(s, "MySQL error 1142 (SQLSTATE 42000)") ||
		!strings.Contains(s, "INSERT command denied on table authkit_sessions") || strings.Contains(s, "10.0.0.9") || strings.Contains(s, "'mo'") {
		t.Errorf("Describe(1142) = %q, %v", s, ok)
	}
	odd := &mysql.MySQLError{Number: 1045, SQLState: [5]byte{'x', '\'', ';', '1', '0'}, Message: "Access denied for user 'mo'@'10.0.0.9'"}
	if s, ok := Describe(odd); !ok || s != "MySQL error 1045"+named(myNames[1045]) {
		t.Errorf("Describe(1045 with a SQLSTATE that is no code) = %q, %v", s, ok)
	}
	if s, ok := Describe(pgErr{"x'; 10.0.0.7"}); !ok || s != "PostgreSQL error" {
		t.Errorf("Describe(a SQLSTATE that is no code) = %q, %v", s, ok)
	}
	if _, _, ok := MySQL(&MySQLError{Number: 1142, Message: "denied to 'mo'@'10.0.0.9'"}); ok {
		t.Error("a look-alike MySQLError of another package was read as the driver's")
	}
}
