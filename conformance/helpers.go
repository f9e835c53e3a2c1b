package conformance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// base is the fixed time every check is written around. It carries whole
// microseconds so that a store keeping microseconds sees boundaries
// exactly; the timestamp round-trip check adds nanoseconds on purpose.
var base = time.Date(2030, time.January, 2, 3, 4, 5, 123456000, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

const (
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
	micro  = time.Microsecond
	ms     = time.Millisecond
)

// hashOf derives a TokenHash from a label, the way the issuer derives one
// from a token.
func hashOf(label string) authkit.TokenHash { return sha256.Sum256([]byte(label)) }

// sameInstant reports whether got and want are the same instant to within
// a microsecond (stores may truncate or round below that), or both zero.
func sameInstant(got, want time.Time) bool {
	if got.IsZero() || want.IsZero() {
		return got.IsZero() == want.IsZero()
	}
	d := got.Sub(want)
	return d > -micro && d < micro
}

// sameStrings treats nil and empty as equal.
func sameStrings(got, want []string) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return slices.Equal(got, want)
}

// sameBytes treats nil and empty as equal.
func sameBytes(got, want []byte) bool { return bytes.Equal(got, want) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero time"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// fieldDiffs collects "Field: got X, want Y" lines.
type fieldDiffs []string

func (d *fieldDiffs) str(name, got, want string) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", name, got, want))
	}
}

func (d *fieldDiffs) strs(name string, got, want []string) {
	if !sameStrings(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %q, want %q", name, got, want))
	}
}

func (d *fieldDiffs) bytes(name string, got, want []byte) {
	if !sameBytes(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %d bytes %q, want %d bytes %q", name, len(got), trunc(got), len(want), trunc(want)))
	}
}

func (d *fieldDiffs) time(name string, got, want time.Time) {
	if !sameInstant(got, want) {
		*d = append(*d, fmt.Sprintf("%s: got %s, want %s", name, fmtTime(got), fmtTime(want)))
	}
}

func (d *fieldDiffs) hash(name string, got, want authkit.TokenHash) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s: got %s, want %s", name, got, want))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func diffSession(got, want authkit.Session) fieldDiffs {
	var d fieldDiffs
	d.str("ID", got.ID, want.ID)
	d.str("Subject", got.Subject, want.Subject)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.strs("Scopes", got.Scopes, want.Scopes)
	d.strs("Audience", got.Audience, want.Audience)
	d.bytes("Claims", got.Claims, want.Claims)
	d.str("UserAgent", got.UserAgent, want.UserAgent)
	d.str("IP", got.IP, want.IP)
	d.str("Name", got.Name, want.Name)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	d.time("RevokedAt", got.RevokedAt, want.RevokedAt)
	return d
}

func diffRecord(got, want authkit.RefreshRecord) fieldDiffs {
	var d fieldDiffs
	d.hash("Hash", got.Hash, want.Hash)
	d.str("SessionID", got.SessionID, want.SessionID)
	d.str("Subject", got.Subject, want.Subject)
	d.time("IssuedAt", got.IssuedAt, want.IssuedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("UsedAt", got.UsedAt, want.UsedAt)
	d.bytes("Successor", got.Successor, want.Successor)
	return d
}

func diffAPIToken(got, want authkit.APIToken) fieldDiffs {
	var d fieldDiffs
	d.str("ID", got.ID, want.ID)
	d.hash("Hash", got.Hash, want.Hash)
	d.str("Subject", got.Subject, want.Subject)
	d.str("Name", got.Name, want.Name)
	d.strs("Scopes", got.Scopes, want.Scopes)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	d.time("RevokedAt", got.RevokedAt, want.RevokedAt)
	return d
}

// report fails t with one line per differing field.
func (d fieldDiffs) report(t *testing.T, what, rule string) {
	t.Helper()
	if len(d) == 0 {
		return
	}
	var b bytes.Buffer
	for _, l := range d {
		b.WriteString("\n\t")
		b.WriteString(l)
	}
	t.Errorf("%s differs from what was written:%s\n%s", what, b.String(), rule)
}

// isUnavailable reports whether err is a store failure as the contract
// requires it: ErrStoreUnavailable, and never ErrNotFound.
func isUnavailable(err error) bool {
	return errors.Is(err, authkit.ErrStoreUnavailable) && !errors.Is(err, authkit.ErrNotFound)
}

// wantErr fails t unless err matches target.
func wantErr(t *testing.T, call string, err, target error, rule string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s returned %v, want an error matching %v; %s", call, errOrNil(err), target, rule)
	}
}

// mustOK fails t now unless err is nil.
func mustOK(t *testing.T, call string, err error, rule string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v; %s", call, err, rule)
	}
}

func errOrNil(err error) any {
	if err == nil {
		return "nil"
	}
	return err
}

