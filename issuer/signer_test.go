package issuer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// hsmSigner stands in for an HSM or KMS key: a crypto.Signer that is not a
// standard-library key type. It signs with inner, reports pub (when set)
// as its public key, fails with err (when set), and counts its calls.
type hsmSigner struct {
	inner crypto.Signer
	pub   crypto.PublicKey
	err   error
	calls atomic.Int64
	down  atomic.Bool // fails with errHSMDown while set
}

var errHSMDown = errors.New("hsm: unreachable")

func (s *hsmSigner) Public() crypto.PublicKey {
	if s.pub != nil {
		return s.pub
	}
	return s.inner.Public()
}

func (s *hsmSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.calls.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	if s.down.Load() {
		return nil, errHSMDown
	}
	return s.inner.Sign(r, digest, opts)
}

// TestIssuerWithSigner issues tokens with a crypto.Signer key for every
// asymmetric algorithm and verifies them with a verifier that holds only
// the published JWKS.
func TestIssuerWithSigner(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	newInner := func(alg keys.Algorithm) crypto.Signer {
		var (
			p   crypto.Signer
			err error
		)
		switch alg {
		case keys.ES256:
			p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case keys.ES384:
			p, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		case keys.ES512:
			p, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		case keys.EdDSA:
			_, p, err = ed25519.GenerateKey(rand.Reader)
		default:
			p = rsaKey
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	for _, alg := range []keys.Algorithm{keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512, keys.ES256, keys.ES384, keys.ES512, keys.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			hsm := &hsmSigner{inner: newInner(alg)}
			k, err := keys.NewSigner(alg, hsm, "")
			if err != nil {
				t.Fatal(err)
			}
			set, err := keys.NewSet(k)
			if err != nil {
				t.Fatal(err)
			}
			store := memory.New()
			iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := set.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			published, err := keys.ParseJWKS(doc)
			if err != nil {
				t.Fatal(err)
			}
			ver, err := verifier.New(authkit.WithKeys(published), authkit.WithStore(store))
			if err != nil {
				t.Fatal(err)
			}

			pair, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
			if err != nil {
				t.Fatal(err)
			}
			if n := hsm.calls.Load(); n != 1 {
				t.Fatalf("signer called %d times for one pair, want 1", n)
			}
			p, err := ver.Verify(ctx, pair.AccessToken)
			if err != nil {
				t.Fatalf("verifying a token signed through the signer: %v", err)
			}
			if p.Subject != "alice" || p.TokenID != pair.TokenID {
				t.Fatalf("principal %+v", p)
			}

			// A refresh signs through the signer again.
			next, err := iss.Refresh(ctx, pair.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ver.Verify(ctx, next.AccessToken); err != nil {
				t.Fatal(err)
			}
			if n := hsm.calls.Load(); n != 2 {
				t.Fatalf("signer called %d times after a refresh, want 2", n)
			}
		})
	}
}

// TestIssuerSignerFails checks that a signer that is down, or faulty,
// yields an error from the issuer and no token.
func TestIssuerSignerFails(t *testing.T) {
	errDown := errors.New("hsm: unreachable")
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		s    *hsmSigner
		want error
	}{
		"down":      {&hsmSigner{inner: good, err: errDown}, errDown},
		"deadline":  {&hsmSigner{inner: good, err: context.DeadlineExceeded}, context.DeadlineExceeded},
		"wrong key": {&hsmSigner{inner: other, pub: good.Public()}, keys.ErrSignerFailed},
	} {
		t.Run(name, func(t *testing.T) {
			k, err := keys.NewSigner(keys.ES256, tc.s, "")
			if err != nil {
				t.Fatal(err)
			}
			set, _ := keys.NewSet(k)
			iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()))
			if err != nil {
				t.Fatal(err)
			}
			pair, err := iss.IssuePair(context.Background(), "alice")
			if !errors.Is(err, keys.ErrSignerFailed) || !errors.Is(err, tc.want) {
				t.Fatalf("IssuePair error %v, want one matching ErrSignerFailed and %v", err, tc.want)
			}
			if pair.AccessToken != "" || pair.RefreshToken != "" {
				t.Fatal("a token was returned although signing failed")
			}
			if tc.s.calls.Load() != 1 {
				t.Fatalf("signer called %d times", tc.s.calls.Load())
			}
		})
	}
}

// TestSignerOutageSpendsNoRefreshToken checks what a signer outage (a KMS
// that is down) costs the sessions refreshing through it: a login signs
// before it stores its session, so a failed one leaves none; the refresh
// that meets the outage's first failure has rotated its token (the store
// was written before the signer was asked), but every later refresh checks
// the signer first and is refused with its token still current, so that
// the client's retry once the signer is back works instead of being taken
// for reuse.
func TestSignerOutageSpendsNoRefreshToken(t *testing.T) {
	inner, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hsm := &hsmSigner{inner: inner}
	k, err := keys.NewSigner(keys.ES256, hsm, "")
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	second, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	hsm.down.Store(true)
	if _, err := iss.IssuePair(ctx, "alice"); !errors.Is(err, errHSMDown) {
		t.Fatalf("IssuePair with the signer down: %v, want errHSMDown", err)
	}
	if l, err := iss.Sessions(ctx, "alice"); err != nil || len(l) != 2 {
		t.Fatalf("sessions after a login whose signature failed: %d (%v), want the 2 earlier ones only", len(l), err)
	}
	// The first refresh after the outage began: the signer was not known
	// to be down, so the token was rotated before signing failed.
	if _, err := iss.Refresh(ctx, first.RefreshToken); !errors.Is(err, errHSMDown) {
		t.Fatalf("Refresh with the signer down: %v, want errHSMDown", err)
	}
	// Every later one is refused before its token is spent.
	calls := hsm.calls.Load()
	for range 3 {
		if _, err := iss.Refresh(ctx, second.RefreshToken); !errors.Is(err, errHSMDown) || !errors.Is(err, keys.ErrSignerFailed) {
			t.Fatalf("Refresh while the signer is known to be down: %v, want errHSMDown and ErrSignerFailed", err)
		}
	}
	if got := hsm.calls.Load() - calls; got != 3 {
		t.Fatalf("signer calls for 3 refreshes refused while it is down: %d, want one check each", got)
	}
	if _, err := iss.RefreshSession(ctx, second.RefreshToken); err != nil {
		t.Fatalf("the refresh token of a refresh refused during the outage is no longer current: %v", err)
	}

	hsm.down.Store(false)
	pair, err := iss.Refresh(ctx, second.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh of the same token once the signer is back: %v", err)
	}
	if _, err := iss.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatalf("Refresh of its successor: %v", err)
	}
	// The signer is known good again: a refresh costs one signature.
	calls = hsm.calls.Load()
	if _, err := iss.IssuePair(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := hsm.calls.Load() - calls; got != 1 {
		t.Fatalf("signer calls for a login with the signer back: %d, want 1", got)
	}
}
