package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/internal/opaque"
	"github.com/authkit-go/authkit/internal/throttle"
	"github.com/authkit-go/authkit/verifier"
)

// ErrThrottled is matched by the error of a password attempt refused
// because its user, its client address or the pair has failed too often
// ([ThrottledError]). It is answered 429 with Retry-After and error
// "slow_down", before the password is checked, whether or not the user
// exists.
var ErrThrottled = errors.New("httpauth: too many failed attempts; try again later")

const descThrottled = "too many attempts; try again later"

// ThrottledError is the error of a throttled attempt; it matches
// ErrThrottled and says when to retry.
type ThrottledError struct {
	// RetryAfter is how long until the attempt may be retried.
	RetryAfter time.Duration
}

// Error implements error: when to retry, in whole seconds (rounded up, at
// least 1).
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("httpauth: too many failed attempts; retry after %ds", retrySecs(e.RetryAfter))
}

// Is reports whether target is ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// retrySecs rounds d up to whole seconds, at least 1.
func retrySecs(d time.Duration) int64 { return max(int64((d+time.Second-1)/time.Second), 1) }

// retryOf is the Retry-After of a throttled err, "" for any other.
func retryOf(err error) string {
	if te, ok := errors.AsType[*ThrottledError](err); ok {
		return strconv.FormatInt(retrySecs(te.RetryAfter), 10)
	}
	return ""
}

// MethodPassword is the Event.Method of a password-grant attempt
// (Basic credentials use authkit.MethodBasic).
const MethodPassword = "password"

// ThrottleRule is how one kind of throttle key is treated: Free failures
// in a fixed Window cost nothing; each further failure makes the key wait
// Base, doubling per failure, at most Max, counted from its last failure
// and never past the window's end.
type ThrottleRule struct {
	Free   int
	Window time.Duration
	Base   time.Duration
	Max    time.Duration
}

// ThrottlePolicy is the rule of each key a password attempt is counted
// against: the (user, client address) pair, the client address (an IPv6
// address as its /64) and the user (the ceiling, from every address).
//
// Client authentication (a client secret or a private_key_jwt assertion,
// [WithClientStore]) is counted under the Pair rule per (client_id,
// address) and the Address rule, sharing the address's count with
// passwords; the User rule does not apply to it: a client credential
// cannot be guessed, so a ceiling per client_id would only let failures
// from elsewhere lock the client out.
type ThrottlePolicy struct {
	Pair    ThrottleRule
	Address ThrottleRule
	User    ThrottleRule
	// Known is how long an address a user logged in from (the right
	// password) stays known for that user, under the name exactly as
	// given (not the names that fold alike, which may be other accounts;
	// an owner who logs in as "Alice" and later types "alice" is not
	// known there under it): a known (user, address) pair
	// is not held by the User ceiling (Pair and Address still apply), so
	// that a botnet keeping the ceiling busy does not lock the owner out
	// where the owner has logged in before. Zero: no address is known,
	// the ceiling holds every attempt. From 0 to 365 days.
	Known time.Duration
}

// DefaultThrottlePolicy returns the default policy: the pair 5 failures
// free per hour then 1s doubling up to 15 minutes; the address 30 free per
// hour, the same backoff; the user 100 free per hour, then 1s doubling up
// to 1 minute; an address known for 30 days after a login from it. Thirty
// failures a minute from one address never block the right password from
// another; beyond 100 failures an hour from everywhere the account answers
// about once a minute, except at the addresses its user logged in from.
func DefaultThrottlePolicy() ThrottlePolicy {
	p := throttle.DefaultPolicy()
	return ThrottlePolicy{Pair: ruleOut(p.Pair), Address: ruleOut(p.Address), User: ruleOut(p.User), Known: p.Known}
}

func ruleOut(r throttle.Rule) ThrottleRule {
	return ThrottleRule{Free: int(r.Free), Window: r.Window, Base: r.Base, Max: r.Max}
}

func ruleIn(r ThrottleRule) throttle.Rule {
	return throttle.Rule{Free: int64(r.Free), Window: r.Window, Base: r.Base, Max: r.Max}
}

func (p ThrottlePolicy) internal() throttle.Policy {
	return throttle.Policy{Pair: ruleIn(p.Pair), Address: ruleIn(p.Address), User: ruleIn(p.User), Known: p.Known}
}

