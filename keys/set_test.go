package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

func TestNewSet(t *testing.T) {
	a, b := newKey(t, keys.ES256), newKey(t, keys.EdDSA)
	s, err := keys.NewSet(a, b)
	mustNoErr(t, err)
	if s.Active() != a {
		t.Fatal("active key not set")
	}
	if ks := s.Keys(); len(ks) != 2 || ks[0] != a || ks[1] != b {
		t.Fatalf("Keys() = %v", ks)
	}
	_, err = keys.NewSet(a.Public())
	wantErr(t, err, keys.ErrNotSigningKey)
	_, err = keys.NewSet(nil)
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewSet(a, nil)
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewSet(a, a.Public())
	wantErr(t, err, keys.ErrDuplicateKeyID)
	dup, err := keys.NewHMAC(keys.HS256, make([]byte, 32), a.ID())
	mustNoErr(t, err)
	_, err = keys.NewSet(a, dup)
	wantErr(t, err, keys.ErrDuplicateKeyID)

	v, err := keys.NewVerificationSet(a.Public(), b.Public())
	mustNoErr(t, err)
	if v.Active() != nil {
		t.Fatal("verification set has an active key")
	}
	if k, ok := v.Lookup(b.ID()); !ok || k.CanSign() {
		t.Fatalf("Lookup(%q) = %v, %v", b.ID(), k, ok)
	}
	_, err = keys.NewVerificationSet(a, a)
	wantErr(t, err, keys.ErrDuplicateKeyID)
	empty, err := keys.NewVerificationSet()
	mustNoErr(t, err)
	if _, ok := empty.Lookup(""); ok || len(empty.Keys()) != 0 {
		t.Fatal("empty set finds keys")
	}

	many := make([]*keys.Key, keys.MaxSetKeys+1)
	for i := range many {
		many[i], _ = keys.NewHMAC(keys.HS256, make([]byte, 32), fmt.Sprint("k", i))
	}
	_, err = keys.NewVerificationSet(many...)
	wantErr(t, err, keys.ErrInvalidKey)
	full, err := keys.NewVerificationSet(many[:keys.MaxSetKeys]...)
	mustNoErr(t, err)
	wantErr(t, full.Add(many[keys.MaxSetKeys]), keys.ErrInvalidKey)
}

func TestZeroAndNilSet(t *testing.T) {
	var s keys.Set
	if s.Active() != nil || s.Keys() != nil {
		t.Fatal("zero Set not empty")
	}
	if _, ok := s.Lookup("x"); ok {
		t.Fatal("zero Set finds a key")
	}
	k := newKey(t, keys.EdDSA)
	mustNoErr(t, s.Add(k))
	mustNoErr(t, s.Activate(k.ID()))
	if s.Active() != k {
		t.Fatal("zero Set did not take a key")
	}
	var n *keys.Set
	if _, ok := n.Lookup("x"); ok || n.Active() != nil || n.Keys() != nil {
		t.Fatal("nil Set finds keys")
	}
	wantErr(t, n.Add(k), keys.ErrInvalidKey)
	wantErr(t, n.Activate("x"), keys.ErrInvalidKey)
	wantErr(t, n.Remove("x"), keys.ErrInvalidKey)
	b, err := n.JWKS()
	mustNoErr(t, err)
	if string(b) != `{"keys":[]}` {
		t.Fatalf("nil Set JWKS = %s", b)
	}
	_, err = n.MarshalPrivateJWKS()
	wantErr(t, err, keys.ErrInvalidKey)
}

