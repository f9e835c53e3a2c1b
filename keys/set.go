package keys

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
)

// Set is a key set: at most one active signing key plus any number of
// verification-only keys, each found by its kid. An issuer signs with
// [Set.Active]; a verifier finds the key named by a token's kid with
// [Set.Lookup]. Rotation (see the package documentation) changes the set
// while it is in use.
//
// A Set is safe for concurrent use. Readers never block and never allocate:
// every mutation builds a new immutable snapshot under a mutex and publishes
// it atomically. The zero Set is an empty verification set.
type Set struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[setState]
}

// setState is one immutable snapshot of a Set.
type setState struct {
	active *Key
	keys   []*Key // insertion order, active included
	byID   map[string]*Key
}

// newState validates keys and indexes them. active, if non-nil, must be
// one of keys.
//
// A set that signs (active non-nil: an issuer's own keys) must not hold
// one key's material under two kids, HMAC secrets included (their
// thumbprint hashes the secret): removing one kid would then leave the
// material verifying, and signing, under the other (found by review: a
// hand-edited key file where "keygen --remove" reported a leaked key
// retired that still signed). A verification-only set, such as a remote
// issuer's JWKS, is not checked: how an identity provider names its keys
// is its own affair.
func newState(active *Key, keys []*Key) (*setState, error) {
	if len(keys) > MaxSetKeys {
		return nil, fmt.Errorf("%w: a set holds at most %d keys", ErrInvalidKey, MaxSetKeys)
	}
	st := &setState{active: active, keys: keys, byID: make(map[string]*Key, len(keys))}
	for i, k := range keys {
		if k == nil || k.fam == famNone {
			return nil, fmt.Errorf("%w: nil or zero Key in a set", ErrInvalidKey)
		}
		if _, dup := st.byID[k.kid]; dup {
			return nil, fmt.Errorf("%w: %s", ErrDuplicateKeyID, quoteShort(k.kid))
		}
		if active != nil {
			for _, o := range keys[:i] {
				if o.thumb == k.thumb {
					return nil, fmt.Errorf("%w: %s and %s hold the same key material (removing one would leave it in use under the other)", ErrInvalidKey, quoteShort(o.kid), quoteShort(k.kid))
				}
			}
		}
		st.byID[k.kid] = k
	}
	return st, nil
}

// NewSet returns a set whose active signing key is active, which must be
// able to sign ([ErrNotSigningKey]), with others as further keys (for
// verification, or to be activated later). Keys must have distinct kids
// ([ErrDuplicateKeyID]) and distinct key material: one key under two kids,
// an HMAC secret included, is [ErrInvalidKey] in a set that signs (made by
// NewSet or by ParseJWKS of private keys, and Add to such a set), since
// removing one kid would leave the key in use under the other; RFC 8725
// §3.1 asks for one algorithm per key besides.
func NewSet(active *Key, others ...*Key) (*Set, error) {
	if active == nil || active.fam == famNone {
		return nil, fmt.Errorf("%w: nil or zero active key", ErrInvalidKey)
	}
	if !active.CanSign() {
		return nil, fmt.Errorf("%w: the active key %s has no private part", ErrNotSigningKey, quoteShort(active.kid))
	}
	keys := append([]*Key{active}, others...)
	st, err := newState(active, keys)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	s.snap.Store(st)
	return s, nil
}

// NewVerificationSet returns a set with no active key: it verifies with
// any of ks and cannot sign. Keys must have distinct kids.
func NewVerificationSet(ks ...*Key) (*Set, error) {
	st, err := newState(nil, append([]*Key(nil), ks...))
	if err != nil {
		return nil, err
	}
	s := &Set{}
	s.snap.Store(st)
	return s, nil
}

