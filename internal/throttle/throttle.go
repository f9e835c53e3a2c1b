// Package throttle is the policy over an [authkit.ThrottleStore]: which
// counters a password attempt is charged to, and how long a counter with
// many failures makes the next attempt wait. The HTTP layer calls it
// wherever a password is checked; the store only counts.
//
// # Policy
//
// An attempt of user from client address addr is charged to three keys:
//
//   - the pair (user, addr): one guesser at one account;
//   - the address addr: one guesser spraying many accounts (an IPv6
//     address counts as its /64, which one host usually holds whole);
//   - the user: many addresses guessing one account (a botnet).
//
// Each key has a [Rule]: Free failures in a fixed Window cost nothing;
// every failure beyond them makes the key wait Base, doubling with each
// further failure, up to Max, counted from the key's last failure and never
// past its window's end. An attempt is refused while any of its keys
// waits. Refused attempts are not checked and not counted. A wrong
// password counts on all three keys; the right one clears none of them:
// not the address (an attacker logging in to an account of their own
// would wipe the count of the address they guess from), not the user (the
// owner logging in does not hand a botnet a new allowance), and not the
// pair, whose user name is case-folded by the caller (Attempt.User): an
// account whose name folds alike ("Alice" beside "alice") is another
// account where names are case-sensitive, and its owner logging in would
// wipe the pair's count of guesses at the victim (found by review).
// Policy.ClearPair lets the right credential clear the pair where the
// identity is exact (client authentication).
//
// The right password also makes the pair known for Policy.Known (a fourth
// key, read with the others in the one round trip), for the exact name it
// was given for (Attempt.Name), never for the names that fold alike: the
// user's wait does not hold a known pair, so a botnet that keeps the
// ceiling busy does not lock the owner out at an address the owner logged
// in from. A clean address alone does not get through (a botnet's
// addresses are each clean at their first guess), and the pair and
// address rules hold a known pair as any other.
//
// [DefaultPolicy] keeps the right password working from an address that
// has not been guessing while another address fails 30 times a minute
// (that address waits after 5 failures at the pair, 30 at the address);
// the user ceiling is 100 failures an hour, from all addresses together,
// after which the account waits 1 second, doubling per failure, at most 1
// minute: a botnet gets about 100 + 60 guesses an hour at one account; the
// owner, at an address known from a login in the last 30 days, does not
// wait for it, and elsewhere waits with everyone else.
//
// # Bursts
//
// Check reads and Failure counts: attempts that run in parallel all pass
// Check before any of their failures is recorded. For the pair and the
// address the wait grows with every failure of a burst, so a burst costs
// the attacker more afterwards than it gains; the user's wait is capped
// (a minute), so there the HTTP layer lets one attempt at a time be
// checked once Decision.UserHeld says the ceiling is engaged, and reads
// again when its turn comes (a review on 2026-12-03 had every one of a
// 100-wide burst pass the ceiling each minute). The HTTP layer also
// bounds the password checks in flight per pair within a process. The
// attempts in flight count toward the address's and the user's Free
// (CheckPending, Held): this process's (InFlight), and, over a store
// shared by several processes, those recorded by Started on all of them.
//
// # Errors
//
// A store that fails makes [Limiter.Check] return an error matching
// authkit.ErrStoreUnavailable (or the ctx error): the caller refuses the
// attempt (fail closed).
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// Rule is how one kind of key is throttled.
type Rule struct {
	// Free is how many failures in a window cost nothing. >= 0.
	Free int64
	// Window is how long a key counts failures, from its first. > 0.
	Window time.Duration
	// Base is the wait after the first failure beyond Free; each further
	// failure doubles it. > 0.
	Base time.Duration
	// Max caps the wait. >= Base.
	Max time.Duration
}

// Wait returns how long a key in state st keeps an attempt waiting at
// now: zero when it has at most Free failures or its window has ended.
func (r Rule) Wait(st authkit.ThrottleState, now time.Time) time.Duration {
	if !st.Active(now) || st.Failures <= r.Free {
		return 0
	}
	d := r.Max
	if k := st.Failures - r.Free - 1; k < 62 {
		if b := float64(r.Base) * math.Exp2(float64(k)); b < float64(r.Max) {
			d = time.Duration(b)
		}
	}
	until := st.Last.Add(d)
	if until.After(st.ExpiresAt) {
		until = st.ExpiresAt
	}
	if w := until.Sub(now); w > 0 {
		return w
	}
	return 0
}

