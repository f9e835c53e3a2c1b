package memory

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

// The refresh half of the Store — sessions and their refresh tokens — is
// laid out to cost no more memory than the data itself (see
// docs/backends/memory.md for the figures):
//
//   - Sessions and tokens are fixed-size records in paged arrays, found by
//     a uint32 reference; freed slots are reused.
//   - A session's strings (ID, subject, client, user agent, IP, name,
//     scopes, audience, claims) are one allocation, read back as
//     substrings of it.
//   - Times are int64 microseconds since the Unix epoch: the precision
//     the store contract asks for, in a third of a time.Time.
//   - Three [index] tables find a token by hash, a session by ID and a
//     subject's newest session; a subject's sessions are a doubly linked
//     list through the session records, a session's tokens a list oldest
//     first.
//   - A rotated token stays as the token record it was, with its sealed
//     successor, until its expiry: reuse detection needs no more.
//   - One heap of (expiry, reference) pairs orders every session and
//     rotated token by when it becomes garbage; each record knows its place
//     in it. A session's current token has no entry of its own: the
//     session's entry stands for both, at the earlier of their times.

// none is the null reference.
const none = ^uint32(0)

// maxRef bounds references: the deadline heap tells sessions from tokens
// by the top bit.
const maxRef = 1<<31 - 1

// sessionBit marks a session's reference in the deadline heap.
const sessionBit = 1 << 31

const (
	pageBits = 8
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

// pool is a paged array of T with a free list. Pages never move, so a *T
// stays valid until its slot is released.
type pool[T any] struct {
	pages []*[pageSize]T
	free  []uint32
	next  uint32 // slots handed out from the pages so far
	live  int
}

func (p *pool[T]) at(i uint32) *T { return &p.pages[i>>pageBits][i&pageMask] }

// alloc returns a zeroed slot, or false when the pool holds maxRef slots.
func (p *pool[T]) alloc() (uint32, bool) {
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		p.live++
		return i, true
	}
	if p.next >= maxRef {
		return 0, false
	}
	if p.next&pageMask == 0 {
		p.pages = append(p.pages, new([pageSize]T))
	}
	i := p.next
	p.next++
	p.live++
	return i, true
}

// release zeroes slot i (dropping what it references) and frees it.
func (p *pool[T]) release(i uint32) {
	var zero T
	*p.at(i) = zero
	p.free = append(p.free, i)
	p.live--
}

// ---- times ----

var (
	minMicros = time.UnixMicro(math.MinInt64)
	maxMicros = time.UnixMicro(math.MaxInt64)
)

// zeroMicros is the zero time.Time in microseconds; fromMicros turns it
// back into a time whose IsZero is true.
var zeroMicros = time.Time{}.UnixMicro()

