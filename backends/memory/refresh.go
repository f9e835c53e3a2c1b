package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authkit-go/authkit"
)

// errFull reports a store that holds as many sessions or tokens as its
// references can name (2³¹ of each): far more than memory allows.
var errFull = errors.New("memory: store full")

// CreateSession implements authkit.RefreshStore. first must belong to s
// (same SessionID and Subject); a mismatch is refused and stores nothing.
// s.CreatedAt serves as the current time for the write's sweep.
func (s *Store) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: CreateSession: %w", err)
	}
	if first.SessionID != sess.ID || first.Subject != sess.Subject {
		return errors.New("memory: CreateSession: the first token's SessionID and Subject must be the session's")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.f
	if _, ok := f.findSession(sess.ID); ok {
		return fmt.Errorf("memory: CreateSession: session ID: %w", authkit.ErrConflict)
	}
	if _, ok := f.findToken(&first.Hash); ok {
		return fmt.Errorf("memory: CreateSession: token hash: %w", authkit.ErrConflict)
	}
	sref, ok := f.addSession(sess)
	if !ok {
		return fmt.Errorf("memory: CreateSession: %w", errFull)
	}
	used := !first.UsedAt.IsZero()
	tref, ok := f.addToken(sref, first.Hash, toMicros(first.IssuedAt), toMicros(first.ExpiresAt), !used)
	if !ok {
		f.dropSession(sref, 1)
		return fmt.Errorf("memory: CreateSession: %w", errFull)
	}
	if used || first.Successor != nil {
		t := f.toks.at(tref)
		t.usedAt = toMicros(first.UsedAt)
		if used {
			t.flags |= tokUsed
		}
		t.setSuccessor(first.Successor)
	}
	s.observe(sess.CreatedAt)
	s.sweep(sess.CreatedAt)
	return nil
}

// RotateRefresh implements authkit.RefreshStore. A successor hash that is
// already stored yields ErrConflict and changes nothing.
func (s *Store) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, fmt.Errorf("memory: RotateRefresh: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(r.Now)
	defer s.sweep(r.Now) // after the checks: the presented record must be judged, not collected
	f := &s.f
	tref, ok := f.findToken(&r.Old)
	if !ok {
		return authkit.Session{}, fmt.Errorf("memory: RotateRefresh: %w", authkit.ErrNotFound)
	}
	t := f.toks.at(tref)
	sref := t.sess
	ss := f.sess.at(sref)
	if ss.isRevoked() {
		return authkit.Session{}, fmt.Errorf("memory: RotateRefresh: session: %w", authkit.ErrTokenRevoked)
	}
	if t.used() {
		return authkit.Session{}, &authkit.ReuseError{
			SessionID: ss.id(),
			Subject:   ss.subject(),
			UsedAt:    fromMicros(t.usedAt),
			Successor: t.successorBytes(),
		}
	}
	// Stored expiries are whole microseconds, so comparing r.Now rounded
	// down is comparing r.Now itself.
	now := toMicros(r.Now)
	if now >= t.expires || now >= ss.expires || now >= ss.idle {
		return authkit.Session{}, fmt.Errorf("memory: RotateRefresh: %w", authkit.ErrTokenExpired)
	}
	if _, ok := f.findToken(&r.Next); ok {
		return authkit.Session{}, fmt.Errorf("memory: RotateRefresh: successor hash: %w", authkit.ErrConflict)
	}
	next := toMicros(r.NextExpiresAt)
	lastUsed, idle := ss.lastUsed, ss.idle
	ss.lastUsed, ss.idle = now, next
	// addToken gives t, current until now, a heap entry of its own and
	// moves the session's entry to its new time.
	if _, ok := f.addToken(sref, r.Next, now, next, true); !ok {
		ss.lastUsed, ss.idle = lastUsed, idle
		return authkit.Session{}, fmt.Errorf("memory: RotateRefresh: %w", errFull)
	}
	t.flags |= tokUsed
	t.usedAt = now
	t.setSuccessor(r.Successor)
	return f.sessionOf(ss), nil
}

// LookupRefresh implements authkit.RefreshStore.
func (s *Store) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	if err := ctx.Err(); err != nil {
		return authkit.RefreshRecord{}, fmt.Errorf("memory: LookupRefresh: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ref, ok := s.f.findToken(&h)
	if !ok {
		return authkit.RefreshRecord{}, fmt.Errorf("memory: LookupRefresh: %w", authkit.ErrNotFound)
	}
	return s.f.recordOf(s.f.toks.at(ref)), nil
}

// Session implements authkit.RefreshStore.
func (s *Store) Session(ctx context.Context, id string) (authkit.Session, error) {
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, fmt.Errorf("memory: Session: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ref, ok := s.f.findSession(id)
	if !ok {
		return authkit.Session{}, fmt.Errorf("memory: Session: %w", authkit.ErrNotFound)
	}
	return s.f.sessionOf(s.f.sess.at(ref)), nil
}

// ListSessions implements authkit.RefreshStore. Sessions created at the
// same instant are ordered by ID.
func (s *Store) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: ListSessions: %w", err)
	}
	s.observe(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	f := &s.f
	var out []authkit.Session
	us := toMicros(now)
	ref, ok := f.subjectHead(subject)
	for ; ok && ref != none; ref = f.sess.at(ref).next {
		ss := f.sess.at(ref)
		if !ss.isRevoked() && us < ss.expires && us < ss.idle {
			out = append(out, f.sessionOf(ss))
		}
	}
	slices.SortFunc(out, func(a, b authkit.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeSession implements authkit.RefreshStore.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: RevokeSession: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	ref, ok := s.f.findSession(id)
	if !ok {
		return fmt.Errorf("memory: RevokeSession: %w", authkit.ErrNotFound)
	}
	s.f.revoke(ref, now)
	s.sweep(now)
	return nil
}

// revoke revokes session ref at now unless it already is, and reports
// whether it did.
func (f *families) revoke(ref uint32, now time.Time) bool {
	ss := f.sess.at(ref)
	if ss.isRevoked() {
		return false
	}
	ss.revoked = revokedMicros(now)
	f.revoked[ref] = struct{}{}
	return true
}

// RevokeSubjectSessions implements authkit.RefreshStore. The IDs come back
// sorted. Sessions that have expired but not yet been collected are
// revoked and reported too.
func (s *Store) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: RevokeSubjectSessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	f := &s.f
	var ids []string
	ref, ok := f.subjectHead(subject)
	for ; ok && ref != none; ref = f.sess.at(ref).next {
		if f.revoke(ref, now) {
			ids = append(ids, f.sess.at(ref).id())
		}
	}
	slices.Sort(ids)
	s.sweep(now)
	return ids, nil
}

// DeleteExpiredSessions implements authkit.RefreshStore. A garbage session
// with more records than the limit leaves is deleted over several calls,
// its records first.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: DeleteExpiredSessions: %w", err)
	}
	if limit <= 0 {
		return 0, errLimit("DeleteExpiredSessions", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	n := s.f.collect(toMicros(now), limit)
	n += s.f.collectRevoked(limit - n)
	return n, nil
}
