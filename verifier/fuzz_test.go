package verifier_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// fuzzFixture is a verifier trusting an HS256 and an EdDSA key over the
// memory store, and the credentials the test minted for it. Each fuzzing
// process builds its own, with its own random keys and store, so a
// credential another process minted (a seed the coordinator passes on)
// can never verify in it: "minted" always means minted here.
type fuzzFixture struct {
	ver *verifier.Verifier
	// live are the credentials Verify must accept, with their subject:
	// access tokens signed with either key and an API token.
	live map[string]string
	// dead are credentials the test minted that must be refused: a
	// refresh token, a revoked access token, a revoked API token.
	dead  []string
	basic string // the one good Basic credential, base64
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	t.Helper()
	hs, ed := mustKey(t, keys.HS256), mustKey(t, keys.EdDSA)
	edSet, err := keys.NewSet(ed, hs)
	if err != nil {
		t.Fatal(err)
	}
	hsSet, err := keys.NewSet(hs, ed)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	now := func() time.Time { return base }
	common := []authkit.Option{authkit.WithStore(store), authkit.WithClock(now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api")}
	fx := &fuzzFixture{live: map[string]string{}, basic: base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))}
	basic := func(_ context.Context, user, pass string) (*authkit.Principal, error) {
		if user == "alice" && pass == "wonderland" {
			return &authkit.Principal{Subject: "alice"}, nil
		}
		return nil, errors.New("bad credentials")
	}
	if fx.ver, err = verifier.New(append(common, authkit.WithKeys(edSet), authkit.WithBasicAuth(basic))...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, set := range []*keys.Set{edSet, hsSet} {
		iss, err := issuer.New(append(common, authkit.WithKeys(set))...)
		if err != nil {
			t.Fatal(err)
		}
		sub := []string{"ed-user", "hs-user"}[i]
		pair, err := iss.IssuePair(ctx, sub, issuer.WithScopes("read"), issuer.WithClaims(map[string]any{"org": "acme"}))
		if err != nil {
			t.Fatal(err)
		}
		fx.live[pair.AccessToken] = sub
		fx.dead = append(fx.dead, pair.RefreshToken)
		gone, err := iss.IssuePair(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := iss.RevokeSession(ctx, gone.SessionID); err != nil {
			t.Fatal(err)
		}
		fx.dead = append(fx.dead, gone.AccessToken)
		api, _, err := iss.CreateAPIToken(ctx, sub+"-api", "ci", issuer.WithTokenScopes("read"))
		if err != nil {
			t.Fatal(err)
		}
		fx.live[api] = sub + "-api"
		old, oldRec, err := iss.CreateAPIToken(ctx, sub+"-api", "old")
		if err != nil {
			t.Fatal(err)
		}
		if err := iss.RevokeAPIToken(ctx, oldRec.Subject, oldRec.ID); err != nil {
			t.Fatal(err)
		}
		fx.dead = append(fx.dead, old)
	}
	for tok, sub := range fx.live {
		if p, err := fx.ver.Verify(ctx, tok); err != nil || p.Subject != sub {
			t.Fatalf("a minted credential of %s does not verify: %v", sub, err)
		}
	}
	for _, tok := range fx.dead {
		if _, err := fx.ver.Verify(ctx, tok); err == nil {
			t.Fatal("a dead credential verifies")
		}
	}
	return fx
}

// documented are the errors Verify and Authenticate may return (see the
// package documentation's Errors section).
var documented = []error{authkit.ErrNoCredentials, authkit.ErrInvalidRequest, authkit.ErrInvalidToken,
	authkit.ErrTokenExpired, authkit.ErrTokenRevoked, authkit.ErrStoreUnavailable}

// checkAnswer holds one Verify or Authenticate answer to the contract: a
// principal exactly when there is no error; an error that is one of the
// documented ones and never quotes the credential; a principal only for
// a credential the test minted (cred, "" when no credential could be
// read), with its subject.
func (fx *fuzzFixture) checkAnswer(t *testing.T, what, cred string, p *authkit.Principal, err error) {
	t.Helper()
	if (p == nil) == (err == nil) {
		t.Fatalf("%s: principal %v with error %v", what, p, err)
	}
	if err != nil {
		ok := false
		for _, d := range documented {
			ok = ok || errors.Is(err, d)
		}
		if !ok {
			t.Fatalf("%s: undocumented error %v", what, err)
		}
		if len(cred) >= 20 && strings.Contains(err.Error(), cred) {
			t.Fatalf("%s: the error quotes the credential: %v", what, err)
		}
		return
	}
	if cred == fx.basic {
		if p.Subject != "alice" || p.Method != authkit.MethodBasic {
			t.Fatalf("%s: Basic principal %+v", what, p)
		}
		return
	}
	sub, ok := fx.live[cred]
	if !ok {
		t.Fatalf("%s: a credential the test did not mint is accepted as %q", what, p.Subject)
	}
	if p.Subject != sub {
		t.Fatalf("%s: principal %q, minted for %q", what, p.Subject, sub)
	}
}

func (fx *fuzzFixture) seeds() []string {
	out := []string{"", ".", "..", "a.b.c", "ak_", "akrt_x", "ak_" + strings.Repeat("0", 49), strings.Repeat("A", 8193),
		`eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.`, "a\x00b", "ä.ö.ü"}
	for tok := range fx.live {
		out = append(out, tok, tok+"=", tok[:len(tok)-1], strings.Replace(tok, ".", "..", 1))
	}
	return append(out, fx.dead...)
}

// FuzzVerify: Verify of any string never panics, answers with a documented
// error, and accepts only the credentials the test minted (not a refresh
// token, a revoked one, or anything else).
func FuzzVerify(f *testing.F) {
	fx := newFuzzFixture(f)
	for _, s := range fx.seeds() {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := fx.ver.Verify(ctx, tok)
		fx.checkAnswer(t, "Verify", tok, p, err)
	})
}

// FuzzVerifyMutated: a minted credential with one byte changed, inserted
// or deleted never verifies, unless the change leaves it as it was.
func FuzzVerifyMutated(f *testing.F) {
	fx := newFuzzFixture(f)
	var minted []string
	for tok := range fx.live {
		minted = append(minted, tok)
	}
	for i := range minted {
		f.Add(uint(i), uint(0), byte('A'), uint8(0))
		f.Add(uint(i), uint(len(minted[i])-1), byte('B'), uint8(1))
		f.Add(uint(i), uint(len(minted[i])/2), byte('.'), uint8(2))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which, at uint, b byte, op uint8) {
		orig := minted[which%uint(len(minted))]
		i := int(at % uint(len(orig)))
		var m string
		switch op % 3 {
		case 0:
			m = orig[:i] + string([]byte{b}) + orig[i+1:]
		case 1:
			m = orig[:i] + string([]byte{b}) + orig[i:]
		default:
			m = orig[:i] + orig[i+1:]
		}
		p, err := fx.ver.Verify(ctx, m)
		fx.checkAnswer(t, "Verify", m, p, err)
		if m != orig && err == nil {
			t.Fatalf("a changed credential verifies: %q from %q", m, orig)
		}
	})
}