// TestRotation walks the four rotation steps of the package documentation.
func TestRotation(t *testing.T) {
	old := newKey(t, keys.ES256)
	s, err := keys.NewSet(old)
	mustNoErr(t, err)
	oldSig, _ := old.Sign(signingInput)

	// Step 1: add the new key; the old one still signs.
	next := newKey(t, keys.ES256)
	mustNoErr(t, s.Add(next))
	if s.Active() != old {
		t.Fatal("Add changed the active key")
	}
	if k, ok := s.Lookup(next.ID()); !ok || k != next {
		t.Fatal("added key not found")
	}
	wantErr(t, s.Add(next), keys.ErrDuplicateKeyID)
	wantErr(t, s.Add(nil), keys.ErrInvalidKey)

	// Step 2: activate it; tokens of the old key still verify.
	mustNoErr(t, s.Activate(next.ID()))
	if s.Active() != next || s.Keys()[0] != next {
		t.Fatal("Activate did not switch the active key")
	}
	k, ok := s.Lookup(old.ID())
	if !ok {
		t.Fatal("old key gone after Activate")
	}
	mustNoErr(t, k.Verify(signingInput, oldSig))
	mustNoErr(t, s.Activate(next.ID())) // idempotent
	wantErr(t, s.Activate("no-such-kid"), keys.ErrUnknownKey)
	pubOnly := newKey(t, keys.EdDSA).Public()
	mustNoErr(t, s.Add(pubOnly))
	wantErr(t, s.Activate(pubOnly.ID()), keys.ErrNotSigningKey)
	mustNoErr(t, s.Remove(pubOnly.ID()))

	// Step 4: remove the old key (step 3 is waiting).
	wantErr(t, s.Remove(next.ID()), keys.ErrActiveKey)
	mustNoErr(t, s.Remove(old.ID()))
	if _, ok := s.Lookup(old.ID()); ok {
		t.Fatal("removed key still found")
	}
	wantErr(t, s.Remove(old.ID()), keys.ErrUnknownKey)
	if ks := s.Keys(); len(ks) != 1 || ks[0] != next {
		t.Fatalf("Keys() after rotation = %v", ks)
	}
}

func TestKeysOrder(t *testing.T) {
	a, b, c := newKey(t, keys.HS256), newKey(t, keys.HS384), newKey(t, keys.HS512)
	s, err := keys.NewVerificationSet(a, b, c)
	mustNoErr(t, err)
	mustNoErr(t, s.Activate(b.ID()))
	ks := s.Keys()
	if ks[0] != b || ks[1] != a || ks[2] != c {
		t.Fatalf("Keys() = %v, want b, a, c", ks)
	}
	ks[0] = nil
	if s.Keys()[0] != b {
		t.Fatal("Keys() shares its slice")
	}
}

// TestJWKSHasNoSecrets publishes a set holding every kind of private key
// and checks, member by member, that only public material comes out.
func TestJWKSHasNoSecrets(t *testing.T) {
	all := allKinds(t)
	s, err := keys.NewSet(all[len(all)-1], all[:len(all)-1]...)
	mustNoErr(t, err)
	doc, err := s.JWKS()
	mustNoErr(t, err)
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	mustNoErr(t, json.Unmarshal(doc, &parsed))
	var top map[string]any
	mustNoErr(t, json.Unmarshal(doc, &top))
	if len(top) != 1 {
		t.Fatalf("JWKS has top-level members %v", keysOf(top))
	}
	if len(parsed.Keys) != 10 {
		t.Fatalf("JWKS has %d keys, want the 10 asymmetric ones", len(parsed.Keys))
	}
	if parsed.Keys[0]["kid"] != s.Active().ID() {
		t.Error("JWKS does not list the active key first")
	}
	for _, m := range parsed.Keys {
		for name := range m {
			if !publicMember[name] {
				t.Errorf("JWKS key %v has member %q", m["kid"], name)
			}
		}
		if m["kty"] == "oct" || strings.HasPrefix(fmt.Sprint(m["alg"]), "HS") {
			t.Errorf("JWKS contains a symmetric key %v", m["kid"])
		}
		if m["use"] != "sig" || m["alg"] == nil || m["kid"] == nil {
			t.Errorf("JWKS key lacks use/alg/kid: %v", m)
		}
	}
	// A verifier loads it: public keys only, no active key, same kids.
	v, err := keys.ParseJWKS(doc)
	mustNoErr(t, err)
	if v.Active() != nil {
		t.Fatal("public JWKS produced an active key")
	}
	for _, k := range all {
		got, ok := v.Lookup(k.ID())
		if k.Symmetric() {
			if ok {
				t.Errorf("HMAC key %s published", k.ID())
			}
			continue
		}
		if !ok || got.CanSign() || got.Algorithm() != k.Algorithm() {
			t.Fatalf("Lookup(%s) = %v, %v", k.ID(), got, ok)
		}
		sig, _ := k.Sign(signingInput)
		mustNoErr(t, got.Verify(signingInput, sig))
	}
}