func (r Rule) valid() bool {
	return r.Free >= 0 && r.Window > 0 && r.Base > 0 && r.Max >= r.Base
}

// Policy is the rule of each key kind.
type Policy struct {
	// Pair throttles one address guessing at one user.
	Pair Rule
	// Address throttles one address, whatever the user.
	Address Rule
	// User throttles one user, whatever the address: the ceiling.
	User Rule
	// NoUser turns the ceiling off: the user key is neither read nor
	// written, and User is ignored. For credentials that cannot be
	// guessed (client authentication), where a ceiling would only let
	// failures from elsewhere lock the owner out.
	NoUser bool
	// Known is how long a (user, address) pair the right password came
	// from stays known: a known pair is not held by the User ceiling (the
	// Pair and Address rules still apply), so that an attacker who keeps
	// the ceiling busy from many addresses does not lock the owner out at
	// an address the owner has logged in from. Zero: no pair is known.
	// Ignored with NoUser.
	Known time.Duration
	// ClearPair makes the right credential clear the pair's failures. Only
	// for identities compared exactly (client IDs): with case-folded user
	// names the pair counts the guesses at every account whose name folds
	// alike, and one of them logging in would clear the others' count.
	ClearPair bool
}

// DefaultPolicy returns the policy described in the package doc.
func DefaultPolicy() Policy {
	return Policy{
		Pair:    Rule{Free: 5, Window: time.Hour, Base: time.Second, Max: 15 * time.Minute},
		Address: Rule{Free: 30, Window: time.Hour, Base: time.Second, Max: 15 * time.Minute},
		User:    Rule{Free: 100, Window: time.Hour, Base: time.Second, Max: time.Minute},
		Known:   30 * 24 * time.Hour,
	}
}

// Kind names the key that refused an attempt.
type Kind string

// The key kinds.
const (
	KindPair    Kind = "pair"
	KindAddress Kind = "address"
	KindUser    Kind = "user"
)

// Decision is the outcome of [Limiter.Check].
type Decision struct {
	// Allowed reports whether the password may be checked.
	Allowed bool
	// RetryAfter is, for a refused attempt, how long until it may be
	// retried (HTTP Retry-After, rounded up to whole seconds by the
	// caller); zero when allowed.
	RetryAfter time.Duration
	// By is the key kind that waits longest, for a refused attempt (for
	// events and logs); empty when allowed.
	By Kind
	// PairFailures is how many failures the (user, address) pair had in
	// its window at the check.
	PairFailures int64
	// Known reports whether the pair was known (Policy.Known) at the check.
	Known bool
	// UserHeld reports, for an allowed attempt, that the user's ceiling is
	// engaged: its failures have passed the rule's Free and the pair is
	// not known. Attempts then come about one per wait: the caller lets
	// only one of them be checked at a time, so that a burst from many
	// addresses cannot pass the read together when the wait ends.
	UserHeld bool
	// AddrHeld is UserHeld for the address rule: the address's failures,
	// with the attempts from it being checked (CheckPending), have reached
	// its Free. The caller lets one attempt from the address be checked at
	// a time and reads the counters again when its turn comes.
	AddrHeld bool
	// AddrFailures and UserFailures are the failures of the address and
	// of the user in their windows at the check (for Held).
	AddrFailures, UserFailures int64
}

// NeedsSuccess reports whether a right password after d has something to
// record: failures of the pair to clear, or a pair to make known. When
// not, the caller may skip Success (store writes).
func (l *Limiter) NeedsSuccess(d Decision) bool {
	return l.p.ClearPair && d.PairFailures > 0 || l.knows() && !d.Known
}

// knows reports whether the policy keeps known pairs.
func (l *Limiter) knows() bool { return l.p.Known > 0 && !l.p.NoUser }

// Limiter applies a Policy over a ThrottleStore. It is safe for concurrent
// use and holds no state of its own.
type Limiter struct {
	store authkit.ThrottleStore
	p     Policy
}

// New returns a Limiter that counts in store under p.
func New(store authkit.ThrottleStore, p Policy) (*Limiter, error) {
	if store == nil {
		return nil, fmt.Errorf("throttle: New: nil store: %w", authkit.ErrInvalidConfig)
	}
	for _, r := range []struct {
		name string
		r    Rule
	}{{"Pair", p.Pair}, {"Address", p.Address}, {"User", p.User}} {
		if r.name == "User" && p.NoUser {
			continue
		}
		if !r.r.valid() {
			return nil, fmt.Errorf("throttle: New: %s rule %+v: need Free >= 0, Window > 0, Base > 0 and Max >= Base: %w", r.name, r.r, authkit.ErrInvalidConfig)
		}
	}
	if p.Known < 0 {
		return nil, fmt.Errorf("throttle: New: Known %v is negative: %w", p.Known, authkit.ErrInvalidConfig)
	}
	return &Limiter{store: store, p: p}, nil
}

