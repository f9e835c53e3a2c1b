package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/internal/wycheproof"
	"github.com/authkit-go/authkit/keys"
)

func TestHMACSecretLength(t *testing.T) {
	for _, tc := range []struct {
		alg  keys.Algorithm
		size int
	}{{keys.HS256, 32}, {keys.HS384, 48}, {keys.HS512, 64}} {
		for _, n := range []int{0, 1, tc.size / 2, tc.size - 1} {
			_, err := keys.NewHMAC(tc.alg, make([]byte, n), "k")
			wantErr(t, err, keys.ErrWeakKey)
			j := fmt.Sprintf(`{"kty":"oct","alg":"%s","kid":"k","k":"%s"}`, tc.alg, base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, n)))
			_, err = keys.ParseJWK([]byte(j))
			wantErr(t, err, keys.ErrWeakKey)
		}
		_, err := keys.NewHMAC(tc.alg, nil, "k")
		wantErr(t, err, keys.ErrWeakKey)
		_, err = keys.NewHMAC(tc.alg, bytes.Repeat([]byte{1}, tc.size), "k")
		mustNoErr(t, err)
	}
	// An HS512-sized secret is too short for nothing, but a 32-byte one is
	// too short for HS512.
	_, err := keys.NewHMAC(keys.HS512, make([]byte, 32), "")
	wantErr(t, err, keys.ErrWeakKey)
	_, err = keys.NewHMAC(keys.RS256, make([]byte, 64), "")
	wantErr(t, err, keys.ErrAlgorithmMismatch)
	_, err = keys.NewHMAC("none", make([]byte, 64), "")
	wantErr(t, err, keys.ErrUnsupportedAlgorithm)
}

func TestHMACDerivedKeyID(t *testing.T) {
	secret := bytes.Repeat([]byte("0123456789abcdef"), 4)
	a, err := keys.NewHMAC(keys.HS256, secret, "")
	mustNoErr(t, err)
	b, err := keys.NewHMAC(keys.HS256, bytes.Clone(secret), "")
	mustNoErr(t, err)
	if a.ID() == "" || a.ID() != b.ID() {
		t.Fatalf("kids %q and %q: want equal and non-empty for one secret", a.ID(), b.ID())
	}
	sum := sha256.Sum256(secret)
	for _, plain := range []string{
		base64.RawURLEncoding.EncodeToString(sum[:]),
		base64.RawURLEncoding.EncodeToString(sum[:16]),
		hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:16]),
		a.Thumbprint(),
	} {
		if strings.Contains(plain, a.ID()) || strings.Contains(a.ID(), plain) {
			t.Fatalf("kid %q is a plain hash of the secret", a.ID())
		}
	}
	other := bytes.Clone(secret)
	other[0] ^= 1
	c, _ := keys.NewHMAC(keys.HS256, other, "")
	if c.ID() == a.ID() {
		t.Fatal("different secrets derive the same kid")
	}
	d, _ := keys.NewHMAC(keys.HS512, secret, "")
	if d.ID() == a.ID() {
		t.Fatal("HS256 and HS512 keys derive the same kid")
	}
	e, _ := keys.NewHMAC(keys.HS256, secret, "explicit")
	if e.ID() != "explicit" {
		t.Fatalf("explicit kid lost: %q", e.ID())
	}
	// The JWK form without a kid derives the same kid.
	j := fmt.Sprintf(`{"kty":"oct","alg":"HS256","k":"%s"}`, base64.RawURLEncoding.EncodeToString(secret))
	f, err := keys.ParseJWK([]byte(j))
	mustNoErr(t, err)
	if f.ID() != a.ID() {
		t.Fatalf("JWK without kid: kid %q, want %q", f.ID(), a.ID())
	}
}

func TestKeyIDRules(t *testing.T) {
	secret := make([]byte, 32)
	for _, kid := range []string{strings.Repeat("a", keys.MaxKeyIDBytes+1), "a\nb", "tab\there", "del\x7f", "\xff\xfe", "c1\u0085"} {
		_, err := keys.NewHMAC(keys.HS256, secret, kid)
		wantErr(t, err, keys.ErrInvalidKey)
		_, err = keys.NewPrivate(keys.ES256, mustECDSA(t, elliptic.P256()), kid)
		wantErr(t, err, keys.ErrInvalidKey)
	}
	for _, kid := range []string{strings.Repeat("a", keys.MaxKeyIDBytes), "2026-01 key", "clé/😀", "bilbo.baggins@hobbiton.example"} {
		k, err := keys.NewHMAC(keys.HS256, secret, kid)
		mustNoErr(t, err)
		if k.ID() != kid {
			t.Fatalf("kid %q became %q", kid, k.ID())
		}
	}
	base := `{"kty":"oct","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",`
	for _, kid := range []string{`"kid":""`, `"kid":7`, `"kid":null`, `"kid":["a"]`, `"kid":"a\u0000b"`} {
		_, err := keys.ParseJWK([]byte(base + kid + "}"))
		wantErr(t, err, keys.ErrInvalidKey)
	}
}

func mustECDSA(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	mustNoErr(t, err)
	return k
}

// rsaJWK returns the private JWK members of an RSA key, for editing.
func rsaJWK(t testing.TB, alg keys.Algorithm, priv *rsa.PrivateKey) map[string]any {
	t.Helper()
	k, err := keys.NewPrivate(alg, priv, "rsa")
	mustNoErr(t, err)
	return jwkMap(t, mustJSON(k.MarshalJWK()))
}

func b64Int(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }

