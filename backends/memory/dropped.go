package memory

import (
	"time"

	"github.com/authkit-go/authkit"
)

// maxDropped is how many dropped revocations a Store remembers.
const maxDropped = 4096

// droppedKind tells the three kinds of revocation apart in dropped.
type droppedKind uint8

const (
	droppedJTI droppedKind = iota
	droppedSID
	droppedCutoff
)

// droppedKey names a dropped revocation: a jti or sid under its subject,
// or a subject's cutoff (id empty).
type droppedKey struct {
	kind droppedKind
	key  revKey
}

// droppedEntry is a dropped revocation, merged as the store merges
// revocations: the later until (exp.at, its place in droppedSet.byUntil),
// and for a cutoff the later cutoff.
type droppedEntry struct {
	key    droppedKey
	cutoff time.Time
	exp    expiry // until
}

// droppedSet remembers revocations the sweeps dropped, so that a check
// whose time is before a sweep that dropped entries is answered as if
// they were still there. The sweep judges expiry at the latest time any
// call has given the store; a wall clock stepped forward and back made
// that a time the real clock had not reached, and the revocations dropped
// then verified again once the clock was corrected (found by review: a
// two-hour step and one login during it). The set is asked only while a
// check's time is before mark, so a store whose clock moves forward never
// consults it. It holds at most maxDropped entries, forgetting the one
// that ends first (found by review: forgetting the one dropped first let
// a burst of short revocations push out a long one still in force). The
// caller holds s.mu (written under the write lock, read under the read
// lock).
type droppedSet struct {
	entries map[droppedKey]*droppedEntry
	byUntil expiryHeap
	// mark is the latest time, in Unix microseconds, at which a sweep
	// dropped a revocation.
	mark int64
}

// add remembers a revocation dropped by a sweep at at, merged with one of
// the same key remembered before.
func (d *droppedSet) add(k droppedKey, until, cutoff, at time.Time) {
	if m := toMicros(at); m > d.mark {
		d.mark = m
	}
	if d.entries == nil {
		d.entries = make(map[droppedKey]*droppedEntry)
	}
	if e, ok := d.entries[k]; ok {
		if until.After(e.exp.at) {
			e.exp.at = until
			d.byUntil.fix(&e.exp)
		}
		if cutoff.After(e.cutoff) {
			e.cutoff = cutoff
		}
		return
	}
	if len(d.byUntil) >= maxDropped {
		first := d.byUntil.min()
		if !until.After(first.at) {
			return // it ends no later than every one remembered
		}
		d.byUntil.remove(first)
		delete(d.entries, first.owner.(*droppedEntry).key)
	}
	e := &droppedEntry{key: k, cutoff: cutoff}
	e.exp = expiry{at: until, owner: e}
	d.entries[k] = e
	d.byUntil.push(&e.exp)
}

// consulted reports whether a check at now asks the set: some entry was
// dropped by a sweep later than now.
func (d *droppedSet) consulted(now time.Time) bool {
	return len(d.entries) != 0 && toMicros(now) < d.mark
}

// get returns the remembered revocation of k still in force at now, if
// the set is consulted at now.
func (d *droppedSet) get(k droppedKey, now time.Time) (*droppedEntry, bool) {
	if !d.consulted(now) {
		return nil, false
	}
	e, ok := d.entries[k]
	if !ok || !now.Before(e.exp.at) {
		return nil, false
	}
	return e, true
}

// revoked reports whether a remembered revocation covers q at now: one
// dropped although it was still in force at now. live is the subject's
// stored cutoff, if any: a cutoff is judged merged with it (the later
// cutoff, the later until), as the store merges cutoffs.
func (d *droppedSet) revoked(q authkit.RevocationQuery, now time.Time, live *cutoff) bool {
	if !d.consulted(now) {
		return false
	}
	if q.TokenID != "" {
		if _, ok := d.get(droppedKey{droppedJTI, revKey{q.Subject, q.TokenID}}, now); ok {
			return true
		}
	}
	if q.SessionID != "" {
		if _, ok := d.get(droppedKey{droppedSID, revKey{q.Subject, q.SessionID}}, now); ok {
			return true
		}
	}
	if q.Subject != "" {
		if e, ok := d.get(droppedKey{droppedCutoff, revKey{q.Subject, ""}}, now); ok {
			c := e.cutoff
			if live != nil && live.cutoff.After(c) {
				c = live.cutoff
			}
			return !q.IssuedAt.After(c)
		}
	}
	return false
}

// appendInForce appends to in the remembered revocations still in force
// at now whose key is not stored (stored ones the caller merged with
// get): what a snapshot taken after the clock stepped back must hold, as
// IsRevoked answers from them too.
func (d *droppedSet) appendInForce(in []authkit.Revocation, now time.Time, stored func(droppedKey) bool) []authkit.Revocation {
	if !d.consulted(now) {
		return in
	}
	for k, e := range d.entries {
		if !now.Before(e.exp.at) || stored(k) {
			continue
		}
		switch k.kind {
		case droppedJTI:
			in = append(in, authkit.Revocation{Kind: authkit.RevokedToken, Subject: k.key.subject, ID: k.key.id, Until: e.exp.at})
		case droppedSID:
			in = append(in, authkit.Revocation{Kind: authkit.RevokedSession, Subject: k.key.subject, ID: k.key.id, Until: e.exp.at})
		case droppedCutoff:
			in = append(in, authkit.Revocation{Kind: authkit.RevokedBefore, Subject: k.key.subject, Cutoff: e.cutoff, Until: e.exp.at})
		}
	}
	return in
}
