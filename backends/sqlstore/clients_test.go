package sqlstore_test

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// TestClientsBeyondConformance checks what the store decides where the
// conformance suite leaves room, on one server of each dialect: a second
// redemption is an *authkit.ReuseError naming the session the first one
// recorded, a redeemed code past its expiry is not found (as the memory
// store answers), a list item JSON would alter (invalid UTF-8) is refused
// rather than stored changed, and a lookup by an ID no client can have is
// not found without a query.
func TestClientsBeyondConformance(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			base := time.UnixMicro(1_800_000_000_000_000).UTC()
			if err := s.CreateClient(ctx, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, CreatedAt: base}); err != nil {
				t.Fatalf("CreateClient: %v", err)
			}
			h := authkit.TokenHash(sha256.Sum256([]byte("code")))
			code := authkit.AuthorizationCode{Hash: h, ClientID: "app", Subject: "alice", CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
			if err := s.CreateAuthorizationCode(ctx, code); err != nil {
				t.Fatalf("CreateAuthorizationCode: %v", err)
			}
			if _, err := s.RedeemAuthorizationCode(ctx, h, base.Add(time.Second)); err != nil {
				t.Fatalf("RedeemAuthorizationCode: %v", err)
			}
			if err := s.SetAuthorizationCodeSession(ctx, h, "sess-1"); err != nil {
				t.Fatalf("SetAuthorizationCodeSession: %v", err)
			}
			_, err := s.RedeemAuthorizationCode(ctx, h, base.Add(2*time.Second))
			if re, ok := errors.AsType[*authkit.ReuseError](err); !ok || re.SessionID != "sess-1" || re.Subject != "alice" || !re.UsedAt.Equal(base.Add(time.Second)) {
				t.Errorf("a second redemption returned %v, want a *authkit.ReuseError of session sess-1, subject alice, used at +1s", err)
			}
			if _, err := s.RedeemAuthorizationCode(ctx, h, base.Add(time.Minute)); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("a redemption of a redeemed code at its expiry returned %v, want ErrNotFound", err)
			}
			bad := authkit.Client{ID: "bad", RedirectURIs: []string{"https://app.example/\xff"}, CreatedAt: base}
			if err := s.CreateClient(ctx, bad); !errors.Is(err, authkit.ErrInvalidRequest) {
				t.Errorf("CreateClient with a redirect URI that is not UTF-8 returned %v, want ErrInvalidRequest", err)
			}
			if _, err := s.GetClient(ctx, "app\x00"); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("GetClient of an ID with a NUL byte returned %v, want ErrNotFound", err)
			}
		})
	}
}

