package revmirror

import (
	"container/heap"
	"time"

	"github.com/authkit-go/authkit"
)

// key names a revoked jti or sid together with its subject.
type key struct{ subject, id string }

// entry is one revocation in force in the mirror.
type entry struct {
	kind   authkit.RevocationKind
	k      key // for a cutoff, k.id is empty
	cutoff time.Time
	until  time.Time
	index  int // position in the expiry heap
}

// state is the mirror's copy: the three kinds of entry, and their untils
// in a min-heap so that expired entries leave in O(log n) each. It is not
// safe for concurrent use; Mirror guards it.
type state struct {
	jti map[key]*entry
	sid map[key]*entry
	cut map[string]*entry
	exp expiries
	// epoch is the latest start of the store's epoch the feed has told
	// (authkit.RevokedBeforeEpoch): every token issued at or before it is
	// dead. It takes no room per entry and never expires; hasEpoch is
	// false until the feed tells one (a store that keeps none never does).
	epoch    time.Time
	hasEpoch bool
	// peak is the most entries held since the maps were made
	// (needsCompact).
	peak int
}

// compactMin is the fewest entries a copy must have held before it is
// compacted.
const compactMin = 4096

// needsCompact reports whether s holds a quarter or less of the entries
// it once held, and held at least compactMin: Go's maps keep the room of
// their largest size, so a copy that once held a million entries kept
// their memory after they expired (found by review: 12.9 MB for 55,500
// entries, 4.1 MB once all had expired).
func (s *state) needsCompact() bool { return s.peak >= compactMin && s.len() <= s.peak/4 }

// compacted returns a copy of s in maps and a heap sized for what it
// holds now, with entries of its own (in one allocation): s may go on
// changing while the copy waits to replace it, and a shared entry whose
// until a write moved would be moved in s's heap only, leaving the copy's
// out of order (found by review: its sweep then stopped at that entry,
// and a later write's heap.Fix panicked on an index from the other heap).
// It only reads s.
func (s *state) compacted() *state {
	c := &state{
		jti:      make(map[key]*entry, len(s.jti)),
		sid:      make(map[key]*entry, len(s.sid)),
		cut:      make(map[string]*entry, len(s.cut)),
		exp:      make(expiries, len(s.exp)),
		epoch:    s.epoch,
		hasEpoch: s.hasEpoch,
		peak:     s.len(),
	}
	slab := make([]entry, len(s.exp))
	for i, e := range s.exp { // the same order: a heap still
		ne := &slab[i]
		*ne = *e
		ne.index = i
		c.exp[i] = ne
		c.put(ne)
	}
	return c
}

// put files e in the map of its kind.
func (s *state) put(e *entry) {
	switch e.kind {
	case authkit.RevokedToken:
		s.jti[e.k] = e
	case authkit.RevokedSession:
		s.sid[e.k] = e
	case authkit.RevokedBefore:
		s.cut[e.k.subject] = e
	}
}

func newState() *state {
	return &state{jti: map[key]*entry{}, sid: map[key]*entry{}, cut: map[string]*entry{}}
}

func (s *state) len() int { return len(s.jti) + len(s.sid) + len(s.cut) }

// known reports whether k is a kind the mirror can apply.
func known(k authkit.RevocationKind) bool {
	return k == authkit.RevokedToken || k == authkit.RevokedSession || k == authkit.RevokedBefore || k == authkit.RevokedBeforeEpoch
}

// apply merges r by the RevocationStore rules (the later until, the later
// cutoff). A change whose until is at or before now, and that no entry
// holds already, cannot make anything dead any more and is left out.
// r.Kind must be known.
func (s *state) apply(r authkit.Revocation, now time.Time) {
	if r.Kind == authkit.RevokedBeforeEpoch {
		// Its Until means nothing: the epoch counts while it lasts, and
		// only a later one replaces it.
		if !s.hasEpoch || r.Cutoff.After(s.epoch) {
			s.epoch, s.hasEpoch = r.Cutoff, true
		}
		return
	}
	var e *entry
	switch r.Kind {
	case authkit.RevokedToken:
		e = s.jti[key{r.Subject, r.ID}]
	case authkit.RevokedSession:
		e = s.sid[key{r.Subject, r.ID}]
	case authkit.RevokedBefore:
		e = s.cut[r.Subject]
	default:
		return
	}
	if e == nil && !now.Before(r.Until) {
		return
	}
	if e != nil {
		// Merged even when r's own until has passed: the store keeps the
		// later cutoff with the later until, and so does the copy (found
		// by review: a later cutoff with a past until was dropped, and
		// tokens issued between the two cutoffs passed).
		if r.Cutoff.After(e.cutoff) {
			e.cutoff = r.Cutoff
		}
		if r.Until.After(e.until) {
			e.until = r.Until
			heap.Fix(&s.exp, e.index)
		}
		return
	}
	e = &entry{kind: r.Kind, k: key{r.Subject, r.ID}, until: r.Until}
	if r.Kind == authkit.RevokedBefore {
		e.k.id = ""
		e.cutoff = r.Cutoff
	}
	s.put(e)
	heap.Push(&s.exp, e)
	s.peak = max(s.peak, len(s.exp))
}

// carryInto applies every entry of s in force at now, and its epoch, to
// into: a new copy keeps what the old one held (nothing is ever
// un-revoked but by expiry), even when the snapshot it was built from
// lacks it.
func (s *state) carryInto(into *state, now time.Time) {
	for _, e := range s.exp {
		into.apply(authkit.Revocation{Kind: e.kind, Subject: e.k.subject, ID: e.k.id, Cutoff: e.cutoff, Until: e.until}, now)
	}
	if s.hasEpoch {
		into.apply(authkit.Revocation{Kind: authkit.RevokedBeforeEpoch, Cutoff: s.epoch}, now)
	}
}

// dead answers IsRevoked for q at now, with the rules of the
// RevocationStore contract. It does not allocate.
func (s *state) dead(q authkit.RevocationQuery, now time.Time) bool {
	if q.TokenID != "" {
		if e := s.jti[key{q.Subject, q.TokenID}]; e != nil && now.Before(e.until) {
			return true
		}
	}
	if q.SessionID != "" {
		if e := s.sid[key{q.Subject, q.SessionID}]; e != nil && now.Before(e.until) {
			return true
		}
	}
	if e := s.cut[q.Subject]; e != nil && now.Before(e.until) && !q.IssuedAt.After(e.cutoff) {
		return true
	}
	return false
}

// lost reports whether q was issued at or before the start of the store's
// epoch (the store lost data after q was issued), and that start.
func (s *state) lost(q authkit.RevocationQuery) (time.Time, bool) {
	if s.hasEpoch && !q.IssuedAt.After(s.epoch) {
		return s.epoch, true
	}
	return time.Time{}, false
}

// sweep removes up to budget entries whose until is at or before now and
// reports how many it removed.
func (s *state) sweep(now time.Time, budget int) int {
	n := 0
	for ; n < budget && len(s.exp) > 0 && !now.Before(s.exp[0].until); n++ {
		e := heap.Pop(&s.exp).(*entry)
		switch e.kind {
		case authkit.RevokedToken:
			delete(s.jti, e.k)
		case authkit.RevokedSession:
			delete(s.sid, e.k)
		case authkit.RevokedBefore:
			delete(s.cut, e.k.subject)
		}
	}
	return n
}

// expiries is a container/heap of entries by until.
type expiries []*entry

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiries) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *expiries) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiries) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
