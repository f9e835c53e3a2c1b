package sqlstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestCleanupTiesReadOneBatch: every revoked session and API token has the
// same gc_at (gcRevoked), and a cleanup batch must still read about its
// limit of them, not the whole run of ties (found by review: on
// PostgreSQL a batch over a million revoked sessions read and sorted them
// all, 4.7 s for 1000 rows, past the store deadline). PostgreSQL: the
// index scans of EXPLAIN ANALYZE, run in a transaction rolled back, return
// at most a batch's rows; SQLite: no plan sorts (a temporary B-tree).
// MySQL's InnoDB indexes end with the primary key, and
// TestExplainFeedPoll checks its plans sort nothing.
func TestCleanupTiesReadOneBatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, driver string
		dsn          func(testing.TB) string
		n            int
	}{
		{"postgres", "pgx", testservers.Postgres, 50000},
		// SQLite's check is the plan's shape, the same with 1,000, 5,000
		// and 50,000 rows (EXPLAIN QUERY PLAN, 2026-12-06); 50,000 took
		// 44 s under the race detector, which instruments the whole
		// database engine (modernc.org/sqlite is Go).
		{"sqlite", "sqlite", func(t testing.TB) string { return t.TempDir() + "/ties.db" }, 5000},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := migratedStore(t, c.driver, c.dsn(t))
			db, ctx := s.DB(), t.Context()
			n, limit := c.n, 100
			const live = int64(4102444800000000)
			// n sessions, a fifth of them revoked (half of those with
			// refresh records), the rest live; n API tokens, a fifth
			// revoked.
			gc := func(j int) int64 {
				if j%5 == 0 {
					return int64(gcRevoked)
				}
				return live - int64(j)
			}
			fill(t, db, ctx, "INSERT INTO authkit_sessions (id, subject, client_id, scopes, audience, claims, user_agent, ip, name, created_at, last_used_at, expires_at, idle_expires_at, revoked_at, gc_at) VALUES ",
				"(?, 'alice', 'web', NULL, NULL, NULL, '', '', '', 0, 0, ?, ?, NULL, ?)", n, func(j int) []any {
					return []any{fmt.Sprint("sess-", j), live, live, gc(j)}
				})
			fill(t, db, ctx, "INSERT INTO authkit_refresh_tokens (hash, session_id, subject, issued_at, expires_at, used_at, successor) VALUES ",
				"(?, ?, 'alice', 0, ?, NULL, NULL)", n, func(j int) []any {
					h := sha256.Sum256(fmt.Append(nil, "rt-", j))
					return []any{h[:], fmt.Sprint("sess-", j-j%10), live}
				})
			fill(t, db, ctx, "INSERT INTO authkit_api_tokens (id, hash, subject, name, scopes, created_at, expires_at, last_used_at, revoked_at, gc_at) VALUES ",
				"(?, ?, 'alice', 'ci', NULL, 0, NULL, NULL, NULL, ?)", n, func(j int) []any {
					h := sha256.Sum256(fmt.Append(nil, "tok-", j))
					return []any{fmt.Sprint("tok-", j), h[:], gc(j)}
				})
			if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
			now := int64(1800000000000000)
			for _, q := range []struct {
				name, query string
				args        []any
			}{
				{"DeleteExpiredSessions/records of garbage sessions", s.q.gcSessionRecords, []any{now, limit, limit}},
				{"DeleteExpiredSessions/sessions", s.q.gcSessions, []any{now, limit}},
				{"DeleteExpiredAPITokens", s.q.gcTokens, []any{now, limit}},
			} {
				if c.driver == "sqlite" {
					plan := explainRows(t, db, ctx, "EXPLAIN QUERY PLAN "+q.query, q.args...)
					for _, row := range plan {
						if strings.Contains(row[len(row)-1], "TEMP B-TREE") {
							t.Errorf("%s sorts the rows it finds: %v", q.name, plan)
						}
					}
					continue
				}
				checkScansOneBatch(t, db, ctx, q.name, q.query, q.args, limit)
			}
			// And the cleanup itself: a batch of limit.
			if got, err := s.DeleteExpiredAPITokens(ctx, time.Now(), limit); err != nil || got != limit {
				t.Errorf("DeleteExpiredAPITokens(limit %d) = %d, %v", limit, got, err)
			}
		})
	}
}

var actualRowsRE = regexp.MustCompile(`^\s*(?:->\s*)?(Index Scan|Index Only Scan|Bitmap Heap Scan|Seq Scan).*\(actual time=\S+ rows=(\d+) loops=(\d+)\)`)

// checkScansOneBatch runs EXPLAIN ANALYZE of a PostgreSQL DELETE in a
// transaction it rolls back, and fails when a scan of its plan returns
// more than 2×limit rows.
func checkScansOneBatch(t *testing.T, db *sqlx.DB, ctx context.Context, name, query string, args []any, limit int) {
	t.Helper()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "EXPLAIN (ANALYZE, COSTS OFF) "+db.Rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	scans := 0
	for _, line := range plan {
		m := actualRowsRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		scans++
		r, _ := strconv.Atoi(m[2])
		loops, _ := strconv.Atoi(m[3])
		if r*loops > 2*limit {
			t.Errorf("%s: a scan returns %d rows for a batch of %d:\n%s", name, r*loops, limit, strings.Join(plan, "\n"))
		}
	}
	if scans == 0 {
		t.Errorf("%s: no scan in the plan:\n%s", name, strings.Join(plan, "\n"))
	}
}