// TestClientAssertionsBeyondConformance checks, on one server of each
// dialect, the SQL store's own choices for client assertions and the
// codes' lifetimes: a record past its expiry is replaced by its reuse
// (which then lives to the new expiry), a deleted client's records go
// with it, DeleteExpiredAuthorizationCodes spends one limit on codes
// first and assertion records after, and a code's SessionTTL and
// AccessTTL come back from every read, a negative one refused.
func TestClientAssertionsBeyondConformance(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			base := time.UnixMicro(1_800_000_000_000_000).UTC()
			hash := func(s string) authkit.TokenHash { return authkit.TokenHash(sha256.Sum256([]byte(s))) }
			for _, id := range []string{"app", "other"} {
				if err := s.CreateClient(ctx, authkit.Client{ID: id, CreatedAt: base}); err != nil {
					t.Fatalf("CreateClient(%s): %v", id, err)
				}
			}
			h := hash("app/jti-1")
			use := func(client string, h authkit.TokenHash, exp, now time.Duration) error {
				return s.UseClientAssertion(ctx, client, h, base.Add(exp), base.Add(now))
			}
			for _, c := range []struct {
				name     string
				exp, now time.Duration
				want     error
			}{
				{"first use", time.Minute, 0, nil},
				{"reuse while live", time.Minute, 30 * time.Second, authkit.ErrTokenReused},
				{"reuse at the record's expiry", 2 * time.Minute, time.Minute, nil},
				{"reuse within the refreshed record", 2 * time.Minute, 90 * time.Second, authkit.ErrTokenReused},
			} {
				if err := use("app", h, c.exp, c.now); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
					t.Errorf("%s: UseClientAssertion = %v, want %v", c.name, err, c.want)
				}
			}
			if err := use("nobody", hash("nobody/jti"), time.Minute, 0); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("UseClientAssertion of an unknown client = %v, want ErrNotFound", err)
			}
			if err := use("bad id", hash("bad/jti"), time.Minute, 0); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("UseClientAssertion of an impossible client ID = %v, want ErrNotFound", err)
			}
			if err := use("app", hash("app/jti-expired"), time.Minute, time.Minute); !errors.Is(err, authkit.ErrInvalidRequest) {
				t.Errorf("UseClientAssertion expiring at now = %v, want ErrInvalidRequest", err)
			}
			if err := use("app", hash("app/jti-expired"), 2*time.Minute, time.Minute); err != nil {
				t.Errorf("UseClientAssertion after a refused expired one = %v, want nil (nothing was recorded)", err)
			}

			// A deleted client's records outlive it (0008): registered
			// again, the client may not use the same assertion hash until
			// the record expires, and the record counts for the new
			// client only.
			ho := hash("other/jti-1")
			if err := use("other", ho, time.Hour, 0); err != nil {
				t.Fatalf("UseClientAssertion(other): %v", err)
			}
			if err := s.DeleteClient(ctx, "other"); err != nil {
				t.Fatalf("DeleteClient: %v", err)
			}
			if err := s.CreateClient(ctx, authkit.Client{ID: "other", CreatedAt: base}); err != nil {
				t.Fatalf("CreateClient(other) again: %v", err)
			}
			if err := use("other", ho, time.Hour, time.Second); !errors.Is(err, authkit.ErrTokenReused) {
				t.Errorf("UseClientAssertion after the client was deleted and registered again = %v, want ErrTokenReused (the record outlives the client)", err)
			}
			if err := use("other", ho, 2*time.Hour, time.Hour); err != nil {
				t.Errorf("UseClientAssertion at the kept record's expiry = %v, want nil", err)
			}

			// Lifetimes round-trip through the winning and the losing
			// redemption; negatives are refused.
			code := authkit.AuthorizationCode{Hash: hash("code-1"), ClientID: "app", Subject: "alice",
				SessionTTL: 30 * 24 * time.Hour, AccessTTL: 5*time.Minute + time.Microsecond, CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
			if err := s.CreateAuthorizationCode(ctx, code); err != nil {
				t.Fatalf("CreateAuthorizationCode: %v", err)
			}
			for i := range 2 {
				got, err := s.RedeemAuthorizationCode(ctx, code.Hash, base.Add(time.Second))
				if (i == 0) != (err == nil) || got.SessionTTL != code.SessionTTL || got.AccessTTL != code.AccessTTL {
					t.Errorf("redemption %d = (SessionTTL %v, AccessTTL %v, %v), want (%v, %v)", i+1, got.SessionTTL, got.AccessTTL, err, code.SessionTTL, code.AccessTTL)
				}
			}
			for _, bad := range []authkit.AuthorizationCode{
				{Hash: hash("neg-1"), ClientID: "app", Subject: "alice", SessionTTL: -time.Second, CreatedAt: base, ExpiresAt: base.Add(time.Minute)},
				{Hash: hash("neg-2"), ClientID: "app", Subject: "alice", AccessTTL: -time.Second, CreatedAt: base, ExpiresAt: base.Add(time.Minute)},
			} {
				if err := s.CreateAuthorizationCode(ctx, bad); !errors.Is(err, authkit.ErrInvalidRequest) {
					t.Errorf("CreateAuthorizationCode(SessionTTL %v, AccessTTL %v) = %v, want ErrInvalidRequest", bad.SessionTTL, bad.AccessTTL, err)
				}
			}

			// The cleanup: at base+3h, the code (expired at +1m), two "app"
			// records (+2m), one more (+2h) and "other"'s (+1h) are
			// garbage; a live record stays. One limit of 3 takes the code
			// and two records, the next call the last two.
			if err := use("app", hash("app/jti-2"), 2*time.Hour, 0); err != nil {
				t.Fatal(err)
			}
			if err := use("app", hash("app/jti-live"), 5*time.Hour, 0); err != nil {
				t.Fatal(err)
			}
			now := base.Add(3 * time.Hour)
			for _, want := range []int{3, 2, 0} {
				if n, err := s.DeleteExpiredAuthorizationCodes(ctx, now, 3); n != want || err != nil {
					t.Errorf("DeleteExpiredAuthorizationCodes(limit 3) = %d, %v; want %d, nil", n, err, want)
				}
			}
			if err := s.UseClientAssertion(ctx, "app", hash("app/jti-live"), base.Add(5*time.Hour), now); !errors.Is(err, authkit.ErrTokenReused) {
				t.Errorf("a live record after the cleanup: UseClientAssertion = %v, want ErrTokenReused", err)
			}
		})
	}
}