// Attempt identifies a password attempt: the user name as presented, and
// the client address (as the HTTP layer determined it, trusted proxies
// applied). An invalid Addr (unknown) is a key of its own, shared by
// every such attempt.
type Attempt struct {
	// User is the identity counted: for passwords the case-folded user
	// name, so that the names that fold alike share the pair and the
	// user's counters.
	User string
	// Name is the name as given, when User is folded from it: the known
	// pair is keyed by it, so that logging in to an account whose name
	// folds alike never makes an address known for another. Empty: User.
	Name string
	Addr netip.Addr
}

// keys are the store keys of an attempt, in the order pair, address, user,
// known pair.
type keys [4]string

// Key derivation: "t1" and 22 characters of unpadded base64url of
// SHA-256(kind byte, len(user) as 8 bytes, user, the 16-byte address
// prefix and its bit length): 128 bits, fixed size, no user name or
// address in the clear, and the kind and the length prefix keep the four
// namespaces and every (user, address) split apart. The known pair's user
// is Attempt.Name, the others' Attempt.User.
func keysOf(a Attempt) keys {
	name := a.Name
	if name == "" {
		name = a.User
	}
	return keys{
		storeKey('p', nil, &a.User, a.Addr, true),
		storeKey('a', nil, nil, a.Addr, true),
		storeKey('u', nil, &a.User, a.Addr, false),
		storeKey('k', nil, &name, a.Addr, true),
	}
}

