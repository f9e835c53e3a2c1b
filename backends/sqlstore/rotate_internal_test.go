package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// rotateDialects are the databases with a rotation routine, by driver.
var rotateDialects = []struct {
	name   string
	driver string
	dsn    func(testing.TB) string
	// drop removes the default prefix's routine; routines counts the
	// rotation routines of the prefixes authkit_ and ak2_ in the database
	// (schema) of the connection.
	drop, routines string
}{
	{"pgx", "pgx", testservers.Postgres, "DROP FUNCTION authkit_rotate_refresh",
		"SELECT COUNT(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace AND proname IN ('authkit_rotate_refresh', 'ak2_rotate_refresh')"},
	{"pq", "postgres", testservers.Postgres, "", ""},
	{"mysql", "mysql", testservers.MySQL, "DROP PROCEDURE authkit_rotate_refresh",
		"SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME IN ('authkit_rotate_refresh', 'ak2_rotate_refresh')"},
	// The procedure's CALL as Open sends it: one text query, arguments
	// inlined, rather than prepared and executed.
	{"mysql-interpolated", "mysql", interpolated(testservers.MySQL), "", ""},
}

// interpolated has the MySQL driver inline the arguments of dsn's queries
// (interpolateParams=true, as Open sets).
func interpolated(dsn func(testing.TB) string) func(testing.TB) string {
	return func(t testing.TB) string {
		d := dsn(t)
		if strings.Contains(d, "?") {
			return d + "&interpolateParams=true"
		}
		return d + "?interpolateParams=true"
	}
}

