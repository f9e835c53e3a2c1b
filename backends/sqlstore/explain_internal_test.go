package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"slices"
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
	t.Parallel()
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
		`INSERT INTO authkit_revocation_log (id, kind, subject, ident, cutoff_at, expires_at, written_at)
		 SELECT i, 1 + i % 3, 'user-' || (i % 2000), CASE WHEN i % 3 = 2 THEN '' ELSE 'key-' || i END,
			CASE WHEN i % 3 = 2 THEN 1700000000000000 END, 4102444800000000 - i, 1700000000000000 + i
		 FROM generate_series(1, 200000) i`,
		`UPDATE authkit_revocation_feed SET seq = 200000`,
		`INSERT INTO authkit_throttle (k, n, last_at, expires_at)
		 SELECT sha256(('thr-' || i)::bytea), 1 + i % 7, 1700000000000000 + i, 4102444800000000 - i
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO authkit_clients (id, name, secret_hash, jwks, grant_types, scopes, redirect_uris,
			access_ttl_us, refresh_ttl_us, created_at, secret_rotated_at)
		 SELECT 'client-' || i, 'App ' || i, sha256(('cs-' || i)::bytea), NULL, '["authorization_code"]', '["read"]',
			'["https://app.example/cb"]', 0, 0, 1700000000000000 + i, NULL
		 FROM generate_series(1, 2000) i`,
		`INSERT INTO authkit_authorization_codes (hash, client_id, redirect_uri, subject, scopes, challenge, claims,
			created_at, expires_at, used_at, session_id)
		 SELECT sha256(('code-' || i)::bytea), 'client-' || (1 + i % 2000), 'https://app.example/cb', 'user-' || (i % 2000),
			'["read"]', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', NULL, 1700000000000000 + i, 1700000000600000 + i,
			CASE WHEN i % 2 = 0 THEN 1700000000000001 + i END, ''
		 FROM generate_series(1, 100000) i`,
		`INSERT INTO authkit_client_assertions (hash, client_id, expires_at)
		 SELECT sha256(('assertion-' || i)::bytea), 'client-' || (1 + i % 2000), 1700000000600000 + i
		 FROM generate_series(1, 50000) i`,
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("populating: %v", err)
		}
	}
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	now := int64(1800000000000000)
	q := s.q
	thr := s.throttleSQL()
	for _, c := range []struct {
		name  string
		query string
		args  []any
	}{
		// The request path: every authenticated request, every refresh.
		// (IsRevoked's plan is checked further below: primary-key probes
		// only.)
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
		// A lost epoch marker (off the hot path: once per loss).
		{"IsRevoked/read the epoch", q.readEpoch, nil},
		{"IsRevoked/start an epoch", q.insertEpoch, []any{now}},
		{"CreateAPIToken/lock", q.lockSubject, []any{"user-77"}},
		{"CreateAPIToken/lock row", q.lockSubjectRow, []any{"user-77"}},
		{"CreateAPIToken/count", q.countLive, []any{"user-77", now}},
		{"RevokeAPIToken", q.revokeToken, []any{now, int64(gcRevoked), "tok-77", "user-77"}},
		{"RevokeAPIToken/owned", q.tokenOwned, []any{"tok-77", "user-77"}},
		{"TouchAPIToken/exists", q.tokenExists, []any{"tok-77"}},
		// The revocation feed: a follower polls the feed row, and the log
		// only when it grew; a writer takes the next id and appends.
		{"FollowRevocations/feed row", q.feedState, nil},
		{"FollowRevocations/poll, nothing new", q.readLog, []any{200000, feedBatch}},
		{"FollowRevocations/poll, catching up", q.readLog, []any{150000, feedBatch}},
		{"RevokeToken/logged", q.revokeLogged, []any{"user-77", 1, "key-77", now, nil, now}},
		{"RevokeToken/next log id", q.nextSeq, nil},
		{"RevokeToken/append to the log", q.appendLog, []any{200001, 1, "user-77", "key-77", nil, now, now}},
		// Throttle counters: a failed password, the check before one, the
		// success that clears its pair, and their cleanup.
		{"AddFailure", thr.add, []any{h("thr-77"), now, now + 3600000000}},
		{"AddFailure/read back", thr.get, []any{h("thr-77")}},
		{"ThrottleStates", sqlx.Rebind(sqlx.DOLLAR, thr.states+"(?, ?, ?)"), []any{now, h("thr-77"), h("thr-78"), h("thr-79")}},
		{"ClearThrottle", thr.clear, []any{h("thr-77")}},
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
		// The feed row's table holds one row (a CHECK constraint says so):
		// reading its one page is what an index would cost, and more.
		if strings.Contains(strings.ReplaceAll(plan.String(), "Seq Scan on authkit_revocation_feed", ""), "Seq Scan") {
			t.Errorf("%s scans a whole table on a populated database; every lookup must use an index:\n%s", c.name, plan.String())
		} else if c.name == "IsRevoked" && !onlyPrimaryKeyProbes(plan.String(), "authkit_revocations_pkey", 4) {
			t.Errorf("IsRevoked is not four probes of the revocations' primary key (its jti, sid and cutoff, and the epoch marker) and nothing else:\n%s", plan.String())
		} else {
			t.Logf("%s:\n%s", c.name, plan.String())
		}
	}
	// Clients and authorization codes: a redemption and a read are one
	// probe of the codes' or the clients' primary key. Every cleanup, at
	// a time when a little is garbage (as when run hourly), walks the
	// index its ORDER BY names (or, when the planner expects fewer rows
	// than the limit, reads them all through it in a bitmap scan and
	// sorts them, as it does for the revocations here). (The clients'
	// listing reads the whole table: it is every client.)
	cl := q.clients
	for _, c := range []struct {
		name, query, index string
		args               []any
	}{
		{"RedeemAuthorizationCode", cl.redeem, "authkit_authorization_codes_pkey", []any{now, h("code-77"), now}},
		{"RedeemAuthorizationCode/classify", cl.getCode, "authkit_authorization_codes_pkey", []any{h("code-77")}},
		{"SetAuthorizationCodeSession", cl.setSession, "authkit_authorization_codes_pkey", []any{"sess-77", h("code-77")}},
		{"SetAuthorizationCodeSession/exists", cl.codeExists, "authkit_authorization_codes_pkey", []any{h("code-77")}},
		{"GetClient", cl.getClient, "authkit_clients_pkey", []any{"client-77"}},
		{"SetClientSecret", cl.setSecret, "authkit_clients_pkey", []any{h("cs-new"), now, "client-77"}},
		{"DeleteClient", cl.deleteClient, "authkit_clients_pkey", []any{"client-77"}},
		{"DeleteExpiredAuthorizationCodes", cl.gcCodes, "authkit_authorization_codes_expires_idx", []any{int64(1700000000600000 + 50), 1000}},
		{"DeleteExpiredAuthorizationCodes/assertions", cl.gcAssertions, "authkit_client_assertions_expires_idx", []any{int64(1700000000600000 + 50), 1000}},
		{"DeleteExpiredSessions/records of garbage sessions", q.gcSessionRecords, "authkit_sessions_gc_idx", []any{far - 99950, 1000, 1000}},
		{"DeleteExpiredSessions/expired records", q.gcExpiredRecords, "authkit_refresh_tokens_expires_idx", []any{far - 99950, 1000}},
		{"DeleteExpiredSessions/sessions", q.gcSessions, "authkit_sessions_gc_idx", []any{far - 99950, 1000}},
		{"DeleteExpiredRevocations", q.gcRevocations, "authkit_revocations_expires_idx", []any{far - 49950, 1000}},
		{"DeleteExpiredRevocations/trim the log", q.trimLog, "authkit_revocation_log_pkey", []any{200000, int64(1700000000000000 + 5000), int64(1700000000000000 + 5000), 1000}},
		{"DeleteExpiredAPITokens", q.gcTokens, "authkit_api_tokens_gc_idx", []any{far - 99950, 1000}},
		{"DeleteExpiredThrottles", thr.gc, "authkit_throttle_expires_idx", []any{far - 99950, 1000}},
	} {
		plan := explainRows(t, db, ctx, "EXPLAIN "+c.query, c.args...)
		var text strings.Builder
		for _, row := range plan {
			text.WriteString(row[0] + "\n")
		}
		reads := strings.Contains(text.String(), " using "+c.index+" ") || strings.Contains(text.String(), "Bitmap Index Scan on "+c.index+" ")
		if strings.Contains(text.String(), "Seq Scan") || !reads {
			t.Errorf("%s does not read %s (or scans a whole table):\n%s", c.name, c.index, text.String())
		} else {
			t.Logf("%s:\n%s", c.name, text.String())
		}
	}
	// UseClientAssertion is an INSERT whose conflict the primary key
	// arbitrates: no table read at all.
	var text strings.Builder
	for _, row := range explainRows(t, db, ctx, "EXPLAIN "+cl.useAssertion, h("assertion-77"), "client-77", now+60000000, now) {
		text.WriteString(row[0] + "\n")
	}
	if strings.Contains(text.String(), "Scan") || !strings.Contains(text.String(), "Conflict Arbiter Indexes: authkit_client_assertions_pkey") {
		t.Errorf("UseClientAssertion is not an insert arbitrated by authkit_client_assertions_pkey:\n%s", text.String())
	} else {
		t.Logf("UseClientAssertion:\n%s", text.String())
	}
}