// checkPolicy validates p: Free from 0 to 1,000,000, Window from 1s to
// 24h, Base from 1ms to Max, Max at most 24h; Known from 0 to 365 days.
func checkPolicy(p ThrottlePolicy) error {
	if p.Known < 0 || p.Known > 365*24*time.Hour {
		return invalid("throttle policy: Known %v out of range (0 to 365 days)", p.Known)
	}
	for _, r := range []struct {
		name string
		r    ThrottleRule
	}{{"Pair", p.Pair}, {"Address", p.Address}, {"User", p.User}} {
		x := r.r
		if x.Free < 0 || x.Free > 1_000_000 || x.Window < time.Second || x.Window > 24*time.Hour ||
			x.Base < time.Millisecond || x.Max < x.Base || x.Max > 24*time.Hour {
			return invalid("throttle policy: %s rule %+v out of range", r.name, x)
		}
	}
	return nil
}

// guard applies the throttle policy around a password check and reports
// what happened to the event hook.
type guard struct {
	lim *throttle.Limiter
	// shared says that lim's store may be shared with other processes:
	// the attempts checked on them are counted there too
	// (throttle.Limiter.Started), where inflight sees this process's.
	shared bool
	// local and localClients count in this process the failures the
	// throttle store could not record (a store that reads but cannot
	// write: a Redis at maxmemory, a read-only replica), and are read
	// beside it once one has: a failed write must not leave guessing
	// unlimited (found by review: every guess was checked). localUsed
	// says whether any has been.
	local, localClients *throttle.Limiter
	localKnown          *throttle.Limiter // local without the user rule
	localUsed           atomic.Bool

	// clients is the limiter of client authentication: the policy's Pair
	// and Address rules over the same store (so the same counters), with
	// no per-client ceiling (see clientPolicy).
	clients *throttle.Limiter
	hook    func(context.Context, authkit.Event)
	log     *slog.Logger
	gate    gate
	// users lets one attempt at a time be checked for a user whose
	// ceiling is engaged (throttle.Decision.UserHeld), in this process:
	// a burst from many addresses got through together each time the
	// user's wait ended (found by review: 100 of 100).
	users gate
	// addrs is users for the address rule (throttle.Decision.AddrHeld).
	addrs gate
	// inflight counts the attempts being checked, by address and by user,
	// which the check counts toward the rules' free attempts
	// (CheckPending): past them, a burst is checked in turn instead of all
	// at once before any failure of it is recorded.
	inflight throttle.InFlight
}

// clientPolicy is the throttle policy of client authentication (a client
// secret or a private_key_jwt assertion): p's pair and address rules, and
// no ceiling per client_id. The ceiling exists for passwords, which people
// choose and a botnet may guess within a few thousand tries; it costs the
// owner a wait of up to Max per attempt while the botnet keeps failing.
// A client credential cannot be guessed: the only secrets authkit creates
// and accepts are NewClientSecret's (256 bits of entropy; the issuer
// refuses any other form before hashing, and has no API that hashes a
// secret of one's choosing; a SecretHash an application computed by hand
// is outside that contract), and an assertion must be signed with the
// client's private key. A ceiling would then protect nothing and only let
// anyone who knows a client_id lock that client out, from addresses it
// rotates, for as long as it keeps failing — refused attempts are not
// counted, so a few failures a minute keep the wait at its maximum. The
// pair and address rules stay: they bound what each address may try, and
// failures from other addresses never hold back the client's own.
// Exempting only a correct credential from a ceiling (checking it first)
// would be no better: the ceiling would then answer a right guess 200 and
// a wrong one 429, checking every guess anyway, so it would guard nothing.
func clientPolicy(p throttle.Policy) throttle.Policy {
	return throttle.Policy{Pair: p.Pair, Address: p.Address, NoUser: true, ClearPair: true}
}

// maxPairWaiters bounds the attempts of one (user, address) pair that wait
// in this process for the pair's check in flight; one more is throttled.
const maxPairWaiters = 32

// gate serialises, within a process, the password checks of one (user,
// address) pair: the next attempt reads the counters only once the one
// before it has recorded its outcome, so a burst of parallel guesses from
// one address cannot pass the read together. Parallel requests with the
// right credentials only queue. Its map holds the pairs in flight only.
type gate struct {
	mu sync.Mutex
	m  map[string]*slot
}