// allKinds returns one signing key per algorithm with distinct kids and
// distinct key material (a signing set refuses one key under two kids).
func allKinds(t *testing.T) []*keys.Key {
	t.Helper()
	var all []*keys.Key
	rsaN := 0
	for _, alg := range keys.Algorithms() {
		k, err := keys.NewPrivate(alg, testRSAKeyN(t, rsaN), "kid-"+string(alg))
		if alg.Symmetric() || err != nil { // not an RSA algorithm
			k = newKey(t, alg)
		} else {
			rsaN++
		}
		all = append(all, k)
	}
	return all
}

func TestPrivateJWKSRoundTrip(t *testing.T) {
	asym := allKinds(t)[3:]
	s, err := keys.NewSet(asym[2], asym...)
	if err == nil {
		t.Fatal("NewSet accepted the active key twice")
	}
	s, err = keys.NewSet(asym[2], append(append([]*keys.Key{}, asym[:2]...), asym[3:]...)...)
	mustNoErr(t, err)
	doc, err := s.MarshalPrivateJWKS()
	mustNoErr(t, err)
	back, err := keys.ParseJWKS(doc)
	mustNoErr(t, err)
	if back.Active() == nil || back.Active().ID() != s.Active().ID() {
		t.Fatalf("active key not preserved: %v", back.Active())
	}
	want, got := s.Keys(), back.Keys()
	if len(got) != len(want) {
		t.Fatalf("%d keys back, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID() != want[i].ID() || got[i].Thumbprint() != want[i].Thumbprint() || !got[i].CanSign() {
			t.Fatalf("key %d: %v, want %v", i, got[i], want[i])
		}
		sig, err := got[i].Sign(signingInput)
		mustNoErr(t, err)
		mustNoErr(t, want[i].Verify(signingInput, sig))
	}

	// HMAC key files work the same way.
	h1, h2 := newKey(t, keys.HS256), newKey(t, keys.HS512)
	hs, err := keys.NewSet(h2, h1)
	mustNoErr(t, err)
	doc, err = hs.MarshalPrivateJWKS()
	mustNoErr(t, err)
	hback, err := keys.ParseJWKS(doc)
	mustNoErr(t, err)
	if hback.Active().ID() != h2.ID() || len(hback.Keys()) != 2 {
		t.Fatal("HMAC key file did not round-trip")
	}
	pub, err := hs.JWKS()
	mustNoErr(t, err)
	if string(pub) != `{"keys":[]}` {
		t.Fatalf("HMAC set published %s", pub)
	}

	// Sets ParseJWKS would refuse cannot be written.
	mixed, err := keys.NewSet(h1, asym[0])
	mustNoErr(t, err)
	_, err = mixed.MarshalPrivateJWKS()
	wantErr(t, err, keys.ErrInvalidKey)
	withPublic, err := keys.NewSet(asym[0], asym[1].Public())
	mustNoErr(t, err)
	_, err = withPublic.MarshalPrivateJWKS()
	wantErr(t, err, keys.ErrInvalidKey)
}