// onlyPrimaryKeyProbes reports whether a PostgreSQL plan reads tables
// only by n index scans (plain or index-only) of the index pkey: every
// node that reads a table is one of them.
func onlyPrimaryKeyProbes(plan, pkey string, n int) bool {
	probes := 0
	for line := range strings.Lines(plan) {
		switch {
		case strings.Contains(line, "Index Scan using "+pkey+" ") || strings.Contains(line, "Index Only Scan using "+pkey+" "):
			probes++
		case strings.Contains(line, "Scan"):
			return false // any other scan: sequential, bitmap, another index
		}
	}
	return probes == n
}

// TestPlanChecks checks the checks of the plans above on plans they must
// refuse: a probe missing, and a scan beside the probes.
func TestPlanChecks(t *testing.T) {
	t.Parallel()
	pg := `Result
  InitPlan 1 (returns $0)
    ->  Index Scan using authkit_revocations_pkey on authkit_revocations
  InitPlan 2 (returns $1)
    ->  Index Only Scan using authkit_revocations_pkey on authkit_revocations authkit_revocations_1
`
	if !onlyPrimaryKeyProbes(pg, "authkit_revocations_pkey", 2) {
		t.Errorf("onlyPrimaryKeyProbes refuses two probes:\n%s", pg)
	}
	if onlyPrimaryKeyProbes(pg, "authkit_revocations_pkey", 3) {
		t.Errorf("onlyPrimaryKeyProbes takes two probes for three:\n%s", pg)
	}
	if bitmap := pg + "    ->  Bitmap Heap Scan on authkit_revocations\n"; onlyPrimaryKeyProbes(bitmap, "authkit_revocations_pkey", 2) {
		t.Errorf("onlyPrimaryKeyProbes takes a bitmap scan:\n%s", bitmap)
	}
	const search = "SEARCH authkit_revocations USING PRIMARY KEY (subject=? AND kind=? AND ident=?)"
	lite := [][]string{{"1", "0", "0", "SCAN CONSTANT ROW"}, {"4", "0", "0", "SCALAR SUBQUERY 1"}, {"8", "4", "39", search}}
	if !onlyPrimaryKeyRows(lite, "sqlite", "authkit_revocations", 1) || onlyPrimaryKeyRows(lite, "sqlite", "authkit_revocations", 2) {
		t.Errorf("onlyPrimaryKeyRows miscounts %v", lite)
	}
	if scan := append(lite, []string{"9", "4", "0", "SCAN authkit_revocations"}); onlyPrimaryKeyRows(scan, "sqlite", "authkit_revocations", 1) {
		t.Errorf("onlyPrimaryKeyRows takes a scan: %v", scan)
	}
	my := [][]string{{"1", "PRIMARY", "", "", "", "", "", "", "", "No tables used"}, {"2", "SUBQUERY", "authkit_revocations", "const", "PRIMARY", "PRIMARY", "2054", "const,const,const", "1", ""}}
	if !onlyPrimaryKeyRows(my, "mysql", "authkit_revocations", 1) {
		t.Errorf("onlyPrimaryKeyRows refuses %v", my)
	}
	if miss := append(my, []string{"3", "SUBQUERY", "", "", "", "", "", "", "", "no matching row in const table"}); onlyPrimaryKeyRows(miss, "mysql", "authkit_revocations", 2) {
		t.Errorf("onlyPrimaryKeyRows counts a probe it cannot see: %v", miss)
	}
	const idx = "authkit_client_assertions_expires_idx"
	liteGC := [][]string{{"3", "0", "83", "SEARCH authkit_client_assertions USING COVERING INDEX sqlite_autoindex_authkit_client_assertions_1 (hash=?)"}, {"12", "7", "95", "SEARCH t USING INDEX " + idx + " (expires_at<?)"}}
	if !readsBy(liteGC, "sqlite", idx) || readsBy(liteGC[:1], "sqlite", idx) {
		t.Errorf("readsBy misreads %v", liteGC)
	}
	if scan := append(liteGC, []string{"13", "0", "0", "SCAN authkit_client_assertions"}); readsBy(scan, "sqlite", idx) {
		t.Errorf("readsBy takes a scan: %v", scan)
	}
	// The records of garbage sessions on SQLite: a scan of the batch of
	// sessions (a co-routine), not of a table.
	const sessIdx = "authkit_sessions_gc_idx"
	liteJoin := [][]string{{"7", "0", "0", "LIST SUBQUERY 3"}, {"9", "7", "0", "CO-ROUTINE s"}, {"14", "9", "94", "SEARCH s USING INDEX " + sessIdx + " (gc_at<?)"},
		{"39", "9", "0", "USE TEMP B-TREE FOR LAST TERM OF ORDER BY"}, {"53", "7", "88", "SCAN s"}}
	if !readsBy(liteJoin, "sqlite", sessIdx) || sortsAll(liteJoin, "sqlite") {
		t.Errorf("readsBy or sortsAll misreads %v", liteJoin)
	}
	if scan := append(slices.Clone(liteJoin), []string{"60", "7", "0", "SCAN t"}); readsBy(scan, "sqlite", sessIdx) {
		t.Errorf("readsBy takes a scan of a table beside a co-routine: %v", scan)
	}
	if sorted := append(slices.Clone(liteJoin), []string{"82", "7", "0", "USE TEMP B-TREE FOR ORDER BY"}); !sortsAll(sorted, "sqlite") {
		t.Errorf("sortsAll misses a whole sort: %v", sorted)
	}
	mySort := [][]string{{"2", "DERIVED", "<derived3>", "ALL", "", "", "", "", "51", "Using temporary; Using filesort"}, {"3", "DERIVED", "s", "range", sessIdx, sessIdx, "8", "", "51", "Using where; Using index"}}
	if sortsAll(mySort, "mysql") {
		t.Errorf("sortsAll counts the sort of a derived batch: %v", mySort)
	}
	if all := [][]string{{"2", "DERIVED", "s", "range", sessIdx, sessIdx, "8", "", "1009", "Using where; Using index; Using temporary; Using filesort"}}; !sortsAll(all, "mysql") {
		t.Errorf("sortsAll misses a filesort of a table: %v", all)
	}
	myGC := [][]string{{"1", "PRIMARY", "authkit_client_assertions", "ALL", "", "", "", "", "2000", "Using where"}, {"3", "DERIVED", "t", "range", idx, idx, "8", "", "51", "Using where"}}
	if readsBy(myGC, "mysql", idx) || !readsBy(myGC[1:], "mysql", idx) {
		t.Errorf("readsBy misreads %v", myGC)
	}
}

