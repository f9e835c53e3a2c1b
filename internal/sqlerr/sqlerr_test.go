package sqlerr

import (
	"errors"
	"strings"
	"testing"
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
