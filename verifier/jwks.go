package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/keys"
)

const (
	// maxJWKSBody bounds a fetched JWKS document.
	maxJWKSBody = 1 << 20
	// fetchTimeout bounds one fetch, whatever the HTTP client's own timeout.
	fetchTimeout = 30 * time.Second
	// maxLifetime is the longest a document is trusted without a refresh
	// (unless the refresh interval is longer still).
	maxLifetime = time.Hour
	// defaultLifetimeIntervals is a document's lifetime, in refresh
	// intervals, when its response carries no usable max-age.
	defaultLifetimeIntervals = 10
)

var (
	errJWKSUnavailable = fmt.Errorf("verifier: %w: the JWKS document could not be fetched", authkit.ErrStoreUnavailable)
	errJWKSClosed      = fmt.Errorf("verifier: %w: the verifier is closed; its remote keys are no longer kept fresh", authkit.ErrStoreUnavailable)
)

// remoteKeys keeps a remote JWKS document fresh. One goroutine (run) does
// every fetch: the first at start, the background refreshes before the
// document's lifetime ends, and the refetches requests ask for when they
// meet an unknown kid. Requests never fetch themselves:
//
//   - a known kid is an atomic load and a map lookup, never blocking; when
//     a refresh is due it nudges the goroutine (a non-blocking send) and
//     goes on with the keys it has;
//   - an unknown kid (or no document yet) joins the fetch in flight or asks
//     for one — at most one per interval, counting every fetch — and waits
//     for it only as long as its context allows;
//   - a failed fetch keeps the last good document serving; before the
//     first good one, lookups fail with ErrStoreUnavailable, and the
//     attempts come sooner than once an interval (firstRetry, doubling
//     up to the interval), so that a verifier started before its issuer
//     serves once the issuer is up rather than a whole interval later.
type remoteKeys struct {
	// url is the JWKS document's URL; with discovery it is "" until the
	// issuer's metadata names it (set and read by the run goroutine only).
	url string
	// issuer is the identifier whose metadata discovery reads, or "".
	issuer   string
	client   *http.Client
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	// defaultAlg binds alg-less RSA keys (WithJWKSDefaultAlgorithm); "" skips them.
	defaultAlg keys.Algorithm

	doc atomic.Pointer[jwksDoc]
	// due is when the goroutine should next fetch (unix nanoseconds of the
	// injected clock): three quarters into the document's lifetime, or an
	// interval after a failed attempt. Lookups read it to decide whether to
	// nudge the goroutine.
	due    atomic.Int64
	closed atomic.Bool
	// failing: the last fetch failed and said so; the next that works
	// says that.
	failing atomic.Bool
	kick    chan struct{} // capacity 1: wakes run
	stop    chan struct{} // closed by close
	done    chan struct{} // closed when run returns
	cancel  context.CancelFunc
	ctx     context.Context // cancelled by close; parent of every fetch
	once    sync.Once

	// noDocGap is the least time between two attempts while no document
	// has been fetched (nanoseconds; 0 before the first failure): it
	// starts at firstRetry and doubles up to the interval.
	noDocGap atomic.Int64

	mu        sync.Mutex
	flight    *flight   // the fetch requested or running; nil when idle
	lastTried time.Time // start of the last fetch
	// triedWall is lastTried's wall clock (unix nanoseconds), for isDue.
	triedWall atomic.Int64
}

// jwksDoc is one fetched, immutable document.
type jwksDoc struct {
	set      *keys.Set         // nil when no key of the document is usable
	unusable map[string]string // kid → why it is unusable

	fetchedAt time.Time
	expiresAt time.Time
}

// flight is one fetch that requests wait for; done is closed when it ends.
type flight struct {
	done chan struct{}
}

// newRemoteKeys returns a remoteKeys whose goroutine is already fetching
// the document. Stop it with close.
func newRemoteKeys(url string, client *http.Client, interval time.Duration, defaultAlg keys.Algorithm, now func() time.Time, log *slog.Logger) *remoteKeys {
	return startRemoteKeys(url, "", client, interval, defaultAlg, now, log)
}