// TestExplainFeedPoll asks MySQL/MariaDB and SQLite for the plans of the
// revocation feed's polls over a log of 20,000 changes: the feed row is
// one primary-key read, and the log poll a range of the primary key
// (MySQL: type range on PRIMARY; SQLite: SEARCH … USING INTEGER PRIMARY
// KEY), so that a poll that finds nothing new reads no row of the log.
// It checks IsRevoked's plan there too: four lookups of the revocations'
// whole primary key, and nothing else. PostgreSQL's plans are checked
// with the others in TestExplainUsesIndexes.
func TestExplainFeedPoll(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, driver string
		dsn          func(testing.TB) string
	}{
		{"mysql", "mysql", testservers.MySQL},
		{"sqlite", "sqlite", func(t testing.TB) string { return t.TempDir() + "/explain.db" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := migratedStore(t, c.driver, c.dsn(t))
			db, ctx := s.DB(), t.Context()
			const n, per = 20000, 500
			const now = int64(1800000000000000)
			for i := 0; i < n; i += per {
				var b strings.Builder
				args := make([]any, 0, 4*per)
				b.WriteString("INSERT INTO authkit_revocation_log (id, kind, subject, ident, cutoff_at, expires_at, written_at) VALUES ")
				for j := i + 1; j <= i+per; j++ {
					if j > i+1 {
						b.WriteString(", ")
					}
					b.WriteString("(?, 1, ?, ?, NULL, 4102444800000000, ?)")
					args = append(args, j, fmt.Sprint("user-", j%2000), fmt.Sprint("key-", j), 1700000000000000+j)
				}
				if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
					t.Fatalf("populating: %v", err)
				}
			}
			// Revocations under 2,000 subjects, for IsRevoked's plan.
			for i := 0; i < n/4; i += per {
				var b strings.Builder
				args := make([]any, 0, 3*per)
				b.WriteString("INSERT INTO authkit_revocations (subject, kind, ident, expires_at, cutoff_at) VALUES ")
				for j := i + 1; j <= i+per; j++ {
					if j > i+1 {
						b.WriteString(", ")
					}
					b.WriteString("(?, ?, ?, 4102444800000000, NULL)")
					args = append(args, fmt.Sprint("user-", j%2000), 1+(j/2000)%2, fmt.Sprint("key-", j))
				}
				if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
					t.Fatalf("populating: %v", err)
				}
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO authkit_revocations (subject, kind, ident, expires_at, cutoff_at) VALUES ('user-78', 3, '', 4102444800000000, 1900000000000000)"); err != nil {
				t.Fatalf("populating: %v", err)
			}
			// Client assertions and authorization codes of one client, for
			// the plans of their statements.
			if _, err := db.ExecContext(ctx, "INSERT INTO authkit_clients (id, name, access_ttl_us, refresh_ttl_us, created_at) VALUES ('app', 'App', 0, 0, 0)"); err != nil {
				t.Fatalf("populating: %v", err)
			}
			const assertions = 2000
			for i := 0; i < assertions; i += per {
				var b strings.Builder
				args := make([]any, 0, 2*per)
				b.WriteString("INSERT INTO authkit_client_assertions (hash, client_id, expires_at) VALUES ")
				for j := i; j < i+per; j++ {
					if j > i {
						b.WriteString(", ")
					}
					b.WriteString("(?, 'app', ?)")
					hj := sha256.Sum256(fmt.Append(nil, "assertion-", j))
					args = append(args, hj[:], 1700000000600000+j)
				}
				if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
					t.Fatalf("populating: %v", err)
				}
			}
			for i := 0; i < assertions; i += per {
				var b strings.Builder
				args := make([]any, 0, 2*per)
				b.WriteString("INSERT INTO authkit_authorization_codes (hash, client_id, redirect_uri, subject, scopes, challenge, claims, created_at, expires_at, used_at, session_id) VALUES ")
				for j := i; j < i+per; j++ {
					if j > i {
						b.WriteString(", ")
					}
					b.WriteString("(?, 'app', '', 'alice', NULL, '', NULL, 0, ?, NULL, '')")
					hj := sha256.Sum256(fmt.Append(nil, "code-", j))
					args = append(args, hj[:], 1700000000600000+j)
				}
				if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
					t.Fatalf("populating: %v", err)
				}
			}
			// Sessions, their refresh tokens, API tokens and throttle
			// windows, for the plans of their cleanups: each expires a
			// microsecond after the one before.
			const each, base = 2000, int64(1700000000600000)
			fill(t, db, ctx, "INSERT INTO authkit_sessions (id, subject, client_id, scopes, audience, claims, user_agent, ip, name, created_at, last_used_at, expires_at, idle_expires_at, revoked_at, gc_at) VALUES ",
				"(?, 'alice', 'web', NULL, NULL, NULL, '', '', '', 0, 0, ?, ?, NULL, ?)", each, func(j int) []any {
					return []any{fmt.Sprint("sess-", j), base + int64(j), base + int64(j), base + int64(j)}
				})
			fill(t, db, ctx, "INSERT INTO authkit_refresh_tokens (hash, session_id, subject, issued_at, expires_at, used_at, successor) VALUES ",
				"(?, ?, 'alice', 0, ?, NULL, NULL)", each, func(j int) []any {
					hj := sha256.Sum256(fmt.Append(nil, "rt-", j))
					return []any{hj[:], fmt.Sprint("sess-", j), base + int64(j)}
				})
			fill(t, db, ctx, "INSERT INTO authkit_api_tokens (id, hash, subject, name, scopes, created_at, expires_at, last_used_at, revoked_at, gc_at) VALUES ",
				"(?, ?, 'alice', 'ci', NULL, 0, ?, NULL, NULL, ?)", each, func(j int) []any {
					hj := sha256.Sum256(fmt.Append(nil, "tok-", j))
					return []any{fmt.Sprint("tok-", j), hj[:], base + int64(j), base + int64(j)}
				})
			fill(t, db, ctx, "INSERT INTO authkit_throttle (k, n, last_at, expires_at) VALUES ",
				"(?, 1, 0, ?)", each, func(j int) []any {
					hj := sha256.Sum256(fmt.Append(nil, "thr-", j))
					return []any{hj[:], base + int64(j)}
				})
			analyze := "ANALYZE TABLE authkit_revocation_log, authkit_revocations, authkit_clients, authkit_client_assertions, authkit_authorization_codes, authkit_sessions, authkit_refresh_tokens, authkit_api_tokens, authkit_throttle"
			if c.driver == "sqlite" {
				analyze = "ANALYZE"
			}
			if _, err := db.ExecContext(ctx, "UPDATE authkit_revocation_feed SET seq = ?", n); err != nil {
				t.Fatal(err)
			}
			rows, err := db.QueryContext(ctx, analyze)
			if err != nil {
				t.Fatal(err)
			}
			rows.Close()
			cl := s.q.clients
			for _, p := range []struct {
				name  string
				query string
				args  []any
				want  func(plan [][]string) bool
			}{
				// The feed row and its newest change (the position's
				// tag): two primary-key lookups.
				{"feed row", s.q.feedState, nil, func(plan [][]string) bool {
					lookups := 0
					for _, row := range plan {
						detail := row[len(row)-1]
						switch {
						case c.driver == "sqlite" && (detail == "SEARCH authkit_revocation_feed USING INTEGER PRIMARY KEY (rowid=?)" || detail == "SEARCH l USING INTEGER PRIMARY KEY (rowid=?)"):
							lookups++
						case c.driver == "sqlite" && strings.HasPrefix(detail, "CORRELATED SCALAR SUBQUERY"):
						case c.driver != "sqlite" && slices.Contains(row, "const") && slices.Contains(row, "PRIMARY"):
							lookups++
						default:
							return false
						}
					}
					return lookups == 2
				}},
				{"poll, nothing new", s.q.readLog, []any{n, feedBatch}, func(plan [][]string) bool {
					return planHas(plan, c.driver, "range", "PRIMARY", "SEARCH authkit_revocation_log USING INTEGER PRIMARY KEY (rowid>?)")
				}},
				{"poll, catching up", s.q.readLog, []any{n - 1000, feedBatch}, func(plan [][]string) bool {
					return planHas(plan, c.driver, "range", "PRIMARY", "SEARCH authkit_revocation_log USING INTEGER PRIMARY KEY (rowid>?)")
				}},
				// Not the feed's, but the hot path's, here because this
				// test has MySQL and SQLite at hand: the revocation check
				// is four probes of the primary key and nothing else.
				// (MySQL shows a primary-key probe that finds no row as "no
				// matching row in const table", so each of user-78's four
				// probes finds one: its jti key-78, its sid key-2078, its
				// cutoff and the epoch marker.)
				{"IsRevoked", s.q.isRevoked, []any{"user-78", "key-78", now, "user-78", "key-2078", now, "user-78", now, now}, func(plan [][]string) bool {
					return onlyPrimaryKeyRows(plan, c.driver, "authkit_revocations", 4)
				}},
				// Client assertions: their cleanup walks the expires_at
				// index (on MySQL a DELETE … ORDER BY … LIMIT, one range).
				{"DeleteExpiredAuthorizationCodes/assertions", cl.gcAssertions, []any{1700000000600000 + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_client_assertions_expires_idx")
				}},
				{"DeleteExpiredAuthorizationCodes", cl.gcCodes, []any{1700000000600000 + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_authorization_codes_expires_idx")
				}},
				// The other cleanups the same way (on MySQL each a DELETE …
				// ORDER BY … LIMIT, but for the records of garbage
				// sessions: a multi-table DELETE joining a batch that walks
				// the sessions' gc_at index, then probes the primary key).
				{"DeleteExpiredSessions/records of garbage sessions", s.q.gcSessionRecords, []any{base + 50, 1000, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_sessions_gc_idx") && readsBy(plan, c.driver, "authkit_refresh_tokens_session_idx")
				}},
				{"DeleteExpiredSessions/expired records", s.q.gcExpiredRecords, []any{base + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_refresh_tokens_expires_idx")
				}},
				{"DeleteExpiredSessions/sessions", s.q.gcSessions, []any{base + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_sessions_gc_idx") && readsBy(plan, c.driver, "authkit_refresh_tokens_session_idx")
				}},
				{"DeleteExpiredRevocations", s.q.gcRevocations, []any{base + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_revocations_expires_idx")
				}},
				{"DeleteExpiredRevocations/trim the log", s.q.trimLog, []any{n, 1700000000000000 + 50, 1700000000000000 + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "PRIMARY")
				}},
				{"DeleteExpiredAPITokens", s.q.gcTokens, []any{base + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_api_tokens_gc_idx")
				}},
				{"DeleteExpiredThrottles", s.throttleSQL().gc, []any{base + 50, 1000}, func(plan [][]string) bool {
					return readsBy(plan, c.driver, "authkit_throttle_expires_idx")
				}},
			} {
				explain := "EXPLAIN "
				if c.driver == "sqlite" {
					explain = "EXPLAIN QUERY PLAN "
				}
				plan := explainRows(t, db, ctx, explain+p.query, p.args...)
				if !p.want(plan) {
					t.Errorf("%s: the plan is not a primary-key lookup or range:\n%v", p.name, plan)
				} else if sortsAll(plan, c.driver) {
					t.Errorf("%s: the plan sorts every row it finds, where the index yields them in order (but for the primary key's tie-break):\n%v", p.name, plan)
				} else {
					t.Logf("%s: %v", p.name, plan)
				}
			}
			// UseClientAssertion's statements but the INSERT itself (whose
			// conflict the primary key arbitrates): MySQL's DELETE of an
			// expired record is a primary-key read; SQLite's INSERT …
			// SELECT reads the client by its key, and DeleteClient deletes
			// the client's records through the client_id index.
			h := sha256.Sum256([]byte("assertion-77"))
			var extra []struct {
				name, query, index string
				args               []any
			}
			if c.driver == "mysql" {
				extra = append(extra, struct {
					name, query, index string
					args               []any
				}{"UseClientAssertion/drop an expired record", cl.dropExpiredAssertion, "PRIMARY", []any{h[:], now}})
			} else {
				extra = append(extra, struct {
					name, query, index string
					args               []any
				}{"UseClientAssertion", cl.useAssertion, "sqlite_autoindex_authkit_clients_1", []any{h[:], "app", now + 60000000, "app", now}},
					struct {
						name, query, index string
						args               []any
					}{"DeleteClient/assertions", cl.orphanAssertions, "authkit_client_assertions_client_idx", []any{"app"}})
			}
			for _, p := range extra {
				explain := "EXPLAIN "
				if c.driver == "sqlite" {
					explain = "EXPLAIN QUERY PLAN "
				}
				if plan := explainRows(t, db, ctx, explain+p.query, p.args...); !readsBy(plan, c.driver, p.index) {
					t.Errorf("%s does not read through %s (or scans a whole table):\n%v", p.name, p.index, plan)
				} else {
					t.Logf("%s: %v", p.name, plan)
				}
			}
		})
	}
}

