package memory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// TestConformanceClients runs the client checks through their own entry
// point, with a sweep that collects everything it may: the suite must not
// depend on expired codes surviving.
func TestConformanceClients(t *testing.T) {
	conformance.RunClientStore(t, conformance.PartialHarness[authkit.ClientStore]{
		New: func(t *testing.T) authkit.ClientStore { return memory.New(memory.WithSweepBudget(1 << 30)) },
	})
}

func testClient(id string) authkit.Client {
	return authkit.Client{ID: id, Name: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, CreatedAt: base}
}

func testCode(label, clientID string, created, expires time.Time) authkit.AuthorizationCode {
	return authkit.AuthorizationCode{Hash: hash(label), ClientID: clientID, Subject: "alice", CreatedAt: created, ExpiresAt: expires}
}

// A client ID must be visible ASCII: a control byte, a space or non-ASCII
// text never becomes a client_id that a log line or a header carries.
func TestClientIDVisibleASCII(t *testing.T) {
	s := memory.New()
	for _, id := range []string{"a b", "app\n", "app\x00", "\x7f", "ünï", "app\r\nX-Injected: 1"} {
		if err := s.CreateClient(t.Context(), testClient(id)); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("CreateClient(%q) returned %v, want ErrInvalidRequest", id, err)
		}
	}
	for _, id := range []string{"!", "~", "s6BhdRkqt3", "urn:app:1", "https://app.example/client.json"} {
		if err := s.CreateClient(t.Context(), testClient(id)); err != nil {
			t.Errorf("CreateClient(%q): %v", id, err)
		}
	}
	if cs, err := s.ListClients(t.Context()); err != nil || len(cs) != 5 {
		t.Errorf("ListClients returned %d clients, %v; want the 5 valid ones", len(cs), err)
	}
}

// A code's redirect URI is bounded as a client's are.
func TestCodeRedirectURILimit(t *testing.T) {
	s := memory.New()
	if err := s.CreateClient(t.Context(), testClient("app")); err != nil {
		t.Fatal(err)
	}
	c := testCode("c", "app", base, base.Add(time.Minute))
	c.RedirectURI = "https://app.example/" + string(make([]byte, authkit.MaxRedirectURILen))
	if err := s.CreateAuthorizationCode(t.Context(), c); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("CreateAuthorizationCode with a %d-byte redirect URI returned %v, want ErrInvalidRequest", len(c.RedirectURI), err)
	}
}

