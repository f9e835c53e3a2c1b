package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authkit-go/authkit/internal/jws"
	"github.com/authkit-go/authkit/keys"
)

// remoteSigner stands in for a KMS or HSM key: a crypto.Signer that is not
// a standard-library key type. It signs with inner, but reports pub (when
// set) as its public key, can fail, can rewrite its output, and records
// what it was asked.
type remoteSigner struct {
	inner  crypto.Signer
	pub    crypto.PublicKey                               // nil: inner.Public()
	err    error                                          // returned by Sign when set
	mangle func(sig []byte) []byte                        // rewrites a good signature when set
	check  func(msg []byte, opts crypto.SignerOpts) error // validates each request when set

	calls atomic.Int64
	mu    sync.Mutex
	opts  crypto.SignerOpts
	msg   []byte
}

func (s *remoteSigner) Public() crypto.PublicKey {
	if s.pub != nil {
		return s.pub
	}
	return s.inner.Public()
}

func (s *remoteSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls.Add(1)
	s.mu.Lock()
	s.opts, s.msg = opts, bytes.Clone(msg)
	s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.check != nil {
		if err := s.check(msg, opts); err != nil {
			return nil, err
		}
	}
	sig, err := s.inner.Sign(r, msg, opts)
	if err != nil {
		return nil, err
	}
	if s.mangle != nil {
		sig = s.mangle(sig)
	}
	return sig, nil
}

func (s *remoteSigner) last() ([]byte, crypto.SignerOpts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msg, s.opts
}

var asymmetric = []keys.Algorithm{
	keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512,
	keys.ES256, keys.ES384, keys.ES512, keys.EdDSA,
}

// innerKey returns a standard-library private key for alg.
func innerKey(t testing.TB, alg keys.Algorithm) crypto.Signer {
	t.Helper()
	switch alg {
	case keys.ES256, keys.ES384, keys.ES512:
		curve := map[keys.Algorithm]elliptic.Curve{keys.ES256: elliptic.P256(), keys.ES384: elliptic.P384(), keys.ES512: elliptic.P521()}[alg]
		p, err := ecdsa.GenerateKey(curve, rand.Reader)
		mustNoErr(t, err)
		return p
	case keys.EdDSA:
		_, p, err := ed25519.GenerateKey(rand.Reader)
		mustNoErr(t, err)
		return p
	}
	return testRSAKey(t)
}

