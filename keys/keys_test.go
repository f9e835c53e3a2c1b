package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

var signingInput = []byte("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9")

func TestAlgorithms(t *testing.T) {
	algs := keys.Algorithms()
	if len(algs) != 13 {
		t.Fatalf("Algorithms() has %d entries, want 13", len(algs))
	}
	algs[0] = "mutated"
	if keys.Algorithms()[0] != keys.HS256 {
		t.Fatal("Algorithms() returned a shared slice")
	}
	sym := 0
	for _, a := range keys.Algorithms() {
		if !a.Valid() {
			t.Errorf("%s not Valid", a)
		}
		if a.Symmetric() {
			sym++
			if !strings.HasPrefix(string(a), "HS") {
				t.Errorf("%s Symmetric", a)
			}
		}
	}
	if sym != 3 {
		t.Errorf("%d symmetric algorithms, want 3", sym)
	}
	for _, a := range []keys.Algorithm{"", "none", "None", "hs256", "ES521", "ES224", "RSA1_5", "A256GCM", "Ed25519", "HS256 "} {
		if a.Valid() || a.Symmetric() {
			t.Errorf("%q reported Valid or Symmetric", a)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range keys.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			k := newKey(t, alg)
			if k.Algorithm() != alg || k.ID() == "" || !k.CanSign() || k.Symmetric() != alg.Symmetric() {
				t.Fatalf("key %v: alg %s, kid %q, CanSign %v, Symmetric %v", k, k.Algorithm(), k.ID(), k.CanSign(), k.Symmetric())
			}
			sig, err := k.Sign(signingInput)
			mustNoErr(t, err)
			mustNoErr(t, k.Verify(signingInput, sig))
			assertRejects(t, k, sig)

			// JWK, with private part.
			j, err := k.MarshalJWK()
			mustNoErr(t, err)
			m := jwkMap(t, j)
			if m["kid"] != k.ID() || m["alg"] != string(alg) || m["use"] != "sig" {
				t.Fatalf("MarshalJWK members: %v", keysOf(m))
			}
			k2, err := keys.ParseJWK(j)
			mustNoErr(t, err)
			sameKey(t, k, k2, true)
			crossVerify(t, k, k2)

			if alg.Symmetric() {
				if k.Public() != nil || k.PublicKey() != nil {
					t.Fatal("HMAC key has a public part")
				}
				_, err := k.PublicJWK()
				wantErr(t, err, keys.ErrSymmetricKey)
				_, err = k.MarshalPEM()
				wantErr(t, err, keys.ErrSymmetricKey)
				if k.Thumbprint() == "" || k.Thumbprint() == k.ID() {
					t.Fatalf("HMAC thumbprint %q, kid %q", k.Thumbprint(), k.ID())
				}
				return
			}
			if k.Thumbprint() != k.ID() {
				t.Fatalf("default kid %q is not the thumbprint %q", k.ID(), k.Thumbprint())
			}

			// Public copy.
			pub := k.Public()
			sameKey(t, k, pub, false)
			if pub.Public() != pub {
				t.Error("Public of a public key is not itself")
			}
			mustNoErr(t, pub.Verify(signingInput, sig))
			_, err = pub.Sign(signingInput)
			wantErr(t, err, keys.ErrNotSigningKey)

			// Public JWK: no private member.
			pj, err := k.PublicJWK()
			mustNoErr(t, err)
			for name := range jwkMap(t, pj) {
				if !publicMember[name] {
					t.Errorf("PublicJWK has member %q", name)
				}
			}
			pk, err := keys.ParseJWK(pj)
			mustNoErr(t, err)
			sameKey(t, k, pk, false)
			mustNoErr(t, pk.Verify(signingInput, sig))
			pj2, err := pub.MarshalJWK()
			mustNoErr(t, err)
			if !bytes.Equal(pj, pj2) {
				t.Errorf("MarshalJWK of the public key differs from PublicJWK:\n%s\n%s", pj2, pj)
			}

			// PEM, private and public.
			p, err := k.MarshalPEM()
			mustNoErr(t, err)
			if !bytes.HasPrefix(p, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Fatalf("MarshalPEM: %.40s", p)
			}
			k3, err := keys.ParsePEM(p, alg, k.ID())
			mustNoErr(t, err)
			sameKey(t, k, k3, true)
			crossVerify(t, k, k3)
			pp, err := pub.MarshalPEM()
			mustNoErr(t, err)
			if !bytes.HasPrefix(pp, []byte("-----BEGIN PUBLIC KEY-----\n")) {
				t.Fatalf("MarshalPEM of public key: %.40s", pp)
			}
			k4, err := keys.ParsePEM(pp, alg, "")
			mustNoErr(t, err)
			sameKey(t, k, k4, false)
			mustNoErr(t, k4.Verify(signingInput, sig))

			// NewPublic from the exported public key.
			k5, err := keys.NewPublic(alg, k.PublicKey(), "")
			mustNoErr(t, err)
			sameKey(t, k, k5, false)
		})
	}
}