type slot struct {
	sem     chan struct{}
	waiters int // holders and waiters
}

// enter waits for key's turn. It returns the function that ends it, or
// a *ThrottledError when too many attempts wait already, or ctx's error.
func (g *gate) enter(ctx context.Context, key string) (func(), error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*slot)
	}
	s := g.m[key]
	if s == nil {
		s = &slot{sem: make(chan struct{}, 1)}
		g.m[key] = s
	}
	if s.waiters >= maxPairWaiters {
		g.mu.Unlock()
		return nil, &ThrottledError{RetryAfter: time.Second}
	}
	s.waiters++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if s.waiters--; s.waiters == 0 {
			delete(g.m, key)
		}
		g.mu.Unlock()
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

func (g *gate) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// pairKey is the gate's key of an attempt: the case-folded user and the
// address as the throttle counts it (an IPv6 /64).
func pairKey(a throttle.Attempt) string {
	addr := a.Addr
	if addr.IsValid() && !addr.Is4() {
		if p, err := addr.Prefix(64); err == nil {
			addr = p.Addr()
		}
	}
	return addr.String() + "\x00" + a.User
}

// newGuard makes the guard of policy p over store; shared says that store
// may be shared with other processes (not one this process made for
// itself), whose attempts in flight are then counted in it (Started).
func newGuard(store authkit.ThrottleStore, shared bool, p ThrottlePolicy, hook func(context.Context, authkit.Event), log *slog.Logger) (*guard, error) {
	if err := checkPolicy(p); err != nil {
		return nil, err
	}
	if store == nil {
		store = memory.NewThrottle()
	}
	lim, err := throttle.New(store, p.internal())
	if err != nil {
		return nil, invalid("throttle: %v", err)
	}
	clients, err := throttle.New(store, clientPolicy(p.internal()))
	if err != nil {
		return nil, invalid("throttle: %v", err)
	}
	// The local fallback keeps no known pairs (nothing to remember a
	// success by) and counts in memory.
	// localKnown reads the same counters without the user rule, for a
	// pair the store knows (the ceiling does not hold it there).
	lp := p.internal()
	lp.Known = 0
	localStore := memory.NewThrottle()
	local, err := throttle.New(localStore, lp)
	if err != nil {
		return nil, invalid("throttle: %v", err)
	}
	lpKnown := lp
	lpKnown.NoUser = true
	localKnown, err := throttle.New(localStore, lpKnown)
	if err != nil {
		return nil, invalid("throttle: %v", err)
	}
	localClients, err := throttle.New(memory.NewThrottle(), clientPolicy(lp))
	if err != nil {
		return nil, invalid("throttle: %v", err)
	}
	return &guard{lim: lim, shared: shared, clients: clients, local: local, localKnown: localKnown, localClients: localClients, hook: hook, log: log}, nil
}

// recordFailure records a failed attempt with lim; when the store cannot,
// with local (in this process) instead, and returns the store's error.
func (g *guard) recordFailure(ctx context.Context, lim, local *throttle.Limiter, a throttle.Attempt, now time.Time) error {
	// Not the request's cancellation: a client that half-closes its
	// connection while its guess is checked cancels the request and still
	// reads the answer, and the shared count must not miss the guess (found
	// by review: each replica then gave the full budget). The request's
	// deadline stays (found by review of the first version: a stalled
	// store held the request for three store timeouts past it), and each
	// store call has its own (storecall).
	wctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(wctx, dl)
		defer cancel()
	}
	ctx = wctx
	err := lim.Failure(ctx, a, now)
	if err != nil {
		g.localUsed.Store(true)
		_ = local.Failure(context.WithoutCancel(ctx), a, now)
	}
	return err
}