func hashOf(alg keys.Algorithm) crypto.Hash {
	switch alg[2:] {
	case "256":
		return crypto.SHA256
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return 0
}

// TestSignerEveryAlgorithm signs with a remote signer through the JWS
// layer for every asymmetric algorithm, checks what the signer was asked,
// and verifies the token with an independent public key.
func TestSignerEveryAlgorithm(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(string(alg), func(t *testing.T) {
			inner := innerKey(t, alg)
			rs := &remoteSigner{inner: inner}
			k, err := keys.NewSigner(alg, rs, "")
			mustNoErr(t, err)
			local, err := keys.NewPrivate(alg, inner, "")
			mustNoErr(t, err)

			if !k.CanSign() || k.Algorithm() != alg || k.Symmetric() {
				t.Fatalf("CanSign %v, Algorithm %s, Symmetric %v", k.CanSign(), k.Algorithm(), k.Symmetric())
			}
			if k.ID() != local.ID() || k.Thumbprint() != local.Thumbprint() {
				t.Fatalf("kid %q, thumbprint %q; a local key with the same public key has %q, %q", k.ID(), k.Thumbprint(), local.ID(), local.Thumbprint())
			}
			if got := fmt.Sprint(k); !strings.Contains(got, "signer") || !strings.Contains(got, string(alg)) {
				t.Fatalf("String = %q", got)
			}
			if rs.calls.Load() != 0 {
				t.Fatalf("NewSigner called Sign %d times", rs.calls.Load())
			}

			payload := []byte(`{"sub":"alice"}`)
			tok, err := jws.Sign(k, "at+jwt", payload)
			mustNoErr(t, err)
			if n := rs.calls.Load(); n != 1 {
				t.Fatalf("signer called %d times for one token, want 1", n)
			}

			// What the signer was asked: a digest and the alg's options, or
			// the whole signing input for EdDSA.
			input := []byte(tok[:strings.LastIndexByte(tok, '.')])
			msg, opts := rs.last()
			h := hashOf(alg)
			if alg == keys.EdDSA {
				if opts.HashFunc() != 0 || !bytes.Equal(msg, input) {
					t.Fatalf("EdDSA: hash %v, message %q; want crypto.Hash(0) and the signing input", opts.HashFunc(), msg)
				}
			} else {
				want := h.New()
				want.Write(input)
				if opts.HashFunc() != h || !bytes.Equal(msg, want.Sum(nil)) {
					t.Fatalf("hash %v, digest %x; want %v of the signing input", opts.HashFunc(), msg, h)
				}
				pss, isPSS := opts.(*rsa.PSSOptions)
				if wantPSS := alg[0] == 'P'; isPSS != wantPSS {
					t.Fatalf("opts %T, want PSS %v", opts, wantPSS)
				}
				if isPSS && pss.SaltLength != h.Size() {
					t.Fatalf("PSS salt length %d, want %d", pss.SaltLength, h.Size())
				}
			}

			// Verified by keys alone, with a public key that never saw the
			// signer: the local key's public part, and one from the JWKS.
			got, err := jws.Verify(tok, local.Public())
			mustNoErr(t, err)
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload %q", got)
			}
			set, err := keys.NewSet(k)
			mustNoErr(t, err)
			doc, err := set.JWKS()
			mustNoErr(t, err)
			localSet, _ := keys.NewSet(local)
			localDoc, _ := localSet.JWKS()
			if !bytes.Equal(doc, localDoc) {
				t.Fatalf("JWKS differs from a local key's:\n%s\n%s", doc, localDoc)
			}
			remote, err := keys.ParseJWKS(doc)
			mustNoErr(t, err)
			pk, ok := remote.Lookup(k.ID())
			if !ok {
				t.Fatal("kid not in JWKS")
			}
			if _, err := jws.Verify(tok, pk); err != nil {
				t.Fatal(err)
			}
			pj, err := k.PublicJWK()
			mustNoErr(t, err)
			lj, _ := local.PublicJWK()
			if !bytes.Equal(pj, lj) {
				t.Fatalf("PublicJWK %s, local %s", pj, lj)
			}
			// A tampered signature does not verify.
			sig, err := k.Sign(input)
			mustNoErr(t, err)
			sig[len(sig)-1] ^= 1
			wantErr(t, pk.Verify(input, sig), keys.ErrInvalidSignature)

			// Public is an ordinary verification-only key.
			pub := k.Public()
			if pub.CanSign() || pub.ID() != k.ID() {
				t.Fatalf("Public: CanSign %v, kid %q", pub.CanSign(), pub.ID())
			}
			_, err = pub.Sign(input)
			wantErr(t, err, keys.ErrNotSigningKey)
			if rs.calls.Load() != 2 {
				t.Fatal("a public copy reached the signer")
			}
		})
	}
}

// TestSignerKid checks that an explicit kid is kept and checked.
func TestSignerKid(t *testing.T) {
	k, err := keys.NewSigner(keys.ES256, &remoteSigner{inner: innerKey(t, keys.ES256)}, "kms-key-7")
	mustNoErr(t, err)
	if k.ID() != "kms-key-7" {
		t.Fatalf("kid %q", k.ID())
	}
	_, err = keys.NewSigner(keys.ES256, &remoteSigner{inner: innerKey(t, keys.ES256)}, "bad\nkid")
	wantErr(t, err, keys.ErrInvalidKey)
}

var errKMSDown = errors.New("kms: service unavailable")

// TestSignerError checks that a signer's error becomes a signing error that
// wraps it, and no token.
func TestSignerError(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.RS256, keys.ES256, keys.EdDSA} {
		for _, cause := range []error{errKMSDown, context.DeadlineExceeded} {
			rs := &remoteSigner{inner: innerKey(t, alg), err: cause}
			k, err := keys.NewSigner(alg, rs, "")
			mustNoErr(t, err)
			sig, err := k.Sign([]byte("a.b"))
			if sig != nil || !errors.Is(err, keys.ErrSignerFailed) || !errors.Is(err, cause) {
				t.Fatalf("%s: Sign = %x, %v; want nil and an error matching ErrSignerFailed and %v", alg, sig, err, cause)
			}
			tok, err := jws.Sign(k, "at+jwt", []byte(`{}`))
			if tok != "" || !errors.Is(err, keys.ErrSignerFailed) || !errors.Is(err, cause) {
				t.Fatalf("%s: jws.Sign = %q, %v", alg, tok, err)
			}
			if rs.calls.Load() != 2 {
				t.Fatalf("calls %d", rs.calls.Load())
			}
		}
	}
}

