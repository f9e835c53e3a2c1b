package sqlstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// TestInvalidInput: keys the store cannot keep are refused the same way on
// every dialect, with ErrInvalidRequest, and nothing is written.
func TestInvalidInput(t *testing.T) {
	t.Parallel()
	now := time.Now()
	long := strings.Repeat("x", 1025)
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			sess := authkit.Session{ID: strings.Repeat("i", 256), Subject: "alice", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
			first := authkit.RefreshRecord{Hash: authkit.TokenHash{1}, SessionID: sess.ID, Subject: sess.Subject, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			for _, c := range []struct {
				name string
				err  error
			}{
				{"session ID over 255 bytes", s.CreateSession(ctx, sess, first)},
				{"subject over 1024 bytes", s.SetCutoff(ctx, long, now, now.Add(time.Hour))},
				{"empty jti", s.RevokeToken(ctx, "alice", "", now.Add(time.Hour))},
				{"empty sid", s.RevokeSessionTokens(ctx, "alice", "", now.Add(time.Hour))},
				{"empty subject", s.RevokeToken(ctx, "", "jti", now.Add(time.Hour))},
				{"API token ID over 255 bytes", s.CreateAPIToken(ctx, authkit.APIToken{ID: strings.Repeat("i", 256), Subject: "alice", CreatedAt: now}, 0, now)},
				{"first token of another session", s.CreateSession(ctx, authkit.Session{ID: "s1", Subject: "alice"}, authkit.RefreshRecord{SessionID: "s2", Subject: "alice"})},
				// Found missing by mutation testing: no column limit backs
				// these up, so the store took them.
				{"API token subject over 1024 bytes", s.CreateAPIToken(ctx, authkit.APIToken{ID: "t1", Subject: long, CreatedAt: now}, 0, now)},
				{"code session ID over 255 bytes", s.SetAuthorizationCodeSession(ctx, authkit.TokenHash{2}, strings.Repeat("i", 256))},
				{"throttle window of 0", func() error { _, err := s.AddFailure(ctx, "k", now, 0); return err }()},
				{"negative throttle window", func() error { _, err := s.AddFailure(ctx, "k", now, -time.Second); return err }()},
			} {
				if !errors.Is(c.err, authkit.ErrInvalidRequest) {
					t.Errorf("%s: %v, want ErrInvalidRequest", c.name, c.err)
				}
			}
			if _, err := s.DeleteExpiredSessions(ctx, now, 0); !errors.Is(err, authkit.ErrInvalidRequest) {
				t.Errorf("DeleteExpiredSessions with limit 0: %v, want ErrInvalidRequest", err)
			}
			if b.driver == "pgx" {
				// PostgreSQL's text holds no NUL byte; its refusal is the
				// caller's bad input, not an outage.
				err := s.CreateAPIToken(ctx, authkit.APIToken{ID: "t\x00", Subject: "alice", CreatedAt: now}, 0, now)
				if !errors.Is(err, authkit.ErrInvalidRequest) || errors.Is(err, authkit.ErrStoreUnavailable) {
					t.Errorf("an ID with a NUL byte on PostgreSQL: %v, want ErrInvalidRequest", err)
				}
			}
		})
	}
}