// ParseJWKS parses a JWK Set document (RFC 7517 §5), {"keys":[…]}, and
// validates every key as [ParseJWK] does; any bad key refuses the whole set.
// The first key that can sign becomes the active key. It also refuses:
//
//   - documents over MaxJWKSBytes, with no keys, or with more than
//     MaxSetKeys keys ([ErrInvalidKey]);
//   - duplicate kids ([ErrDuplicateKeyID]), and a key without a kid in a
//     set of more than one key ([ErrInvalidKey]);
//   - sets that mix HMAC and asymmetric keys, or private and public-only
//     asymmetric keys ([ErrInvalidKey]). Such a document is ambiguous (is it
//     a private key file or a published JWKS?), and Wycheproof's keyset
//     vectors expect it refused. A JWKS fetched from an issuer therefore has
//     only public keys, and a key file only private ones.
func ParseJWKS(data []byte) (*Set, error) {
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("%w: JWKS is %d bytes, at most %d accepted", ErrInvalidKey, len(data), MaxJWKSBytes)
	}
	m, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS: %v", ErrInvalidKey, err)
	}
	raw, ok := m["keys"]
	if !ok {
		return nil, fmt.Errorf("%w: JWKS without \"keys\"", ErrInvalidKey)
	}
	elems, err := parseArray(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS \"keys\": %v", ErrInvalidKey, err)
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("%w: JWKS has no keys", ErrInvalidKey)
	}
	if len(elems) > MaxSetKeys {
		return nil, fmt.Errorf("%w: JWKS has %d keys, at most %d accepted", ErrInvalidKey, len(elems), MaxSetKeys)
	}
	keys := make([]*Key, 0, len(elems))
	var active *Key
	for i, e := range elems {
		k, hadKID, err := parseJWK(e, MaxJWKBytes)
		if err != nil {
			return nil, fmt.Errorf("%w (JWKS key #%d)", err, i)
		}
		if !hadKID && len(elems) > 1 {
			return nil, fmt.Errorf("%w: JWKS key #%d has no \"kid\"; every key of a multi-key set needs one", ErrInvalidKey, i)
		}
		if active == nil && k.CanSign() {
			active = k
		}
		keys = append(keys, k)
	}
	if err := checkUniform(keys); err != nil {
		return nil, err
	}
	st, err := newState(active, keys)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	s.snap.Store(st)
	return s, nil
}

// checkUniform refuses key lists that mix HMAC and asymmetric keys, or
// private and public-only asymmetric keys (see ParseJWKS).
func checkUniform(keys []*Key) error {
	for _, k := range keys[1:] {
		if k.Symmetric() != keys[0].Symmetric() {
			return fmt.Errorf("%w: key set mixes HMAC and asymmetric keys (%s is %s, %s is %s)", ErrInvalidKey,
				quoteShort(keys[0].ID()), keys[0].Algorithm(), quoteShort(k.ID()), k.Algorithm())
		}
		if k.CanSign() != keys[0].CanSign() {
			// Name the public-only one: its private part was lost when
			// the file was put together (found by an adoption test: the
			// message named no key).
			pub := k
			if !keys[0].CanSign() {
				pub = keys[0]
			}
			return fmt.Errorf("%w: key set mixes private and public-only keys (%s has no private part)", ErrInvalidKey, quoteShort(pub.ID()))
		}
	}
	return nil
}

func (s *Set) load() *setState {
	if s == nil {
		return nil
	}
	return s.snap.Load()
}

// Active returns the active signing key, or nil if the set has none.
func (s *Set) Active() *Key {
	if st := s.load(); st != nil {
		return st.active
	}
	return nil
}

// Lookup returns the key with the given kid. It never blocks and never
// allocates.
func (s *Set) Lookup(kid string) (*Key, bool) {
	st := s.load()
	if st == nil {
		return nil, false
	}
	k, ok := st.byID[kid]
	return k, ok
}

// Keys returns the keys of the set in a fresh slice: the active key first,
// then the others in the order they were added.
func (s *Set) Keys() []*Key {
	st := s.load()
	if st == nil {
		return nil
	}
	return st.ordered()
}

func (st *setState) ordered() []*Key {
	out := make([]*Key, 0, len(st.keys))
	if st.active != nil {
		out = append(out, st.active)
	}
	for _, k := range st.keys {
		if k != st.active {
			out = append(out, k)
		}
	}
	return out
}