// publicMember lists every member a public JWK may have.
var publicMember = map[string]bool{"kty": true, "kid": true, "use": true, "alg": true, "crv": true, "n": true, "e": true, "x": true, "y": true}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// sameKey checks that b is a (private, if wantPrivate) copy of a.
func sameKey(t *testing.T, a, b *keys.Key, wantPrivate bool) {
	t.Helper()
	if b == nil {
		t.Fatal("nil key")
	}
	if a.ID() != b.ID() || a.Algorithm() != b.Algorithm() || a.Thumbprint() != b.Thumbprint() || b.CanSign() != wantPrivate {
		t.Fatalf("keys differ: %v (%s) vs %v (%s), CanSign %v", a, a.Thumbprint(), b, b.Thumbprint(), b.CanSign())
	}
}

// crossVerify checks that each of two copies of a key verifies the other's
// signatures.
func crossVerify(t *testing.T, a, b *keys.Key) {
	t.Helper()
	for _, pair := range [][2]*keys.Key{{a, b}, {b, a}} {
		sig, err := pair[0].Sign(signingInput)
		mustNoErr(t, err)
		if err := pair[1].Verify(signingInput, sig); err != nil {
			t.Fatalf("copy does not verify: %v", err)
		}
	}
}

// assertRejects checks that altered signatures, inputs and lengths fail.
func assertRejects(t *testing.T, k *keys.Key, sig []byte) {
	t.Helper()
	bad := func(what string, input, s []byte) {
		t.Helper()
		if err := k.Verify(input, s); !errorsIsInvalidSig(err) {
			t.Errorf("%s: Verify = %v, want ErrInvalidSignature", what, err)
		}
	}
	for _, i := range []int{0, len(sig) / 2, len(sig) - 1} {
		s := bytes.Clone(sig)
		s[i] ^= 0x01
		bad(fmt.Sprintf("bit flipped in byte %d", i), signingInput, s)
	}
	in := bytes.Clone(signingInput)
	in[len(in)-1] ^= 0x01
	bad("altered input", in, sig)
	bad("empty signature", signingInput, nil)
	bad("truncated signature", signingInput, sig[:len(sig)-1])
	bad("extended signature", signingInput, append(bytes.Clone(sig), 0))
	bad("zero-padded signature", signingInput, append([]byte{0}, sig...))
	bad("all-zero signature", signingInput, make([]byte, len(sig)))
}

func errorsIsInvalidSig(err error) bool {
	return err != nil && strings.Contains(err.Error(), "invalid signature") && isErr(err, keys.ErrInvalidSignature)
}

func TestHMACMatchesStandardLibrary(t *testing.T) {
	for _, tc := range []struct {
		alg keys.Algorithm
		h   func() hash.Hash
	}{{keys.HS256, sha256.New}, {keys.HS384, sha512.New384}, {keys.HS512, sha512.New}} {
		secret := bytes.Repeat([]byte{0x5a}, tc.h().Size())
		k, err := keys.NewHMAC(tc.alg, secret, "")
		mustNoErr(t, err)
		m := hmac.New(tc.h, secret)
		m.Write(signingInput)
		want := m.Sum(nil)
		got, err := k.Sign(signingInput)
		mustNoErr(t, err)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Sign differs from crypto/hmac", tc.alg)
		}
		// A longer secret is fine.
		_, err = keys.NewHMAC(tc.alg, append(secret, 1, 2, 3), "long")
		mustNoErr(t, err)
	}
}