func TestRSAModulusSize(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	mustNoErr(t, err)
	_, err = keys.NewPrivate(keys.RS256, small, "")
	wantErr(t, err, keys.ErrWeakKey)
	_, err = keys.NewPublic(keys.PS256, &small.PublicKey, "")
	wantErr(t, err, keys.ErrWeakKey)
	der := x509.MarshalPKCS1PrivateKey(small)
	_, err = keys.ParsePEM(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), keys.RS256, "")
	wantErr(t, err, keys.ErrWeakKey)
	j := fmt.Sprintf(`{"kty":"RSA","alg":"RS256","n":"%s","e":"AQAB"}`, b64Int(small.N))
	_, err = keys.ParseJWK([]byte(j))
	wantErr(t, err, keys.ErrWeakKey)
	_, err = keys.GenerateRSA(keys.RS256, 1024)
	wantErr(t, err, keys.ErrWeakKey)
	_, err = keys.GenerateRSA(keys.RS256, keys.MaxRSABits+8)
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.GenerateRSA(keys.ES256, 2048)
	wantErr(t, err, keys.ErrAlgorithmMismatch)

	// 2047 bits is one too few; 8200 bits is too many.
	n := new(big.Int).Lsh(big.NewInt(1), 2046)
	n.SetBit(n, 0, 1)
	_, err = keys.NewPublic(keys.RS256, &rsa.PublicKey{N: n, E: 65537}, "")
	wantErr(t, err, keys.ErrWeakKey)
	n = new(big.Int).Lsh(big.NewInt(1), 8199)
	n.SetBit(n, 0, 1)
	_, err = keys.NewPublic(keys.RS256, &rsa.PublicKey{N: n, E: 65537}, "")
	wantErr(t, err, keys.ErrInvalidKey)
	// An even modulus.
	even := new(big.Int).Lsh(testRSAKey(t).N, 1)
	even.Rsh(even, 1).SetBit(even, 0, 0)
	_, err = keys.NewPublic(keys.RS256, &rsa.PublicKey{N: even, E: 65537}, "")
	wantErr(t, err, keys.ErrInvalidKey)
}

func TestRSAExponent(t *testing.T) {
	n := testRSAKey(t).N
	for _, tc := range []struct {
		e    int
		want error
	}{
		{1, keys.ErrWeakKey}, {2, keys.ErrWeakKey}, {0, keys.ErrInvalidKey}, {-3, keys.ErrInvalidKey},
		{4, keys.ErrInvalidKey}, {65536, keys.ErrInvalidKey}, {1 << 31, keys.ErrInvalidKey}, {1<<31 + 1, keys.ErrInvalidKey},
		{3, nil}, {65537, nil}, {1<<31 - 1, nil},
	} {
		_, err := keys.NewPublic(keys.RS256, &rsa.PublicKey{N: n, E: tc.e}, "")
		if tc.want == nil {
			if err != nil {
				t.Errorf("e = %d: %v", tc.e, err)
			}
			continue
		}
		if !isErr(err, tc.want) {
			t.Errorf("e = %d: got %v, want %v", tc.e, err, tc.want)
		}
	}
	for _, tc := range []struct {
		e    string
		want error
	}{
		{"AQ", keys.ErrWeakKey}, {"AAE", keys.ErrWeakKey}, {"Ag", keys.ErrWeakKey}, {"AA", keys.ErrInvalidKey},
		{"", keys.ErrInvalidKey}, {"AQAAAAE", keys.ErrInvalidKey}, {"gAAAAQ", keys.ErrInvalidKey}, {"AQAA", keys.ErrInvalidKey},
	} {
		j := fmt.Sprintf(`{"kty":"RSA","alg":"RS256","n":"%s","e":"%s"}`, b64Int(n), tc.e)
		_, err := keys.ParseJWK([]byte(j))
		if !isErr(err, tc.want) {
			t.Errorf("e %q: got %v, want %v", tc.e, err, tc.want)
		}
	}
	// The Wycheproof "exponentOne" private key: e = d = 1.
	m := rsaJWK(t, keys.RS256, testRSAKey(t))
	m["e"], m["d"], m["dp"], m["dq"] = "AQ", "AQ", "AQ", "AQ"
	_, err := keys.ParseJWK(toJSON(t, m))
	wantErr(t, err, keys.ErrWeakKey)
}

// rocaPrimorial is the product of the primes up to 167, the modulus of the
// structure ROCA keys have.
func rocaPrimorial() *big.Int {
	m := big.NewInt(1)
	for p := int64(2); p <= 167; p++ {
		if big.NewInt(p).ProbablyPrime(1) {
			m.Mul(m, big.NewInt(p))
		}
	}
	return m
}

func TestRSAROCA(t *testing.T) {
	// A synthetic modulus with the ROCA structure: n = k·M + (65537^a mod M).
	// Only the public-key checks run on it, which is all a verifier sees.
	m := rocaPrimorial()
	for i := 0; i < 5; i++ {
		a, err := rand.Int(rand.Reader, big.NewInt(1<<40))
		mustNoErr(t, err)
		var n *big.Int
		for n == nil || n.BitLen() != 2048 {
			k, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(2048-m.BitLen())))
			mustNoErr(t, err)
			n = new(big.Int).Mul(k, m)
			n.Add(n, new(big.Int).Exp(big.NewInt(65537), a, m))
		}
		_, err = keys.NewPublic(keys.RS256, &rsa.PublicKey{N: n, E: 65537}, "")
		wantErr(t, err, keys.ErrWeakKey)
		if !strings.Contains(err.Error(), "ROCA") {
			t.Errorf("error does not name ROCA: %v", err)
		}
		j := fmt.Sprintf(`{"kty":"RSA","alg":"PS256","n":"%s","e":"AQAB"}`, b64Int(n))
		_, err = keys.ParseJWK([]byte(j))
		wantErr(t, err, keys.ErrWeakKey)
	}
	// Random moduli (and real keys) are not flagged.
	for i := 0; i < 300; i++ {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 2048))
		mustNoErr(t, err)
		n.SetBit(n, 2047, 1).SetBit(n, 0, 1)
		if _, err := keys.NewPublic(keys.RS256, &rsa.PublicKey{N: n, E: 65537}, ""); err != nil {
			t.Fatalf("random modulus refused: %v", err)
		}
	}
	// The Wycheproof ROCA key (an actual Infineon-style modulus).
	var file jwkFile
	readJSON(t, wycheproof.JWKFile, &file)
	found := false
	for _, g := range file.TestGroups {
		if g.Comment != "jws_rsa_roca_key" {
			continue
		}
		for _, set := range []json.RawMessage{g.Private, g.Public} {
			var s struct{ Keys []json.RawMessage }
			mustNoErr(t, json.Unmarshal(set, &s))
			_, err := keys.ParseJWK(s.Keys[0])
			wantErr(t, err, keys.ErrWeakKey)
			found = true
		}
	}
	if !found {
		t.Fatal("jws_rsa_roca_key group not found in the vectors")
	}
}

