package keys_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/authkit-go/authkit/internal/wycheproof"
	"github.com/authkit-go/authkit/keys"
)

// readJSON loads a Wycheproof vector file (wycheproof.JWSFile or
// wycheproof.JWKFile, kept inside the repository) into v.
func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := wycheproof.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// One 2048-bit RSA key shared by the tests: generating one per test would
// dominate the run time.
var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKey
}

// More 2048-bit RSA keys, each made once when first asked for: a set that
// signs may not hold one key's material under two kids, so a test that
// puts every RSA algorithm in one such set needs a key per algorithm.
var (
	rsaMoreMu sync.Mutex
	rsaMore   = map[int]*rsa.PrivateKey{}
)

// testRSAKeyN returns the n-th shared RSA key; 0 is testRSAKey's.
func testRSAKeyN(t testing.TB, n int) *rsa.PrivateKey {
	t.Helper()
	if n == 0 {
		return testRSAKey(t)
	}
	rsaMoreMu.Lock()
	defer rsaMoreMu.Unlock()
	if k, ok := rsaMore[n]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaMore[n] = k
	return k
}

// newKey returns a fresh signing key for alg, reusing the shared RSA key
// for RS and PS algorithms.
func newKey(t testing.TB, alg keys.Algorithm) *keys.Key {
	t.Helper()
	var (
		k   *keys.Key
		err error
	)
	switch alg {
	case keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512:
		k, err = keys.NewPrivate(alg, testRSAKey(t), "")
	default:
		k, err = keys.Generate(alg)
	}
	if err != nil {
		t.Fatalf("key for %s: %v", alg, err)
	}
	return k
}

// wantErr fails unless err matches target.
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one matching %v", err, target)
	}
}

func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// jwkMap decodes a JWK into a map, for editing members in tests.
func jwkMap(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func toJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isErr(err, target error) bool { return errors.Is(err, target) }