// migratedStore opens dsn with driver, applies the migrations with the
// given options and returns a store over it.
func migratedStore(t *testing.T, driver, dsn string, opts ...Option) *Store {
	t.Helper()
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testservers.LimitPool(db.DB)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := Migrate(ctx, db.DB, driver, opts...); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s, err := New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRotatePaths runs the same rotations through the rotation routine (one
// statement) and through the transaction it replaces, and checks that both
// give the same answer in every case of the contract and leave the same
// rows: a rotation, an unknown token, a reuse (with the winner's time and
// sealed successor), a successor hash already taken, expiry, a revoked
// session. Every refusal is checked to have written nothing.
func TestRotatePaths(t *testing.T) {
	t.Parallel()
	for _, d := range rotateDialects {
		t.Run(d.name, func(t *testing.T) {
			s := migratedStore(t, d.driver, d.dsn(t))
			paths := []struct {
				name   string
				rotate func(context.Context, authkit.Rotation) (authkit.Session, error)
			}{
				{"routine", func(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
					sess, err := s.rotateInOne(ctx, "rotate", r)
					if errors.Is(err, errNoRotateRoutine) {
						t.Fatal("the migrated database has no rotation routine")
					}
					return sess, err
				}},
				{"transaction", func(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
					return s.rotateInTx(ctx, "rotate", r)
				}},
			}
			type result struct {
				errs  []string
				state []string
			}
			var results []result
			for _, p := range paths {
				t.Run(p.name, func(t *testing.T) {
					var res result
					rotateScenario(t, s, p.name, p.rotate, func(e string) { res.errs = append(res.errs, e) })
					results = append(results, res)
				})
			}
			if len(results) == 2 && !slices.Equal(results[0].errs, results[1].errs) {
				t.Errorf("the two paths disagree:\nroutine:     %q\ntransaction: %q", results[0].errs, results[1].errs)
			}
		})
	}
}

// rotateScenario walks one session through every outcome with rotate,
// checking each answer and the rows after it; note records each answer's
// kind, for comparing two paths.
func rotateScenario(t *testing.T, s *Store, tag string, rotate func(context.Context, authkit.Rotation) (authkit.Session, error), note func(string)) {
	ctx := t.Context()
	h := func(x string) authkit.TokenHash { return sha256.Sum256([]byte(tag + "/" + x)) }
	base := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	sess := authkit.Session{
		ID: "sess-" + tag, Subject: "sübject " + tag, ClientID: "web", Scopes: []string{"read", "write"},
		Audience: []string{"api one"}, Claims: []byte(`{"tenant":"t1"}`), UserAgent: "ua", IP: "192.0.2.1", Name: "laptop",
		CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(90 * 24 * time.Hour), IdleExpiresAt: base.Add(time.Hour),
	}
	first := authkit.RefreshRecord{Hash: h("1"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	kind := func(err error) string {
		for _, k := range []error{authkit.ErrNotFound, authkit.ErrTokenRevoked, authkit.ErrTokenReused, authkit.ErrTokenExpired, authkit.ErrConflict} {
			if errors.Is(err, k) {
				return k.Error()
			}
		}
		if err != nil {
			return "failure: " + err.Error()
		}
		return "ok"
	}
	snapshot := func() string {
		t.Helper()
		var b bytes.Buffer
		got, err := s.Session(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(got.LastUsedAt.String() + got.IdleExpiresAt.String() + got.RevokedAt.String())
		for _, x := range []string{"1", "2", "3"} {
			r, err := s.LookupRefresh(ctx, h(x))
			if errors.Is(err, authkit.ErrNotFound) {
				b.WriteString("|none")
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("|" + r.UsedAt.String() + string(r.Successor) + r.ExpiresAt.String())
		}
		return b.String()
	}
	refused := func(what string, r authkit.Rotation, want error) {
		t.Helper()
		before := snapshot()
		_, err := rotate(ctx, r)
		note(what + ": " + kind(err))
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
		if errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("%s: a refusal reported as a failure: %v", what, err)
		}
		if after := snapshot(); after != before {
			t.Errorf("%s wrote something:\nbefore %s\nafter  %s", what, before, after)
		}
	}

	now := base.Add(time.Minute)
	rot := authkit.Rotation{Old: h("1"), Next: h("2"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("sealed-2"), Now: now}

	refused("unknown token", authkit.Rotation{Old: h("nope"), Next: h("3"), NextExpiresAt: rot.NextExpiresAt, Now: now}, authkit.ErrNotFound)
	refused("successor hash taken", authkit.Rotation{Old: h("1"), Next: h("1"), NextExpiresAt: rot.NextExpiresAt, Successor: []byte("x"), Now: now}, authkit.ErrConflict)
	refused("expired record", authkit.Rotation{Old: h("1"), Next: h("3"), NextExpiresAt: rot.NextExpiresAt, Now: base.Add(time.Hour)}, authkit.ErrTokenExpired)

	got, err := rotate(ctx, rot)
	note("rotation: " + kind(err))
	if err != nil {
		t.Fatalf("rotation: %v", err)
	}
	want := sess
	want.LastUsedAt, want.IdleExpiresAt = now.Truncate(time.Microsecond), rot.NextExpiresAt.Truncate(time.Microsecond)
	if got.ID != want.ID || got.Subject != want.Subject || got.ClientID != want.ClientID ||
		!slices.Equal(got.Scopes, want.Scopes) || !slices.Equal(got.Audience, want.Audience) || !bytes.Equal(got.Claims, want.Claims) ||
		got.UserAgent != want.UserAgent || got.IP != want.IP || got.Name != want.Name ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.LastUsedAt.Equal(want.LastUsedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.IdleExpiresAt.Equal(want.IdleExpiresAt) || !got.RevokedAt.IsZero() {
		t.Errorf("rotation returned\n%+v\nwant\n%+v", got, want)
	}
	if stored, err := s.Session(ctx, sess.ID); err != nil || !stored.LastUsedAt.Equal(want.LastUsedAt) || !stored.IdleExpiresAt.Equal(want.IdleExpiresAt) {
		t.Errorf("stored session after the rotation: %+v, %v", stored, err)
	}
	old, err := s.LookupRefresh(ctx, h("1"))
	if err != nil || !old.UsedAt.Equal(want.LastUsedAt) || string(old.Successor) != "sealed-2" {
		t.Errorf("the spent record: %+v, %v", old, err)
	}
	next, err := s.LookupRefresh(ctx, h("2"))
	if err != nil || next.SessionID != sess.ID || next.Subject != sess.Subject || !next.IssuedAt.Equal(want.LastUsedAt) ||
		!next.ExpiresAt.Equal(want.IdleExpiresAt) || !next.UsedAt.IsZero() || next.Successor != nil {
		t.Errorf("the successor: %+v, %v", next, err)
	}

	// A reuse takes precedence over expiry.
	later := base.Add(48 * time.Hour)
	before := snapshot()
	_, err = rotate(ctx, authkit.Rotation{Old: h("1"), Next: h("3"), NextExpiresAt: later.Add(time.Hour), Now: later})
	note("reuse: " + kind(err))
	re, ok := errors.AsType[*authkit.ReuseError](err)
	if !ok || re.SessionID != sess.ID || re.Subject != sess.Subject || !re.UsedAt.Equal(want.LastUsedAt) || string(re.Successor) != "sealed-2" {
		t.Errorf("reuse: %#v, want a *ReuseError describing the first rotation", err)
	}
	if after := snapshot(); after != before {
		t.Errorf("the reuse wrote something:\nbefore %s\nafter  %s", before, after)
	}
	refused("expired (record and idle session)", authkit.Rotation{Old: h("2"), Next: h("3"), NextExpiresAt: later.Add(time.Hour), Now: later}, authkit.ErrTokenExpired)

	if err := s.RevokeSession(ctx, sess.ID, now); err != nil {
		t.Fatal(err)
	}
	refused("revoked session", authkit.Rotation{Old: h("2"), Next: h("3"), NextExpiresAt: rot.NextExpiresAt, Now: now}, authkit.ErrTokenRevoked)
	refused("revoked session, spent token", authkit.Rotation{Old: h("1"), Next: h("3"), NextExpiresAt: rot.NextExpiresAt, Now: now}, authkit.ErrTokenRevoked)
}

// TestRotateWithoutRoutine checks a database migrated before 0003 (the
// routine dropped): RotateRefresh still rotates and classifies, through
// the transaction; and that a second table prefix in the same database
// has a routine of its own, which rotates its own tables.
func TestRotateWithoutRoutine(t *testing.T) {
	t.Parallel()
	for _, d := range rotateDialects {
		if d.drop == "" {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			dsn := d.dsn(t)
			s := migratedStore(t, d.driver, dsn)
			if _, err := s.db.ExecContext(t.Context(), d.drop); err != nil {
				t.Fatal(err)
			}
			var r authkit.Rotation
			if _, err := s.rotateInOne(t.Context(), "rotate", r); !errors.Is(err, errNoRotateRoutine) {
				t.Fatalf("rotateInOne without the routine: %v, want errNoRotateRoutine", err)
			}
			rotateScenario(t, s, "legacy", s.RotateRefresh, func(string) {})

			other := migratedStore(t, d.driver, dsn, WithTablePrefix("ak2_"))
			var n int
			if err := other.db.QueryRowContext(t.Context(), d.routines).Scan(&n); err != nil || n != 1 {
				t.Fatalf("rotation routines in the schema: %d, %v; want ak2_'s only", n, err)
			}
			rotateScenario(t, other, "prefixed", func(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
				sess, err := other.rotateInOne(ctx, "rotate", r)
				if errors.Is(err, errNoRotateRoutine) {
					t.Fatal("the ak2_ prefix has no rotation routine")
				}
				return sess, err
			}, func(string) {})
		})
	}
}
