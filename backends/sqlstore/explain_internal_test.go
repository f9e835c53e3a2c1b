package sqlstore

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestExplainUsesIndexes populates every table of a PostgreSQL schema with
// 100,000 to 200,000 rows, ANALYZEs it, and asks the planner for the plan
// of every statement the store runs: none may scan a whole table. (The
// planner is left to its defaults; enable_seqscan stays on.)
func TestExplainUsesIndexes(t *testing.T) {
	dsn := testservers.Postgres(t)
	db, err := sqlx.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := Migrate(ctx, db.DB, db.DriverName()); err != nil {
		t.Fatal(err)
	}
	s, err := New(db)
	if err != nil {
		t.Fatal(err)
	}
	const far = 4102444800000000 // 2100-01-01 in microseconds
	for _, stmt := range []string{
		`INSERT INTO authkit_sessions (id, subject, client_id, scopes, audience, claims, user_agent, ip, name,
			created_at, last_used_at, expires_at, idle_expires_at, revoked_at, gc_at)
		 SELECT 'sess-' || i, 'user-' || (i % 2000), 'web', '["read"]', NULL, NULL, 'Mozilla/5.0', '192.0.2.1', 'laptop',
			1700000000000000 + i, 1700000000000000 + i, 4102444800000000, 4102444800000000 - i,
			CASE WHEN i % 5000 = 0 THEN 1700000000000000 END,
			CASE WHEN i % 5000 = 0 THEN -9223372036854775808 ELSE 4102444800000000 - i END
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO authkit_refresh_tokens (hash, session_id, subject, issued_at, expires_at, used_at, successor)
		 SELECT sha256(('rt-' || i || '-' || j)::bytea), 'sess-' || i, 'user-' || (i % 2000), 1700000000000000 + i,
			4102444800000000 - i, CASE WHEN j = 1 THEN 1700000000000001 + i END, NULL
		 FROM generate_series(1, 100000) i, generate_series(1, 2) j`,
		`INSERT INTO authkit_revocations (subject, kind, ident, expires_at, cutoff_at)
		 SELECT 'user-' || (i % 2000), k, CASE WHEN k = 3 THEN '' ELSE 'key-' || i END, 4102444800000000 - i,
			CASE WHEN k = 3 THEN 1700000000000000 END
		 FROM generate_series(1, 50000) i, generate_series(1, 3) k
		 ON CONFLICT DO NOTHING`,
		`INSERT INTO authkit_api_tokens (id, hash, subject, name, scopes, created_at, expires_at, last_used_at, revoked_at, gc_at)
		 SELECT 'tok-' || i, sha256(('tok-' || i)::bytea), 'user-' || (i % 2000), 'ci', '["read"]', 1700000000000000 + i,
			CASE WHEN i % 3 = 0 THEN 4102444800000000 - i END, NULL, NULL, CASE WHEN i % 3 = 0 THEN 4102444800000000 - i END
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO authkit_api_token_subjects (subject) SELECT 'user-' || i FROM generate_series(0, 1999) i`,
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("populating: %v", err)
		}
	}
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	now := int64(1800000000000000)
	q := s.q
	for _, c := range []struct {
		name  string
		query string
		args  []any
	}{
		// The request path: every authenticated request, every refresh.
		{"IsRevoked", q.isRevoked, []any{"user-77", "key-77", now, "user-77", "key-78", now, "user-77", now, now}},
		{"LookupAPIToken", q.lookupToken, []any{h("tok-77")}},
		{"LookupRefresh", q.lookupRefresh, []any{h("rt-77-1")}},
		{"RotateRefresh/select", q.rotateSelect, []any{h("rt-77-2")}},
		{"RotateRefresh/mark used", q.rotateMarkUsed, []any{now, []byte("sealed"), h("rt-77-2")}},
		{"RotateRefresh/insert", q.insertRefresh, []any{h("rt-new"), "sess-77", "user-77", now, now, nil, nil}},
		{"RotateRefresh/session", q.rotateSession, []any{now, now, now, "sess-77"}},
		{"ListSessions", q.listSessions, []any{"user-77", now, now}},
		{"ListAPITokens", q.listTokens, []any{"user-77", now}},
		{"TouchAPIToken", q.touchToken, []any{now, "tok-77", now}},
		// Writes and reads off the hot path.
		{"Session", q.getSession, []any{"sess-77"}},
		{"RevokeSession", q.revokeSession, []any{now, int64(gcRevoked), "sess-77"}},
		{"RevokeSession/exists", q.sessionExists, []any{"sess-77"}},
		{"RevokeSubjectSessions/select", q.subjectSessions, []any{"user-77"}},
		{"RevokeSubjectSessions/update", q.revokeSessionIDs + " ($3, $4)", []any{now, int64(gcRevoked), "sess-77", "sess-2077"}},
		{"RevokeToken", q.upsertRevocation, []any{"user-77", 1, "key-77", now, nil}},
		{"CreateAPIToken/lock", q.lockSubject, []any{"user-77"}},
		{"CreateAPIToken/lock row", q.lockSubjectRow, []any{"user-77"}},
		{"CreateAPIToken/count", q.countLive, []any{"user-77", now}},
		{"RevokeAPIToken", q.revokeToken, []any{now, int64(gcRevoked), "tok-77", "user-77"}},
		{"RevokeAPIToken/owned", q.tokenOwned, []any{"tok-77", "user-77"}},
		{"TouchAPIToken/exists", q.tokenExists, []any{"tok-77"}},
		// Cleanup, at a time when a little is garbage (as when run hourly).
		{"DeleteExpiredSessions/records of garbage sessions", q.gcSessionRecords, []any{far - 99950, 1000}},
		{"DeleteExpiredSessions/expired records", q.gcExpiredRecords, []any{far - 99950, 1000}},
		{"DeleteExpiredSessions/sessions", q.gcSessions, []any{far - 99950, 1000}},
		{"DeleteExpiredRevocations", q.gcRevocations, []any{far - 49950, 1000}},
		{"DeleteExpiredAPITokens", q.gcTokens, []any{far - 99950, 1000}},
	} {
		rows, err := db.QueryContext(ctx, "EXPLAIN "+c.query, c.args...)
		if err != nil {
			t.Errorf("EXPLAIN %s: %v", c.name, err)
			continue
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Errorf("EXPLAIN %s: %v", c.name, err)
			continue
		}
		if strings.Contains(plan.String(), "Seq Scan") {
			t.Errorf("%s scans a whole table on a populated database; every lookup must use an index:\n%s", c.name, plan.String())
		} else {
			t.Logf("%s:\n%s", c.name, plan.String())
		}
	}
}