func TestRSAPrivateConsistency(t *testing.T) {
	priv := testRSAKey(t)
	good := rsaJWK(t, keys.RS256, priv)
	_, err := keys.ParseJWK(toJSON(t, good))
	mustNoErr(t, err)
	one := "AQ"
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		target error
	}{
		{"d changed", func(m map[string]any) { m["d"] = b64Int(new(big.Int).Add(priv.D, big.NewInt(2))) }, keys.ErrInvalidKey},
		{"qi changed", func(m map[string]any) { m["qi"] = one }, keys.ErrInvalidKey},
		{"dp changed", func(m map[string]any) { m["dp"] = one }, keys.ErrInvalidKey},
		{"p and q swapped", func(m map[string]any) { m["p"], m["q"] = m["q"], m["p"] }, keys.ErrInvalidKey},
		{"p wrong", func(m map[string]any) { m["p"] = b64Int(big.NewInt(3)) }, keys.ErrInvalidKey},
		{"qi missing", func(m map[string]any) { delete(m, "qi") }, keys.ErrInvalidKey},
		{"only d", func(m map[string]any) {
			for _, n := range []string{"p", "q", "dp", "dq", "qi"} {
				delete(m, n)
			}
		}, keys.ErrInvalidKey},
		{"p without d", func(m map[string]any) { delete(m, "d") }, keys.ErrInvalidKey},
		{"empty d", func(m map[string]any) { m["d"] = "" }, keys.ErrInvalidKey},
		{"multi-prime", func(m map[string]any) { m["oth"] = []any{} }, keys.ErrInvalidKey},
		{"n changed", func(m map[string]any) { m["n"] = b64Int(new(big.Int).Add(priv.N, big.NewInt(2))) }, keys.ErrInvalidKey},
		{"n missing", func(m map[string]any) { delete(m, "n") }, keys.ErrInvalidKey},
		{"e missing", func(m map[string]any) { delete(m, "e") }, keys.ErrInvalidKey},
	} {
		m := rsaJWK(t, keys.RS256, priv)
		tc.edit(m)
		_, err := keys.ParseJWK(toJSON(t, m))
		if !isErr(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
		}
	}
	// NewPrivate refuses inconsistent keys too.
	bad := *priv
	bad.D = new(big.Int).Add(priv.D, big.NewInt(2))
	_, err = keys.NewPrivate(keys.RS256, &bad, "")
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewPrivate(keys.RS256, &rsa.PrivateKey{PublicKey: priv.PublicKey}, "")
	wantErr(t, err, keys.ErrInvalidKey)
	multi := *priv
	multi.Primes = append(multi.Primes, big.NewInt(5))
	_, err = keys.NewPrivate(keys.RS256, &multi, "")
	wantErr(t, err, keys.ErrInvalidKey)
	// A leading zero octet in n is tolerated (some producers emit one) and
	// does not change the thumbprint.
	padded := rsaJWK(t, keys.RS256, priv)
	padded["n"] = base64.RawURLEncoding.EncodeToString(append([]byte{0}, priv.N.Bytes()...))
	k, err := keys.ParseJWK(toJSON(t, padded))
	mustNoErr(t, err)
	k0, _ := keys.ParseJWK(toJSON(t, good))
	if k.Thumbprint() != k0.Thumbprint() {
		t.Error("leading zero in n changed the thumbprint")
	}
}

// ecJWK returns the private JWK members of an ES key, for editing.
func ecJWK(t testing.TB, alg keys.Algorithm) map[string]any {
	t.Helper()
	return jwkMap(t, mustJSON(newKey(t, alg).MarshalJWK()))
}