// storeKey derives one store key (the derivation keysOf describes): the
// hash of kind, then epoch's 8 bytes when given (the flight counts),
// then user with its length when given, then addr's prefix and its bit
// length when withAddr.
func storeKey(kind byte, epoch *int64, user *string, addr netip.Addr, withAddr bool) string {
	h := sha256.New()
	h.Write([]byte{kind})
	var n [8]byte
	if epoch != nil {
		binary.BigEndian.PutUint64(n[:], uint64(*epoch))
		h.Write(n[:])
	}
	if user != nil {
		binary.BigEndian.PutUint64(n[:], uint64(len(*user)))
		h.Write(n[:])
		h.Write([]byte(*user))
	}
	if withAddr {
		p, bits := prefix(addr)
		h.Write(p[:])
		h.Write([]byte{bits})
	}
	sum := h.Sum(nil)
	return "t1" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// prefix returns the address an attempt is counted under: an IPv4 address
// (or an IPv4-mapped IPv6 one) whole, an IPv6 address's /64, or the zero
// prefix for an invalid address; zones are dropped.
func prefix(a netip.Addr) ([16]byte, byte) {
	switch {
	case !a.IsValid():
		return [16]byte{}, 0
	case a.Unmap().Is4():
		return netip.AddrFrom4(a.Unmap().As4()).As16(), 32
	default:
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr().As16(), 64
	}
}

// rules returns the rules in force, in the order of keys: the user's
// last, left out under NoUser.
func (l *Limiter) rules() []Rule {
	if l.p.NoUser {
		return []Rule{l.p.Pair, l.p.Address}
	}
	return []Rule{l.p.Pair, l.p.Address, l.p.User}
}

var kinds = [3]Kind{KindPair, KindAddress, KindUser}

// Check decides, before the password is checked, whether attempt a may
// proceed at now: one store round trip, nothing counted. A store error
// returns it (the caller refuses the attempt).
func (l *Limiter) Check(ctx context.Context, a Attempt, now time.Time) (Decision, error) {
	return l.CheckPending(ctx, a, now, Pending{})
}

// Pending counts the attempts of a's address and of a's user that this
// process is checking outside a turn (InFlight), besides a.
type Pending struct{ Address, User int64 }

// CheckPending is Check counting the attempts in p toward the address
// and user rules' Free when it decides whether they are held
// (Decision.AddrHeld, UserHeld): what the counts will be if their
// passwords are wrong. They change no wait: a right password sent beside
// others is not refused, only checked in turn. Without them a burst sent
// at once read the counters before any of its failures was recorded, and
// every attempt of it was checked (found by review: 50 user names from one
// address, beyond the address rule's free attempts, each time the wait
// ended).
func (l *Limiter) CheckPending(ctx context.Context, a Attempt, now time.Time, p Pending) (Decision, error) {
	rules := l.rules()
	all := keysOf(a)
	k := all[:len(rules)]
	if l.knows() {
		k = append(k, all[3])
	}
	sts, err := l.store.ThrottleStates(ctx, now, k...)
	if err != nil {
		return Decision{}, fmt.Errorf("throttle: check: %w", err)
	}
	if len(sts) != len(k) {
		return Decision{}, fmt.Errorf("throttle: check: the store returned %d states for %d keys: %w", len(sts), len(k), authkit.ErrStoreUnavailable)
	}
	known := l.knows() && sts[len(rules)].Active(now)
	d := Decision{Allowed: true}
	for i, r := range rules {
		if kinds[i] == KindUser && known {
			continue // a known pair is not held by the ceiling
		}
		if w := r.Wait(sts[i], now); w > d.RetryAfter {
			d = Decision{RetryAfter: w, By: kinds[i]}
		}
	}
	if sts[0].Active(now) {
		d.PairFailures = sts[0].Failures
	}
	d.Known = known
	for i := range rules {
		if !sts[i].Active(now) {
			continue
		}
		switch kinds[i] {
		case KindAddress:
			d.AddrFailures = sts[i].Failures
		case KindUser:
			d.UserFailures = sts[i].Failures
		}
	}
	return l.Held(d, p), nil
}

// Held returns d, an allowed attempt's decision, held by the address rule
// (AddrHeld) when its failures and the p.Address attempts in flight beside
// it reach the rule's Free, and likewise by the user's ceiling (UserHeld;
// never for a known pair); a hold d already has is kept.
func (l *Limiter) Held(d Decision, p Pending) Decision {
	if !d.Allowed {
		return d
	}
	if d.AddrFailures+p.Address >= l.p.Address.Free {
		d.AddrHeld = true
	}
	if !l.p.NoUser && !d.Known && d.UserFailures+p.User >= l.p.User.Free {
		d.UserHeld = true
	}
	return d
}

// FlightEpoch is how long one count of attempts in flight runs
// (Started): an attempt is counted in the epoch it starts in, and read in
// that epoch and the next, so that one still in flight across a boundary
// is seen; longer than an attempt stays in flight (a turn's wait, the
// settling, the password check).
const FlightEpoch = 10 * time.Second

// flightKey is the store key counting the attempts that started (kind
// 'A' at an address, 'U' at a user) or ended ('B', 'V') in epoch e: a
// storeKey of the kind, the epoch and the address or user.
func flightKey(kind byte, a Attempt, e int64) string {
	if kind == 'A' || kind == 'B' {
		return storeKey(kind, &e, nil, a.Addr, true)
	}
	return storeKey(kind, &e, &a.User, a.Addr, false)
}

// Flight is an attempt counted as in flight by Started; End counts its
// end.
type Flight struct {
	l     *Limiter
	a     Attempt
	epoch int64
	now   time.Time
	kinds [][2]byte // the kinds whose start was counted
}

// flightKinds are the kinds an attempt is counted under: started and
// ended at its address, and (unless NoUser) at its user.
func (l *Limiter) flightKinds() [][2]byte {
	if l.p.NoUser {
		return [][2]byte{{'A', 'B'}}
	}
	return [][2]byte{{'A', 'B'}, {'U', 'V'}}
}

// Started counts, in the store, a's attempt as started at its address and
// (unless NoUser) at its user, and returns d, the attempt's decision,
// held again (Held) counting the attempts in flight there — the larger of
// local's (this process's, InFlight) and the store's: those started in
// this FlightEpoch and the one before whose ends (Flight.End) are not
// counted yet, on every process sharing the store (found by review: a
// burst split over three replicas had 300 of 300 guesses at one user
// checked, against 101 on one) — and the failures read in the same
// snapshot as those counts (an attempt that recorded its failure and its
// end between CheckPending's read and this one was counted in neither:
// found by review). Attempts that have ended do not count (the first
// version counted every attempt of the last 30 seconds, and had a NAT's
// right passwords checked one at a time); one whose process died before
// its end counts until its epoch's count is no longer read. Two writes
// and a read; End, two writes.
//
// On an error it returns d unchanged and the Flight whose End the caller
// still owes: for every start it wrote or tried to write (found by review:
// a store that failed between the writes and the read, or whose reply to a
// write was lost, left phantom attempts that held a NAT's logins).
func (l *Limiter) Started(ctx context.Context, a Attempt, now time.Time, d Decision, local Pending) (Decision, *Flight, error) {
	p, addrFailures, userFailures, f, err := l.inFlight(ctx, a, now)
	if err != nil {
		return d, f, err
	}
	d.AddrFailures = max(d.AddrFailures, addrFailures)
	d.UserFailures = max(d.UserFailures, userFailures)
	return l.Held(d, Pending{Address: max(local.Address, p.Address), User: max(local.User, p.User)}), f, nil
}

// inFlight is Started's count: the attempts in flight at a's address and
// user besides a (counted as started), and the address's and user's
// failures in the same read.
func (l *Limiter) inFlight(ctx context.Context, a Attempt, now time.Time) (p Pending, addrFailures, userFailures int64, f *Flight, err error) {
	e := now.UnixNano() / int64(FlightEpoch)
	kinds := l.flightKinds()
	started := make([]int64, len(kinds))
	var read []string
	for i, k := range kinds {
		st, err := l.store.AddFailure(ctx, flightKey(k[0], a, e), now, 3*FlightEpoch)
		// A write that failed may have been applied (a reply lost to a
		// timeout): its end is owed too (found by review: such a start,
		// never ended, held a NAT's logins for two epochs). An end for a
		// start never applied loosens the count by one for an epoch.
		if f == nil {
			f = &Flight{l: l, a: a, epoch: e, now: now}
		}
		f.kinds = append(f.kinds, k)
		if err != nil {
			return Pending{}, 0, 0, f, fmt.Errorf("throttle: started: %w", err)
		}
		started[i] = st.Failures - 1 // the others
		read = append(read, flightKey(k[1], a, e), flightKey(k[0], a, e-1), flightKey(k[1], a, e-1))
	}
	fk := keysOf(a)
	read = append(read, fk[1]) // the address's failures
	if !l.p.NoUser {
		read = append(read, fk[2]) // the user's
	}
	sts, err := l.store.ThrottleStates(ctx, now, read...)
	if err != nil {
		return Pending{}, 0, 0, f, fmt.Errorf("throttle: started: %w", err)
	}
	if len(sts) != len(read) {
		return Pending{}, 0, 0, f, fmt.Errorf("throttle: started: the store returned %d states for %d keys: %w", len(sts), len(read), authkit.ErrStoreUnavailable)
	}
	n := func(st authkit.ThrottleState) int64 {
		if st.Active(now) {
			return st.Failures
		}
		return 0
	}
	for i := range kinds {
		inFlight := max(started[i]-n(sts[3*i]), 0) + max(n(sts[3*i+1])-n(sts[3*i+2]), 0)
		if i == 0 {
			p.Address = inFlight
		} else {
			p.User = inFlight
		}
	}
	addrFailures = n(sts[3*len(kinds)])
	if !l.p.NoUser {
		userFailures = n(sts[3*len(kinds)+1])
	}
	return p, addrFailures, userFailures, f, nil
}

// End counts f's attempt as ended, once its outcome is recorded: it no
// longer counts as in flight. An error leaves it counted until its epoch's
// count is no longer read (a hold a little longer, never a refusal).
func (f *Flight) End(ctx context.Context) error {
	var errs []error
	for _, k := range f.kinds {
		if _, err := f.l.store.AddFailure(ctx, flightKey(k[1], f.a, f.epoch), f.now, 3*FlightEpoch); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("throttle: end: %w", errors.Join(errs...))
	}
	return nil
}

// InFlight keeps, in this process, the attempts being checked outside a
// turn, by address and by user (for CheckPending and Settle). The zero
// InFlight is ready to use.
type InFlight struct {
	mu      sync.Mutex
	next    uint64
	unheld  map[string]map[uint64]struct{} // key → the attempts checked outside a turn
	changed chan struct{}                  // closed and replaced whenever a set shrinks
}

// Entry is one attempt entered in an InFlight.
type Entry struct {
	f          *InFlight
	id         uint64
	addr, user string
	leave      func()
}

// Enter counts a as being checked outside a turn and returns how many
// others are, for a's address and a's user (the held attempts waiting for
// their turn are not counted: found by review, a queue of right passwords
// held every later one and filled), and a's entry. Call Leave once a's
// outcome is recorded.
func (f *InFlight) Enter(a Attempt) (Pending, *Entry) {
	k := keysOf(a)
	e := &Entry{f: f, addr: k[1], user: k[2]}
	f.mu.Lock()
	if f.unheld == nil {
		f.unheld = make(map[string]map[uint64]struct{})
	}
	f.next++
	e.id = f.next
	p := Pending{Address: int64(len(f.unheld[e.addr])), User: int64(len(f.unheld[e.user]))}
	for _, key := range []string{e.addr, e.user} {
		m := f.unheld[key]
		if m == nil {
			m = make(map[uint64]struct{})
			f.unheld[key] = m
		}
		m[e.id] = struct{}{}
	}
	f.mu.Unlock()
	e.leave = sync.OnceFunc(func() { f.remove(e.id, e.addr, e.user) })
	return p, e
}

// Leave ends e's count. Later calls do nothing.
func (e *Entry) Leave() { e.leave() }

// AddressKey is the key e's address is counted under, for a caller
// serialising the attempts from one address (Decision.AddrHeld).
func (e *Entry) AddressKey() string { return e.addr }

// keys returns e's address key (byAddr) and user key (byUser).
func (e *Entry) keys(byAddr, byUser bool) []string {
	var keys []string
	if byAddr {
		keys = append(keys, e.addr)
	}
	if byUser {
		keys = append(keys, e.user)
	}
	return keys
}

// Hold marks e as checked in turn for its address (byAddr) and its user
// (byUser), the keys whose turn it takes: Settle does not wait for it
// there, and Enter does not count it there. On a key it takes no turn for
// it is checked like any other (found by review: an attempt held by its
// user only, marked held for its address too, was waited for by nobody
// there).
func (e *Entry) Hold(byAddr, byUser bool) {
	e.f.remove(e.id, e.keys(byAddr, byUser)...)
}

func (f *InFlight) remove(id uint64, keys ...string) {
	f.mu.Lock()
	for _, key := range keys {
		if m := f.unheld[key]; m != nil {
			delete(m, id)
			if len(m) == 0 {
				delete(f.unheld, key)
			}
		}
	}
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
	f.mu.Unlock()
}

// Settle waits, at most max or until ctx ends, until the attempts that
// were being checked outside a turn at e's address (byAddr) or user
// (byUser) — the keys e was held by — when it began have been checked or
// taken a turn: their failures, if any, are then written, and e's read of
// the counters sees them (found by review: slow attempts still being
// checked let as many held ones through). Attempts that come later are
// not waited for (found by review: a steady stream kept a right password
// waiting the whole bound).
func (e *Entry) Settle(ctx context.Context, byAddr, byUser bool, max time.Duration) {
	f, keys := e.f, e.keys(byAddr, byUser)
	f.mu.Lock()
	before := map[uint64]struct{}{}
	for _, key := range keys {
		for id := range f.unheld[key] {
			if id != e.id {
				before[id] = struct{}{}
			}
		}
	}
	f.mu.Unlock()
	if len(before) == 0 {
		return
	}
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		f.mu.Lock()
		left := false
		for _, key := range keys {
			for id := range before {
				if _, ok := f.unheld[key][id]; ok {
					left = true
				}
			}
		}
		if !left {
			f.mu.Unlock()
			return
		}
		if f.changed == nil {
			f.changed = make(chan struct{})
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

// Failure records a wrong password for a at now on the pair, the address
// and (unless NoUser) the user. It returns the first store error, having
// tried every key.
func (l *Limiter) Failure(ctx context.Context, a Attempt, now time.Time) error {
	k := keysOf(a)
	var errs []error
	for i, r := range l.rules() {
		if _, err := l.store.AddFailure(ctx, k[i], now, r.Window); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("throttle: failure: %w", errors.Join(errs...))
	}
	return nil
}

// Success records the right password for a at now, after Check decided
// d: under Policy.ClearPair it clears the pair (only the pair: see the
// package doc), when d saw failures of it, and, when the policy keeps
// known pairs and d did not find the pair known, makes it known for
// Policy.Known. A pair known stays known for that long after the success
// that made it so; the next success past that makes it known again.
func (l *Limiter) Success(ctx context.Context, a Attempt, now time.Time, d Decision) error {
	k := keysOf(a)
	if l.p.ClearPair && d.PairFailures > 0 {
		if err := l.store.ClearThrottle(ctx, k[0]); err != nil {
			return fmt.Errorf("throttle: success: %w", err)
		}
	}
	if l.knows() && !d.Known {
		if _, err := l.store.AddFailure(ctx, k[3], now, l.p.Known); err != nil {
			return fmt.Errorf("throttle: success: %w", err)
		}
	}
	return nil
}