// TestClientAssertionConcurrentUse: 12 uses of one assertion at once,
// through two pools, on each driver: exactly one succeeds and the others
// are ErrTokenReused; once the record has expired, 12 reuses at once
// again make exactly one winner.
func TestClientAssertionConcurrentUse(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			a, dsn := newStore(t, b)
			peer, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			base := time.UnixMicro(1_800_000_000_000_000).UTC()
			if err := a.CreateClient(ctx, authkit.Client{ID: "app", CreatedAt: base}); err != nil {
				t.Fatal(err)
			}
			h := authkit.TokenHash(sha256.Sum256([]byte("app/jti")))
			for round, now := range []time.Time{base, base.Add(time.Minute)} {
				const n = 12
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					s := a
					if i%2 == 1 {
						s = peer
					}
					wg.Go(func() { errs[i] = s.UseClientAssertion(ctx, "app", h, now.Add(time.Minute), now) })
				}
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, authkit.ErrTokenReused):
						t.Errorf("round %d, use %d: %v, want nil or ErrTokenReused", round, i, err)
					}
				}
				if won != 1 {
					t.Errorf("round %d: %d of %d concurrent uses succeeded, want exactly 1", round, won, n)
				}
			}
		})
	}
}

// TestMigration0007 brings a database of schema 6, holding a client and
// a code, to schema 7: the code still redeems (with the server's
// lifetimes), assertions can be recorded, and CheckSchema, which refused
// the database before, accepts it. On PostgreSQL and MySQL, whose
// migration could be interrupted between statements (MySQL) or is
// applied by hand, 0007 run again changes nothing and fails nothing.
func TestMigration0007(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			db := openDB(t, b, b.fresh(t))
			ctx := t.Context()
			if err := sqlstore.MigrateTo(ctx, db.DB, b.driver, 6); err != nil {
				t.Fatalf("migrating to 6: %v", err)
			}
			base := int64(1_800_000_000_000_000)
			h := sha256.Sum256([]byte("code"))
			for _, stmt := range []struct {
				q    string
				args []any
			}{
				{`INSERT INTO authkit_clients (id, name, secret_hash, jwks, grant_types, scopes, redirect_uris, access_ttl_us, refresh_ttl_us, created_at, secret_rotated_at)
					VALUES ('app', 'App', NULL, NULL, '["authorization_code"]', NULL, '["https://app.example/cb"]', 0, 0, ?, NULL)`, []any{base}},
				{`INSERT INTO authkit_authorization_codes (hash, client_id, redirect_uri, subject, scopes, challenge, claims, created_at, expires_at, used_at, session_id)
					VALUES (?, 'app', 'https://app.example/cb', 'alice', '["read"]', 'chal', NULL, ?, ?, NULL, '')`, []any{h[:], base, base + 60_000_000}},
			} {
				if _, err := db.ExecContext(ctx, db.Rebind(stmt.q), stmt.args...); err != nil {
					t.Fatalf("populating schema 6: %v", err)
				}
			}
			s, err := sqlstore.New(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CheckSchema(ctx); err == nil {
				t.Error("CheckSchema of a database at schema 6 = nil, want an error naming the missing table")
			}
			runs := 1
			if b.driver != "sqlite" {
				runs = 2
			}
			for run := range runs {
				if run > 0 {
					if _, err := db.ExecContext(ctx, "DELETE FROM authkit_schema_migrations WHERE version = 7"); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Migrate(ctx); err != nil {
					t.Fatalf("Migrate (run %d): %v", run+1, err)
				}
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema after 0007: %v", err)
			}
			now := time.UnixMicro(base + 1_000_000).UTC()
			code, err := s.RedeemAuthorizationCode(ctx, authkit.TokenHash(h), now)
			if err != nil || code.Subject != "alice" || code.Challenge != "chal" || code.SessionTTL != 0 || code.AccessTTL != 0 || !code.UsedAt.Equal(now) {
				t.Errorf("redeeming a code of schema 6 = (%+v, %v), want alice's, with no lifetimes of its own", code, err)
			}
			ah := authkit.TokenHash(sha256.Sum256([]byte("app/jti")))
			if err := s.UseClientAssertion(ctx, "app", ah, now.Add(time.Minute), now); err != nil {
				t.Errorf("UseClientAssertion after 0007: %v", err)
			}
			if err := s.UseClientAssertion(ctx, "app", ah, now.Add(time.Minute), now); !errors.Is(err, authkit.ErrTokenReused) {
				t.Errorf("UseClientAssertion again after 0007: %v, want ErrTokenReused", err)
			}
		})
	}
}