// checkLocal is d, the store's decision for a, unless the failures this
// process could not record hold a back. A pair the store knows is held by
// the local pair and address counts only, never by the local user count:
// the ceiling does not hold the owner at a known address (found by
// review: the fallback locked the owner out there). When the local counts
// cannot be read (ctx ended) it returns the error: the attempt is refused
// (it was let through on the store's word alone; found by review).
func (g *guard) checkLocal(ctx context.Context, local *throttle.Limiter, a throttle.Attempt, now time.Time, d throttle.Decision) (throttle.Decision, error) {
	if !d.Allowed || !g.localUsed.Load() {
		return d, nil
	}
	if d.Known && local == g.local {
		local = g.localKnown
	}
	dl, err := local.Check(ctx, a, now)
	switch {
	case err != nil:
		return throttle.Decision{}, err
	case !dl.Allowed:
		dl.Known = d.Known
		return dl, nil
	case dl.UserHeld && !d.Known || dl.AddrHeld:
		// The ceiling, or the address rule, engaged in the process only:
		// one attempt at a time (found by review: a burst got through
		// while the store could not write).
		d.UserHeld = d.UserHeld || dl.UserHeld && !d.Known
		d.AddrHeld = d.AddrHeld || dl.AddrHeld
	}
	return d, nil
}

// settleMax bounds how long a held attempt waits for the attempts let
// through unheld before it reads the counters again (Entry.Settle):
// about the time of a few password checks.
const settleMax = 2 * time.Second

// clearLocal clears a's pair counter of local (a policy with ClearPair:
// client authentication) after a success, once any failure has been
// counted there.
func (g *guard) clearLocal(ctx context.Context, local *throttle.Limiter, a throttle.Attempt, now time.Time) {
	if g.localUsed.Load() {
		_ = local.Success(context.WithoutCancel(ctx), a, now, throttle.Decision{PairFailures: 1})
	}
}

// attempt is the throttle identity of a password attempt. The user name is
// folded (foldName), so that "Alice", "alice ", "alíce" and "ＡＬＩＣＥ"
// share their counters whatever the application's checker makes of case,
// accents, compatibility forms and surrounding spaces; the known pair is
// the name as given (Attempt.Name).
func attemptOf(user string, addr netip.Addr) throttle.Attempt {
	return throttle.Attempt{User: foldName(user), Name: user, Addr: addr}
}

// foldName is the throttle's user key of a name: its first maxFoldName
// bytes, case folded (caseFold), then in compatibility decomposition (NFKD:
// "ﬁ" is "fi", full-width "Ａ" is "A", U+00A0 is a space) without the
// runes a collation ignores (ignorable: accents, zero-width spaces, soft
// hyphens), case folded again, with "ß" as "ss", without leading and
// trailing white space. A checker that finds the account by a database
// comparison takes all those spellings for one user (MySQL's and
// MariaDB's collations ignore case, accents, trailing spaces and, the UCA
// ones, format characters; found by review: each of "alice ", "alice  ",
// … "alíce", "ali​ce" had a ceiling of its own, about a thousand
// times the guesses at one account). It cannot know every collation's
// equivalences: a checker should compare names exactly. Folding too much
// costs only shared waits: a success clears no count and marks only the
// exact name known. Invalid UTF-8 is kept byte for byte.
func foldName(s string) string {
	if len(s) > maxFoldName {
		// Bounded work whatever the name (found by review: 0.7 ms for 1 KiB
		// of U+FDFA, which NFKD makes 18 runes each).
		n := maxFoldName
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	f := caseFold(s)
	if !isASCII(f) && utf8.ValidString(f) {
		// (strings.Map would turn invalid bytes into U+FFFD, and two
		// invalid names into one.)
		f = strings.ReplaceAll(caseFold(strings.Map(ignorable, norm.NFKD.String(f))), "ß", "ss")
	}
	return strings.TrimFunc(f, unicode.IsSpace)
}

// maxFoldName is how much of a name foldName reads: two names that agree
// that far share their counters.
const maxFoldName = 128

// ignorable maps the runes foldName drops to -1: combining marks, format
// and control characters, the other default-ignorable code points, and
// the Arabic tatweel, which collations give no weight.
func ignorable(r rune) rune {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Cc, unicode.Other_Default_Ignorable_Code_Point) || r == '\u0640' {
		return -1
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// caseFold maps every rune r of s to foldRune(r), so that two names
// strings.EqualFold finds equal fold to the same string ("ſam" (long s)
// and "sam", "Key" (Kelvin sign) and "key": strings.ToLower alone leaves
// those apart, and each variant had counters of its own; found by
// review), and so do two names that strings.ToLower or strings.ToUpper
// make equal ("alİce" and "alice", "ıan" and "ian"), as an application
// comparing names by either would. For ASCII it is strings.ToLower.
// Invalid UTF-8 is kept byte for byte.
func caseFold(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteRune(foldRune(r))
		i += n
	}
	return b.String()
}

// foldRune is the representative of the simple case-folding orbit of
// ToLower(ToUpper(r)): the lower case of the orbit's smallest rune where
// the orbit holds it (as strings.ToLower for ASCII), else the smallest
// rune. Through ToUpper and ToLower, "İ" (alone in its orbit) folds with
// "i", and so does "ı".
func foldRune(r rune) rune {
	r = unicode.ToLower(unicode.ToUpper(r))
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	if l := unicode.ToLower(min); l != min {
		for f := unicode.SimpleFold(min); f != min; f = unicode.SimpleFold(f) {
			if f == l {
				return l
			}
		}
	}
	return min
}

// maxEventSubject bounds the user name an event carries.
const maxEventSubject = 256

// redactedSubject stands in an event for a user name or client ID that is
// a credential typed in the wrong place.
const redactedSubject = "[redacted: a token]"

// eventSubject is user, a name a client sent, as an event carries it:
// bounded to maxEventSubject bytes of valid UTF-8, and redactedSubject
// when it has the shape of a secret — one of authkit's opaque tokens (an
// API or refresh token, a client secret, a code) or a JWT. Clients do
// send them there: curl -u TOKEN: puts an API token in the Basic user
// name, and a client that swaps its client_id and client_secret sends
// its secret as the ID (found by review: both reached the audit log). A
// token slightly damaged or wrapped — quoted, after "Bearer ", short of a
// character — is redacted too (opaque.Embedded, which replaced an exact
// match of the token's form; found by review: all but its checksum's last
// character reached the log).
func eventSubject(user string) string {
	if opaque.Embedded(user) || httpsyntax.JWTShaped(user) {
		return redactedSubject
	}
	if len(user) <= maxEventSubject && utf8.ValidString(user) {
		return user
	}
	b := []byte(user)
	if len(b) > maxEventSubject {
		b = b[:maxEventSubject]
	}
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "")
}