// TestSignerFaulty checks that signatures which do not verify with the
// key's public key are never returned: a signer holding another key (an
// HSM or KMS key replaced under the same name), and signers that corrupt,
// truncate, pad or mis-encode their output.
func TestSignerFaulty(t *testing.T) {
	flip := func(sig []byte) []byte { sig[len(sig)/2] ^= 1; return sig }
	for _, alg := range asymmetric {
		t.Run(string(alg), func(t *testing.T) {
			other := innerKey(t, alg)
			if alg[0] == 'R' || alg[0] == 'P' {
				o, err := rsa.GenerateKey(rand.Reader, 2048)
				mustNoErr(t, err)
				other = o
			}
			cases := map[string]*remoteSigner{
				"other key": {inner: other, pub: innerKey(t, alg).Public()},
				"bit flip":  {inner: innerKey(t, alg), mangle: flip},
				"empty":     {inner: innerKey(t, alg), mangle: func([]byte) []byte { return nil }},
				"truncated": {inner: innerKey(t, alg), mangle: func(s []byte) []byte { return s[:len(s)-1] }},
				"padded":    {inner: innerKey(t, alg), mangle: func(s []byte) []byte { return append(s, 0) }},
			}
			if alg[0] == 'E' && alg != keys.EdDSA {
				size := map[keys.Algorithm]int{keys.ES256: 32, keys.ES384: 48, keys.ES512: 66}[alg]
				cases["raw r||s"] = &remoteSigner{inner: innerKey(t, alg), mangle: func(s []byte) []byte {
					var v struct{ R, S *big.Int }
					if _, err := asn1.Unmarshal(s, &v); err != nil {
						return nil
					}
					return append(v.R.FillBytes(make([]byte, size)), v.S.FillBytes(make([]byte, size))...)
				}}
			}
			for name, rs := range cases {
				k, err := keys.NewSigner(alg, rs, "")
				mustNoErr(t, err)
				for range 3 { // a mangled signature could pass a length check by luck once
					sig, err := k.Sign([]byte("header.payload"))
					if sig != nil || !errors.Is(err, keys.ErrSignerFailed) {
						t.Fatalf("%s: Sign = %x, %v; want nil and ErrSignerFailed", name, sig, err)
					}
				}
			}
		})
	}
}

// TestSignerRefused checks that NewSigner validates the signer's public
// key as NewPublic does, and refuses HMAC algorithms.
func TestSignerRefused(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	mustNoErr(t, err)
	p384 := innerKey(t, keys.ES384)
	ed := innerKey(t, keys.EdDSA)
	rsaKey := testRSAKey(t)
	smallOrder := make(ed25519.PublicKey, ed25519.PublicKeySize)
	smallOrder[0] = 1 // the identity point
	evenE := &rsa.PublicKey{N: rsaKey.N, E: 65536}
	var nilRSA *rsa.PrivateKey

	for _, tc := range []struct {
		name string
		alg  keys.Algorithm
		s    crypto.Signer
		want error
	}{
		{"HS256", keys.HS256, &remoteSigner{inner: rsaKey}, keys.ErrAlgorithmMismatch},
		{"HS512", keys.HS512, &remoteSigner{inner: ed}, keys.ErrAlgorithmMismatch},
		{"none", "none", &remoteSigner{inner: rsaKey}, keys.ErrUnsupportedAlgorithm},
		{"weak RSA", keys.RS256, &remoteSigner{inner: weak}, keys.ErrWeakKey},
		{"weak RSA PS", keys.PS256, &remoteSigner{inner: weak}, keys.ErrWeakKey},
		{"even exponent", keys.RS256, &remoteSigner{inner: rsaKey, pub: evenE}, keys.ErrInvalidKey},
		{"small-order Ed25519", keys.EdDSA, &remoteSigner{inner: ed, pub: smallOrder}, keys.ErrWeakKey},
		{"P-384 with ES256", keys.ES256, &remoteSigner{inner: p384}, keys.ErrAlgorithmMismatch},
		{"EC with RS256", keys.RS256, &remoteSigner{inner: p384}, keys.ErrAlgorithmMismatch},
		{"RSA with EdDSA", keys.EdDSA, &remoteSigner{inner: rsaKey}, keys.ErrAlgorithmMismatch},
		{"Ed25519 with ES256", keys.ES256, &remoteSigner{inner: ed}, keys.ErrAlgorithmMismatch},
		{"Public returns a private key", keys.RS256, &remoteSigner{inner: rsaKey, pub: rsaKey}, keys.ErrInvalidKey},
		{"Public returns an unknown type", keys.RS256, &remoteSigner{inner: rsaKey, pub: "rsa"}, keys.ErrInvalidKey},
		{"nil signer", keys.RS256, nil, keys.ErrInvalidKey},
		{"typed nil RSA key", keys.RS256, nilRSA, keys.ErrInvalidKey},
		{"short Ed25519 key", keys.EdDSA, ed25519.PrivateKey{1, 2, 3}, keys.ErrInvalidKey},
	} {
		k, err := keys.NewSigner(tc.alg, tc.s, "")
		if k != nil || !errors.Is(err, tc.want) {
			t.Errorf("%s: NewSigner = %v, %v; want an error matching %v", tc.name, k, err, tc.want)
		}
		if rs, ok := tc.s.(*remoteSigner); ok && rs.calls.Load() != 0 {
			t.Errorf("%s: NewSigner signed", tc.name)
		}
	}
	// NewPrivate still refuses a foreign signer, and points at NewSigner.
	_, err = keys.NewPrivate(keys.RS256, &remoteSigner{inner: rsaKey}, "")
	if !errors.Is(err, keys.ErrInvalidKey) || !strings.Contains(err.Error(), "NewSigner") {
		t.Fatalf("NewPrivate with a foreign signer: %v", err)
	}
}

