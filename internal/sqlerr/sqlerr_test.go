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