func TestParseJWKSRules(t *testing.T) {
	es1, es2 := newKey(t, keys.ES256), newKey(t, keys.ES256)
	hs := newKey(t, keys.HS256)
	jwk := func(k *keys.Key, private bool) json.RawMessage {
		if private {
			return mustJSON(k.MarshalJWK())
		}
		return mustJSON(k.PublicJWK())
	}
	noKID := func(raw json.RawMessage) json.RawMessage {
		m := jwkMap(t, raw)
		delete(m, "kid")
		return toJSON(t, m)
	}
	set := func(ks ...json.RawMessage) []byte { return toJSON(t, map[string]any{"keys": ks}) }

	s, err := keys.ParseJWKS(set(noKID(jwk(es1, false))))
	mustNoErr(t, err)
	if _, ok := s.Lookup(es1.Thumbprint()); !ok {
		t.Fatal("single key without kid not found by its thumbprint")
	}
	s, err = keys.ParseJWKS(set(jwk(es1, false), jwk(es2, false)))
	mustNoErr(t, err)
	if s.Active() != nil || len(s.Keys()) != 2 {
		t.Fatal("public JWKS misread")
	}
	s, err = keys.ParseJWKS(set(jwk(es2, true), jwk(es1, true)))
	mustNoErr(t, err)
	if s.Active() == nil || s.Active().ID() != es2.ID() {
		t.Fatal("the first signing key is not active")
	}

	var tooMany []json.RawMessage
	for i := 0; i <= keys.MaxSetKeys; i++ {
		k, _ := keys.NewHMAC(keys.HS256, make([]byte, 32), fmt.Sprint("k", i))
		tooMany = append(tooMany, jwk(k, true))
	}
	huge := []byte(`{"keys":[` + string(jwk(es1, false)) + `],"pad":"` + strings.Repeat("x", keys.MaxJWKSBytes) + `"}`)

	for _, tc := range []struct {
		name   string
		doc    []byte
		target error
	}{
		{"duplicate kid", set(jwk(es1, false), jwk(es1, false)), keys.ErrDuplicateKeyID},
		{"no kid in a multi-key set", set(jwk(es1, false), noKID(jwk(es2, false))), keys.ErrInvalidKey},
		{"symmetric and asymmetric", set(jwk(hs, true), jwk(es1, false)), keys.ErrInvalidKey},
		{"symmetric and asymmetric private", set(jwk(hs, true), jwk(es1, true)), keys.ErrInvalidKey},
		{"private and public", set(jwk(es1, true), jwk(es2, false)), keys.ErrInvalidKey},
		{"one bad key", set(jwk(es1, false), json.RawMessage(`{"kty":"EC","kid":"x","crv":"P-256"}`)), keys.ErrInvalidKey},
		{"one weak key", set(jwk(hs, true), json.RawMessage(`{"kty":"oct","kid":"w","alg":"HS256","k":"AAAA"}`)), keys.ErrWeakKey},
		{"one unsupported key", set(jwk(es1, false), json.RawMessage(`{"kty":"RSA","kid":"e","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}`)), keys.ErrUnsupportedAlgorithm},
		{"empty", []byte(`{"keys":[]}`), keys.ErrInvalidKey},
		{"keys null", []byte(`{"keys":null}`), keys.ErrInvalidKey},
		{"keys object", []byte(`{"keys":{}}`), keys.ErrInvalidKey},
		{"no keys member", []byte(`{"kty":"oct"}`), keys.ErrInvalidKey},
		{"duplicate keys member", []byte(`{"keys":[` + string(jwk(es1, false)) + `],"keys":[]}`), keys.ErrInvalidKey},
		{"a bare JWK", jwk(es1, false), keys.ErrInvalidKey},
		{"not JSON", []byte(`{"keys":[`), keys.ErrInvalidKey},
		{"too many keys", set(tooMany...), keys.ErrInvalidKey},
		{"too large", huge, keys.ErrInvalidKey},
		{"element not an object", []byte(`{"keys":["x"]}`), keys.ErrInvalidKey},
	} {
		if _, err := keys.ParseJWKS(tc.doc); !isErr(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
		}
	}
	// A mixed set names the public-only key, first or not (found by an
	// adoption test: a key file that lost one key's "d" named none).
	for _, doc := range [][]byte{set(jwk(es1, true), jwk(es2, false)), set(jwk(es2, false), jwk(es1, true))} {
		// Long kids are cut short in messages: their first 32 bytes.
		if _, err := keys.ParseJWKS(doc); err == nil || !strings.Contains(err.Error(), es2.ID()[:32]) || strings.Contains(err.Error(), es1.ID()[:32]) {
			t.Errorf("a set mixing private and public-only keys: %v, want it to name %q alone", err, es2.ID())
		}
	}
}

// TestConcurrentRotation rotates keys while readers look them up; run it
// with -race. Readers must always see a consistent snapshot: an active key
// that is first in Keys and found by Lookup.
func TestConcurrentRotation(t *testing.T) {
	pool := make([]*keys.Key, 8)
	for i := range pool {
		pool[i], _ = keys.NewHMAC(keys.HS256, []byte(strings.Repeat(fmt.Sprint(i), 32)), fmt.Sprint("kid-", i))
	}
	s, err := keys.NewSet(pool[0])
	mustNoErr(t, err)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	var ready sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			for !stop.Load() {
				a := s.Active()
				if a == nil {
					t.Error("no active key")
					return
				}
				if k, ok := s.Lookup(a.ID()); ok && k != a {
					t.Error("Lookup returned another key for the active kid")
					return
				}
				for _, k := range s.Keys() {
					if k == nil {
						t.Error("nil key in Keys")
						return
					}
				}
				for _, k := range pool {
					if got, ok := s.Lookup(k.ID()); ok && got != k {
						t.Error("Lookup returned the wrong key")
						return
					}
				}
				if _, err := s.JWKS(); err != nil {
					t.Error(err)
					return
				}
				lookups.Add(1)
			}
		}()
	}
	ready.Wait()
	// Rotate at least 200 times, and until the readers have done real work
	// concurrently (on 2 cores the writer could otherwise finish first).
	for i := 1; i < 200 || lookups.Load() < 500; i++ {
		if i > 1_000_000 {
			t.Fatal("readers made no progress")
		}
		if t.Failed() { // a reader gave up: its error says why
			break
		}
		next := pool[i%len(pool)]
		prev := s.Active()
		if err := s.Add(next); err != nil {
			t.Fatal(err)
		}
		if err := s.Activate(next.ID()); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(prev.ID()); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
}