func TestRSAMatchesStandardLibrary(t *testing.T) {
	priv := testRSAKey(t)
	for _, tc := range []struct {
		alg keys.Algorithm
		h   crypto.Hash
	}{
		{keys.RS256, crypto.SHA256}, {keys.RS384, crypto.SHA384}, {keys.RS512, crypto.SHA512},
		{keys.PS256, crypto.SHA256}, {keys.PS384, crypto.SHA384}, {keys.PS512, crypto.SHA512},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			k, err := keys.NewPrivate(tc.alg, priv, "rsa")
			mustNoErr(t, err)
			h := tc.h.New()
			h.Write(signingInput)
			d := h.Sum(nil)
			sig, err := k.Sign(signingInput)
			mustNoErr(t, err)
			pss := strings.HasPrefix(string(tc.alg), "PS")
			if pss {
				// Our signatures use salt length = hash length exactly.
				mustNoErr(t, rsa.VerifyPSS(&priv.PublicKey, tc.h, d, sig, &rsa.PSSOptions{SaltLength: tc.h.Size()}))
				for _, salt := range []int{rsa.PSSSaltLengthAuto, 0, tc.h.Size() - 1, tc.h.Size() + 1} {
					other, err := rsa.SignPSS(rand.Reader, priv, tc.h, d, &rsa.PSSOptions{SaltLength: salt})
					mustNoErr(t, err)
					if err := k.Verify(signingInput, other); !isErr(err, keys.ErrInvalidSignature) {
						t.Errorf("PSS signature with salt length %d: Verify = %v, want ErrInvalidSignature", salt, err)
					}
				}
				std, err := rsa.SignPSS(rand.Reader, priv, tc.h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
				mustNoErr(t, err)
				mustNoErr(t, k.Verify(signingInput, std))
				// A PKCS #1 v1.5 signature is not a PSS signature.
				v15, err := rsa.SignPKCS1v15(rand.Reader, priv, tc.h, d)
				mustNoErr(t, err)
				wantErr(t, k.Verify(signingInput, v15), keys.ErrInvalidSignature)
			} else {
				mustNoErr(t, rsa.VerifyPKCS1v15(&priv.PublicKey, tc.h, d, sig))
				std, err := rsa.SignPKCS1v15(rand.Reader, priv, tc.h, d)
				mustNoErr(t, err)
				mustNoErr(t, k.Verify(signingInput, std))
			}
		})
	}
	// Same modulus, different hash: an RS256 signature does not verify as RS384.
	k256, _ := keys.NewPrivate(keys.RS256, priv, "a")
	k384, _ := keys.NewPrivate(keys.RS384, priv, "b")
	sig, err := k256.Sign(signingInput)
	mustNoErr(t, err)
	wantErr(t, k384.Verify(signingInput, sig), keys.ErrInvalidSignature)
}

