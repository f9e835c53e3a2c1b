package keys_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

// sentinels are the package's errors; each error it returns matches
// exactly one (see errors.go).
var sentinels = []error{
	keys.ErrUnsupportedAlgorithm, keys.ErrWeakKey, keys.ErrInvalidKey, keys.ErrAlgorithmMismatch,
	keys.ErrNotSigningKey, keys.ErrSymmetricKey, keys.ErrSignerFailed, keys.ErrNotExportable,
	keys.ErrInvalidSignature, keys.ErrUnknownKey, keys.ErrDuplicateKeyID, keys.ErrActiveKey,
}

// checkSentinel fails unless err matches exactly one sentinel.
func checkSentinel(t *testing.T, what string, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%s: error %q matches %d sentinel errors, want exactly 1", what, err, n)
	}
}

// fuzzSameKey fails unless a and b are the same key: kid, algorithm, kind,
// thumbprint and (for keys that export) the same JWK, and unless a
// signature by the one verifies with the other.
func fuzzSameKey(t *testing.T, a, b *keys.Key) {
	t.Helper()
	if a.ID() != b.ID() || a.Algorithm() != b.Algorithm() || a.CanSign() != b.CanSign() ||
		a.Symmetric() != b.Symmetric() || a.Thumbprint() != b.Thumbprint() {
		t.Fatalf("re-parsed key %v (thumbprint %s) differs from %v (thumbprint %s)", b, b.Thumbprint(), a, a.Thumbprint())
	}
	ja, err := a.MarshalJWK()
	if err != nil {
		t.Fatalf("MarshalJWK of a parsed key: %v", err)
	}
	jb, err := b.MarshalJWK()
	if err != nil {
		t.Fatalf("MarshalJWK of a re-parsed key: %v", err)
	}
	if !bytes.Equal(ja, jb) {
		t.Fatal("a key's JWK changes when parsed again")
	}
	if a.CanSign() {
		msg := []byte("fuzz signing input")
		sig, err := a.Sign(msg)
		if err != nil {
			t.Fatalf("Sign with a parsed key: %v", err)
		}
		v := b
		if !b.Symmetric() {
			v = b.Public()
		}
		if err := v.Verify(msg, sig); err != nil {
			t.Fatalf("a parsed key's signature does not verify with its re-parsed copy: %v", err)
		}
		if err := v.Verify(append(msg, '!'), sig); !errors.Is(err, keys.ErrInvalidSignature) {
			t.Fatalf("a signature verifies over other input: %v", err)
		}
	}
}

// noSecretInString fails if a printed key shows one of its secret JWK
// members (d, k, p, q, dp, dq, qi).
func noSecretInString(t *testing.T, k *keys.Key, jwk []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		t.Fatalf("MarshalJWK wrote invalid JSON: %v", err)
	}
	printed := fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k) + k.String()
	for _, name := range []string{"d", "k", "p", "q", "dp", "dq", "qi"} {
		if s, _ := m[name].(string); len(s) >= 8 && strings.Contains(printed, s) {
			t.Fatalf("a printed key shows its %q member", name)
		}
	}
}

// jwkSeeds returns the JWKs of one key of each algorithm, private and
// public, with and without a kid.
func jwkSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, alg := range keys.Algorithms() {
		k := newKey(t, alg)
		priv, err := k.MarshalJWK()
		mustNoErr(t, err)
		out = append(out, priv)
		if !k.Symmetric() {
			pub, err := k.PublicJWK()
			mustNoErr(t, err)
			out = append(out, pub)
		}
	}
	return out
}