func TestLookupDoesNotAllocate(t *testing.T) {
	a, b := newKey(t, keys.HS256), newKey(t, keys.EdDSA)
	s, err := keys.NewSet(a, b.Public())
	mustNoErr(t, err)
	kid := b.ID()
	allocs := testing.AllocsPerRun(200, func() {
		if _, ok := s.Lookup(kid); !ok {
			t.Fatal("not found")
		}
		if _, ok := s.Lookup("missing"); ok {
			t.Fatal("found")
		}
		_ = s.Active()
	})
	if allocs != 0 {
		t.Fatalf("Lookup allocates %.1f times per call, want 0", allocs)
	}
}

func BenchmarkLookup(b *testing.B) {
	k := newKey(b, keys.HS256)
	s, _ := keys.NewSet(k)
	kid := k.ID()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Lookup(kid); !ok {
			b.Fatal("not found")
		}
	}
}

// A set that signs refuses one key's material under two kids, however it
// is built (found by review: a hand-edited key file held one key under two
// kids, and removing one left it signing under the other). A verification
// set, such as a remote issuer's JWKS, may hold them.
func TestSigningSetRefusesSameMaterial(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 64)
	h1, err := keys.NewHMAC(keys.HS256, secret, "h1")
	mustNoErr(t, err)
	h2, err := keys.NewHMAC(keys.HS512, append([]byte(nil), secret...), "h2")
	mustNoErr(t, err)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	mustNoErr(t, err)
	ed, err := keys.NewPrivate(keys.EdDSA, edPriv, "ed")
	mustNoErr(t, err)
	edAgain, err := keys.NewPrivate(keys.EdDSA, edPriv, "ed-again")
	mustNoErr(t, err)
	rsa256, err := keys.NewPrivate(keys.RS256, testRSAKey(t), "rs")
	mustNoErr(t, err)
	ps256, err := keys.NewPrivate(keys.PS256, testRSAKey(t), "ps")
	mustNoErr(t, err)

	for _, c := range []struct {
		name string
		a, b *keys.Key
	}{
		{"one HMAC secret", h1, h2},
		{"one Ed25519 key", ed, edAgain},
		{"one RSA key for RS256 and PS256", rsa256, ps256},
	} {
		if c.b.ID() == c.a.ID() {
			t.Fatalf("%s: the fixture's kids are equal", c.name)
		}
		if _, err := keys.NewSet(c.a, c.b); !errors.Is(err, keys.ErrInvalidKey) {
			t.Errorf("%s under kids %q and %q: NewSet: %v, want ErrInvalidKey", c.name, c.a.ID(), c.b.ID(), err)
		}
		s, err := keys.NewSet(c.a)
		mustNoErr(t, err)
		if err := s.Add(c.b); !errors.Is(err, keys.ErrInvalidKey) {
			t.Errorf("%s: Add to a signing set: %v, want ErrInvalidKey", c.name, err)
		}
		if _, err := keys.NewVerificationSet(c.a, c.b); err != nil {
			t.Errorf("%s: a verification set: %v, want it accepted", c.name, err)
		}
	}
	// A private key file holding one key under two kids.
	doc := []byte(`{"keys":[` + mustJWK(t, ed) + `,` + mustJWK(t, edAgain) + `]}`)
	if _, err := keys.ParseJWKS(doc); !errors.Is(err, keys.ErrInvalidKey) {
		t.Errorf("ParseJWKS of a private set with one key under two kids: %v, want ErrInvalidKey", err)
	}
}

func mustJWK(t *testing.T, k *keys.Key) string {
	t.Helper()
	b, err := k.MarshalJWK()
	mustNoErr(t, err)
	return string(b)
}