func TestECDSAFixedWidthSignatures(t *testing.T) {
	for _, tc := range []struct {
		alg   keys.Algorithm
		curve elliptic.Curve
		h     crypto.Hash
		size  int
	}{
		{keys.ES256, elliptic.P256(), crypto.SHA256, 32},
		{keys.ES384, elliptic.P384(), crypto.SHA384, 48},
		{keys.ES512, elliptic.P521(), crypto.SHA512, 66},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
			mustNoErr(t, err)
			k, err := keys.NewPrivate(tc.alg, priv, "ec")
			mustNoErr(t, err)
			h := tc.h.New()
			h.Write(signingInput)
			d := h.Sum(nil)
			// Several rounds meet halves with and without the high bit set
			// (TestECDSADER covers leading zeros exactly).
			for i := 0; i < 12; i++ {
				sig, err := k.Sign(signingInput)
				mustNoErr(t, err)
				if len(sig) != 2*tc.size {
					t.Fatalf("signature is %d bytes, want %d", len(sig), 2*tc.size)
				}
				r := new(big.Int).SetBytes(sig[:tc.size])
				s := new(big.Int).SetBytes(sig[tc.size:])
				if !ecdsa.Verify(&priv.PublicKey, d, r, s) {
					t.Fatal("crypto/ecdsa does not verify our signature")
				}
				r, s, err = ecdsa.Sign(rand.Reader, priv, d)
				mustNoErr(t, err)
				std := make([]byte, 2*tc.size)
				r.FillBytes(std[:tc.size])
				s.FillBytes(std[tc.size:])
				mustNoErr(t, k.Verify(signingInput, std))
			}
			sig, _ := k.Sign(signingInput)
			// DER is not the JWS encoding.
			der, err := ecdsa.SignASN1(rand.Reader, priv, d)
			mustNoErr(t, err)
			wantErr(t, k.Verify(signingInput, der), keys.ErrInvalidSignature)
			// Zero halves, and r or s replaced by the group order.
			zero := bytes.Clone(sig)
			clear(zero[:tc.size])
			wantErr(t, k.Verify(signingInput, zero), keys.ErrInvalidSignature)
			zero = bytes.Clone(sig)
			clear(zero[tc.size:])
			wantErr(t, k.Verify(signingInput, zero), keys.ErrInvalidSignature)
			n := tc.curve.Params().N
			withN := bytes.Clone(sig)
			n.FillBytes(withN[tc.size:])
			wantErr(t, k.Verify(signingInput, withN), keys.ErrInvalidSignature)
			// s' = n - s is the other valid s for the same r in plain ECDSA;
			// crypto/ecdsa accepts it, as RFC 7518 does not forbid it. It
			// is still a valid signature for this key, so check it verifies
			// rather than assume malleability is rejected.
			sBig := new(big.Int).SetBytes(sig[tc.size:])
			neg := bytes.Clone(sig)
			new(big.Int).Sub(n, sBig).FillBytes(neg[tc.size:])
			mustNoErr(t, k.Verify(signingInput, neg))
			// One byte short or long.
			wantErr(t, k.Verify(signingInput, sig[:len(sig)-1]), keys.ErrInvalidSignature)
			wantErr(t, k.Verify(signingInput, append(bytes.Clone(sig), 0)), keys.ErrInvalidSignature)
		})
	}
}