// update runs f on the current snapshot under the writer lock and
// publishes the snapshot it returns.
func (s *Set) update(f func(old *setState) (*setState, error)) error {
	if s == nil {
		return fmt.Errorf("%w: nil Set", ErrInvalidKey)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	if old == nil {
		old = &setState{}
	}
	st, err := f(old)
	if err != nil {
		return err
	}
	s.snap.Store(st)
	return nil
}

// Add adds k to the set as a verification key (rotation step 1). Tokens it
// signs verify from now on; it signs only after [Set.Activate]. A kid
// already in the set is refused with [ErrDuplicateKeyID].
func (s *Set) Add(k *Key) error {
	return s.update(func(old *setState) (*setState, error) {
		keys := make([]*Key, 0, len(old.keys)+1)
		keys = append(append(keys, old.keys...), k)
		return newState(old.active, keys)
	})
}

// Activate makes the key with the given kid, already in the set, the
// active signing key (rotation step 2). It returns [ErrUnknownKey] if the
// set has no such key and [ErrNotSigningKey] if the key cannot sign. The
// previous active key stays in the set for verification.
func (s *Set) Activate(kid string) error {
	return s.update(func(old *setState) (*setState, error) {
		k, ok := old.byID[kid]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownKey, quoteShort(kid))
		}
		if !k.CanSign() {
			return nil, fmt.Errorf("%w: %s has no private part", ErrNotSigningKey, quoteShort(kid))
		}
		return &setState{active: k, keys: old.keys, byID: old.byID}, nil
	})
}

// Remove removes the key with the given kid (rotation step 4): tokens it
// signed no longer verify. It returns [ErrUnknownKey] if the set has no such
// key and [ErrActiveKey] if it is the active key.
func (s *Set) Remove(kid string) error {
	return s.update(func(old *setState) (*setState, error) {
		k, ok := old.byID[kid]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownKey, quoteShort(kid))
		}
		if k == old.active {
			return nil, fmt.Errorf("%w: %s; activate another key first", ErrActiveKey, quoteShort(kid))
		}
		keys := make([]*Key, 0, len(old.keys)-1)
		for _, x := range old.keys {
			if x != k {
				keys = append(keys, x)
			}
		}
		return newState(old.active, keys)
	})
}

// jwkSet is the JSON form of a JWK Set.
type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// JWKS returns the public JWK Set document (RFC 7517 §5) to publish, for
// example at /.well-known/jwks.json: the public part of every asymmetric
// key, active first. It never contains a private member (d, p, q, dp, dq,
// qi) or an HMAC key (k): HMAC keys are left out entirely.
func (s *Set) JWKS() ([]byte, error) {
	doc := jwkSet{Keys: []jwk{}}
	if st := s.load(); st != nil {
		for _, k := range st.ordered() {
			if !k.Symmetric() {
				doc.Keys = append(doc.Keys, k.toJWK(false))
			}
		}
	}
	return json.Marshal(doc)
}

// MarshalPrivateJWKS returns every key of the set with its private part
// or secret, active first, as a JWK Set document: the key file a process
// that signs loads with [ParseJWKS]. The result is secret material.
//
// It refuses ([ErrInvalidKey]) an empty set and a set that ParseJWKS could
// not load back: one that mixes HMAC and asymmetric keys, or private and
// public-only keys. A set holding a key made by [NewSigner] is refused with
// [ErrNotExportable]. If the set has no active key, the first signing key
// becomes active when the document is loaded.
func (s *Set) MarshalPrivateJWKS() ([]byte, error) {
	st := s.load()
	if st == nil || len(st.keys) == 0 {
		return nil, fmt.Errorf("%w: empty key set", ErrInvalidKey)
	}
	keys := st.ordered()
	if err := checkUniform(keys); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.signer != nil {
			return nil, notExportable(k)
		}
	}
	doc := jwkSet{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		doc.Keys = append(doc.Keys, k.toJWK(true))
	}
	return json.Marshal(doc)
}