// TestSignerNotExportable checks that the private form of a signer key is
// refused everywhere, while its public form is available.
func TestSignerNotExportable(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.RS256, keys.ES384, keys.EdDSA} {
		k, err := keys.NewSigner(alg, &remoteSigner{inner: innerKey(t, alg)}, "")
		mustNoErr(t, err)
		_, err = k.MarshalJWK()
		wantErr(t, err, keys.ErrNotExportable)
		_, err = k.MarshalPEM()
		wantErr(t, err, keys.ErrNotExportable)

		local, err := keys.Generate(keys.ES256) // another kid than k's
		mustNoErr(t, err)
		set, err := keys.NewSet(local, k)
		mustNoErr(t, err)
		_, err = set.MarshalPrivateJWKS()
		wantErr(t, err, keys.ErrNotExportable)
		mustNoErr(t, set.Activate(k.ID()))
		if set.Active() != k {
			t.Fatal("signer key not active")
		}

		pemPub, err := k.Public().MarshalPEM()
		mustNoErr(t, err)
		if !bytes.Contains(pemPub, []byte("PUBLIC KEY")) {
			t.Fatalf("%s", pemPub)
		}
		block, err := keys.ParsePEM(pemPub, alg, "")
		mustNoErr(t, err)
		if block.ID() != k.ID() {
			t.Fatal("public PEM round trip changed the kid")
		}
	}
}

// TestSignerStdlibKey checks that a standard-library key passed to
// NewSigner is used through its Sign method and is not exportable either.
func TestSignerStdlibKey(t *testing.T) {
	p := innerKey(t, keys.ES256).(*ecdsa.PrivateKey)
	k, err := keys.NewSigner(keys.ES256, p, "")
	mustNoErr(t, err)
	sig, err := k.Sign([]byte("a.b"))
	mustNoErr(t, err)
	pub, err := keys.NewPublic(keys.ES256, p.Public(), "")
	mustNoErr(t, err)
	mustNoErr(t, pub.Verify([]byte("a.b"), sig))
	_, err = k.MarshalJWK()
	wantErr(t, err, keys.ErrNotExportable)
}

// TestSignerConcurrent signs from many goroutines (run with -race).
func TestSignerConcurrent(t *testing.T) {
	rs := &remoteSigner{inner: innerKey(t, keys.ES256)}
	k, err := keys.NewSigner(keys.ES256, rs, "")
	mustNoErr(t, err)
	const n, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, n*each)
	for g := range n {
		wg.Go(func() {
			for i := range each {
				in := fmt.Appendf(nil, "h.%d-%d", g, i)
				sig, err := k.Sign(in)
				if err == nil {
					err = k.Verify(in, sig)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := rs.calls.Load(); got != n*each {
		t.Fatalf("calls %d, want %d", got, n*each)
	}
}

// BenchmarkSignerSign compares signing through NewSigner (a signer that
// signs in process, so the difference is authkit's own cost: the call
// through the interface and the verification after signing) with a local
// key of the same algorithm.
func BenchmarkSignerSign(b *testing.B) {
	input := []byte("eyJhbGciOiJFUzI1NiIsImtpZCI6ImFiYyIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1c2VyLTEyMzQ1Njc4OTAiLCJzY29wZSI6InJlYWQgd3JpdGUifQ")
	for _, alg := range []keys.Algorithm{keys.ES256, keys.EdDSA, keys.RS256, keys.PS256} {
		inner := innerKey(b, alg)
		local, err := keys.NewPrivate(alg, inner, "")
		mustNoErr(b, err)
		remote, err := keys.NewSigner(alg, &remoteSigner{inner: inner}, "")
		mustNoErr(b, err)
		for _, c := range []struct {
			name string
			k    *keys.Key
		}{{"local", local}, {"signer", remote}} {
			b.Run(string(alg)+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.k.Sign(input); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
