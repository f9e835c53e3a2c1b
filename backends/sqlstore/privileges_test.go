package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// TestCheckSchemaNoWrites checks a store whose database user may read
// every table and run the rotation routine but not write the tables (found
// by review: such a MySQL account opened, /healthz said ok, and every
// login was a 503): Open refuses it with authkit.ErrInvalidConfig, naming
// each write it lacks and the grant. Granted exactly the writes CheckSchema
// asks for, the store opens and every kind of write it makes succeeds (so
// CheckSchema asks for enough); without one of them, Open names that one.
func TestCheckSchemaNoWrites(t *testing.T) {
	t.Parallel()
	writes := sqlstore.TableWrites()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, dsn := newStore(t, pgxBackend)
		var schema string
		if err := s.DB().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		grants := []string{"GRANT SELECT ON ALL TABLES IN SCHEMA " + schema + " TO %s"}
		weak := pgRole(t, s, dsn, grants...)
		refused(t, weak, []string{"INSERT, UPDATE, DELETE on authkit_sessions;", "UPDATE on authkit_revocation_feed;", "INSERT, DELETE on authkit_revocation_log;", "INSERT, UPDATE, DELETE on authkit_client_assertions,"},
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA")

		grants = append(grants, exactGrants(writes, "authkit_", false)...)
		enough := pgRole(t, s, dsn, grants...)
		exerciseWrites(t, enough)

		// One write taken away: named alone.
		role := strings.SplitN(strings.TrimPrefix(enough, "postgres://"), "@", 2)[0]
		if _, err := s.DB().ExecContext(ctx, "REVOKE DELETE ON authkit_refresh_tokens FROM "+role); err != nil {
			t.Fatal(err)
		}
		err := refused(t, enough, []string{"DELETE on authkit_refresh_tokens"}, "GRANT")
		if strings.Count(err.Error(), " on authkit_") != 1 {
			t.Errorf("Open without DELETE on authkit_refresh_tokens = %v, want that write alone named", err)
		}
		// UPDATE on one column the store updates taken away, UPDATE on
		// another left: refused (found by review: any column passed).
		for _, q := range []string{"GRANT DELETE ON authkit_refresh_tokens TO " + role, "REVOKE UPDATE (gc_at) ON authkit_sessions FROM " + role, "GRANT UPDATE (subject) ON authkit_sessions TO " + role} {
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		err = refused(t, enough, []string{"UPDATE on authkit_sessions"}, "GRANT")
		if strings.Count(err.Error(), " on authkit_") != 1 {
			t.Errorf("Open without UPDATE (gc_at) on authkit_sessions = %v, want that write alone named", err)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, dsn := newStore(t, mysqlBackend)
		var db string
		if err := s.DB().QueryRowContext(ctx, "SELECT DATABASE()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		user := func(grants ...string) (string, string) {
			var b [6]byte
			_, _ = rand.Read(b[:])
			name := "authkit_nowrite_" + hex.EncodeToString(b[:])
			account := "'" + name + "'@'%'"
			if _, err := s.DB().ExecContext(ctx, "CREATE USER "+account); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := s.DB().ExecContext(ctx, "DROP USER "+account); err != nil {
					t.Errorf("DROP USER: %v", err)
				}
			})
			for _, g := range grants {
				if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(g, account)); err != nil {
					t.Fatalf("%s: %v", g, err)
				}
			}
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			return "mysql://" + name + "@" + cfg.Addr + "/" + cfg.DBName, account
		}
		grants := []string{"GRANT SELECT, EXECUTE ON " + db + ".* TO %s"}
		weak, _ := user(grants...)
		refused(t, weak, []string{"INSERT, UPDATE, DELETE on authkit_sessions;", "UPDATE on authkit_revocation_feed;", "INSERT, DELETE on authkit_revocation_log;", "INSERT, UPDATE, DELETE on authkit_client_assertions,"},
			"GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON")

		grants = append(grants, exactGrants(writes, db+".authkit_", true)...)
		enough, account := user(grants...)
		exerciseWrites(t, enough)

		// Under ANSI_QUOTES, SHOW CREATE TABLE quotes with double quotes;
		// the foreign keys it shows this user are found (found by review).
		ansi, err := sqlstore.Open(ctx, enough+"?sql_mode="+url.QueryEscape("'ANSI_QUOTES,STRICT_TRANS_TABLES'"))
		if err != nil {
			t.Errorf("Open under ANSI_QUOTES: %v", err)
		} else {
			ansi.Close()
		}

		// Behind another session's table lock (a backup's LOCK TABLES …
		// READ), the EXPLAINs give up after a second and Open goes on
		// (found by review: it waited as long as the lock was held).
		lock, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lock.ExecContext(ctx, "LOCK TABLES authkit_revocation_feed READ, authkit_sessions READ"); err != nil {
			t.Fatal(err)
		}
		lockedCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		locked, err := sqlstore.Open(lockedCtx, enough)
		cancel()
		if err != nil {
			t.Errorf("Open while another session holds a table lock: %v", err)
		} else {
			locked.Close()
		}
		if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		lock.Close()

		if _, err := s.DB().ExecContext(ctx, "REVOKE UPDATE (subject) ON "+db+".authkit_api_token_subjects FROM "+account); err != nil {
			t.Fatal(err)
		}
		err = refused(t, enough, []string{"UPDATE on authkit_api_token_subjects"}, "GRANT")
		if strings.Count(err.Error(), " on authkit_") != 1 {
			t.Errorf("Open without UPDATE on authkit_api_token_subjects = %v, want that write alone named", err)
		}
	})
}