func TestECKeys(t *testing.T) {
	// Off-curve point: change y.
	for _, alg := range []keys.Algorithm{keys.ES256, keys.ES384, keys.ES512} {
		for _, private := range []bool{true, false} {
			m := ecJWK(t, alg)
			if !private {
				delete(m, "d")
			}
			y, _ := base64.RawURLEncoding.DecodeString(m["y"].(string))
			y[len(y)-1] ^= 1
			m["y"] = base64.RawURLEncoding.EncodeToString(y)
			_, err := keys.ParseJWK(toJSON(t, m))
			wantErr(t, err, keys.ErrInvalidKey)
		}
	}
	for _, tc := range []struct {
		name   string
		alg    keys.Algorithm
		edit   func(m map[string]any)
		target error
	}{
		{"crv P-384 with ES256", keys.ES256, func(m map[string]any) { m["crv"] = "P-384" }, keys.ErrAlgorithmMismatch},
		{"alg ES384 on P-256", keys.ES256, func(m map[string]any) { m["alg"] = "ES384" }, keys.ErrAlgorithmMismatch},
		{"alg ES521", keys.ES512, func(m map[string]any) { m["alg"] = "ES521" }, keys.ErrUnsupportedAlgorithm},
		{"alg ES224", keys.ES256, func(m map[string]any) { m["alg"] = "ES224" }, keys.ErrUnsupportedAlgorithm},
		{"crv P-224", keys.ES256, func(m map[string]any) { m["crv"] = "P-224"; delete(m, "alg") }, keys.ErrUnsupportedAlgorithm},
		{"crv secp256k1", keys.ES256, func(m map[string]any) { m["crv"] = "secp256k1"; delete(m, "alg") }, keys.ErrUnsupportedAlgorithm},
		{"crv missing", keys.ES256, func(m map[string]any) { delete(m, "crv") }, keys.ErrInvalidKey},
		{"x short", keys.ES256, func(m map[string]any) { m["x"] = trimB64(t, m["x"].(string)) }, keys.ErrInvalidKey},
		{"y long", keys.ES384, func(m map[string]any) { m["y"] = padB64(t, m["y"].(string)) }, keys.ErrInvalidKey},
		{"d short", keys.ES512, func(m map[string]any) { m["d"] = trimB64(t, m["d"].(string)) }, keys.ErrInvalidKey},
		{"d long", keys.ES256, func(m map[string]any) { m["d"] = padB64(t, m["d"].(string)) }, keys.ErrInvalidKey},
		{"d of another key", keys.ES256, func(m map[string]any) { m["d"] = ecJWK(t, keys.ES256)["d"] }, keys.ErrInvalidKey},
		{"d zero", keys.ES256, func(m map[string]any) { m["d"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) }, keys.ErrInvalidKey},
		{"d = n", keys.ES256, func(m map[string]any) {
			m["d"] = base64.RawURLEncoding.EncodeToString(elliptic.P256().Params().N.Bytes())
		}, keys.ErrInvalidKey},
		{"x missing", keys.ES256, func(m map[string]any) { delete(m, "x") }, keys.ErrInvalidKey},
		{"kty RSA", keys.ES256, func(m map[string]any) { m["kty"] = "RSA" }, keys.ErrAlgorithmMismatch},
		{"kty OKP", keys.ES256, func(m map[string]any) { m["kty"] = "OKP" }, keys.ErrAlgorithmMismatch},
	} {
		m := ecJWK(t, tc.alg)
		tc.edit(m)
		_, err := keys.ParseJWK(toJSON(t, m))
		if !isErr(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
		}
	}
	// The alg is implied by the curve when absent.
	for _, alg := range []keys.Algorithm{keys.ES256, keys.ES384, keys.ES512} {
		m := ecJWK(t, alg)
		delete(m, "alg")
		k, err := keys.ParseJWK(toJSON(t, m))
		mustNoErr(t, err)
		if k.Algorithm() != alg {
			t.Errorf("curve %s implied %s", m["crv"], k.Algorithm())
		}
	}
	// Go keys on the wrong curve.
	_, err := keys.NewPrivate(keys.ES256, mustECDSA(t, elliptic.P384()), "")
	wantErr(t, err, keys.ErrAlgorithmMismatch)
	_, err = keys.NewPublic(keys.ES512, &mustECDSA(t, elliptic.P384()).PublicKey, "")
	wantErr(t, err, keys.ErrAlgorithmMismatch)
	_, err = keys.NewPrivate(keys.ES256, mustECDSA(t, elliptic.P224()), "")
	wantErr(t, err, keys.ErrAlgorithmMismatch)
	_, err = keys.NewPublic(keys.ES256, &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}, "")
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewPublic(keys.ES256, &ecdsa.PublicKey{Curve: elliptic.P256()}, "")
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewPrivate(keys.ES256, &ecdsa.PrivateKey{PublicKey: mustECDSA(t, elliptic.P256()).PublicKey}, "")
	wantErr(t, err, keys.ErrInvalidKey)
	// A private key whose public half belongs to another key.
	a, b := mustECDSA(t, elliptic.P256()), mustECDSA(t, elliptic.P256())
	mixed := &ecdsa.PrivateKey{PublicKey: b.PublicKey, D: a.D}
	_, err = keys.NewPrivate(keys.ES256, mixed, "")
	wantErr(t, err, keys.ErrInvalidKey)
}

func trimB64(t testing.TB, s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	mustNoErr(t, err)
	return base64.RawURLEncoding.EncodeToString(b[1:])
}

func padB64(t testing.TB, s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	mustNoErr(t, err)
	return base64.RawURLEncoding.EncodeToString(append([]byte{0}, b...))
}