func (g *guard) emit(ctx context.Context, ev authkit.Event) {
	if g != nil && g.hook != nil {
		g.hook(ctx, ev)
	}
}

// check decides, before the password is checked, whether the attempt may
// proceed: a function to call once its outcome is recorded (the pair's
// next attempt in this process waits for it), or a *ThrottledError
// (reported as EventThrottled), or, when the throttle store fails, an error
// matching authkit.ErrStoreUnavailable (or the context's error): the
// attempt is refused either way. d is the throttle's decision, which a
// right password passes to success: when it has nothing to record
// (throttle.Limiter.NeedsSuccess: no failures of the pair to clear, the
// pair already known), success writes nothing, so that a clean login
// from a known address costs the store one read.
func (g *guard) check(ctx context.Context, user string, addr netip.Addr, now time.Time, method string) (done func(), d throttle.Decision, err error) {
	a := attemptOf(user, addr)
	// A store that panics must not leave the gates taken for good: the
	// turns held so far are given back, and the panic goes on (found by
	// review).
	var held func()
	defer func() {
		if p := recover(); p != nil {
			if held != nil {
				held()
			}
			panic(p)
		}
	}()
	done, err = g.gate.enter(ctx, pairKey(a))
	if err != nil {
		if te, ok := errors.AsType[*ThrottledError](err); ok {
			g.throttled(ctx, user, now, method, "in_flight")
			return nil, d, te
		}
		return nil, d, err
	}
	pending, entry := g.inflight.Enter(a)
	pair := done
	done = sync.OnceFunc(func() { entry.Leave(); pair() }) // given back once, whichever path does it
	held = done
	d, err = g.lim.CheckPending(ctx, a, now, pending)
	if err != nil {
		done()
		if !isUnavailable(err) {
			err = fmt.Errorf("httpauth: %w: %w", authkit.ErrStoreUnavailable, err)
		}
		return nil, d, err
	}
	if d, err = g.checkLocal(ctx, g.local, a, now, d); err != nil {
		done()
		return nil, d, err
	}
	if d.Allowed && g.shared && !d.Known && (pending.Address > 0 || pending.User > 0) {
		// The attempts in flight on the other replicas count too: a
		// burst split over N replicas was checked N times over (found
		// by review). Only where attempts run beside each other here: a
		// burst split over N replicas runs beside itself on each, and a
		// lone attempt, or one at a known pair, writes nothing (a Basic
		// client sending its password one request after another stays
		// at one read per request). A store that cannot record it
		// leaves this process's count, as a failure it cannot record
		// does.
		again, flight, err := g.lim.Started(ctx, a, now, d, pending)
		if flight != nil {
			// Its end is counted once its outcome is, when the request
			// is done with the throttle (its cancellation does not stop
			// it; the store's deadline bounds it), also when Started
			// failed after counting its start.
			prev := done
			done = sync.OnceFunc(func() {
				_ = flight.End(context.WithoutCancel(ctx))
				prev()
			})
			held = done
		}
		switch {
		case err == nil:
			d = again
		case ctx.Err() != nil:
			done()
			return nil, d, ctx.Err()
		default:
			g.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: recording a password attempt in the throttle store failed; counting this process's attempts alone", slog.Any("error", err))
		}
	}
	if d.Allowed && (d.UserHeld || d.AddrHeld) {
		// One attempt at the user, and one from the address, checked at a
		// time: the others wait for their turn (a few, as at the pair
		// gate; beyond that 429), then read the counters again. An owner's
		// simultaneous logins, or a NAT's, only queue; a burst gets the
		// guesses a serial one would. The user's gate is always taken
		// before the address's, so two attempts never wait on each other.
		turns := []struct {
			held bool
			g    *gate
			key  string
			kind throttle.Kind
		}{{d.UserHeld, &g.users, a.User, throttle.KindUser}, {d.AddrHeld, &g.addrs, entry.AddressKey(), throttle.KindAddress}}
		// Held: the attempts let through unheld do not wait for this one
		// (Settle), nor it for the others held.
		entry.Hold(d.AddrHeld, d.UserHeld)
		for _, turn := range turns {
			if !turn.held {
				continue
			}
			leave, err := turn.g.enter(ctx, turn.key)
			if err != nil {
				done()
				if te, ok := errors.AsType[*ThrottledError](err); ok {
					g.throttled(ctx, user, now, method, string(turn.kind))
					return nil, d, te
				}
				return nil, d, err
			}
			prev := done
			done = sync.OnceFunc(func() { leave(); prev() })
			held = done
		}
		// Read again now that the turn is ours, once the attempts let
		// through unheld have been checked: the attempts before it may
		// have recorded their failures since the first read, and the wait
		// they started applies to this one.
		entry.Settle(ctx, d.AddrHeld, d.UserHeld, settleMax)
		again, err := g.lim.Check(ctx, a, now)
		if err != nil {
			done()
			if !isUnavailable(err) {
				err = fmt.Errorf("httpauth: %w: %w", authkit.ErrStoreUnavailable, err)
			}
			return nil, d, err
		}
		if d, err = g.checkLocal(ctx, g.local, a, now, again); err != nil {
			done()
			return nil, d, err
		}
		if !d.Allowed {
			done()
			g.throttled(ctx, user, now, method, string(d.By))
			return nil, d, &ThrottledError{RetryAfter: d.RetryAfter}
		}
	}
	if d.Allowed {
		return done, d, nil
	}
	done()
	g.throttled(ctx, user, now, method, string(d.By))
	return nil, d, &ThrottledError{RetryAfter: d.RetryAfter}
}