// newDiscoveredKeys is newRemoteKeys for the JWKS that issuer's metadata
// names (see discover).
func newDiscoveredKeys(issuer string, client *http.Client, interval time.Duration, defaultAlg keys.Algorithm, now func() time.Time, log *slog.Logger) *remoteKeys {
	return startRemoteKeys("", issuer, client, interval, defaultAlg, now, log)
}

func startRemoteKeys(url, issuer string, client *http.Client, interval time.Duration, defaultAlg keys.Algorithm, now func() time.Time, log *slog.Logger) *remoteKeys {
	ctx, cancel := context.WithCancel(context.Background())
	r := &remoteKeys{
		url: url, issuer: issuer, client: client, interval: interval, now: now, log: log, defaultAlg: defaultAlg,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
	// The first fetch is requested before the goroutine starts, so that the
	// first requests join it instead of asking for another.
	r.flight = &flight{done: make(chan struct{})}
	r.lastTried = now()
	r.triedWall.Store(r.lastTried.UnixNano())
	go r.run()
	return r
}

// cached returns the key named kid if the current document holds it
// (known), without waiting, nudging the goroutine when a refresh is due.
func (r *remoteKeys) cached(kid string, now time.Time) (k *keys.Key, ok, known bool) {
	if r.closed.Load() {
		return nil, false, false
	}
	if d := r.doc.Load(); d != nil {
		if k, ok := d.set.Lookup(kid); ok {
			if r.isDue(now) {
				r.nudge()
			}
			return k, true, true
		}
	}
	return nil, false, false
}

// current returns the current document's usable keys (nil when it has
// none), waiting for the first fetch when there is no document yet.
// mayFetch, if set, is asked before a fetch is waited for.
func (r *remoteKeys) current(ctx context.Context, now time.Time, mayFetch func() error) (*keys.Set, error) {
	if r.closed.Load() {
		return nil, errJWKSClosed
	}
	if d := r.doc.Load(); d != nil {
		if r.isDue(now) {
			r.nudge()
		}
		return d.set, nil
	}
	if mayFetch != nil {
		if err := mayFetch(); err != nil {
			return nil, err
		}
	}
	if f := r.request(now); f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, storeError("waiting for the JWKS document", ctx.Err())
		}
	}
	if r.closed.Load() {
		return nil, errJWKSClosed
	}
	d := r.doc.Load()
	if d == nil {
		return nil, errJWKSUnavailable
	}
	return d.set, nil
}

// lookup returns the key named kid. now is the verifier's clock reading for
// this request.
func (r *remoteKeys) lookup(ctx context.Context, kid string, now time.Time) (*keys.Key, bool, error) {
	if r.closed.Load() {
		return nil, false, errJWKSClosed
	}
	d := r.doc.Load()
	if d != nil {
		if k, ok := d.set.Lookup(kid); ok {
			if r.isDue(now) {
				r.nudge()
			}
			return k, true, nil
		}
	}
	// Unknown kid, or no document yet: wait for the fetch in flight, or ask
	// for one (nil: rate-limited), then look again.
	if f := r.request(now); f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, storeError("waiting for the JWKS document", ctx.Err())
		}
	}
	if r.closed.Load() {
		return nil, false, errJWKSClosed
	}
	if d = r.doc.Load(); d == nil {
		// Never fetched successfully: we cannot tell whether the token is
		// good, which is not the same as knowing it is bad.
		return nil, false, errJWKSUnavailable
	}
	k, ok := d.set.Lookup(kid)
	if !ok {
		if why, bad := d.unusable[kid]; bad {
			// The document was fetched, and names this key, but authkit
			// cannot use it: a configuration problem to report as what it
			// is, not an outage.
			return nil, false, fmt.Errorf("verifier: %w: JWKS key %q unusable: %s", authkit.ErrInvalidToken, kid, why)
		}
	}
	return k, ok, nil
}