// exactGrants are the GRANTs (with %s for the grantee) of exactly the
// writes CheckSchema asks for, on tables named prefix+table: INSERT and
// DELETE on the table, UPDATE on the columns the store updates only (on
// MySQL, with the other columns its upserts insert), so that a store call
// updating another column fails exerciseWrites.
func exactGrants(writes map[string]sqlstore.TableWrite, prefix string, mysql bool) []string {
	var out []string
	for table, w := range writes {
		var tablePrivs []string
		for _, p := range w.Privs {
			if p == "UPDATE" {
				cols := w.PGCols
				if mysql {
					cols = w.MySQLCols
				}
				out = append(out, "GRANT UPDATE ("+strings.Join(cols, ", ")+") ON "+prefix+table+" TO %s")
				continue
			}
			tablePrivs = append(tablePrivs, p)
		}
		if len(tablePrivs) > 0 {
			out = append(out, "GRANT "+strings.Join(tablePrivs, ", ")+" ON "+prefix+table+" TO %s")
		}
	}
	return out
}

// refused opens dsn and wants authkit.ErrInvalidConfig naming each of
// denied and grant, not a missing migration nor an outage.
func refused(t *testing.T, dsn string, denied []string, grant string) error {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), dsn)
	if err == nil {
		s.Close()
		t.Fatalf("Open as a user who may not write = nil, want the writes named (%v)", denied)
	}
	t.Logf("Open: %v", err)
	if !errors.Is(err, authkit.ErrInvalidConfig) || errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, sqlstore.ErrMigrationsNotApplied) {
		t.Errorf("Open as a user who may not write = %v, want ErrInvalidConfig alone", err)
	}
	for _, d := range append(denied, grant) {
		if !strings.Contains(err.Error(), d) {
			t.Errorf("Open as a user who may not write = %v, want %q named", err, d)
		}
	}
	return err
}