// FuzzParseJWK: any document either parses or fails with exactly one of
// the sentinel errors; a key that parses re-encodes (MarshalJWK,
// PublicJWK) to documents that parse to the same key, signs what its
// re-parsed copy verifies, and never prints its secret.
func FuzzParseJWK(f *testing.F) {
	for _, s := range jwkSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"kty":"oct"}`, `{"kty":"oct","alg":"HS256","k":""}`,
		`{"kty":"oct","alg":"none","k":"AAAA"}`, `{"kty":"EC","crv":"P-256","x":"","y":""}`,
		`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		`{"kty":"OKP","crv":"Ed25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AQAB"}`, `{"kty":"RSA","alg":"RS256","n":"AQAB","e":"AAAAAAAB"}`,
		`{"kty":"EC","crv":"P-256","kty":"EC"}`, `{"kty":"oct","alg":"HS256","k":"AAAA","key_ops":["sign","sign"]}`,
		"{\"kty\":\"oct\",\"kid\":\"\xff\"}", `{"kty":"oct","alg":"HS256","k":"AAAA="}`, `{"kty":"EC"} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := keys.ParseJWK(data)
		if err != nil {
			if k != nil {
				t.Fatal("ParseJWK returned a key with an error")
			}
			checkSentinel(t, "ParseJWK", err)
			return
		}
		if len(data) > keys.MaxJWKBytes || len(k.ID()) == 0 || len(k.ID()) > keys.MaxKeyIDBytes {
			t.Fatalf("ParseJWK accepted %d bytes, kid of %d bytes", len(data), len(k.ID()))
		}
		jwk, err := k.MarshalJWK()
		if err != nil {
			t.Fatalf("MarshalJWK of a parsed key: %v", err)
		}
		noSecretInString(t, k, jwk)
		k2, err := keys.ParseJWK(jwk)
		if err != nil {
			t.Fatalf("a parsed key's MarshalJWK does not parse: %v", err)
		}
		fuzzSameKey(t, k, k2)
		if k.Symmetric() {
			if _, err := k.PublicJWK(); !errors.Is(err, keys.ErrSymmetricKey) {
				t.Fatalf("PublicJWK of an HMAC key: %v", err)
			}
			return
		}
		pub, err := k.PublicJWK()
		if err != nil {
			t.Fatalf("PublicJWK: %v", err)
		}
		for _, name := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, `"k"`} {
			if bytes.Contains(pub, []byte(name+":")) {
				t.Fatalf("PublicJWK carries the member %s", name)
			}
		}
		kp, err := keys.ParseJWK(pub)
		if err != nil {
			t.Fatalf("a parsed key's PublicJWK does not parse: %v", err)
		}
		if kp.CanSign() {
			t.Fatal("a PublicJWK parses to a key that can sign")
		}
		fuzzSameKey(t, k.Public(), kp)
	})
}

// FuzzParseJWKS: a JWK Set either parses or fails with exactly one
// sentinel; one that parses holds between 1 and MaxSetKeys keys of one
// kind, with distinct kids, its active key is its first signing key, and
// it re-encodes (MarshalPrivateJWKS, JWKS) to documents that parse to the
// same keys in the same order.
func FuzzParseJWKS(f *testing.F) {
	seeds := jwkSeeds(f)
	for _, s := range seeds {
		f.Add([]byte(`{"keys":[` + string(s) + `]}`))
	}
	f.Add([]byte(`{"keys":[` + string(seeds[0]) + `,` + string(seeds[0]) + `]}`))
	ed1, ed2 := newKey(f, keys.EdDSA), newKey(f, keys.EdDSA)
	es := newKey(f, keys.ES256)
	set, err := keys.NewSet(ed1, ed2, es)
	mustNoErr(f, err)
	priv, err := set.MarshalPrivateJWKS()
	mustNoErr(f, err)
	pub, err := set.JWKS()
	mustNoErr(f, err)
	f.Add(priv)
	f.Add(pub)
	for _, s := range []string{``, `{}`, `{"keys":[]}`, `{"keys":{}}`, `{"keys":[{}]}`, `{"keys":null}`, `{"keys":[],"keys":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := keys.ParseJWKS(data)
		if err != nil {
			if s != nil {
				t.Fatal("ParseJWKS returned a set with an error")
			}
			checkSentinel(t, "ParseJWKS", err)
			return
		}
		ks := s.Keys()
		if len(ks) == 0 || len(ks) > keys.MaxSetKeys {
			t.Fatalf("ParseJWKS accepted a set of %d keys", len(ks))
		}
		seen := map[string]bool{}
		var firstSigner *keys.Key
		for _, k := range ks {
			if seen[k.ID()] {
				t.Fatalf("two keys with kid %q", k.ID())
			}
			seen[k.ID()] = true
			if got, ok := s.Lookup(k.ID()); !ok || got != k {
				t.Fatalf("Lookup(%q) does not find its key", k.ID())
			}
			if k.Symmetric() != ks[0].Symmetric() || k.CanSign() != ks[0].CanSign() {
				t.Fatal("ParseJWKS accepted a set that mixes kinds of keys")
			}
			if firstSigner == nil && k.CanSign() {
				firstSigner = k
			}
		}
		if s.Active() != firstSigner {
			t.Fatalf("active key %v, want the first signing key %v", s.Active(), firstSigner)
		}
		doc, err := s.MarshalPrivateJWKS()
		if err != nil {
			t.Fatalf("MarshalPrivateJWKS of a parsed set: %v", err)
		}
		s2, err := keys.ParseJWKS(doc)
		if err != nil {
			t.Fatalf("a parsed set's MarshalPrivateJWKS does not parse: %v", err)
		}
		ks2 := s2.Keys()
		if len(ks2) != len(ks) {
			t.Fatalf("re-parsed set has %d keys, want %d", len(ks2), len(ks))
		}
		for i := range ks {
			fuzzSameKey(t, ks[i], ks2[i])
		}
		if ks[0].Symmetric() {
			return
		}
		doc, err = s.JWKS()
		if err != nil {
			t.Fatalf("JWKS of a parsed set: %v", err)
		}
		s3, err := keys.ParseJWKS(doc)
		if err != nil {
			t.Fatalf("a parsed set's JWKS does not parse: %v", err)
		}
		ks3 := s3.Keys()
		if len(ks3) != len(ks) || s3.Active() != nil {
			t.Fatalf("public set has %d keys (active %v), want %d public keys", len(ks3), s3.Active(), len(ks))
		}
		for i := range ks {
			fuzzSameKey(t, ks[i].Public(), ks3[i])
		}
	})
}