func TestEd25519Keys(t *testing.T) {
	good := jwkMap(t, mustJSON(newKey(t, keys.EdDSA).MarshalJWK()))
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		target error
	}{
		{"d of another key", func(m map[string]any) {
			m["d"] = jwkMap(t, mustJSON(newKey(t, keys.EdDSA).MarshalJWK()))["d"]
		}, keys.ErrInvalidKey},
		{"crv Ed448", func(m map[string]any) { m["crv"] = "Ed448" }, keys.ErrUnsupportedAlgorithm},
		{"crv X25519", func(m map[string]any) { m["crv"] = "X25519" }, keys.ErrUnsupportedAlgorithm},
		{"x short", func(m map[string]any) { m["x"] = trimB64(t, m["x"].(string)) }, keys.ErrInvalidKey},
		{"d long", func(m map[string]any) { m["d"] = padB64(t, m["d"].(string)) }, keys.ErrInvalidKey},
		{"alg ES256", func(m map[string]any) { m["alg"] = "ES256" }, keys.ErrAlgorithmMismatch},
		{"alg Ed25519", func(m map[string]any) { m["alg"] = "Ed25519" }, keys.ErrUnsupportedAlgorithm},
		{"kty EC", func(m map[string]any) { m["kty"] = "EC" }, keys.ErrAlgorithmMismatch},
		{"kty EC without alg", func(m map[string]any) { m["kty"] = "EC"; delete(m, "alg") }, keys.ErrUnsupportedAlgorithm}, // Ed25519 is no EC curve
	} {
		m := jwkMap(t, toJSON(t, good))
		tc.edit(m)
		_, err := keys.ParseJWK(toJSON(t, m))
		if !isErr(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
		}
	}
	// Small-order public keys have no secret behind them.
	for _, h := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"0000000000000000000000000000000000000000000000000000000000000080", // order 4, other sign
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, y = p+1 (non-canonical)
	} {
		pub, _ := hex.DecodeString(h)
		_, err := keys.NewPublic(keys.EdDSA, ed25519.PublicKey(pub), "")
		wantErr(t, err, keys.ErrWeakKey)
		j := fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":"%s"}`, base64.RawURLEncoding.EncodeToString(pub))
		_, err = keys.ParseJWK([]byte(j))
		wantErr(t, err, keys.ErrWeakKey)
	}
	for i := 0; i < 50; i++ {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		mustNoErr(t, err)
		_, err = keys.NewPublic(keys.EdDSA, pub, "")
		mustNoErr(t, err)
	}
	_, err := keys.NewPublic(keys.EdDSA, ed25519.PublicKey(make([]byte, 31)), "")
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewPrivate(keys.EdDSA, ed25519.PrivateKey(make([]byte, 32)), "")
	wantErr(t, err, keys.ErrInvalidKey)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	inconsistent := ed25519.PrivateKey(bytes.Clone(priv))
	inconsistent[40] ^= 1
	_, err = keys.NewPrivate(keys.EdDSA, inconsistent, "")
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = keys.NewPrivate(keys.ES256, priv, "")
	wantErr(t, err, keys.ErrAlgorithmMismatch)
	k, err := keys.NewPrivate(keys.EdDSA, &priv, "")
	mustNoErr(t, err)
	if !k.CanSign() {
		t.Fatal("*ed25519.PrivateKey not accepted")
	}
}

// fakeSigner is a crypto.Signer this package does not know.
type fakeSigner struct{ pub crypto.PublicKey }

func (f fakeSigner) Public() crypto.PublicKey { return f.pub }
func (fakeSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, nil
}

func TestConstructorTypeChecks(t *testing.T) {
	priv := testRSAKey(t)
	ec := mustECDSA(t, elliptic.P256())
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name   string
		err    error
		target error
	}{
		{"RSA key with ES256", second(keys.NewPrivate(keys.ES256, priv, "")), keys.ErrAlgorithmMismatch},
		{"RSA key with EdDSA", second(keys.NewPrivate(keys.EdDSA, priv, "")), keys.ErrAlgorithmMismatch},
		{"EC key with RS256", second(keys.NewPrivate(keys.RS256, ec, "")), keys.ErrAlgorithmMismatch},
		{"Ed25519 key with PS256", second(keys.NewPrivate(keys.PS256, edPriv, "")), keys.ErrAlgorithmMismatch},
		{"NewPrivate HS256", second(keys.NewPrivate(keys.HS256, priv, "")), keys.ErrAlgorithmMismatch},
		{"NewPrivate none", second(keys.NewPrivate("none", priv, "")), keys.ErrUnsupportedAlgorithm},
		{"NewPrivate nil", second(keys.NewPrivate(keys.RS256, nil, "")), keys.ErrInvalidKey},
		{"NewPrivate nil RSA", second(keys.NewPrivate(keys.RS256, (*rsa.PrivateKey)(nil), "")), keys.ErrInvalidKey},
		{"NewPrivate unknown signer", second(keys.NewPrivate(keys.RS256, fakeSigner{&priv.PublicKey}, "")), keys.ErrInvalidKey},
		{"NewPublic RSA with ES384", second(keys.NewPublic(keys.ES384, &priv.PublicKey, "")), keys.ErrAlgorithmMismatch},
		{"NewPublic EC with EdDSA", second(keys.NewPublic(keys.EdDSA, &ec.PublicKey, "")), keys.ErrAlgorithmMismatch},
		{"NewPublic private key", second(keys.NewPublic(keys.RS256, priv, "")), keys.ErrInvalidKey},
		{"NewPublic HS256", second(keys.NewPublic(keys.HS256, &priv.PublicKey, "")), keys.ErrAlgorithmMismatch},
		{"NewPublic nil", second(keys.NewPublic(keys.RS256, nil, "")), keys.ErrInvalidKey},
		{"NewPublic nil RSA", second(keys.NewPublic(keys.RS256, (*rsa.PublicKey)(nil), "")), keys.ErrInvalidKey},
		{"NewPublic ECDH key", second(keys.NewPublic(keys.ES256, mustECDH(t).PublicKey(), "")), keys.ErrInvalidKey},
		{"Generate none", second(keys.Generate("none")), keys.ErrUnsupportedAlgorithm},
		{"Generate ES521", second(keys.Generate("ES521")), keys.ErrUnsupportedAlgorithm},
	} {
		if !isErr(tc.err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.target)
		}
	}
}

func mustECDH(t testing.TB) *ecdh.PrivateKey {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	mustNoErr(t, err)
	return k
}

func second[T any](_ T, err error) error { return err }