// nudge wakes the goroutine without ever blocking.
func (r *remoteKeys) nudge() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// request returns the fetch to wait for: the one in flight, or a new one if
// the last attempt began at least an interval ago. nil means neither.
func (r *remoteKeys) request(now time.Time) *flight {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return nil
	}
	if r.flight != nil {
		return r.flight
	}
	if now.Sub(r.lastTried) < r.gap() {
		return nil
	}
	r.lastTried = now
	r.triedWall.Store(now.UnixNano())
	r.flight = &flight{done: make(chan struct{})}
	r.nudge()
	return r.flight
}

// run is the one goroutine that fetches. It returns when stop is closed.
func (r *remoteKeys) run() {
	defer close(r.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
		case <-t.C:
		case <-r.kick:
		}
		if r.closed.Load() {
			r.mu.Lock()
			if r.flight != nil { // release its waiters; lookup sees closed
				close(r.flight.done)
				r.flight = nil
			}
			r.mu.Unlock()
			return
		}
		r.step()
		t.Reset(r.sleep())
	}
}

// isDue reports whether the scheduled fetch is due at now: due has passed,
// or the clock reads earlier than the current document's fetch and no
// attempt began within the last interval by that clock. Both are
// wall-clock readings, so that a machine resumed from suspend (when the
// monotonic clock stood still) refreshes on time; the second catches the
// clock stepped back, which would otherwise put the next refresh off by
// the length of the step, trusting keys the server may have dropped. Its
// own interval keeps a failing server from being asked on every request
// while the clock stays behind (found by review).
func (r *remoteKeys) isDue(now time.Time) bool {
	n := now.UnixNano()
	if n >= r.due.Load() {
		return true
	}
	d := r.doc.Load()
	if d == nil || n >= d.fetchedAt.UnixNano() {
		return false
	}
	tried := r.triedWall.Load()
	return tried > n || n-tried >= int64(r.interval)
}

// redactURL is raw for logs and errors: see safeURL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return safeURL(u)
}

// safeURL is u's scheme, host and path, without its user information (a
// JWKS behind Basic authentication) or its query (a presigned URL's
// signature, an api_key), either of which may be a credential; "?…"
// marks a query left out (found by review: u.Redacted() masks only the
// password, and the query went to the log).
func safeURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := v.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}

// withoutURL is err without the URL a *url.Error names (net/http's
// client errors quote the whole URL, a redirect's target included): its
// operation and its cause.
func withoutURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if strings.Contains(ue.Err.Error(), "Location header") {
		// net/http quotes a redirect's Location it cannot parse, query
		// and all (found by review).
		return fmt.Errorf("%s: a redirect's Location header does not parse", ue.Op)
	}
	return fmt.Errorf("%s: %w", ue.Op, ue.Err)
}

// step runs the fetch requests asked for, or the scheduled one if it is due.
func (r *remoteKeys) step() {
	now := r.now()
	r.mu.Lock()
	f := r.flight
	if f == nil {
		if !r.isDue(now) {
			r.mu.Unlock()
			return
		}
		f = &flight{done: make(chan struct{})}
		r.flight = f
		r.lastTried = now
		r.triedWall.Store(now.UnixNano())
	}
	r.mu.Unlock()

	doc, err := r.fetch(now)
	if err == nil {
		r.doc.Store(doc)
		r.due.Store(now.Add(doc.expiresAt.Sub(doc.fetchedAt) * 3 / 4).UnixNano())
		if r.failing.Swap(false) {
			// Once, so that the warnings' end is seen (found by review).
			r.log.InfoContext(r.ctx, "authkit: fetching JWKS works again", "url", redactURL(r.url))
		}
	} else {
		r.due.Store(now.Add(r.retryAfterFailure()).UnixNano())
		switch old := r.doc.Load(); {
		case r.ctx.Err() != nil:
			// Closing: the fetch was cancelled, it did not fail.
		case old != nil:
			r.log.WarnContext(r.ctx, "authkit: fetching JWKS failed; keeping the last good keys", "url", redactURL(r.url), "error", err,
				"fetched_at", old.fetchedAt, "stale", !now.Before(old.expiresAt))
			r.failing.Store(true)
		default:
			r.log.WarnContext(r.ctx, "authkit: fetching JWKS failed; no keys yet", "url", redactURL(r.url), "error", err)
			r.failing.Store(true)
		}
	}
	r.mu.Lock()
	if r.flight == f {
		r.flight = nil
	}
	r.mu.Unlock()
	close(f.done)
}