// FuzzParsePEM: a PEM document either parses for the algorithm asked or
// fails with exactly one sentinel; a key that parses is bound to that
// algorithm and kid (or a derived one) and re-encodes with MarshalPEM to a
// document that parses to the same key.
func FuzzParsePEM(f *testing.F) {
	for _, alg := range keys.Algorithms() {
		k := newKey(f, alg)
		if k.Symmetric() {
			f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), string(alg), "")
			continue
		}
		priv, err := k.MarshalPEM()
		mustNoErr(f, err)
		pub, err := k.Public().MarshalPEM()
		mustNoErr(f, err)
		f.Add(priv, string(alg), "")
		f.Add(pub, string(alg), "kid-1")
		f.Add(append(append([]byte{}, priv...), pub...), string(alg), "")
		f.Add(priv, string(keys.ES384), "")
	}
	for _, s := range []string{"", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"} {
		f.Add([]byte(s), string(keys.ES256), "")
	}
	f.Add([]byte{}, "none", "")
	f.Fuzz(func(t *testing.T, data []byte, alg, kid string) {
		k, err := keys.ParsePEM(data, keys.Algorithm(alg), kid)
		if err != nil {
			if k != nil {
				t.Fatal("ParsePEM returned a key with an error")
			}
			checkSentinel(t, "ParsePEM", err)
			return
		}
		if string(k.Algorithm()) != alg || (kid != "" && k.ID() != kid) || k.ID() == "" || k.Symmetric() {
			t.Fatalf("ParsePEM(alg %q, kid %q) returned %v", alg, kid, k)
		}
		if len(data) > keys.MaxPEMBytes {
			t.Fatalf("ParsePEM accepted %d bytes", len(data))
		}
		doc, err := k.MarshalPEM()
		if err != nil {
			t.Fatalf("MarshalPEM of a parsed key: %v", err)
		}
		k2, err := keys.ParsePEM(doc, k.Algorithm(), k.ID())
		if err != nil {
			t.Fatalf("a parsed key's MarshalPEM does not parse: %v", err)
		}
		fuzzSameKey(t, k, k2)
	})
}