func TestJWKHeaderRules(t *testing.T) {
	es := ecJWK(t, keys.ES256)
	esPub := jwkMap(t, toJSON(t, es))
	delete(esPub, "d")
	oct := map[string]any{"kty": "oct", "alg": "HS256", "kid": "h", "k": base64.RawURLEncoding.EncodeToString(make([]byte, 32))}
	rs := rsaJWK(t, keys.RS256, testRSAKey(t))
	with := func(m map[string]any, kv ...any) []byte {
		c := jwkMap(t, toJSON(t, m))
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return toJSON(t, c)
	}
	for _, tc := range []struct {
		name   string
		doc    []byte
		target error // nil: accepted
	}{
		{"use sig", with(es, "use", "sig"), nil},
		{"use absent", with(es, "use", nil), nil},
		{"use enc", with(es, "use", "enc"), keys.ErrInvalidKey},
		{"use Sig", with(es, "use", "Sig"), keys.ErrInvalidKey},
		{"use number", with(es, "use", 1), keys.ErrInvalidKey},
		{"key_ops sign+verify private", with(es, "key_ops", []any{"sign", "verify"}), nil},
		{"key_ops sign private", with(es, "key_ops", []any{"sign"}), nil},
		{"key_ops verify private", with(es, "key_ops", []any{"verify"}), keys.ErrInvalidKey},
		{"key_ops verify public", with(esPub, "key_ops", []any{"verify"}), nil},
		{"key_ops sign public", with(esPub, "key_ops", []any{"sign"}), keys.ErrInvalidKey},
		{"key_ops one string (Wycheproof tcId 349)", with(es, "key_ops", []any{"sign, verify"}), keys.ErrInvalidKey},
		{"key_ops plain string", with(esPub, "key_ops", "verify"), keys.ErrInvalidKey},
		{"key_ops encrypt", with(esPub, "key_ops", []any{"verify", "encrypt"}), keys.ErrInvalidKey},
		{"key_ops duplicate", with(esPub, "key_ops", []any{"verify", "verify"}), keys.ErrInvalidKey},
		{"key_ops number", with(esPub, "key_ops", []any{1}), keys.ErrInvalidKey},
		{"key_ops empty", with(esPub, "key_ops", []any{}), keys.ErrInvalidKey},
		{"key_ops null", with(esPub, "key_ops", json.RawMessage("null")), keys.ErrInvalidKey},
		{"key_ops sign oct", with(oct, "key_ops", []any{"sign", "verify"}), nil},
		{"alg RSA1_5", with(rs, "alg", "RSA1_5"), keys.ErrUnsupportedAlgorithm},
		{"alg RSA-OAEP", with(rs, "alg", "RSA-OAEP"), keys.ErrUnsupportedAlgorithm},
		{"alg A256GCM", with(oct, "alg", "A256GCM"), keys.ErrUnsupportedAlgorithm},
		{"alg A256KW", with(oct, "alg", "A256KW"), keys.ErrUnsupportedAlgorithm},
		{"alg none", with(oct, "alg", "none"), keys.ErrUnsupportedAlgorithm},
		{"alg hs256", with(oct, "alg", "hs256"), keys.ErrUnsupportedAlgorithm},
		{"alg number", with(oct, "alg", 256), keys.ErrInvalidKey},
		{"alg missing RSA", with(rs, "alg", nil), keys.ErrInvalidKey},
		{"alg missing oct", with(oct, "alg", nil), keys.ErrInvalidKey},
		{"oct with RS256", with(oct, "alg", "RS256"), keys.ErrAlgorithmMismatch},
		{"oct with EdDSA", with(oct, "alg", "EdDSA"), keys.ErrAlgorithmMismatch},
		{"RSA with HS256", with(rs, "alg", "HS256"), keys.ErrAlgorithmMismatch},
		{"RSA with ES256", with(rs, "alg", "ES256"), keys.ErrAlgorithmMismatch},
		{"RSA as PS512", with(rs, "alg", "PS512"), nil},
		{"EC with HS256", with(es, "alg", "HS256"), keys.ErrAlgorithmMismatch},
		{"kty missing", with(es, "kty", nil), keys.ErrInvalidKey},
		{"kty lower case", with(es, "kty", "ec"), keys.ErrInvalidKey},
		{"kty unknown", with(es, "kty", "AKP"), keys.ErrInvalidKey},
		{"k missing", with(oct, "k", nil), keys.ErrInvalidKey},
		{"unknown members ignored", with(es, "x5t", "abc", "ext", true, "extra", map[string]any{"a": 1}), nil},
	} {
		_, err := keys.ParseJWK(tc.doc)
		if tc.target == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		} else if !isErr(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
		}
	}
}

func TestJWKEncodingRules(t *testing.T) {
	k := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) // has '-' and '_'
	doc := func(kv string) []byte { return []byte(`{"kty":"oct","alg":"HS256",` + kv + `}`) }
	_, err := keys.ParseJWK(doc(`"k":"` + k + `"`))
	mustNoErr(t, err)
	std := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	big := `{"kty":"oct","alg":"HS256","k":"` + k + `","pad":"` + strings.Repeat("a", keys.MaxJWKBytes) + `"}`
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"padding", doc(`"k":"` + k + `="`)},
		{"standard alphabet", doc(`"k":"` + std + `"`)},
		{"escaped newline", doc(`"k":"` + k[:10] + `\n` + k[10:] + `"`)},
		{"space", doc(`"k":"` + k[:10] + ` ` + k[10:] + `"`)},
		{"non-zero trailing bits", doc(`"k":"` + k[:len(k)-1] + `B"`)},
		{"impossible length", doc(`"k":"` + k + `AB"`)},
		{"duplicate member", doc(`"k":"` + k + `","k":"` + k + `"`)},
		{"duplicate member via escape", doc(`"k":"` + k + `","\u006b":"` + k + `"`)},
		{"duplicate alg", []byte(`{"kty":"oct","alg":"HS256","alg":"HS512","k":"` + k + `"}`)},
		{"invalid UTF-8", doc(`"k":"` + k + `","x":"` + "\xff" + `"`)},
		{"trailing data", append(doc(`"k":"`+k+`"`), []byte(` {}`)...)},
		{"array", []byte(`[` + string(doc(`"k":"`+k+`"`)) + `]`)},
		{"not JSON", []byte(`kty=oct`)},
		{"truncated", doc(`"k":"` + k + `"`)[:20]},
		{"empty", nil},
		{"k not a string", doc(`"k":32`)},
		{"k null", doc(`"k":null`)},
		{"oversized", []byte(big)},
	} {
		if _, err := keys.ParseJWK(tc.doc); !isErr(err, keys.ErrInvalidKey) {
			t.Errorf("%s: got %v, want ErrInvalidKey", tc.name, err)
		}
	}
	// Whitespace between tokens is fine.
	_, err = keys.ParseJWK([]byte("{\n  \"kty\": \"oct\",\n  \"alg\": \"HS256\",\n  \"k\": \"" + k + "\"\n}\n"))
	mustNoErr(t, err)
}