// firstRetry is the wait after the first failed fetch of a verifier that
// has no document yet; each further failure doubles it, up to the
// interval. A verifier started before its issuer waited a whole interval
// (a minute by default) after the issuer came up, answering 503 (found by
// an adoption test).
const firstRetry = time.Second

// gap is the least time between two fetch attempts: the interval, or,
// while no document has been fetched, the current retry wait.
func (r *remoteKeys) gap() time.Duration {
	if r.doc.Load() == nil {
		if g := time.Duration(r.noDocGap.Load()); g > 0 {
			return g
		}
	}
	return r.interval
}

// retryAfterFailure returns how long after a failed fetch the next one is
// due: the interval once a document is held; before that firstRetry,
// doubling with each failure up to the interval (run goroutine only).
func (r *remoteKeys) retryAfterFailure() time.Duration {
	if r.doc.Load() != nil {
		return r.interval
	}
	g := min(max(2*time.Duration(r.noDocGap.Load()), firstRetry), r.interval)
	r.noDocGap.Store(int64(g))
	return g
}

// sleep returns how long run may wait before the next step: until the
// next fetch is due, but at least a millisecond and at most an interval,
// so that a clock that jumps (or a fake one in tests) is looked at again.
func (r *remoteKeys) sleep() time.Duration {
	d := time.Duration(r.due.Load() - r.now().UnixNano())
	return min(max(d, time.Millisecond), r.interval)
}

// close stops the goroutine, cancelling a fetch in flight, and waits for
// it. It is idempotent.
func (r *remoteKeys) close() {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed.Store(true)
		r.mu.Unlock()
		r.cancel()
		close(r.stop)
		<-r.done
	})
}