// TestMigration0008KeepsRecords upgrades a database of schema 7 that holds
// client-assertion records: 0008 keeps them (SQLite builds the table
// again and copies its rows), and from then on they outlive their client.
func TestMigration0008KeepsRecords(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := openDB(t, b, b.fresh(t))
			if err := sqlstore.MigrateTo(ctx, db.DB, b.driver, 7); err != nil {
				t.Fatal(err)
			}
			if b.driver == "pgx" {
				// The cascading key added again by hand under
				// PostgreSQL's own name (after a restore without
				// constraints): 0008 drops it too.
				for _, q := range []string{"ALTER TABLE authkit_client_assertions DROP CONSTRAINT authkit_client_assertions_client_fk",
					"ALTER TABLE authkit_client_assertions ADD FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE CASCADE"} {
					if _, err := db.ExecContext(ctx, q); err != nil {
						t.Fatal(err)
					}
				}
			}
			s, err := sqlstore.New(db)
			if err != nil {
				t.Fatal(err)
			}
			base := time.Now().Truncate(time.Second)
			exp := base.Add(10 * time.Minute)
			for _, id := range []string{"app", "other"} {
				if err := s.CreateClient(ctx, authkit.Client{ID: id, CreatedAt: base}); err != nil {
					t.Fatal(err)
				}
			}
			used, kept := authkit.TokenHash{1}, authkit.TokenHash{2}
			if err := s.UseClientAssertion(ctx, "app", used, exp, base); err != nil {
				t.Fatal(err)
			}
			if err := s.UseClientAssertion(ctx, "other", kept, exp, base); err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if b.driver != "sqlite" {
				// The file may be run again (MySQL commits DDL as it
				// goes: an interrupted run is run again).
				if _, err := db.ExecContext(ctx, "DELETE FROM authkit_schema_migrations WHERE version = 8"); err != nil {
					t.Fatal(err)
				}
				if err := s.Migrate(ctx); err != nil {
					t.Fatalf("Migrate with 0008 run again: %v", err)
				}
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Fatalf("CheckSchema after 0008: %v", err)
			}
			if err := s.UseClientAssertion(ctx, "other", kept, exp, base.Add(time.Second)); !errors.Is(err, authkit.ErrTokenReused) {
				t.Errorf("a record of schema 7, used again after 0008: %v, want ErrTokenReused", err)
			}
			if err := s.DeleteClient(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateClient(ctx, authkit.Client{ID: "app", CreatedAt: base.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if err := s.UseClientAssertion(ctx, "app", used, exp, base.Add(time.Minute)); !errors.Is(err, authkit.ErrTokenReused) {
				t.Errorf("a record of schema 7, used by a client registered again after 0008: %v, want ErrTokenReused", err)
			}
			// The emptied record is still collected once it expires.
			if _, err := s.DeleteExpiredAuthorizationCodes(ctx, exp, 100); err != nil {
				t.Fatal(err)
			}
			if err := s.UseClientAssertion(ctx, "app", used, exp.Add(time.Minute), exp); err != nil {
				t.Errorf("a record collected at its expiry, used again: %v", err)
			}
		})
	}
}
