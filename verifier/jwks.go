package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/keys"
)

// maxJWKSBody bounds a fetched JWKS document.
const maxJWKSBody = 1 << 20

// remoteKeys caches a remote JWKS document. Lookups of known kids never
// block or allocate. An unknown kid triggers a fetch at most once per
// interval; a document older than maxAge is refreshed by the first lookup
// that finds it stale while the others keep using it. A failed fetch keeps
// the cached keys.
type remoteKeys struct {
	url      string
	client   *http.Client
	interval time.Duration
	maxAge   time.Duration
	now      func() time.Time
	log      *slog.Logger
	// defaultAlg binds alg-less RSA keys (WithJWKSDefaultAlgorithm); "" skips them.
	defaultAlg keys.Algorithm

	set       atomic.Pointer[keys.Set]
	fetchedAt atomic.Int64 // unix nanoseconds of the last successful fetch

	mu        sync.Mutex // held while fetching
	lastTried time.Time  // guarded by mu
}

func newRemoteKeys(url string, client *http.Client, interval time.Duration, now func() time.Time, log *slog.Logger) *remoteKeys {
	return &remoteKeys{url: url, client: client, interval: interval, maxAge: 10 * interval, now: now, log: log}
}

func (r *remoteKeys) lookup(ctx context.Context, kid string) (*keys.Key, bool, error) {
	now := r.now()
	if s := r.set.Load(); s != nil {
		k, ok := s.Lookup(kid)
		if ok && now.Sub(time.Unix(0, r.fetchedAt.Load())) < r.maxAge {
			return k, true, nil
		}
		if ok {
			// Stale but known: one caller refreshes, the others go on.
			if r.mu.TryLock() {
				r.refreshLocked(ctx, now)
				r.mu.Unlock()
				if s2 := r.set.Load(); s2 != nil {
					k2, ok2 := s2.Lookup(kid)
					return k2, ok2, nil
				}
			}
			return k, true, nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.set.Load(); s != nil {
		if k, ok := s.Lookup(kid); ok { // fetched while we waited
			return k, true, nil
		}
	}
	r.refreshLocked(ctx, now)
	if s := r.set.Load(); s != nil {
		k, ok := s.Lookup(kid)
		return k, ok, nil
	}
	// Never fetched successfully: we cannot tell whether the token is good,
	// which is not the same as knowing it is bad.
	return nil, false, errJWKSUnavailable
}

var errJWKSUnavailable = fmt.Errorf("verifier: %w: the JWKS document could not be fetched", authkit.ErrStoreUnavailable)

// refreshLocked fetches the document unless one was tried less than an
// interval ago. r.mu is held.
func (r *remoteKeys) refreshLocked(ctx context.Context, now time.Time) {
	if !r.lastTried.IsZero() && now.Sub(r.lastTried) < r.interval {
		return
	}
	r.lastTried = now
	s, err := r.fetch(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "authkit: fetching JWKS failed; keeping cached keys", "url", r.url, "error", err)
		return
	}
	r.set.Store(s)
	r.fetchedAt.Store(now.UnixNano())
}

func (r *remoteKeys) fetch(ctx context.Context) (*keys.Set, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBody {
		return nil, errors.New("document larger than 1 MiB")
	}
	return parseRemoteJWKS(body, r.defaultAlg, r.log)
}

// parseRemoteJWKS keeps the usable signature keys of a JWKS document and
// skips (and logs) the others, such as encryption keys: one key authkit
// cannot use must not take the whole set down. Symmetric keys are always
// skipped: a secret never comes from a URL.
func parseRemoteJWKS(body []byte, defaultAlg keys.Algorithm, log *slog.Logger) (*keys.Set, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	if len(doc.Keys) > 100 {
		return nil, errors.New("more than 100 keys")
	}
	var ks []*keys.Key
	for i, raw := range doc.Keys {
		k, err := keys.ParseJWK(withDefaultAlg(raw, defaultAlg))
		if err != nil {
			log.Info("authkit: skipping a JWKS key authkit cannot use", "index", i, "error", err)
			continue
		}
		if k.Symmetric() {
			log.Warn("authkit: skipping a symmetric key published in a JWKS document", "index", i)
			continue
		}
		ks = append(ks, k.Public())
	}
	if len(ks) == 0 {
		return nil, errors.New("no usable signature keys")
	}
	return keys.NewVerificationSet(ks...)
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