// exerciseWrites opens dsn and makes every kind of write the store makes:
// each must succeed.
func exerciseWrites(t *testing.T, dsn string) {
	t.Helper()
	ctx := t.Context()
	s, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open as a user granted the writes CheckSchema asks for: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().Truncate(time.Millisecond)
	hash := func(b byte) authkit.TokenHash { return authkit.TokenHash{b, 0xa5, b} }
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	sess := authkit.Session{ID: "sess-1", Subject: "alice", CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
	step("CreateSession", s.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: hash(1), SessionID: sess.ID, Subject: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}))
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: hash(1), Next: hash(2), NextExpiresAt: now.Add(time.Hour), Now: now, SessionID: sess.ID})
	step("RotateRefresh", err)
	// Reuse of the spent token revokes the session (reuse detection).
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: hash(1), Next: hash(3), NextExpiresAt: now.Add(time.Hour), Now: now, SessionID: sess.ID})
	if !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("RotateRefresh of a spent token: %v, want ErrTokenReused", err)
	}
	step("RevokeSession", s.RevokeSession(ctx, sess.ID, now))
	step("RevokeToken", s.RevokeToken(ctx, "alice", "jti-1", now.Add(time.Hour)))
	step("RevokeSessionTokens", s.RevokeSessionTokens(ctx, "alice", sess.ID, now.Add(time.Hour)))
	step("SetCutoff", s.SetCutoff(ctx, "alice", now, now.Add(time.Hour)))
	step("CreateSession", s.CreateSession(ctx, authkit.Session{ID: "sess-2", Subject: "bob", CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)},
		authkit.RefreshRecord{Hash: hash(4), SessionID: "sess-2", Subject: "bob", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}))
	_, err = s.RevokeSubjectSessions(ctx, "bob", now)
	step("RevokeSubjectSessions", err)

	tok := authkit.APIToken{ID: "tok-1", Hash: hash(5), Subject: "alice", Name: "ci", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	step("CreateAPIToken", s.CreateAPIToken(ctx, tok, 10, now))
	step("TouchAPIToken", s.TouchAPIToken(ctx, tok.ID, now.Add(time.Second)))
	step("RevokeAPIToken", s.RevokeAPIToken(ctx, "alice", tok.ID, now))

	_, err = s.AddFailure(ctx, "ip:192.0.2.1", now, time.Minute)
	step("AddFailure", err)
	_, err = s.AddFailure(ctx, "user:alice", now, time.Minute)
	step("AddFailure", err)
	_, err = s.AddFailure(ctx, "user:alice", now, time.Minute)
	step("AddFailure again", err)
	step("ClearThrottle", s.ClearThrottle(ctx, "user:alice"))

	c := authkit.Client{ID: "svc", Name: "svc", SecretHash: hash(6), GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now}
	step("CreateClient", s.CreateClient(ctx, c))
	step("SetClientSecret", s.SetClientSecret(ctx, c.ID, hash(7), now))
	code := authkit.AuthorizationCode{Hash: hash(8), ClientID: c.ID, RedirectURI: "https://app.example/cb", Subject: "alice",
		Challenge: strings.Repeat("a", 43), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	step("CreateAuthorizationCode", s.CreateAuthorizationCode(ctx, code))
	_, err = s.RedeemAuthorizationCode(ctx, code.Hash, now)
	step("RedeemAuthorizationCode", err)
	step("SetAuthorizationCodeSession", s.SetAuthorizationCodeSession(ctx, code.Hash, "sess-1"))
	step("UseClientAssertion", s.UseClientAssertion(ctx, c.ID, hash(9), now.Add(time.Minute), now))

	// Cleanup, an hour and more later: every table's expired rows go.
	later := now.Add(3 * time.Hour)
	for what, gc := range map[string]func(context.Context, time.Time, int) (int, error){
		"DeleteExpiredSessions": s.DeleteExpiredSessions, "DeleteExpiredRevocations": s.DeleteExpiredRevocations,
		"DeleteExpiredAPITokens": s.DeleteExpiredAPITokens, "DeleteExpiredThrottles": s.DeleteExpiredThrottles,
		"DeleteExpiredAuthorizationCodes": s.DeleteExpiredAuthorizationCodes,
	} {
		n, err := gc(ctx, later, 100)
		step(what, err)
		if err == nil && n == 0 {
			t.Errorf("%s deleted nothing: the check would not see a missing DELETE", what)
		}
	}
	step("DeleteClient", s.DeleteClient(ctx, c.ID))
}