// TestEd25519RFC8037 checks the Ed25519 example of RFC 8037 Appendix A:
// the key, its thumbprint, and the signature over the example payload.
func TestEd25519RFC8037(t *testing.T) {
	k, err := keys.ParseJWK([]byte(`{"kty":"OKP","crv":"Ed25519",
		"d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
		"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	mustNoErr(t, err)
	if k.Algorithm() != keys.EdDSA || !k.CanSign() {
		t.Fatalf("got %v", k)
	}
	if got, want := k.Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint %s, want %s", got, want)
	}
	const jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	i := strings.LastIndexByte(jws, '.')
	sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
	mustNoErr(t, err)
	mustNoErr(t, k.Verify([]byte(jws[:i]), sig))
	own, err := k.Sign([]byte(jws[:i]))
	mustNoErr(t, err)
	if !bytes.Equal(own, sig) { // Ed25519 is deterministic
		t.Error("Sign does not reproduce the RFC 8037 signature")
	}
}

// TestRFC7638Thumbprint checks the thumbprint of a P-256 key against one
// computed here from the RFC 7638 §3 definition.
func TestRFC7638Thumbprint(t *testing.T) {
	k := newKey(t, keys.ES256)
	m := jwkMap(t, mustJSON(k.PublicJWK()))
	canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, m["x"], m["y"])
	sum := sha256.Sum256([]byte(canon))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.Thumbprint() != want {
		t.Fatalf("thumbprint %s, want %s", k.Thumbprint(), want)
	}
	r := newKey(t, keys.RS256)
	m = jwkMap(t, mustJSON(r.PublicJWK()))
	canon = fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, m["e"], m["n"])
	sum = sha256.Sum256([]byte(canon))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); r.Thumbprint() != want {
		t.Fatalf("RSA thumbprint %s, want %s", r.Thumbprint(), want)
	}
	if m["e"] != "AQAB" {
		t.Errorf("e = %v, want AQAB", m["e"])
	}
}

func mustJSON(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestKeysAreCopied(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	k, err := keys.NewHMAC(keys.HS256, secret, "")
	mustNoErr(t, err)
	sig, _ := k.Sign(signingInput)
	clear(secret)
	mustNoErr(t, k.Verify(signingInput, sig))

	r := newKey(t, keys.RS256)
	sig, _ = r.Sign(signingInput)
	pub := r.PublicKey().(*rsa.PublicKey)
	pub.N.SetInt64(3)
	mustNoErr(t, r.Verify(signingInput, sig))

	e := newKey(t, keys.EdDSA)
	sig, _ = e.Sign(signingInput)
	ep := e.PublicKey().(ed25519.PublicKey)
	clear(ep)
	mustNoErr(t, e.Verify(signingInput, sig))

	priv := testRSAKey(t)
	cp := *priv
	cp.Primes = append([]*big.Int(nil), priv.Primes...)
	k2, err := keys.NewPrivate(keys.PS256, &cp, "")
	mustNoErr(t, err)
	cp.D = big.NewInt(5)
	cp.Primes[0] = big.NewInt(7)
	sig, err = k2.Sign(signingInput)
	mustNoErr(t, err)
	mustNoErr(t, k2.Verify(signingInput, sig))
}

func TestKeyNeverPrintsSecrets(t *testing.T) {
	secret := bytes.Repeat([]byte{0xab, 0xcd}, 32)
	k, err := keys.NewHMAC(keys.HS512, secret, "printable")
	mustNoErr(t, err)
	ed := newKey(t, keys.EdDSA)
	edJWK := jwkMap(t, mustJSON(ed.MarshalJWK()))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, key := range []*keys.Key{k, ed} {
			out := fmt.Sprintf(verb, key)
			for _, leak := range []string{hex.EncodeToString(secret[:8]), strings.ToUpper(hex.EncodeToString(secret[:8])), "171 205", base64.RawURLEncoding.EncodeToString(secret[:9]), edJWK["d"].(string)[:10]} {
				if strings.Contains(out, leak) {
					t.Errorf("fmt %s of %v leaks secret material: %s", verb, key.Algorithm(), out)
				}
			}
			if !strings.Contains(out, key.ID()[:8]) {
				t.Errorf("fmt %s = %q, want the kid", verb, out)
			}
			// Even a copied Key value, whose fields fmt prints, shows
			// no secret bytes.
			copied := fmt.Sprintf(strings.Replace(verb, "%", "%", 1), *key)
			for _, leak := range []string{hex.EncodeToString(secret[:8]), "171 205", "[171", edJWK["d"].(string)[:10]} {
				if strings.Contains(copied, leak) {
					t.Errorf("fmt %s of a copied %v Key leaks secret material: %s", verb, key.Algorithm(), copied)
				}
			}
		}
	}
}

func TestNilAndZeroKeys(t *testing.T) {
	var nilKey *keys.Key
	if nilKey.CanSign() || nilKey.Symmetric() || nilKey.Public() != nil || nilKey.PublicKey() != nil {
		t.Error("nil key reports capabilities")
	}
	wantErr(t, nilKey.Verify(signingInput, []byte{1}), keys.ErrInvalidKey)
	_, err := nilKey.Sign(signingInput)
	wantErr(t, err, keys.ErrInvalidKey)
	var zero keys.Key
	wantErr(t, zero.Verify(signingInput, []byte{1}), keys.ErrInvalidKey)
	_, err = zero.Sign(signingInput)
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = zero.MarshalJWK()
	wantErr(t, err, keys.ErrInvalidKey)
	_, err = zero.MarshalPEM()
	wantErr(t, err, keys.ErrInvalidKey)
	_ = fmt.Sprint(nilKey, &zero)
}

func TestVerifyAllocations(t *testing.T) {
	hs := newKey(t, keys.HS256)
	sig, _ := hs.Sign(signingInput)
	allocs := testing.AllocsPerRun(200, func() {
		if hs.Verify(signingInput, sig) != nil {
			t.Fatal("verify failed")
		}
	})
	if raceEnabled {
		// sync.Pool drops entries at random under the race detector.
		t.Logf("HS256 Verify: %.1f allocs (race detector on; not asserted)", allocs)
		return
	}
	if allocs != 0 {
		t.Errorf("HS256 Verify allocates %.1f times per call, want 0", allocs)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.HS512, keys.RS256, keys.PS256, keys.ES256, keys.ES384, keys.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := newKey(b, alg)
			sig, err := k.Sign(signingInput)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := k.Verify(signingInput, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.RS256, keys.ES256, keys.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := newKey(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(signingInput); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