// A second redemption carries the session the first one recorded, as an
// *authkit.ReuseError, so that the HTTP layer can revoke it.
func TestRedeemReuseError(t *testing.T) {
	s := memory.New()
	ctx := t.Context()
	if err := s.CreateClient(ctx, testClient("app")); err != nil {
		t.Fatal(err)
	}
	c := testCode("c", "app", base, base.Add(time.Minute))
	if err := s.CreateAuthorizationCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemAuthorizationCode(ctx, c.Hash, base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAuthorizationCodeSession(ctx, c.Hash, "sess-9"); err != nil {
		t.Fatal(err)
	}
	_, err := s.RedeemAuthorizationCode(ctx, c.Hash, base.Add(2*time.Second))
	re, ok := errors.AsType[*authkit.ReuseError](err)
	if !ok {
		t.Fatalf("a second redemption returned %v, want a *authkit.ReuseError", err)
	}
	if re.SessionID != "sess-9" || re.Subject != "alice" || !re.UsedAt.Equal(base.Add(time.Second)) {
		t.Errorf("the ReuseError is %+v, want session sess-9, subject alice, UsedAt %v", *re, base.Add(time.Second))
	}
}

// Every CreateAuthorizationCode removes up to the sweep budget of codes
// that have expired, so codes that are never redeemed or cleaned up do not
// pile up.
func TestCodeSweep(t *testing.T) {
	const budget, n = 8, 100
	s := memory.New(memory.WithSweepBudget(budget))
	ctx := t.Context()
	if err := s.CreateClient(ctx, testClient("app")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.CreateAuthorizationCode(ctx, testCode(fmt.Sprint("old-", i), "app", base, base.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	later := base.Add(time.Hour)
	if err := s.CreateAuthorizationCode(ctx, testCode("new", "app", later, later.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteExpiredAuthorizationCodes(ctx, later, 1000)
	if err != nil || got != n-budget {
		t.Errorf("DeleteExpiredAuthorizationCodes after one sweeping write returned (%d, %v), want (%d, nil)", got, err, n-budget)
	}
	if _, err := s.RedeemAuthorizationCode(ctx, hash("new"), later); err != nil {
		t.Errorf("the live code after the sweep: %v", err)
	}
}

// Deleting a client frees its codes at once, expired or not.
func TestDeleteClientFreesCodes(t *testing.T) {
	s := memory.New()
	ctx := t.Context()
	for _, id := range []string{"app", "other"} {
		if err := s.CreateClient(ctx, testClient(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := s.CreateAuthorizationCode(ctx, testCode(fmt.Sprint("a", i), "app", base, base.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAuthorizationCode(ctx, testCode("o", "other", base, base.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeleteExpiredAuthorizationCodes(ctx, base.Add(time.Hour), 1000); err != nil || got != 1 {
		t.Errorf("DeleteExpiredAuthorizationCodes after DeleteClient returned (%d, %v), want (1, nil): only the other client's code was left", got, err)
	}
}

// Expired assertion records go with DeleteExpiredAuthorizationCodes (which
// counts them with the codes); live ones stay, their client's deletion
// included, until they expire.
func TestClientAssertionCleanup(t *testing.T) {
	s := memory.New()
	ctx := t.Context()
	for _, id := range []string{"app", "other"} {
		if err := s.CreateClient(ctx, testClient(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := s.UseClientAssertion(ctx, "app", hash(fmt.Sprint("jti-", i)), base.Add(time.Minute), base); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UseClientAssertion(ctx, "app", hash("live"), base.Add(time.Hour), base); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAuthorizationCode(ctx, testCode("c", "app", base, base.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.UseClientAssertion(ctx, "other", hash(fmt.Sprint("o-", i)), base.Add(time.Hour), base); err != nil {
			t.Fatal(err)
		}
	}
	later := base.Add(2 * time.Minute)
	if got, err := s.DeleteExpiredAuthorizationCodes(ctx, later, 4); err != nil || got != 4 {
		t.Errorf("DeleteExpiredAuthorizationCodes(limit 4) returned (%d, %v), want (4, nil)", got, err)
	}
	if got, err := s.DeleteExpiredAuthorizationCodes(ctx, later, 1000); err != nil || got != 7 {
		t.Errorf("DeleteExpiredAuthorizationCodes returned (%d, %v), want (7, nil): 10 expired records and 1 code, 4 already deleted", got, err)
	}
	if err := s.UseClientAssertion(ctx, "app", hash("live"), base.Add(time.Hour), later); !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("a live record after the cleanup: %v, want ErrTokenReused", err)
	}
	if err := s.DeleteClient(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeleteExpiredAuthorizationCodes(ctx, later, 1000); err != nil || got != 0 {
		t.Errorf("DeleteExpiredAuthorizationCodes after DeleteClient, before any record expired, returned (%d, %v), want (0, nil)", got, err)
	}
	if got, err := s.DeleteExpiredAuthorizationCodes(ctx, base.Add(24*time.Hour), 1000); err != nil || got != 6 {
		t.Errorf("DeleteExpiredAuthorizationCodes once every record expired returned (%d, %v), want (6, nil): app's live record and the deleted client's five, kept until they expired", got, err)
	}
}

// Every UseClientAssertion sweeps up to the budget, like every write.
func TestClientAssertionSweep(t *testing.T) {
	const budget, n = 8, 50
	s := memory.New(memory.WithSweepBudget(budget))
	ctx := t.Context()
	if err := s.CreateClient(ctx, testClient("app")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.UseClientAssertion(ctx, "app", hash(fmt.Sprint("jti-", i)), base.Add(time.Minute), base); err != nil {
			t.Fatal(err)
		}
	}
	later := base.Add(time.Hour)
	if err := s.UseClientAssertion(ctx, "app", hash("new"), later.Add(time.Minute), later); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeleteExpiredAuthorizationCodes(ctx, later, 1000); err != nil || got != n-budget {
		t.Errorf("DeleteExpiredAuthorizationCodes after one sweeping use returned (%d, %v), want (%d, nil)", got, err, n-budget)
	}
}

// Inputs: an invalid client ID names no client; an assertion already
// expired is refused and records nothing.
func TestClientAssertionInputs(t *testing.T) {
	s := memory.New()
	ctx := t.Context()
	if err := s.CreateClient(ctx, testClient("app")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "a b", string(make([]byte, authkit.MaxClientIDLen+1))} {
		if err := s.UseClientAssertion(ctx, id, hash("j"), base.Add(time.Minute), base); !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("UseClientAssertion for client %q: %v, want ErrNotFound", id, err)
		}
	}
	for _, exp := range []time.Time{{}, base.Add(-time.Second), base} {
		if err := s.UseClientAssertion(ctx, "app", hash("j"), exp, base); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("UseClientAssertion expiring at %v, now %v: %v, want ErrInvalidRequest", exp, base, err)
		}
	}
	if err := s.UseClientAssertion(ctx, "app", hash("j"), base.Add(time.Minute), base); err != nil {
		t.Errorf("UseClientAssertion after refused ones: %v, want nil (they recorded nothing)", err)
	}
}
