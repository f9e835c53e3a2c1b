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

// droppedEntry is a dropped revocation's until (and cutoff), and seq, the
// order it was dropped in (its place in the ring).
type droppedEntry struct {
	until, cutoff time.Time
	seq           uint64
}

// droppedSet remembers the last maxDropped revocations the sweeps
// dropped, so that a check whose time is before a sweep that dropped
// entries is answered as if they were still there. The sweep judges
// expiry at the latest time any call has given the store; a wall clock
// stepped forward and back made that a time the real clock had not
// reached, and the revocations dropped then verified again once the clock
// was corrected (found by review: a two-hour step and one login during
// it). The set is asked only while a check's time is before mark, so a
// store whose clock moves forward never consults it. The caller holds
// s.mu (written under the write lock, read under the read lock).
type droppedSet struct {
	entries map[droppedKey]droppedEntry
	ring    []droppedKey // the keys in the order dropped, oldest at next
	seqs    []uint64     // each ring slot's seq
	next    int
	seq     uint64
	// mark is the latest time, in Unix microseconds, at which a sweep
	// dropped a revocation.
	mark int64
}

// add remembers a revocation dropped by a sweep at at.
func (d *droppedSet) add(k droppedKey, until, cutoff, at time.Time) {
	if d.entries == nil {
		d.entries = make(map[droppedKey]droppedEntry)
		d.ring = make([]droppedKey, 0, 64)
	}
	d.seq++
	if len(d.ring) < maxDropped {
		d.ring = append(d.ring, k)
		d.seqs = append(d.seqs, d.seq)
	} else {
		// Forget the oldest, unless the same key was dropped again since
		// (its entry then belongs to the newer slot).
		old := d.ring[d.next]
		if e, ok := d.entries[old]; ok && e.seq == d.seqs[d.next] {
			delete(d.entries, old)
		}
		d.ring[d.next], d.seqs[d.next] = k, d.seq
		d.next = (d.next + 1) % maxDropped
	}
	d.entries[k] = droppedEntry{until: until, cutoff: cutoff, seq: d.seq}
	if m := toMicros(at); m > d.mark {
		d.mark = m
	}
}

// revoked reports whether a remembered revocation covers q at now: one
// dropped although it was still in force at now.
func (d *droppedSet) revoked(q authkit.RevocationQuery, now time.Time) bool {
	if len(d.entries) == 0 || toMicros(now) >= d.mark {
		return false
	}
	if q.TokenID != "" {
		if e, ok := d.entries[droppedKey{droppedJTI, revKey{q.Subject, q.TokenID}}]; ok && now.Before(e.until) {
			return true
		}
	}
	if q.SessionID != "" {
		if e, ok := d.entries[droppedKey{droppedSID, revKey{q.Subject, q.SessionID}}]; ok && now.Before(e.until) {
			return true
		}
	}
	if q.Subject != "" {
		if e, ok := d.entries[droppedKey{droppedCutoff, revKey{q.Subject, ""}}]; ok && now.Before(e.until) && !q.IssuedAt.After(e.cutoff) {
			return true
		}
	}
	return false
}

// appendInForce appends to in the remembered revocations still in force at
// now, when now is before mark, except those whose key live reports
// stored: what a snapshot taken after the clock stepped back must hold, as
// IsRevoked answers from them too.
func (d *droppedSet) appendInForce(in []authkit.Revocation, now time.Time, live func(droppedKey) bool) []authkit.Revocation {
	if len(d.entries) == 0 || toMicros(now) >= d.mark {
		return in
	}
	for k, e := range d.entries {
		if !now.Before(e.until) || live(k) {
			continue
		}
		switch k.kind {
		case droppedJTI:
			in = append(in, authkit.Revocation{Kind: authkit.RevokedToken, Subject: k.key.subject, ID: k.key.id, Until: e.until})
		case droppedSID:
			in = append(in, authkit.Revocation{Kind: authkit.RevokedSession, Subject: k.key.subject, ID: k.key.id, Until: e.until})
		case droppedCutoff:
			in = append(in, authkit.Revocation{Kind: authkit.RevokedBefore, Subject: k.key.subject, Cutoff: e.cutoff, Until: e.until})
		}
	}
	return in
}