// toMicros returns t in whole microseconds since the Unix epoch, rounded
// down (so an expiry kept this way comes at most a microsecond early, never
// late) and clamped to what an int64 holds (±292,000 years).
func toMicros(t time.Time) int64 {
	switch {
	case t.Before(minMicros):
		return math.MinInt64
	case t.After(maxMicros):
		return math.MaxInt64
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// revokedMicros is toMicros for a revocation time: a time that is not
// zero never becomes zeroMicros, the mark of a session that is live.
func revokedMicros(t time.Time) int64 {
	us := toMicros(t)
	if us == zeroMicros && !t.IsZero() {
		us++
	}
	return us
}

// ---- sessions ----

// session is one refresh family.
type session struct {
	// blob is the ID, then the subject, then the other strings and lists,
	// each prefixed by its length as a uvarint (see encodeSession).
	blob    string
	idLen   uint32
	subjLen uint32
	// Microseconds since the Unix epoch; revoked is zeroMicros while the
	// session is live.
	created, lastUsed, expires, idle, revoked int64
	// first and last are the session's tokens, oldest first, linked by
	// token.next.
	first, last uint32
	// prev and next link the sessions of one subject, newest first.
	prev, next uint32
	// heap is the session's position in the deadline heap.
	heap  uint32
	flags uint8
}

// Session flags: which of the optional slices were non-nil, so that they
// come back as they went in, and whether the session's heap entry stands
// for its last token too.
const (
	hasScopes uint8 = 1 << iota
	hasAudience
	hasClaims
	coversLast
)

func (ss *session) id() string      { return ss.blob[:ss.idLen] }
func (ss *session) subject() string { return ss.blob[ss.idLen : ss.idLen+ss.subjLen] }

// garbageAt is when the session becomes garbage whatever else happens.
func (ss *session) garbageAt() int64 { return min(ss.expires, ss.idle) }

func (ss *session) isRevoked() bool { return ss.revoked != zeroMicros }

// encodeSession packs in's strings into one string: ID, subject, then
// client ID, user agent, IP, name, scopes, audience and claims, each
// string prefixed by its length and each list by its count, as uvarints.
func encodeSession(in authkit.Session) (blob string, flags uint8) {
	size := len(in.ID) + len(in.Subject)
	for _, s := range [...]string{in.ClientID, in.UserAgent, in.IP, in.Name} {
		size += uvarintLen(len(s)) + len(s)
	}
	for _, l := range [...][]string{in.Scopes, in.Audience} {
		size += uvarintLen(len(l))
		for _, s := range l {
			size += uvarintLen(len(s)) + len(s)
		}
	}
	size += uvarintLen(len(in.Claims)) + len(in.Claims)

	var b strings.Builder // one allocation of exactly size bytes, kept as the string
	b.Grow(size)
	b.WriteString(in.ID)
	b.WriteString(in.Subject)
	for _, s := range [...]string{in.ClientID, in.UserAgent, in.IP, in.Name} {
		writeString(&b, s)
	}
	for _, l := range [...][]string{in.Scopes, in.Audience} {
		writeUvarint(&b, len(l))
		for _, s := range l {
			writeString(&b, s)
		}
	}
	writeUvarint(&b, len(in.Claims))
	b.Write(in.Claims)
	if in.Scopes != nil {
		flags |= hasScopes
	}
	if in.Audience != nil {
		flags |= hasAudience
	}
	if in.Claims != nil {
		flags |= hasClaims
	}
	return b.String(), flags
}

func writeUvarint(b *strings.Builder, n int) {
	var buf [binary.MaxVarintLen64]byte
	b.Write(buf[:binary.PutUvarint(buf[:], uint64(n))])
}

func writeString(b *strings.Builder, s string) {
	writeUvarint(b, len(s))
	b.WriteString(s)
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// blobReader reads back what encodeSession wrote. The blob is the store's
// own, so it is well-formed; a reader past its end yields empty values
// rather than panicking.
type blobReader struct{ s string }

func (r *blobReader) count() int {
	var v uint64
	var shift uint
	for i := 0; i < len(r.s); i++ {
		c := r.s[i]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			r.s = r.s[i+1:]
			return int(min(v, uint64(len(r.s))))
		}
		shift += 7
	}
	r.s = ""
	return 0
}

func (r *blobReader) str() string {
	n := r.count()
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *blobReader) list(keep bool) []string {
	n := r.count()
	if n == 0 {
		if keep {
			return []string{}
		}
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

// ---- tokens ----

// token is one refresh token: current, or rotated and kept until its
// expiry so that its reuse is recognised.
type token struct {
	hash authkit.TokenHash
	// successor is the sealed successor a rotation stored.
	successor string
	// Microseconds since the Unix epoch; usedAt is zeroMicros unless set.
	issued, expires, usedAt int64
	// sess is the token's session; next the session's next newer token.
	sess, next uint32
	// heap is the token's position in the deadline heap, or none for the
	// current token, whose session's entry stands for it.
	heap  uint32
	flags uint8
}

// Token flags.
const (
	tokUsed uint8 = 1 << iota
	tokHasSuccessor
)

func (t *token) used() bool { return t.flags&tokUsed != 0 }

// successorBytes returns a copy of the stored successor, nil if none was
// given.
func (t *token) successorBytes() []byte {
	if t.flags&tokHasSuccessor == 0 {
		return nil
	}
	out := make([]byte, len(t.successor))
	copy(out, t.successor)
	return out
}

func (t *token) setSuccessor(b []byte) {
	t.successor = string(b)
	if b != nil {
		t.flags |= tokHasSuccessor
	} else {
		t.flags &^= tokHasSuccessor
	}
}

// ---- the refresh half ----

// families holds the sessions and refresh tokens of a Store. The Store's
// lock guards it.
type families struct {
	seed maphash.Seed
	sess pool[session]
	toks pool[token]

	byHash    index // token hash → token
	byID      index // session ID → session
	bySubject index // subject → its newest session

	// revoked holds the revoked sessions: garbage for DeleteExpiredSessions
	// now, though their expiry may be far away.
	revoked map[uint32]struct{}

	// The deadline heap: a 4-ary min-heap of (at[i], who[i]), who a token
	// reference or a session reference with sessionBit set.
	at  []int64
	who []uint32
}

func newFamilies() families {
	return families{seed: maphash.MakeSeed(), revoked: map[uint32]struct{}{}}
}

func (f *families) hashToken(h *authkit.TokenHash) uint64 { return maphash.Bytes(f.seed, h[:]) }
func (f *families) hashString(s string) uint64            { return maphash.String(f.seed, s) }

func (f *families) findToken(h *authkit.TokenHash) (uint32, bool) {
	return f.byHash.find(f.hashToken(h), func(ref uint32) bool { return f.toks.at(ref).hash == *h })
}

func (f *families) findSession(id string) (uint32, bool) {
	return f.byID.find(f.hashString(id), func(ref uint32) bool { return f.sess.at(ref).id() == id })
}

// subjectHead returns the newest session of subject.
func (f *families) subjectHead(subject string) (uint32, bool) {
	return f.bySubject.find(f.hashString(subject), func(ref uint32) bool { return f.sess.at(ref).subject() == subject })
}

// sessionOf returns the stored session as an authkit.Session, sharing
// nothing mutable with the store.
func (f *families) sessionOf(ss *session) authkit.Session {
	r := blobReader{ss.blob[ss.idLen+ss.subjLen:]}
	out := authkit.Session{
		ID:            ss.id(),
		Subject:       ss.subject(),
		ClientID:      r.str(),
		UserAgent:     r.str(),
		IP:            r.str(),
		Name:          r.str(),
		CreatedAt:     fromMicros(ss.created),
		LastUsedAt:    fromMicros(ss.lastUsed),
		ExpiresAt:     fromMicros(ss.expires),
		IdleExpiresAt: fromMicros(ss.idle),
		RevokedAt:     fromMicros(ss.revoked),
	}
	out.Scopes = r.list(ss.flags&hasScopes != 0)
	out.Audience = r.list(ss.flags&hasAudience != 0)
	if claims := r.str(); claims != "" || ss.flags&hasClaims != 0 {
		out.Claims = make([]byte, len(claims))
		copy(out.Claims, claims)
	}
	return out
}

// recordOf returns the stored token as an authkit.RefreshRecord.
func (f *families) recordOf(t *token) authkit.RefreshRecord {
	ss := f.sess.at(t.sess)
	return authkit.RefreshRecord{
		Hash:      t.hash,
		SessionID: ss.id(),
		Subject:   ss.subject(),
		IssuedAt:  fromMicros(t.issued),
		ExpiresAt: fromMicros(t.expires),
		UsedAt:    fromMicros(t.usedAt),
		Successor: t.successorBytes(),
	}
}

// addSession stores in as a new session and returns its reference. The
// caller has checked that its ID is free.
func (f *families) addSession(in authkit.Session) (uint32, bool) {
	if uint64(len(in.ID)) > math.MaxUint32 || uint64(len(in.Subject)) > math.MaxUint32 {
		return 0, false
	}
	ref, ok := f.sess.alloc()
	if !ok {
		return 0, false
	}
	ss := f.sess.at(ref)
	ss.blob, ss.flags = encodeSession(in)
	ss.idLen, ss.subjLen = uint32(len(in.ID)), uint32(len(in.Subject))
	ss.created = toMicros(in.CreatedAt)
	ss.lastUsed = toMicros(in.LastUsedAt)
	ss.expires = toMicros(in.ExpiresAt)
	ss.idle = toMicros(in.IdleExpiresAt)
	ss.revoked = revokedMicros(in.RevokedAt)
	ss.first, ss.last = none, none
	f.byID.insert(f.hashString(in.ID), ref)
	// The new session heads its subject's list.
	ss.prev, ss.next = none, none
	hs := f.hashString(in.Subject)
	if head, ok := f.subjectHead(in.Subject); ok {
		ss.next = head
		f.sess.at(head).prev = ref
		f.bySubject.replace(hs, head, ref)
	} else {
		f.bySubject.insert(hs, ref)
	}
	f.push(ref|sessionBit, ss.garbageAt())
	if ss.isRevoked() {
		f.revoked[ref] = struct{}{}
	}
	return ref, true
}

// addToken stores a token of session sref, newest of its session, and
// returns its reference. The caller has checked that its hash is free. A
// current token (unused) is covered by its session's heap entry; the
// token it succeeds, if covered, gets an entry of its own.
func (f *families) addToken(sref uint32, h authkit.TokenHash, issued, expires int64, current bool) (uint32, bool) {
	ref, ok := f.toks.alloc()
	if !ok {
		return 0, false
	}
	t := f.toks.at(ref)
	t.hash = h
	t.issued, t.expires, t.usedAt = issued, expires, zeroMicros
	t.sess, t.next = sref, none
	ss := f.sess.at(sref)
	f.uncover(ss)
	if ss.last == none {
		ss.first = ref
	} else {
		f.toks.at(ss.last).next = ref
	}
	ss.last = ref
	f.byHash.insert(f.hashToken(&h), ref)
	if current {
		t.heap = none
		ss.flags |= coversLast
		f.fix(ss.heap, f.deadline(ss))
	} else {
		f.push(ref, expires)
	}
	return ref, true
}

// deadline is when session ss or its current token becomes garbage,
// whichever comes first: the time of its heap entry.
func (f *families) deadline(ss *session) int64 {
	at := ss.garbageAt()
	if ss.flags&coversLast != 0 {
		at = min(at, f.toks.at(ss.last).expires)
	}
	return at
}

// uncover gives the token ss's heap entry stands for, if any, an entry of
// its own.
func (f *families) uncover(ss *session) {
	if ss.flags&coversLast == 0 {
		return
	}
	ss.flags &^= coversLast
	f.push(ss.last, f.toks.at(ss.last).expires)
	f.fix(ss.heap, ss.garbageAt())
}

// dropToken deletes token ref.
func (f *families) dropToken(ref uint32) {
	t := f.toks.at(ref)
	f.byHash.remove(f.hashToken(&t.hash), ref)
	ss := f.sess.at(t.sess)
	// Tokens usually go oldest first, so this is usually the head.
	if ss.first == ref {
		ss.first = t.next
		if ss.last == ref {
			ss.last = none
		}
	} else {
		prev := ss.first
		for prev != none {
			p := f.toks.at(prev)
			if p.next == ref {
				p.next = t.next
				if ss.last == ref {
					ss.last = prev
				}
				break
			}
			prev = p.next
		}
	}
	if t.heap == none {
		ss.flags &^= coversLast
		f.fix(ss.heap, ss.garbageAt())
	} else {
		f.remove(t.heap)
	}
	f.toks.release(ref)
}

// dropSession deletes up to budget of session ref's tokens and then, if
// budget is left, the session itself; it returns how many records of
// either kind it deleted.
func (f *families) dropSession(ref uint32, budget int) int {
	n := 0
	ss := f.sess.at(ref)
	for ss.first != none {
		if n >= budget {
			return n
		}
		f.dropToken(ss.first)
		n++
	}
	if n >= budget {
		return n
	}
	f.byID.remove(f.hashString(ss.id()), ref)
	hs := f.hashString(ss.subject())
	switch {
	case ss.prev != none:
		f.sess.at(ss.prev).next = ss.next
		if ss.next != none {
			f.sess.at(ss.next).prev = ss.prev
		}
	case ss.next != none: // the head, and not alone
		f.sess.at(ss.next).prev = none
		f.bySubject.replace(hs, ref, ss.next)
	default:
		f.bySubject.remove(hs, ref)
	}
	delete(f.revoked, ref)
	f.remove(ss.heap)
	f.sess.release(ref)
	return n + 1
}

// collect deletes up to budget records of either kind that are garbage
// by time at now (microseconds), earliest first, and returns how many it
// deleted.
func (f *families) collect(now int64, budget int) int {
	n := 0
	for n < budget && len(f.at) > 0 && f.at[0] <= now {
		who := f.who[0]
		if who&sessionBit == 0 {
			f.dropToken(who)
			n++
			continue
		}
		ref := who &^ sessionBit
		if ss := f.sess.at(ref); ss.garbageAt() > now {
			// Only the current token, which the entry stands for, has
			// expired; dropping it moves the entry to the session's time.
			if ss.flags&coversLast == 0 { // cannot happen; never loop
				f.fix(ss.heap, ss.garbageAt())
				continue
			}
			f.dropToken(ss.last)
			n++
			continue
		}
		n += f.dropSession(ref, budget-n)
	}
	return n
}

// collectRevoked deletes up to budget records of revoked sessions.
func (f *families) collectRevoked(budget int) int {
	n := 0
	for ref := range f.revoked {
		if n >= budget {
			break
		}
		n += f.dropSession(ref, budget-n)
	}
	return n
}

// ---- the deadline heap ----

func (f *families) setPos(i int) {
	if who := f.who[i]; who&sessionBit != 0 {
		f.sess.at(who &^ sessionBit).heap = uint32(i)
	} else {
		f.toks.at(who).heap = uint32(i)
	}
}

func (f *families) push(who uint32, at int64) {
	f.at = append(f.at, at)
	f.who = append(f.who, who)
	i := len(f.at) - 1
	f.setPos(i)
	f.up(i)
}

// remove takes the entry at position i out of the heap.
func (f *families) remove(i uint32) {
	last := len(f.at) - 1
	j := int(i)
	if j != last {
		f.at[j], f.who[j] = f.at[last], f.who[last]
		f.setPos(j)
	}
	f.at, f.who = f.at[:last], f.who[:last]
	if j != last && !f.down(j) {
		f.up(j)
	}
}

// fix sets the time of the entry at position i and restores the order.
func (f *families) fix(i uint32, at int64) {
	f.at[i] = at
	if !f.down(int(i)) {
		f.up(int(i))
	}
}

func (f *families) swap(i, j int) {
	f.at[i], f.at[j] = f.at[j], f.at[i]
	f.who[i], f.who[j] = f.who[j], f.who[i]
	f.setPos(i)
	f.setPos(j)
}

// The heap is 4-ary: the children of i are 4i+1 … 4i+4. Half the depth of
// a binary heap means half the records whose position a sift rewrites,
// and the four children's times share a cache line.

func (f *families) up(j int) {
	for j > 0 {
		i := (j - 1) / 4
		if f.at[i] <= f.at[j] {
			return
		}
		f.swap(i, j)
		j = i
	}
}

// down moves the entry at i towards the leaves and reports whether it
// moved.
func (f *families) down(i0 int) bool {
	i, n := i0, len(f.at)
	for {
		c := 4*i + 1
		if c >= n || c < 0 {
			break
		}
		j := c
		for k := c + 1; k < min(c+4, n); k++ {
			if f.at[k] < f.at[j] {
				j = k
			}
		}
		if f.at[j] >= f.at[i] {
			break
		}
		f.swap(i, j)
		i = j
	}
	return i > i0
}