// fetch gets, checks and parses the document, started at now.
func (r *remoteKeys) fetch(now time.Time) (*jwksDoc, error) {
	ctx, cancel := context.WithTimeout(r.ctx, fetchTimeout)
	defer cancel()
	if r.url == "" {
		u, err := discover(ctx, r.client, r.issuer)
		if err != nil {
			return nil, err
		}
		r.url = u
		r.log.InfoContext(ctx, "authkit: discovered the JWKS URL of a trusted issuer", "issuer", r.issuer, "jwks_uri", u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, withoutURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.ContentLength > maxJWKSBody {
		return nil, errors.New("document larger than 1 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBody {
		return nil, errors.New("document larger than 1 MiB")
	}
	set, unusable, err := parseRemoteJWKS(body, r.defaultAlg, r.log, redactURL(r.url))
	if err != nil {
		return nil, err
	}
	if old := r.doc.Load(); old != nil && set != nil && old.set != nil {
		if set, err = keepIdentity(set, old.set); err != nil {
			return nil, err
		}
	}
	life := lifetime(resp.Header, r.interval)
	return &jwksDoc{set: set, unusable: unusable, fetchedAt: now, expiresAt: now.Add(life)}, nil
}

// keepIdentity returns set with every key that old holds unchanged (same
// kid, algorithm and RFC 7638 thumbprint, so the same public key) replaced
// by old's *keys.Key. A refetch of an unchanged document then yields the
// same key values, and the verify cache, which checks that a token's key is
// still the one that verified it, stays warm across refreshes.
func keepIdentity(set, old *keys.Set) (*keys.Set, error) {
	ks := set.Keys()
	same := 0
	for i, k := range ks {
		if o, ok := old.Lookup(k.ID()); ok && o != k && o.Algorithm() == k.Algorithm() && o.Thumbprint() == k.Thumbprint() {
			ks[i] = o
			same++
		}
	}
	if same == 0 {
		return set, nil
	}
	return keys.NewVerificationSet(ks...)
}

// lifetime is how long a document fetched with header h is trusted before
// it is refreshed: Cache-Control max-age less Age, clamped to
// [interval, max(interval, maxLifetime)]. no-cache, no-store and max-age=0
// give interval; no usable max-age gives defaultLifetimeIntervals intervals.
func lifetime(h http.Header, interval time.Duration) time.Duration {
	hi := max(interval, maxLifetime)
	clamp := func(d time.Duration) time.Duration { return min(max(d, interval), hi) }
	maxAge, ok := cacheMaxAge(h.Values("Cache-Control"))
	if !ok {
		return clamp(defaultLifetimeIntervals * interval)
	}
	if age := strings.TrimSpace(h.Get("Age")); age != "" && age[0] != '-' && age[0] != '+' {
		a, err := strconv.ParseInt(age, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			// RFC 9111 §1.2.2: a delta-seconds too large to hold is the
			// largest; it was ignored (found by review).
			a, err = maxAge, nil
		}
		if err == nil && a > 0 {
			maxAge -= min(a, maxAge)
		}
	}
	return clamp(time.Duration(maxAge) * time.Second)
}

// cacheMaxAge reads the Cache-Control field lines (RFC 9111 §5.2): the
// max-age in seconds, 0 for no-cache or no-store, and false when there is
// no usable max-age. A repeated or malformed max-age counts as 0 (RFC 9111
// §4.2.1 lets a cache treat such a response as stale).
func cacheMaxAge(lines []string) (int64, bool) {
	var (
		age   int64
		found bool
	)
	for _, line := range lines {
		for d := range strings.SplitSeq(line, ",") {
			name, val, hasVal := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache", "no-store":
				return 0, true
			case "max-age":
				if found || !hasVal {
					return 0, true
				}
				found = true
				val = strings.Trim(strings.TrimSpace(val), `"`)
				n, err := strconv.ParseUint(val, 10, 63)
				switch {
				case errors.Is(err, strconv.ErrRange):
					age = 1<<31 - 1 // huge: clamped to the upper bound
				case err != nil || val == "":
					return 0, true
				default:
					age = int64(min(n, 1<<31-1))
				}
			}
		}
	}
	return age, found
}

// parseRemoteJWKS keeps the usable signature keys of a JWKS document and
// skips the others: one key authkit cannot use must not take the whole set
// down. Each skipped key is logged at Warn as "JWKS key <kid> unusable:
// <why>" and returned in unusable by kid, so that a token naming it is
// refused with that reason rather than as an unknown key or an outage.
// Symmetric keys are always skipped: a secret never comes from a URL. A
// document with no key at all, or one that is not a JWKS, is an error (a
// failed fetch); one whose keys are all unusable is not: set is then nil.
// Only a JWK counts as a key here — a JSON object with a non-empty string
// "kty" — so a "keys" array of nulls, strings or objects without a kty
// (say {"keys":[{}]}) is not a JWKS, and the last good keys keep serving
// rather than being replaced by an empty set (found by review). Such
// elements beside real JWKs are skipped like unusable keys. A kid that two
// elements name is unusable, whether or not the other element is a key
// authkit can use: no key under it is chosen.
func parseRemoteJWKS(body []byte, defaultAlg keys.Algorithm, log *slog.Logger, url string) (set *keys.Set, unusable map[string]string, err error) {
	// Strict JSON, the "keys" member by its exact name (no duplicate or
	// case variant of it); each key is then parsed strictly by keys.
	var doc struct{ Keys []json.RawMessage }
	o, err := strictjson.NewObject(body)
	for err == nil && o.Next() {
		if string(o.Name()) != "keys" {
			continue
		}
		var a strictjson.Array
		if a, err = o.Value().Elements(); err != nil {
			break
		}
		doc.Keys = doc.Keys[:0]
		for a.Next() && len(doc.Keys) <= 100 {
			doc.Keys = append(doc.Keys, json.RawMessage(a.Value().Raw()))
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	if len(doc.Keys) > 100 {
		return nil, nil, errors.New("more than 100 keys")
	}
	if len(doc.Keys) == 0 {
		return nil, nil, errors.New("no keys")
	}
	jwks := 0
	for _, raw := range doc.Keys {
		if isJWK(raw) {
			jwks++
		}
	}
	if jwks == 0 {
		return nil, nil, errors.New(`not a JWKS document: no element of "keys" is a JWK (an object with a string "kty")`)
	}
	var ks []*keys.Key
	// named counts the elements naming each kid, usable or not: a usable key
	// whose kid another element also names is not chosen either.
	named := make(map[string]int, len(doc.Keys))
	for _, raw := range doc.Keys {
		var head struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		_ = json.Unmarshal(raw, &head)
		why := ""
		k, perr := keys.ParseJWK(withDefaultAlg(raw, defaultAlg))
		switch {
		case head.Use == "enc":
			why = "an encryption key (use enc)"
		case perr != nil && head.Kty == "RSA" && head.Alg == "" && defaultAlg == "":
			why = "no alg (see authkit.WithJWKSDefaultAlgorithm)"
		case perr != nil:
			why = perr.Error()
		case k.Symmetric():
			why = "a symmetric key (a secret is never taken from a URL)"
		case k.CanSign():
			// Anyone who can fetch the document can sign with it: the
			// issuer's key is compromised (found by review: it was used,
			// its public half, without a word).
			why = "a private key (published, so anyone can sign with it: the issuer must replace it and publish public keys only)"
		}
		if why != "" {
			if head.Kid != "" {
				named[head.Kid]++
			}
			if unusable == nil {
				unusable = make(map[string]string)
			}
			if len(head.Kid) > 256 {
				head.Kid = head.Kid[:256]
			}
			unusable[head.Kid] = why
			log.Warn(fmt.Sprintf("authkit: JWKS key %q unusable: %s", head.Kid, why), "url", url, "kid", head.Kid)
			continue
		}
		named[k.ID()]++
		ks = append(ks, k.Public())
	}
	// Two keys under one kid, usable or not: neither is chosen over the
	// other (a token naming the kid is refused with the reason); the other
	// keys stay in service. The kids of unusable keys count too: until
	// 2026-12-04 only usable keys were counted, so a usable key whose twin
	// authkit could not use (say a P-256 key marked "ES384") was chosen
	// (found by review).
	const twoKeys = "two keys with this kid in the JWKS"
	kept := ks[:0]
	for _, k := range ks {
		if named[k.ID()] == 1 {
			kept = append(kept, k)
			continue
		}
		if unusable == nil {
			unusable = make(map[string]string)
		}
		if unusable[k.ID()] != twoKeys {
			unusable[k.ID()] = twoKeys
			log.Warn(fmt.Sprintf("authkit: JWKS key %q unusable: two keys with this kid", k.ID()), "url", url, "kid", k.ID())
		}
	}
	ks = kept
	if len(ks) == 0 {
		return nil, unusable, nil
	}
	set, err = keys.NewVerificationSet(ks...)
	if err != nil {
		return nil, nil, err
	}
	return set, unusable, nil
}

// isJWK reports whether raw, an element of a JWKS document's "keys", is a
// JWK at all: a JSON object with a non-empty string "kty" member (RFC 7517
// §4.1), whether or not authkit can use the key.
func isJWK(raw []byte) bool {
	o, err := strictjson.NewObject(raw)
	if err != nil {
		return false
	}
	for o.Next() {
		if string(o.Name()) == "kty" {
			v := o.Value()
			if v.Kind() != strictjson.KindString {
				return false
			}
			kty, err := v.Text()
			return err == nil && kty != ""
		}
	}
	return false
}

// withDefaultAlg returns raw with "alg" set to alg when raw is an RSA JWK
// without one and alg is set; otherwise raw unchanged.
func withDefaultAlg(raw json.RawMessage, alg keys.Algorithm) []byte {
	if alg == "" || strictjson.Valid(raw) != nil {
		return raw // keys.ParseJWK refuses what is not strict JSON
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	if _, has := m["alg"]; has || string(m["kty"]) != `"RSA"` {
		return raw
	}
	m["alg"], _ = json.Marshal(string(alg))
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}
