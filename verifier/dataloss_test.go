package verifier_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/eventlog"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// After the revocation store lost its data, the verifier refuses every
// token issued before (ErrTokenRevoked and ErrDataLoss), reports the loss
// once per epoch (EventDataLoss and an Error log line, beside each
// refusal's auth_failed), and accepts tokens issued after — with and
// without the revocation mirror.
func TestDataLossRefusesOlderTokens(t *testing.T) {
	for _, mirror := range []bool{false, true} {
		name := "Direct"
		if mirror {
			name = "Mirror"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			k, _ := keys.Generate(keys.EdDSA)
			set, _ := keys.NewSet(k)
			clk := &clock{t: base}
			revs := feedtest.New()
			mem := memory.New()
			var log eventlog.Log
			var logs bytes.Buffer
			common := []authkit.Option{authkit.WithKeys(set), authkit.WithClock(clk.Now), authkit.WithStore(mem), authkit.WithRevocationStore(revs)}
			is, err := issuer.New(common...)
			if err != nil {
				t.Fatal(err)
			}
			opts := append(common, authkit.WithEventHook(log.Hook), authkit.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if mirror {
				opts = append(opts, authkit.WithRevocationMirror(time.Minute))
			}
			v, err := verifier.New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			first := v
			t.Cleanup(func() { first.Close() })

			alice, _ := is.IssuePair(ctx, "alice")
			bob, _ := is.IssuePair(ctx, "bob")
			if _, err := v.Verify(ctx, alice.AccessToken); err != nil {
				t.Fatalf("before the loss: %v", err)
			}
			log.Take()

			clk.Add(time.Second)
			revs.LoseData(false)
			if mirror {
				// A peer notices first; the mirror learns through its feed.
				revs.Peer().IsRevoked(ctx, authkit.RevocationQuery{Subject: "x", IssuedAt: base}, clk.Now())
				waitUntil(t, "the mirror to learn the new epoch", func() bool {
					_, err := v.Verify(ctx, bob.AccessToken)
					return errors.Is(err, authkit.ErrDataLoss)
				})
				log.Take()
				logs.Reset()
				v2, err := verifier.New(opts...) // a fresh verifier reports it once too
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { v2.Close() })
				v = v2
				waitUntil(t, "the new mirror's first snapshot", func() bool {
					_, err := v.Verify(ctx, alice.AccessToken)
					return err != nil
				})
			}
			_, err = v.Verify(ctx, alice.AccessToken)
			if !errors.Is(err, authkit.ErrTokenRevoked) || !errors.Is(err, authkit.ErrDataLoss) {
				t.Fatalf("a token issued before the loss: %v, want ErrTokenRevoked and ErrDataLoss", err)
			}
			got := log.Take()
			if len(got) < 2 || got[0].Type != authkit.EventDataLoss {
				t.Fatalf("events %+v, want data_loss then auth_failed", got)
			}
			expectOne(t, "data_loss", got[:1], []string{alice.AccessToken},
				wantEvent{Type: authkit.EventDataLoss, Subject: "alice", SessionID: alice.SessionID, TokenID: alice.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrDataLoss})
			expectOne(t, "the refusal", got[len(got)-1:], []string{alice.AccessToken},
				wantEvent{Type: authkit.EventAuthFailed, Subject: "alice", SessionID: alice.SessionID, TokenID: alice.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrDataLoss})
			if out := logs.String(); strings.Count(out, "lost data") != 1 || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "epoch_start=") {
				t.Errorf("log lines %q, want one Error line saying the store lost data, with the epoch's start", out)
			}

			// The same epoch again: refused, not reported again.
			if _, err := v.Verify(ctx, bob.AccessToken); !errors.Is(err, authkit.ErrDataLoss) {
				t.Fatalf("bob's token issued before the loss: %v", err)
			}
			for _, e := range log.Take() {
				if e.Type != authkit.EventAuthFailed {
					t.Errorf("a second refusal under the same epoch: %+v, want only auth_failed", e)
				}
			}

			// Issued after the new epoch began: accepted.
			clk.Add(time.Second)
			fresh, err := is.IssuePair(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, fresh.AccessToken); err != nil {
				t.Errorf("a token issued after the new epoch: %v", err)
			}

			// A second loss is a new epoch: reported again.
			clk.Add(time.Second)
			revs.LoseData(false)
			if mirror {
				revs.Peer().IsRevoked(ctx, authkit.RevocationQuery{Subject: "x", IssuedAt: base}, clk.Now())
				waitUntil(t, "the mirror to learn the second epoch", func() bool {
					_, err := v.Verify(ctx, fresh.AccessToken)
					return err != nil
				})
			} else if _, err := v.Verify(ctx, fresh.AccessToken); !errors.Is(err, authkit.ErrDataLoss) {
				t.Fatalf("after a second loss: %v", err)
			}
			n := 0
			for _, e := range log.Take() {
				if e.Type == authkit.EventDataLoss {
					n++
				}
			}
			if n != 1 {
				t.Errorf("a second loss gave %d data_loss events, want 1", n)
			}
		})
	}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A request that waited for a JWKS fetch (its token's kid new after a
// rotation) takes the time again before its revocation check: it is the
// first call to find the store's data lost during the wait, and the store
// starts the new epoch at the time it is asked with. Found by review: the
// time read before the wait dated the loss seconds early, and a token
// revoked in between verified on every verifier.
func TestDataLossDuringAJWKSWait(t *testing.T) {
	ctx := context.Background()
	set, _ := keys.NewSet(mustKey(t, keys.EdDSA))
	srv := newJWKSServer(t, set)
	clk := &clock{t: base}
	revs := feedtest.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithClock(clk.Now), authkit.WithRevocationStore(revs))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(authkit.WithJWKSURL(srv.URL), authkit.WithClock(clk.Now),
		authkit.WithJWKSRefreshInterval(time.Second), authkit.WithRevocationStore(revs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	issue := func(subject string) string {
		p, err := iss.IssueAccessToken(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		return p.AccessToken
	}
	if _, err := v.Verify(ctx, issue("carol")); err != nil {
		t.Fatal(err)
	}

	srv.hold()
	k2 := mustKey(t, keys.EdDSA)
	if err := set.Add(k2); err != nil {
		t.Fatal(err)
	}
	if err := set.Activate(k2.ID()); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second)
	bob := issue("bob")
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, bob) // waits for the new key
		done <- err
	}()
	eventually(t, "the request to wait for the JWKS", func() bool { return srv.waiting.Load() == 1 })
	clk.Add(time.Second)
	alice := issue("alice")
	if err := iss.Revoke(ctx, alice); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	revs.LoseData(false) // the store loses everything, alice's revocation too
	clk.Add(time.Second)
	srv.release()
	<-done
	if _, err := v.Verify(ctx, alice); !errors.Is(err, authkit.ErrDataLoss) {
		t.Errorf("a token revoked before the loss, after the waiting request noticed it: %v, want ErrDataLoss", err)
	}
}