func TestPEMRules(t *testing.T) {
	priv := testRSAKey(t)
	ec := mustECDSA(t, elliptic.P384())
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	sec1DER, err := x509.MarshalECPrivateKey(ec)
	mustNoErr(t, err)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER})
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}})
	pkixDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	mustNoErr(t, err)
	pkix := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER})
	rsaPub := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})

	for _, tc := range []struct {
		name    string
		data    []byte
		alg     keys.Algorithm
		private bool
	}{
		{"PKCS #1 private", pkcs1, keys.RS512, true},
		{"SEC 1 private", sec1, keys.ES384, true},
		{"SEC 1 after EC PARAMETERS", append(bytes.Clone(params), sec1...), keys.ES384, true},
		{"text before the block", append([]byte("Bag Attributes\n  friendlyName: x\n"), pkcs1...), keys.PS256, true},
		{"PKIX public", pkix, keys.ES384, false},
		{"PKCS #1 public", rsaPub, keys.RS256, false},
	} {
		k, err := keys.ParsePEM(tc.data, tc.alg, "pem")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if k.Algorithm() != tc.alg || k.CanSign() != tc.private || k.ID() != "pem" {
			t.Errorf("%s: got %v", tc.name, k)
		}
	}
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1, 2, 3}})
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})
	for _, tc := range []struct {
		name   string
		data   []byte
		alg    keys.Algorithm
		target error
	}{
		{"HMAC algorithm", pkcs1, keys.HS256, keys.ErrAlgorithmMismatch},
		{"unknown algorithm", pkcs1, "RSA1_5", keys.ErrUnsupportedAlgorithm},
		{"RSA key with ES256", pkcs1, keys.ES256, keys.ErrAlgorithmMismatch},
		{"P-384 key with ES256", sec1, keys.ES256, keys.ErrAlgorithmMismatch},
		{"P-384 public key with ES512", pkix, keys.ES512, keys.ErrAlgorithmMismatch},
		{"two keys", append(bytes.Clone(pkcs1), sec1...), keys.RS256, keys.ErrInvalidKey},
		{"encrypted", encrypted, keys.RS256, keys.ErrInvalidKey},
		{"certificate", cert, keys.RS256, keys.ErrInvalidKey},
		{"no PEM", []byte("not a key"), keys.RS256, keys.ErrInvalidKey},
		{"empty", nil, keys.RS256, keys.ErrInvalidKey},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), keys.RS256, keys.ErrInvalidKey},
		{"oversized", append(bytes.Repeat([]byte("#"), keys.MaxPEMBytes), pkcs1...), keys.RS256, keys.ErrInvalidKey},
	} {
		_, err := keys.ParsePEM(tc.data, tc.alg, "")
		if !isErr(err, tc.target) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.target)
		}
	}
}