// FuzzAuthenticate: Authenticate of any Authorization header (and of
// several) never panics, answers with a documented error, and accepts
// only a minted credential under a scheme it knows.
func FuzzAuthenticate(f *testing.F) {
	fx := newFuzzFixture(f)
	for _, s := range fx.seeds() {
		f.Add("Bearer "+s, "")
		f.Add("token  "+s, "")
	}
	f.Add("Basic "+fx.basic, "")
	f.Add("Basic "+fx.basic+"=", "")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("alice:wonderland\xff")), "")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte(":x")), "")
	f.Add("bearer", "")
	f.Add("Bearer a", "Bearer b")
	f.Add("Digest x", "")
	f.Add("Bearer "+strings.Repeat("a", verifier.MaxHeaderLen), "")
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		r, err := http.NewRequest("GET", "http://api.example/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header["Authorization"] = []string{h1}
		if h2 != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], h2)
		}
		p, err := fx.ver.Authenticate(r)
		// The credential is what follows the scheme and its spaces.
		scheme, cred, _ := strings.Cut(h1, " ")
		cred = strings.TrimLeft(cred, " ")
		fx.checkAnswer(t, "Authenticate", cred, p, err)
		if err != nil {
			return
		}
		if h2 != "" {
			t.Fatal("Authenticate accepted two Authorization headers")
		}
		want := map[string]bool{"bearer": true, "token": true}
		if cred == fx.basic {
			want = map[string]bool{"basic": true}
		}
		if !want[strings.ToLower(scheme)] {
			t.Fatalf("Authenticate accepted %q under the scheme %q", cred, scheme)
		}
	})
}