// fill inserts n rows with one INSERT of up to 500 rows at a time: head
// is the statement up to its VALUES, row one row's tuple of placeholders
// ("?", rebound for the driver), and args(j) the arguments of row j.
func fill(t *testing.T, db *sqlx.DB, ctx context.Context, head, row string, n int, args func(j int) []any) {
	t.Helper()
	const per = 500
	for i := 0; i < n; i += per {
		var b strings.Builder
		var all []any
		b.WriteString(head)
		for j := i; j < min(i+per, n); j++ {
			if j > i {
				b.WriteString(", ")
			}
			b.WriteString(row)
			all = append(all, args(j)...)
		}
		if _, err := db.ExecContext(ctx, db.Rebind(b.String()), all...); err != nil {
			t.Fatalf("populating: %v", err)
		}
	}
}

// planHas reports whether an EXPLAIN's rows show the access wanted: on
// MySQL, one row of type typ on key; on SQLite, one row whose detail is
// detail.
func planHas(plan [][]string, driver, typ, key, detail string) bool {
	if len(plan) != 1 {
		return false
	}
	row := plan[0]
	if driver == "sqlite" {
		return row[len(row)-1] == detail
	}
	// id, select_type, table, [partitions,] type, possible_keys, key, …
	return slices.Contains(row, typ) && slices.Contains(row, key)
}