// throttled logs and reports a throttled attempt.
func (g *guard) throttled(ctx context.Context, user string, now time.Time, method, by string) {
	g.log.LogAttrs(ctx, slog.LevelInfo, "httpauth: password attempt throttled",
		slog.String("method", method), slog.String("by", by))
	g.emit(ctx, authkit.Event{Type: authkit.EventThrottled, Time: now, Subject: eventSubject(user), Method: method, Err: ErrThrottled})
}

// failure records a wrong password (or an unknown user; reason says which
// when the checker told) and reports EventLoginFailed. A store error is
// logged: the attempt is refused anyway.
func (g *guard) failure(ctx context.Context, user string, addr netip.Addr, now time.Time, method string, reason error) {
	if err := g.recordFailure(ctx, g.lim, g.local, attemptOf(user, addr), now); err != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: recording a failed password attempt failed; counted in this process instead", slog.Any("error", err))
	}
	g.emit(ctx, authkit.Event{Type: authkit.EventLoginFailed, Time: now, Subject: eventSubject(user), Method: method, Err: reason})
}

// success records a right password after the check that decided d: it
// makes the pair known for the exact name (ThrottlePolicy.Known) when it
// is not, and clears no counter (see internal/throttle: the pair's user is
// folded, and another account's login would clear the guesses at this
// one); most often nothing is written. The process's own counts keep no
// known pairs, so there is nothing to record in them.
func (g *guard) success(ctx context.Context, user string, addr netip.Addr, now time.Time, d throttle.Decision) {
	if !g.lim.NeedsSuccess(d) {
		return
	}
	if err := g.lim.Success(ctx, attemptOf(user, addr), now, d); err != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: recording a login in the throttle store failed", slog.Any("error", err))
	}
}