// ids returns the IDs of sessions, in order.
func sessionIDs(ss []authkit.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func tokenIDs(ts []authkit.APIToken) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// sameSet reports whether got and want hold the same strings, ignoring
// order; duplicates in got make it differ.
func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// fanOut calls f(i) for i in [0, n) from a few goroutines and returns the
// first error. Used to write thousands of records quickly to a networked
// store.
func fanOut(n int, f func(i int) error) error {
	const workers = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

const ruleContext = "every store method must honour ctx: a cancelled or expired ctx yields an error matching ctx.Err() and stores nothing"

const (
	ruleStalled            = "a store that reports authkit.DeadlineStore's HonorsDeadlines must return from every call soon after its ctx's deadline, whatever its backend does, with an error matching context.DeadlineExceeded or ErrStoreUnavailable (fail closed)"
	ruleUnavailableHarness = "a harness gives Unavailable, a store whose backend cannot be reached, so that the suite checks that every method fails closed (an outage answered as \"not revoked\" or \"not found\" lets revoked tokens in); only a store with no backend outside the process (one that reports authkit.InProcessStore, or whose harness sets InProcess) leaves it nil"
	ruleStalledHarness     = "a store that reports authkit.DeadlineStore's HonorsDeadlines is called on the request's goroutine, so its claim is checked against a stalled backend: give the harness a Stalled func"
	rulePeerHarness        = "a harness gives Peer, a second handle on the same data with its own connections, as a second application server holds: a store that keeps answers per handle (a \"not revoked\" it remembers until it writes a revocation itself) passes every check made through one handle and leaves revoked tokens valid on every other server; only a store with no backend outside the process (one that reports authkit.InProcessStore, or whose harness sets InProcess) leaves it nil"
)

// noPeer reports a nil Harness.Peer: a log for a store with no backend
// outside the process, whose one handle is all there is, and an error for
// any other (found by review: a store that cached "not revoked" per
// handle passed the suite, the only trace a log line).
func noPeer[S any](t *testing.T, h PartialHarness[S], s S) {
	t.Helper()
	if h.InProcess {
		t.Log("Harness.Peer is nil (Harness.InProcess): checking visibility through the one handle")
		return
	}
	if p, ok := any(s).(authkit.InProcessStore); ok && p.InProcess() {
		t.Log("Harness.Peer is nil (the store reports authkit.InProcessStore): checking visibility through the one handle")
		return
	}
	t.Errorf("Harness.Peer is nil and the store has a backend outside the process; %s", rulePeerHarness)
}

const ruleUnavailable = "an unreachable backend must yield an error matching ErrStoreUnavailable (fail closed); \"not found\" is never reported for a failure"

// oddSubjects are distinct, legal subjects that naive backends confuse:
// case, Unicode normalisation, trailing space, SQL LIKE and glob
// metacharacters, separators that key-value stores use, and a prefix of
// another subject.
// longPair returns two identities of 1024 bytes, the largest subject the
// issuer accepts, that differ only in their last byte; tag starts them.
func longPair(tag string) (string, string) {
	body := tag + strings.Repeat("x", 1023-len(tag))
	return body + "a", body + "b"
}

var oddSubjects = []string{
	"ユーザー",
	"👩🏽‍💻",
	"\u00e9mile",  // é precomposed (NFC)
	"e\u0301mile", // e + combining acute (NFD): a different subject
	"Alice",
	"alice",
	"alice ",
	"straße",
	"strasse",
	"user:1",
	"user:10",
	"a%",
	"a_",
	"a*",
	"a?[b]",
	`O'Brien "\" `,
	"{tag}",
	// A subject and the same subject with a separator and more after it,
	// as a key-value layout ("sess:<subject>:<id>") listed by a prefix
	// match confuses (found by review: SCAN MATCH "sess:acme:*" listed
	// and revoked acme:bob's sessions with acme's).
	"acme",
	"acme:bob",
	"acme/bob",
	"acme|bob",
	"acme.bob",
	"acme-bob",
	"acme_bob",
	"acme bob",
}

// Repetitions of a race check: a store that is not atomic but fast (in
// process, no latency between its read and its write) loses a race only
// now and then, so a check of one round let it pass most runs (found by
// an adoption test: a CreateAPIToken counting and inserting in two steps
// was caught 1 run in 20). The rounds stop at raceRounds or raceBudget,
// whichever comes first: a networked store, whose every round takes
// milliseconds, spends about the budget; an in-process one runs them all.
const (
	raceRounds = 200
	raceBudget = 250 * time.Millisecond
)

// repeatRace runs round(0), round(1), … until raceRounds rounds have run,
// raceBudget has passed after the first, or round returns false (it
// failed t: more rounds would only repeat the report).
func repeatRace(round func(i int) bool) {
	start := time.Now()
	for i := 0; i < raceRounds; i++ {
		if !round(i) || (i > 0 && time.Since(start) > raceBudget) {
			return
		}
	}
}

// together races n calls: for each i it calls prepare(i, s), s being a
// for even i and b for odd ones (two handles, as two replicas), and runs
// the call it returns in a goroutine of its own, all of them released at
// once once every one is started. It returns when all have.
func together[S any](n int, a, b S, prepare func(i int, s S) func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		call := prepare(i, s)
		wg.Go(func() {
			<-start
			call()
		})
	}
	close(start)
	wg.Wait()
}

// readDuringWrites runs write(0) … write(n-1) through fanOut while 4
// goroutines call read(0), read(1), … until every write has returned, and
// returns the writes' first error and the readers' first few. Each reader
// reads at least once.
func readDuringWrites(n int, write func(i int) error, read func(k int) error) []error {
	var (
		mu      sync.Mutex
		errs    []error
		readers sync.WaitGroup
	)
	stop := make(chan struct{})
	// The writers start once every reader has read once: on a loaded
	// machine the writes of a fast store were over before a reader ran,
	// and the race detector had no overlap to see (found when a mutant
	// reading unlocked passed a CI run).
	reading := make(chan struct{}, 4)
	for r := range 4 {
		readers.Go(func() {
			for k := r; ; k += 4 {
				if err := read(k); err != nil {
					mu.Lock()
					if len(errs) < 5 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
				if k == r {
					reading <- struct{}{}
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	for range 4 {
		<-reading
	}
	werr := fanOut(n, write)
	close(stop)
	readers.Wait()
	if werr != nil {
		errs = append(errs, werr)
	}
	return errs
}