// onlyPrimaryKeyRows reports whether the rows of a MySQL EXPLAIN or a
// SQLite EXPLAIN QUERY PLAN read tables only by n lookups of table's
// whole primary key (MySQL: type const on PRIMARY; SQLite: SEARCH …
// USING PRIMARY KEY with every key column bound); the other rows may
// only be the frame of the statement (a query without tables, a scalar
// subquery).
func onlyPrimaryKeyRows(plan [][]string, driver, table string, n int) bool {
	probes := 0
	for _, row := range plan {
		detail := row[len(row)-1]
		switch {
		case driver == "sqlite" && detail == "SEARCH "+table+" USING PRIMARY KEY (subject=? AND kind=? AND ident=?)":
			probes++
		case driver == "sqlite" && (detail == "SCAN CONSTANT ROW" || strings.HasPrefix(detail, "SCALAR SUBQUERY")):
		case driver != "sqlite" && slices.Contains(row, table) && slices.Contains(row, "const") && slices.Contains(row, "PRIMARY"):
			probes++
		case driver != "sqlite" && slices.Contains(row, "No tables used"):
		default:
			return false
		}
	}
	return probes == n
}

// explainRows returns the rows of an EXPLAIN as strings.
func explainRows(t *testing.T, db *sqlx.DB, ctx context.Context, query string, args ...any) [][]string {
	t.Helper()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readsBy reports whether the rows of a MySQL EXPLAIN or a SQLite EXPLAIN
// QUERY PLAN read some table through index and no table whole: on MySQL,
// no row of type ALL but over a derived table, and a row whose key is
// index; on SQLite, no SCAN but of a subquery's rows (a CO-ROUTINE or
// MATERIALIZE of the plan), and a SEARCH … USING [COVERING] INDEX index
// (for index PRIMARY, a range of the rowid of the table aliased t).
func readsBy(plan [][]string, driver, index string) bool {
	found := false
	subqueries := map[string]bool{}
	for _, row := range plan {
		detail := row[len(row)-1]
		for _, p := range []string{"CO-ROUTINE ", "MATERIALIZE "} {
			if name, ok := strings.CutPrefix(detail, p); ok {
				subqueries["SCAN "+name] = true
			}
		}
	}
	for _, row := range plan {
		if driver == "sqlite" {
			detail := row[len(row)-1]
			if strings.HasPrefix(detail, "SCAN ") && detail != "SCAN CONSTANT ROW" && !subqueries[detail] {
				return false
			}
			found = found || (strings.HasPrefix(detail, "SEARCH ") && strings.Contains(detail, " INDEX "+index+" ")) ||
				(index == "PRIMARY" && strings.HasPrefix(detail, "SEARCH t USING INTEGER PRIMARY KEY (rowid<"))
			continue
		}
		// id, select_type, table, [partitions,] type, possible_keys, key, …
		if slices.Contains(row, "ALL") && !slices.ContainsFunc(row, func(v string) bool { return strings.HasPrefix(v, "<derived") }) {
			return false
		}
		found = found || slices.Contains(row, index)
	}
	return found
}

// sortsAll reports whether the rows of a MySQL EXPLAIN or a SQLite
// EXPLAIN QUERY PLAN sort a table's rows whole where a cleanup's index
// yields them in order: on MySQL, a filesort of a row that is not a
// derived table (a derived table is a batch its own LIMIT bounds); on
// SQLite, a temporary B-tree for the whole ORDER BY (one for its last
// term only sorts each run of equal expiry values, as the index yields
// them).
func sortsAll(plan [][]string, driver string) bool {
	for _, row := range plan {
		detail := row[len(row)-1]
		if driver == "sqlite" {
			if detail == "USE TEMP B-TREE FOR ORDER BY" {
				return true
			}
			continue
		}
		if strings.Contains(detail, "Using filesort") && !slices.ContainsFunc(row, func(v string) bool { return strings.HasPrefix(v, "<derived") }) {
			return true
		}
	}
	return false
}
