package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestCommitStall stalls the network exactly when a transaction commits,
// on each driver whose Store claims authkit.DeadlineStore: the write must
// still end soon after its ctx's deadline. The conformance suite's
// …/Stalled checks stall the backend before a call begins, so they never
// reach a COMMIT; this is the case database/sql's Tx.Commit, which takes
// no context, would hold for as long as the network does.
func TestCommitStall(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend} {
		t.Run(b.name, func(t *testing.T) {
			direct := b.fresh(t)
			if err := sqlstore.Migrate(t.Context(), openDB(t, b, direct).DB, b.driver); err != nil {
				t.Fatal(err)
			}
			px := testservers.NewProxy(t, testservers.Addr(t, direct))
			px.StallOn(isCommit)
			s, err := sqlstore.New(openDB(t, b, testservers.WithAddr(t, direct, px.Addr())))
			if err != nil {
				t.Fatal(err)
			}
			if !s.HonorsDeadlines() {
				t.Fatalf("%s: HonorsDeadlines = false; this test is for the drivers that claim it", b.name)
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Fatal(err)
			}

			const deadline = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			now := time.Now().UTC()
			sess := authkit.Session{ID: "sess-commit", Subject: "alice", CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)}
			first := authkit.RefreshRecord{Hash: authkit.TokenHash(sha256.Sum256([]byte("rt-commit"))), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			done := make(chan error, 1)
			go func() { done <- s.CreateSession(ctx, sess, first) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("CreateSession whose COMMIT the network swallowed returned nil")
				}
				t.Logf("CreateSession with its COMMIT (%q) stalled: %v", px.StalledBy(), err)
			case <-time.After(deadline + 5*time.Second):
				t.Fatalf("CreateSession was still waiting 5s after its %v deadline with its COMMIT stalled", deadline)
			}
			if px.StalledBy() == nil {
				t.Fatal("the proxy never saw a COMMIT: the test did not stall where it means to")
			}
		})
	}
}

// isCommit reports whether b holds a COMMIT statement: a MySQL COM_QUERY
// packet (3-byte length 7, sequence, command 0x03, "COMMIT") or a
// PostgreSQL simple Query message ('Q', length 11, "COMMIT" and a NUL), in
// any case, wherever it starts in b (a driver may send another packet in
// the same write, as go-sql-driver/mysql does with the statement close
// that precedes a COMMIT).
func isCommit(b []byte) bool {
	for i := range b {
		switch {
		case i+11 <= len(b) && b[i] == 7 && b[i+1] == 0 && b[i+2] == 0 && b[i+4] == 0x03 &&
			strings.EqualFold(string(b[i+5:i+11]), "COMMIT"):
			return true
		case i+12 <= len(b) && b[i] == 'Q' && string(b[i+1:i+5]) == "\x00\x00\x00\x0b" &&
			strings.EqualFold(string(b[i+5:i+11]), "COMMIT") && b[i+11] == 0:
			return true
		}
	}
	return false
}