// failReason is the Event.Err of a refused password: authkit.ErrNotFound
// when the checker said the user does not exist, else
// authkit.ErrInvalidToken. The checker's own error is never passed on (it
// is the application's and might quote what was typed).
func failReason(err error) error {
	if errors.Is(err, authkit.ErrNotFound) {
		return authkit.ErrNotFound
	}
	return authkit.ErrInvalidToken
}

// maxBasicUser bounds the user name of Basic credentials (the verifier's
// own bound).
const maxBasicUser = 1024

// basicUser returns the user name of the request's Basic credentials, when
// it carries exactly one well-formed Authorization header of that scheme.
// Anything else is left to the verifier, which checks no password for it.
func basicUser(r *http.Request) (string, bool) {
	vals := r.Header["Authorization"]
	if len(vals) != 1 || len(vals[0]) > verifier.MaxHeaderLen {
		return "", false
	}
	scheme, cred, tab := httpsyntax.Credentials(vals[0])
	if tab || !httpsyntax.SchemeIs(scheme, authkit.SchemeBasic) {
		return "", false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(cred)
	if err != nil {
		return "", false
	}
	user, _, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || len(user) > maxBasicUser || !utf8.ValidString(user) {
		return "", false
	}
	return user, true
}

// maxForwardHops bounds how many X-Forwarded-For entries are read, from
// the right.
const maxForwardHops = 32

// remoteAddr is the address of r.RemoteAddr, invalid when it does not
// parse.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return parseIP(host)
}

// parseIP parses an IP address (IPv4-mapped IPv6 unmapped, zone dropped),
// also in the "ip:port" and "[ipv6]:port" forms; invalid when it does not
// parse.
func parseIP(s string) netip.Addr {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone("")
}

// clientAddrFunc returns how the client address is found: r.RemoteAddr,
// unless it is one of the trusted proxies, in which case X-Forwarded-For
// is read from the right and the first address that is not a trusted
// proxy wins (each trusted proxy appends the address it received the
// request from; everything to the left of the last untrusted hop may be
// forged by the client). An entry that does not parse stops the walk at
// the hop that wrote it.
//
// With trustUnix, a request whose RemoteAddr is not an IP address (a Unix
// socket peer) is a trusted proxy's too.
func clientAddrFunc(trusted []netip.Prefix, trustUnix bool) func(*http.Request) netip.Addr {
	if len(trusted) == 0 && !trustUnix {
		return remoteAddr
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) netip.Addr {
		cur := remoteAddr(r)
		switch {
		case !cur.IsValid() && trustUnix:
		case !cur.IsValid() || !isTrusted(cur):
			return cur
		}
		vals := r.Header.Values("X-Forwarded-For")
		hops := 0
		for i := len(vals) - 1; i >= 0; i-- {
			// From the right, one entry at a time: a header of a
			// million commas costs no more than maxForwardHops entries
			// (found by review: splitting it whole allocated 17 MB).
			rest := vals[i]
			for last := false; !last; {
				if hops++; hops > maxForwardHops {
					return cur
				}
				entry := rest
				if j := strings.LastIndexByte(rest, ','); j >= 0 {
					entry, rest = rest[j+1:], rest[:j]
				} else {
					last = true
				}
				a := parseIP(entry)
				if !a.IsValid() {
					return cur
				}
				if !isTrusted(a) {
					return a
				}
				cur = a
			}
		}
		return cur
	}
}