// A token without iat (a trusted issuer's profile that does not require
// it) is before every epoch of a store that keeps one, so it is refused
// as before (ErrDataLoss), but nothing was lost: no EventDataLoss and no
// log line saying so, with and without the mirror (found by review: the
// first such token reported that the store had lost its data).
func TestNoIssuedAtIsNotDataLoss(t *testing.T) {
	const iss = "https://idp.example"
	for _, mirror := range []bool{false, true} {
		t.Run(map[bool]string{false: "Direct", true: "Mirror"}[mirror], func(t *testing.T) {
			k := genKey(t, keys.ES256)
			prof := authkit.OIDCProfile()
			prof.RequiredClaims = nil
			var log eventlog.Log
			var logs bytes.Buffer
			opts := []authkit.Option{authkit.WithClock((&clock{t: time.Now()}).Now),
				authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pubSet(t, k), Audience: []string{"api"}, Profile: &prof}),
				authkit.WithRevocationStore(feedtest.New()), authkit.WithEventHook(log.Hook),
				authkit.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			if mirror {
				opts = append(opts, authkit.WithRevocationMirror(time.Minute))
			}
			v := newVerifier(t, opts...)
			tok := forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID()}, map[string]any{"iss": iss, "aud": "api", "sub": "s",
				"exp": time.Now().Add(time.Minute).Unix()})
			var err error
			waitUntil(t, "a refusal", func() bool {
				_, err = v.Verify(context.Background(), tok)
				return err != nil
			})
			if !errors.Is(err, authkit.ErrDataLoss) || !strings.Contains(err.Error(), "no iat") {
				t.Fatalf("a token without iat: %v, want ErrDataLoss saying it has no iat", err)
			}
			for _, e := range log.Take() {
				if e.Type == authkit.EventDataLoss {
					t.Errorf("event %+v for a token without iat, want no data_loss", e)
				}
			}
			if strings.Contains(logs.String(), "lost data") {
				t.Errorf("log %q for a token without iat, want no line saying the store lost data", logs.String())
			}
		})
	}
}