// A \u escape of a lone surrogate anywhere in a JWK or JWKS is refused as
// malformed (encoding/json would read it as U+FFFD, rewriting the kid and
// folding distinct kids into one); valid surrogate pairs and an escaped
// backslash before "u" are ordinary text.
func TestJWKLoneSurrogateEscapes(t *testing.T) {
	const secret = `"k":"` + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" + `"`
	doc := func(kid string) []byte {
		return []byte(`{"kty":"oct","alg":"HS256","kid":"` + kid + `",` + secret + `}`)
	}
	for _, kid := range []string{
		`\ud800a`, `\ud800`, `\udbff`, `\udc00`, `a\uDFFF`, `\ud800\u0041`,
		`\ud800\ud800`, `\udc00\ud800`, `\ud800\\udc00`, `\ud800x\udc00`,
	} {
		k, err := keys.ParseJWK(doc(kid))
		if !isErr(err, keys.ErrInvalidKey) {
			t.Errorf("kid %s: got %v, %v; want ErrInvalidKey", kid, k, err)
		}
	}
	for name, d := range map[string][]byte{
		"ignored member": []byte(`{"kty":"oct","alg":"HS256","x5t":"\udfff",` + secret + `}`),
		"member name":    []byte(`{"kty":"oct","alg":"HS256","\ud800":1,` + secret + `}`),
		"key_ops":        []byte(`{"kty":"oct","alg":"HS256","key_ops":["sign","\ud800"],` + secret + `}`),
	} {
		if _, err := keys.ParseJWK(d); !isErr(err, keys.ErrInvalidKey) {
			t.Errorf("%s: got %v, want ErrInvalidKey", name, err)
		}
	}
	for kid, want := range map[string]string{
		`\ud83d\ude00`: "\U0001F600",
		`\uD83D\uDE00`: "\U0001F600",
		`\\ud800`:      `\ud800`,
		`\u00e9\ud7ff`: "\u00e9\ud7ff",
	} {
		k, err := keys.ParseJWK(doc(kid))
		if err != nil || k.ID() != want {
			t.Errorf("kid %s: got %v, %v; want kid %q", kid, k, err, want)
		}
	}

	// In a JWKS, the kids "\ud800" and "\udbff" are refused as malformed,
	// not read as one kid twice (ErrDuplicateKeyID); one such kid alone is
	// refused too, so a Set never republishes it rewritten.
	a := `{"kty":"oct","alg":"HS256","kid":"\ud800",` + secret + `}`
	b := `{"kty":"oct","alg":"HS256","kid":"\udbff",` + secret + `}`
	if _, err := keys.ParseJWKS([]byte(`{"keys":[` + a + `,` + b + `]}`)); !isErr(err, keys.ErrInvalidKey) || isErr(err, keys.ErrDuplicateKeyID) {
		t.Errorf("JWKS of kids \\ud800 and \\udbff: got %v, want ErrInvalidKey alone", err)
	}
	if _, err := keys.ParseJWKS([]byte(`{"keys":[` + a + `]}`)); !isErr(err, keys.ErrInvalidKey) {
		t.Errorf("JWKS of kid \\ud800: got %v, want ErrInvalidKey", err)
	}
}

// ParsePEM takes exactly one key block: a second block, well-formed or
// broken, a broken block before the key, text after it, and an EC
// PARAMETERS block that is not a valid named curve of the EC private key
// right after it are all refused with ErrInvalidKey, never skipped.
func TestPEMOneKeyBlock(t *testing.T) {
	pkcs8 := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		mustNoErr(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ka, kb := mustECDSA(t, elliptic.P256()), mustECDSA(t, elliptic.P256())
	a, b := pkcs8(ka), pkcs8(kb)
	sec1DER, err := x509.MarshalECPrivateKey(ka)
	mustNoErr(t, err)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER})
	pkixDER, err := x509.MarshalPKIXPublicKey(&ka.PublicKey)
	mustNoErr(t, err)
	pkix := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER})
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey(t))})
	params := func(content []byte, headers map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Headers: headers, Bytes: content})
	}
	p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	p384 := []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}
	secp256k1 := []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	corrupt := []byte("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n")

	for _, tc := range []struct {
		name string
		data []byte
		alg  keys.Algorithm
	}{
		{"second key without its END line", cat(a, b[:len(b)-26]), keys.ES256},
		{"second key well-formed", cat(a, b), keys.ES256},
		{"corrupt key before the key", cat(corrupt, b), keys.ES256},
		{"BEGIN line alone before the key", cat([]byte("-----BEGIN PRIVATE KEY-----\n"), b), keys.ES256},
		{"END line before the key", cat([]byte("-----END PRIVATE KEY-----\n"), b), keys.ES256},
		{"boundary in the leading text", cat([]byte("note: -----BEGIN nothing\n"), b), keys.ES256},
		{"block not starting a line", cat([]byte("key: "), b), keys.ES256},
		{"garbage after the key", cat(a, []byte("garbage")), keys.ES256},
		{"END line after the key", cat(a, []byte("-----END PRIVATE KEY-----\n")), keys.ES256},
		{"EC PARAMETERS with headers", cat(params(p256, map[string]string{"Proc-Type": "4,ENCRYPTED"}), sec1), keys.ES256},
		{"EC PARAMETERS not an OID", cat(params([]byte{1, 2, 3}, nil), sec1), keys.ES256},
		{"EC PARAMETERS OID with trailing bytes", cat(params(append(bytes.Clone(p256), 0), nil), sec1), keys.ES256},
		{"EC PARAMETERS of another curve", cat(params(p384, nil), sec1), keys.ES256},
		{"EC PARAMETERS of an unsupported curve", cat(params(secp256k1, nil), sec1), keys.ES256},
		{"EC PARAMETERS alone", params(p256, nil), keys.ES256},
		{"EC PARAMETERS twice", cat(params(p256, nil), params(p256, nil), sec1), keys.ES256},
		{"EC PARAMETERS then text", cat(params(p256, nil), []byte("text\n"), sec1), keys.ES256},
		{"EC PARAMETERS then a corrupt block", cat(params(p256, nil), corrupt, sec1), keys.ES256},
		{"EC PARAMETERS before PKCS #8", cat(params(p256, nil), a), keys.ES256},
		{"EC PARAMETERS before PKIX", cat(params(p256, nil), pkix), keys.ES256},
		{"EC PARAMETERS before RSA", cat(params(p256, nil), rsaPKCS1), keys.RS256},
	} {
		k, err := keys.ParsePEM(tc.data, tc.alg, "")
		if !isErr(err, keys.ErrInvalidKey) {
			t.Errorf("%s: got %v, %v; want ErrInvalidKey", tc.name, k, err)
			continue
		}
		for _, key := range [][]byte{a, b, sec1, rsaPKCS1} {
			if line := bytes.Split(key, []byte("\n"))[1][:16]; bytes.Contains([]byte(err.Error()), line) {
				t.Errorf("%s: the error quotes key material: %v", tc.name, err)
			}
		}
	}

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"white space around the key", cat([]byte("\n \t\r\n"), a, []byte("\r\n\n  \t\n"))},
		{"leading text", cat([]byte("Bag Attributes\n    localKeyID: 01 02\nKey Attributes: <No Attributes>\n"), a)},
		{"EC PARAMETERS of its curve", cat(params(p256, nil), sec1)},
		{"EC PARAMETERS, white space, key", cat(params(p256, nil), []byte("\n\n"), sec1, []byte("\n"))},
	} {
		k, err := keys.ParsePEM(tc.data, keys.ES256, "pem")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !k.CanSign() || k.ID() != "pem" {
			t.Errorf("%s: got %v", tc.name, k)
		}
	}
}
