package conformance

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.ClientStore, quoted in failure messages.
const (
	ruleClCreate     = "ClientStore.CreateClient must store c; a client with the same ID already present yields ErrConflict and stores nothing"
	ruleClGet        = "ClientStore.GetClient must return the client id, or ErrNotFound"
	ruleClRoundTrip  = "a ClientStore must return every field of what it was given (times as the same instant to the microsecond, whatever their location)"
	ruleClCopies     = "a ClientStore keeps copies of the slices it is given and returns fresh ones (no aliasing): changing the caller's slices after a write, or the slices a read returned, changes nothing stored"
	ruleClList       = "ClientStore.ListClients must return every client, oldest first (ties by ID, compared byte for byte)"
	ruleClSecret     = "ClientStore.SetClientSecret must replace client id's secret hash with h (the zero hash removes it) and set SecretRotatedAt to at, as one step, changing no other field; ErrNotFound if there is no such client"
	ruleClDelete     = "ClientStore.DeleteClient must delete client id; its authorization codes stop redeeming (RedeemAuthorizationCode answers ErrNotFound for them, even once a client is registered again under the same ID); ErrNotFound if there is no such client"
	ruleClLimits     = "fields over the Max… limits (Client.ID 1 to MaxClientIDLen bytes, Name up to MaxClientNameLen, at most MaxRedirectURIs redirect URIs of MaxRedirectURILen each, at most MaxClientScopes scopes, JWKS up to MaxClientJWKSLen, Challenge up to MaxCodeChallengeLen), and a Client without CreatedAt, yield an error matching ErrInvalidRequest and store nothing; values at a limit are accepted"
	ruleClBytes      = "ClientStore IDs, names, redirect URIs (compared byte for byte, RFC 9700 §2.1) and scopes are kept and compared byte for byte: never case folded, normalised, trimmed or re-encoded"
	ruleCodeCreate   = "ClientStore.CreateAuthorizationCode must store code, unused; a code with the same hash already present yields ErrConflict and stores nothing; a code whose ClientID names no client yields ErrNotFound (and stores nothing)"
	ruleCodeRedeem   = "ClientStore.RedeemAuthorizationCode must mark the code with hash h used at now, as one atomic step, and return it with UsedAt set"
	ruleCodeNotFound = "ClientStore.RedeemAuthorizationCode: a code never stored, whose client was deleted, or expired at now (ExpiresAt <= now) yields ErrNotFound"
	ruleCodeReuse    = "ClientStore.RedeemAuthorizationCode: a code already redeemed yields the stored record (UsedAt and SessionID of the first redemption) together with an error matching ErrTokenReused"
	ruleCodeAtomic   = "ClientStore.RedeemAuthorizationCode: of any number of concurrent redemptions through any handles, exactly one succeeds (the others yield ErrTokenReused with the winner's UsedAt)"
	ruleCodeSession  = "ClientStore.SetAuthorizationCodeSession must record the session that the redemption of code h created, so that a second redemption returns it; ErrNotFound if there is no such code"
	ruleCodeDelete   = "ClientStore.DeleteExpiredAuthorizationCodes must delete at most limit codes whose ExpiresAt is at or before now, redeemed or not, and return how many it deleted; codes still live are kept"
	ruleClVisible    = "ClientStore implementations must be safe for use by many processes sharing the same data: what one handle writes, another reads at once"
	ruleClDurable    = "a ClientStore whose data survives a restart must keep its clients and codes, redeemed or not, across a reopen"
	ruleCodeTTLs     = "AuthorizationCode.SessionTTL and AccessTTL are never negative, and its fields keep their limits (authkit.ValidateAuthorizationCode): CreateAuthorizationCode refuses a code that does not with an error matching ErrInvalidRequest and stores nothing"
)

// The rules of authkit.ClientAssertionStore, quoted in failure messages.
const (
	ruleCaUse      = "ClientAssertionStore.UseClientAssertion: the first use of h returns nil, any later use before the record is gone returns an error matching ErrTokenReused"
	ruleCaAtomic   = "ClientAssertionStore.UseClientAssertion is one atomic step: of concurrent uses through any handles, exactly one succeeds (the others yield ErrTokenReused)"
	ruleCaExpired  = "ClientAssertionStore.UseClientAssertion: a record whose expiresAt is at or before now counts as absent"
	ruleCaNotFound = "ClientAssertionStore.UseClientAssertion: an unknown client yields ErrNotFound"
	ruleCaPast     = "ClientAssertionStore.UseClientAssertion: an expiresAt at or before now yields ErrInvalidRequest and records nothing"
	ruleCaCleanup  = "ClientAssertionStore: DeleteExpiredAuthorizationCodes deletes expired records too, and keeps the live ones"
	ruleCaKept     = "ClientAssertionStore: DeleteClient does not delete a client's records; they stay until they expire, so a client registered again under the same ID cannot use an assertion its predecessor used"
)

// RunClientStore runs the checks of authkit.ClientStore (the "Clients/…"
// subtests of [Run] for a Store that implements it) against a backend's
// client store, which may be a type of its own.
func RunClientStore(t *testing.T, h PartialHarness[authkit.ClientStore]) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: PartialHarness.New is nil; RunClientStore needs it to make stores")
	}
	t.Run("Clients", func(t *testing.T) { runClients(t, h) })
}

// runClientsOf runs the client checks from Run, when the store implements
// authkit.ClientStore.
func runClientsOf(t *testing.T, h Harness) {
	probe := h.New(t)
	if _, ok := probe.(authkit.ClientStore); !ok {
		t.Logf("%T does not implement authkit.ClientStore: nothing to check", probe)
		return
	}
	runClients(t, narrow[authkit.ClientStore](h))
}

// ---- fixtures ----

// newClient returns a confidential client id with every field set.
func newClient(id string, created time.Time) authkit.Client {
	return authkit.Client{
		ID:           id,
		Name:         "App " + id,
		SecretHash:   hashOf("secret-" + id),
		JWKS:         []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + id + `"}]}`),
		GrantTypes:   []string{authkit.GrantAuthorizationCode, authkit.GrantRefreshToken, authkit.GrantClientCredentials},
		Scopes:       []string{"read", "write", "admin:all"},
		RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb2?x=1"},
		AccessTTL:    90 * time.Second,
		RefreshTTL:   7 * day,
		CreatedAt:    created,
	}
}

// newCode returns a code of client clientID with every field but UsedAt
// and SessionID set, living ten minutes from created.
func newCode(label, clientID string, created time.Time) authkit.AuthorizationCode {
	return authkit.AuthorizationCode{
		Hash:        hashOf("code-" + label),
		ClientID:    clientID,
		RedirectURI: "https://app.example/cb",
		Subject:     "alice",
		Scopes:      []string{"read", "write"},
		Challenge:   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Claims:      []byte(`{"tenant":"t1","n":1}`),
		SessionTTL:  30 * day,
		AccessTTL:   5*minute + 7*micro,
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0 — ünïcödé",
		IP:          "2001:db8::7",
		CreatedAt:   created,
		ExpiresAt:   created.Add(10 * minute),
	}
}

func cloneClient(c authkit.Client) authkit.Client {
	c.JWKS = bytes.Clone(c.JWKS)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.Scopes = slices.Clone(c.Scopes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	return c
}

func cloneCode(c authkit.AuthorizationCode) authkit.AuthorizationCode {
	c.Scopes = slices.Clone(c.Scopes)
	c.Claims = bytes.Clone(c.Claims)
	return c
}

// scribbleClient overwrites every element of c's slices in place.
func scribbleClient(c authkit.Client) {
	for i := range c.JWKS {
		c.JWKS[i] = 'X'
	}
	for _, s := range [][]string{c.GrantTypes, c.Scopes, c.RedirectURIs} {
		for i := range s {
			s[i] = "scribbled"
		}
	}
}

// scribbleCode overwrites every element of c's slices in place.
func scribbleCode(c authkit.AuthorizationCode) {
	for i := range c.Claims {
		c.Claims[i] = 'X'
	}
	for i := range c.Scopes {
		c.Scopes[i] = "scribbled"
	}
}

func diffClient(got, want authkit.Client) fieldDiffs {
	var d fieldDiffs
	d.str("ID", got.ID, want.ID)
	d.str("Name", got.Name, want.Name)
	d.hash("SecretHash", got.SecretHash, want.SecretHash)
	d.bytes("JWKS", got.JWKS, want.JWKS)
	d.strs("GrantTypes", got.GrantTypes, want.GrantTypes)
	d.strs("Scopes", got.Scopes, want.Scopes)
	d.strs("RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	if got.AccessTTL != want.AccessTTL {
		d = append(d, fmt.Sprintf("AccessTTL: got %v, want %v", got.AccessTTL, want.AccessTTL))
	}
	if got.RefreshTTL != want.RefreshTTL {
		d = append(d, fmt.Sprintf("RefreshTTL: got %v, want %v", got.RefreshTTL, want.RefreshTTL))
	}
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("SecretRotatedAt", got.SecretRotatedAt, want.SecretRotatedAt)
	return d
}

func diffCode(got, want authkit.AuthorizationCode) fieldDiffs {
	var d fieldDiffs
	d.hash("Hash", got.Hash, want.Hash)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.str("RedirectURI", got.RedirectURI, want.RedirectURI)
	d.str("Subject", got.Subject, want.Subject)
	d.strs("Scopes", got.Scopes, want.Scopes)
	d.str("Challenge", got.Challenge, want.Challenge)
	d.bytes("Claims", got.Claims, want.Claims)
	if got.SessionTTL != want.SessionTTL {
		d = append(d, fmt.Sprintf("SessionTTL: got %v, want %v", got.SessionTTL, want.SessionTTL))
	}
	if got.AccessTTL != want.AccessTTL {
		d = append(d, fmt.Sprintf("AccessTTL: got %v, want %v", got.AccessTTL, want.AccessTTL))
	}
	d.str("UserAgent", got.UserAgent, want.UserAgent)
	d.str("IP", got.IP, want.IP)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.time("UsedAt", got.UsedAt, want.UsedAt)
	d.str("SessionID", got.SessionID, want.SessionID)
	return d
}

// ---- calls that must succeed ----

func createClient(t *testing.T, s authkit.ClientStore, c authkit.Client) {
	t.Helper()
	mustOK(t, fmt.Sprintf("CreateClient(%q)", c.ID), s.CreateClient(t.Context(), c), ruleClCreate)
}

func getClient(t *testing.T, s authkit.ClientStore, id, rule string) authkit.Client {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	mustOK(t, fmt.Sprintf("GetClient(%q)", id), err, rule)
	return c
}

func listClients(t *testing.T, s authkit.ClientStore) []authkit.Client {
	t.Helper()
	cs, err := s.ListClients(t.Context())
	mustOK(t, "ListClients", err, ruleClList)
	return cs
}

func createCode(t *testing.T, s authkit.ClientStore, c authkit.AuthorizationCode) {
	t.Helper()
	mustOK(t, "CreateAuthorizationCode", s.CreateAuthorizationCode(t.Context(), c), ruleCodeCreate)
}

func redeem(t *testing.T, s authkit.ClientStore, h authkit.TokenHash, now time.Time) authkit.AuthorizationCode {
	t.Helper()
	c, err := s.RedeemAuthorizationCode(t.Context(), h, now)
	mustOK(t, "RedeemAuthorizationCode", err, ruleCodeRedeem)
	return c
}

// redeemAgain redeems a code already redeemed and checks the answer: the
// stored record, want, and an error matching ErrTokenReused.
func redeemAgain(t *testing.T, s authkit.ClientStore, h authkit.TokenHash, now time.Time, want authkit.AuthorizationCode, what string) authkit.AuthorizationCode {
	t.Helper()
	got, err := s.RedeemAuthorizationCode(t.Context(), h, now)
	if !errors.Is(err, authkit.ErrTokenReused) || errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("%s returned %v, want an error matching ErrTokenReused; %s", what, errOrNil(err), ruleCodeReuse)
		return got
	}
	diffCode(got, want).report(t, "the record "+what+" returned", ruleCodeReuse)
	return got
}

func wantClientAbsent(t *testing.T, s authkit.ClientStore, id, what, rule string) {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("GetClient of %s returned (%q, %v), want ErrNotFound; %s", what, c.ID, errOrNil(err), rule)
	}
}

func wantCodeAbsent(t *testing.T, s authkit.ClientStore, h authkit.TokenHash, now time.Time, what, rule string) {
	t.Helper()
	_, err := s.RedeemAuthorizationCode(t.Context(), h, now)
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("RedeemAuthorizationCode of %s returned %v, want ErrNotFound; %s", what, errOrNil(err), rule)
	}
}

func clientIDs(cs []authkit.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// ---- the checks ----

func runClients(t *testing.T, h PartialHarness[authkit.ClientStore]) {
	t.Run("Client/RoundTrip", func(t *testing.T) {
		a, b := open(t, h)
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		in := newClient("app-1", base.Add(789*time.Nanosecond).In(zone))
		in.SecretRotatedAt = at(-time.Hour).In(zone)
		want := cloneClient(in)
		createClient(t, a, in)
		scribbleClient(in) // the caller reuses its slices
		got := getClient(t, b, "app-1", ruleClGet)
		diffClient(got, want).report(t, "the client read back after the caller changed its slices", ruleClRoundTrip+"; "+ruleClCopies+"; "+ruleClVisible)
		scribbleClient(got) // the caller changes what it read
		diffClient(getClient(t, a, "app-1", ruleClGet), want).report(t, "the client read after the slices of a read were changed", ruleClCopies)
		list := listClients(t, b)
		if len(list) != 1 {
			t.Fatalf("ListClients after one CreateClient returned %d clients %q; %s", len(list), clientIDs(list), ruleClList)
		}
		diffClient(list[0], want).report(t, "the client ListClients returned", ruleClRoundTrip)
		scribbleClient(list[0])
		diffClient(listClients(t, a)[0], want).report(t, "the client listed after the slices of a listing were changed", ruleClCopies)
	})
	t.Run("Client/Public", func(t *testing.T) {
		a, b := open(t, h)
		in := authkit.Client{ID: "spa", Name: "Single-page app", GrantTypes: []string{authkit.GrantAuthorizationCode},
			RedirectURIs: []string{"https://spa.example/"}, CreatedAt: base}
		createClient(t, a, in)
		got := getClient(t, b, "spa", ruleClGet)
		diffClient(got, in).report(t, "a public client (no secret, no key set, no scopes) read back", ruleClRoundTrip)
		if !got.Public() {
			t.Errorf("a client stored without secret or key set reads back as confidential; %s", ruleClRoundTrip)
		}
	})
	t.Run("Client/Duplicate", func(t *testing.T) {
		a, b := open(t, h)
		first := newClient("app", base)
		createClient(t, a, first)
		second := newClient("app", at(time.Second))
		second.Name, second.SecretHash, second.Scopes = "Impostor", hashOf("other"), []string{"admin:all", "root"}
		wantErr(t, "CreateClient of an ID already present", b.CreateClient(t.Context(), second), authkit.ErrConflict, ruleClCreate)
		diffClient(getClient(t, a, "app", ruleClGet), first).report(t, "the first client after a duplicate CreateClient", ruleClCreate)
		if n := len(listClients(t, b)); n != 1 {
			t.Errorf("ListClients after a refused duplicate returned %d clients, want 1; %s", n, ruleClCreate)
		}
	})
	t.Run("Client/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		createClient(t, a, newClient("app", base))
		for _, id := range []string{"ap", "app2", "APP", "app "} {
			_, err := a.GetClient(t.Context(), id)
			wantErr(t, fmt.Sprintf("GetClient(%q) with only \"app\" stored", id), err, authkit.ErrNotFound, ruleClGet+"; "+ruleClBytes)
		}
		empty, _ := open(t, h)
		if cs := listClients(t, empty); len(cs) != 0 {
			t.Errorf("ListClients of an empty store returned %q; %s", clientIDs(cs), ruleClList)
		}
	})
	t.Run("Client/ListOrder", func(t *testing.T) {
		a, b := open(t, h)
		const n = 300
		want := make([]authkit.Client, n)
		for i := range n {
			// IDs out of insertion order; 50 creation times, six clients
			// each, whose ID order is not their insertion order.
			c := newClient(fmt.Sprintf("client-%03d", (i*7)%n), at(time.Duration(49-i%50)*ms))
			c.Name = fmt.Sprint("n", i)
			want[i] = c
		}
		err := fanOut(n, func(i int) error { return a.CreateClient(t.Context(), want[i]) })
		mustOK(t, "CreateClient", err, ruleClCreate)
		// Two more, apart by less than a millisecond, the later first in
		// ID order: the order follows times to the microsecond (found by
		// review: a store ordering by milliseconds passed).
		for _, c := range []authkit.Client{newClient("client-tie-a", at(10*ms+900*micro)), newClient("client-tie-z", at(10*ms+100*micro))} {
			createClient(t, a, c)
			want = append(want, c)
		}
		slices.SortFunc(want, func(x, y authkit.Client) int {
			return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
		})
		got := listClients(t, b)
		if !slices.Equal(clientIDs(got), clientIDs(want)) {
			t.Fatalf("ListClients of %d clients returned %d, in the order %q, want %q; %s", len(want), len(got), clientIDs(got), clientIDs(want), ruleClList)
		}
		for i := range got {
			diffClient(got[i], want[i]).report(t, fmt.Sprintf("listed client %d (%q)", i, want[i].ID), ruleClRoundTrip)
		}
	})
	t.Run("Client/OddInput", func(t *testing.T) {
		a, b := open(t, h)
		ids := []string{"app_1", "app", "App", "APP", "app-1", "a%", "a*", "user:1", "{tag}", "O'Brien\"\\", "~!#$&()+,./;<=>?@[]^`|"}
		names := []string{"Zoë's app", "ユーザー アプリ", "👩🏽‍💻", "\u00e9mile", "e\u0301mile", "Alice", "alice ", "straße", "a%", `O'Brien "\" `, strings.Repeat("é", authkit.MaxClientNameLen/2)}
		want := map[string]authkit.Client{}
		for i, id := range ids {
			c := newClient(id, base) // one creation time: ListClients orders by ID alone
			c.Name = names[i%len(names)]
			c.Scopes = []string{"read", "Read", "read ", "profile:é", "e\u0301"}
			c.RedirectURIs = []string{
				"https://app.example/cb?state=x&y=%20z",
				"https://APP.example/cb",
				"https://app.example/cb/",
				"com.example.app:/oauth2redirect",
				"http://127.0.0.1:51004/cb?a=1&a=2",
				"https://app.example/cb?q=%E3%83%A6",
				"https://app.example/ユ",
			}
			want[id] = cloneClient(c)
			createClient(t, a, c)
		}
		for _, id := range ids {
			diffClient(getClient(t, b, id, ruleClGet), want[id]).report(t, fmt.Sprintf("client %q", id), ruleClBytes+"; "+ruleClRoundTrip)
		}
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		if got := clientIDs(listClients(t, b)); !slices.Equal(got, sorted) {
			t.Errorf("ListClients of clients created at one instant returned %q, want %q; %s", got, sorted, ruleClList)
		}
	})
	t.Run("Client/Limits", func(t *testing.T) {
		a, b := open(t, h)
		longURI := func(n int) string { return "https://app.example/" + strings.Repeat("p", n-len("https://app.example/")) }
		uris := func(n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("https://app.example/cb%d", i)
			}
			return out
		}
		scopes := func(n int) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprint("scope", i)
			}
			return out
		}
		bad := []struct {
			what string
			edit func(c *authkit.Client)
		}{
			{"an empty ID", func(c *authkit.Client) { c.ID = "" }},
			{fmt.Sprintf("a %d-byte ID", authkit.MaxClientIDLen+1), func(c *authkit.Client) { c.ID = strings.Repeat("i", authkit.MaxClientIDLen+1) }},
			{fmt.Sprintf("a %d-byte Name", authkit.MaxClientNameLen+1), func(c *authkit.Client) { c.Name = strings.Repeat("n", authkit.MaxClientNameLen+1) }},
			// Fewer characters than the limit, more bytes: limits are in
			// bytes (found by review: a store counting characters, as a
			// VARCHAR(n) column does, passed).
			{fmt.Sprintf("a %d-byte Name of %d characters", 2*(authkit.MaxClientNameLen/2+1), authkit.MaxClientNameLen/2+1), func(c *authkit.Client) {
				c.Name = strings.Repeat("é", authkit.MaxClientNameLen/2+1)
			}},
			{fmt.Sprintf("%d redirect URIs", authkit.MaxRedirectURIs+1), func(c *authkit.Client) { c.RedirectURIs = uris(authkit.MaxRedirectURIs + 1) }},
			{fmt.Sprintf("a %d-byte redirect URI", authkit.MaxRedirectURILen+1), func(c *authkit.Client) {
				c.RedirectURIs = []string{"https://app.example/cb", longURI(authkit.MaxRedirectURILen + 1)}
			}},
			{fmt.Sprintf("%d scopes", authkit.MaxClientScopes+1), func(c *authkit.Client) { c.Scopes = scopes(authkit.MaxClientScopes + 1) }},
			{fmt.Sprintf("a %d-byte JWKS", authkit.MaxClientJWKSLen+1), func(c *authkit.Client) { c.JWKS = jwksOfLen(authkit.MaxClientJWKSLen + 1) }},
			{"no CreatedAt", func(c *authkit.Client) { c.CreatedAt = time.Time{} }},
			// Found by review: a store that clamped, cut, dropped or trimmed
			// these, as a lenient column would, passed.
			{"a negative AccessTTL", func(c *authkit.Client) { c.AccessTTL = -time.Second }},
			{"a negative RefreshTTL", func(c *authkit.Client) { c.RefreshTTL = -time.Second }},
			{fmt.Sprintf("%d grant types", authkit.MaxClientGrantTypes+1), func(c *authkit.Client) { c.GrantTypes = scopes(authkit.MaxClientGrantTypes + 1) }},
			{"an empty scope", func(c *authkit.Client) { c.Scopes = []string{"read", ""} }},
			{"an ID with a trailing space", func(c *authkit.Client) { c.ID = "over " }},
		}
		for _, x := range bad {
			c := newClient("over", base)
			x.edit(&c)
			wantErr(t, "CreateClient of a client with "+x.what, a.CreateClient(t.Context(), c), authkit.ErrInvalidRequest, ruleClLimits)
			if c.ID != "" {
				wantClientAbsent(t, b, c.ID, "a client refused for "+x.what, ruleClLimits)
			}
		}
		if cs := listClients(t, b); len(cs) != 0 {
			t.Errorf("ListClients after only refused CreateClient calls returned %q; %s", clientIDs(cs), ruleClLimits)
		}
		// At every limit at once: accepted, and kept whole.
		edge := newClient(strings.Repeat("e", authkit.MaxClientIDLen), base)
		edge.Name = strings.Repeat("n", authkit.MaxClientNameLen)
		edge.RedirectURIs = uris(authkit.MaxRedirectURIs)
		edge.RedirectURIs[0] = longURI(authkit.MaxRedirectURILen)
		edge.Scopes = scopes(authkit.MaxClientScopes)
		edge.JWKS = jwksOfLen(authkit.MaxClientJWKSLen)
		createClient(t, a, cloneClient(edge))
		diffClient(getClient(t, b, edge.ID, ruleClGet), edge).report(t, "a client at every limit", ruleClLimits+"; "+ruleClRoundTrip)
		wantClientAbsent(t, b, edge.ID[:authkit.MaxClientIDLen-1], "a prefix of a stored ID", ruleClBytes)

		// Codes: the challenge and the scopes.
		code := newCode("edge", edge.ID, base)
		code.Challenge = strings.Repeat("c", authkit.MaxCodeChallengeLen+1)
		wantErr(t, fmt.Sprintf("CreateAuthorizationCode with a %d-byte challenge", len(code.Challenge)), a.CreateAuthorizationCode(t.Context(), code), authkit.ErrInvalidRequest, ruleClLimits)
		wantCodeAbsent(t, b, code.Hash, at(minute), "a code refused for its challenge", ruleClLimits)
		code = newCode("edge-scopes", edge.ID, base)
		code.Scopes = scopes(authkit.MaxClientScopes + 1)
		wantErr(t, fmt.Sprintf("CreateAuthorizationCode with %d scopes", len(code.Scopes)), a.CreateAuthorizationCode(t.Context(), code), authkit.ErrInvalidRequest, ruleClLimits)
		wantCodeAbsent(t, b, code.Hash, at(minute), "a code refused for its scopes", ruleClLimits)
		for _, x := range []struct {
			what string
			edit func(c *authkit.AuthorizationCode)
		}{
			{fmt.Sprintf("a %d-byte RedirectURI", authkit.MaxRedirectURILen+1), func(c *authkit.AuthorizationCode) { c.RedirectURI = longURI(authkit.MaxRedirectURILen + 1) }},
			{fmt.Sprintf("%d bytes of Claims", authkit.MaxCodeClaimsLen+1), func(c *authkit.AuthorizationCode) {
				c.Claims = []byte(`{"x":"` + strings.Repeat("c", authkit.MaxCodeClaimsLen-7) + `"}`)
			}},
			{"a negative SessionTTL", func(c *authkit.AuthorizationCode) { c.SessionTTL = -time.Second }},
			{"a negative AccessTTL", func(c *authkit.AuthorizationCode) { c.AccessTTL = -micro }},
			{fmt.Sprintf("a %d-byte UserAgent of %d characters", 2*(authkit.MaxCodeUserAgentLen/2+1), authkit.MaxCodeUserAgentLen/2+1), func(c *authkit.AuthorizationCode) {
				c.UserAgent = strings.Repeat("ü", authkit.MaxCodeUserAgentLen/2+1)
			}},
			{fmt.Sprintf("a %d-byte UserAgent", authkit.MaxCodeUserAgentLen+1), func(c *authkit.AuthorizationCode) {
				c.UserAgent = strings.Repeat("u", authkit.MaxCodeUserAgentLen+1)
			}},
			{fmt.Sprintf("a %d-byte IP", authkit.MaxCodeIPLen+1), func(c *authkit.AuthorizationCode) { c.IP = strings.Repeat("1", authkit.MaxCodeIPLen+1) }},
		} {
			code = newCode("neg-"+x.what, edge.ID, base)
			x.edit(&code)
			wantErr(t, "CreateAuthorizationCode with "+x.what, a.CreateAuthorizationCode(t.Context(), code), authkit.ErrInvalidRequest, ruleCodeTTLs)
			wantCodeAbsent(t, b, code.Hash, at(minute), "a code refused for "+x.what, ruleCodeTTLs)
		}
		code = newCode("edge-ok", edge.ID, base)
		code.Challenge = strings.Repeat("c", authkit.MaxCodeChallengeLen)
		code.Scopes = scopes(authkit.MaxClientScopes)
		code.SessionTTL, code.AccessTTL = 0, 0 // zero: the server's lifetimes
		code.UserAgent = strings.Repeat("ü", authkit.MaxCodeUserAgentLen/2)
		code.IP = strings.Repeat("f", authkit.MaxCodeIPLen)
		createCode(t, a, cloneCode(code))
		code.UsedAt = at(minute)
		diffCode(redeem(t, b, code.Hash, at(minute)), code).report(t, "a code at every limit, redeemed", ruleClLimits+"; "+ruleCodeRedeem)
		code = newCode("edge-unknown-origin", edge.ID, base)
		code.UserAgent, code.IP = "", "" // unknown
		createCode(t, a, cloneCode(code))
		code.UsedAt = at(minute)
		diffCode(redeem(t, b, code.Hash, at(minute)), code).report(t, "a code without UserAgent and IP, redeemed", ruleCodeRedeem)
	})
	t.Run("SetClientSecret", func(t *testing.T) {
		a, b := open(t, h)
		want := newClient("app", base)
		createClient(t, a, cloneClient(want))
		createClient(t, a, newClient("other", base))
		// Both handles read the client first: each must read it again
		// after the other's write (a per-handle cache that forgot the
		// other handle's writes would keep a rotated-out secret working).
		getClient(t, a, "app", ruleClGet)
		getClient(t, b, "app", ruleClGet)
		mustOK(t, "SetClientSecret", b.SetClientSecret(t.Context(), "app", hashOf("rotated"), at(hour)), ruleClSecret)
		want.SecretHash, want.SecretRotatedAt = hashOf("rotated"), at(hour)
		diffClient(getClient(t, a, "app", ruleClGet), want).report(t, "the client after SetClientSecret", ruleClSecret+"; "+ruleClVisible)
		diffClient(getClient(t, a, "other", ruleClGet), newClient("other", base)).report(t, "another client after SetClientSecret", ruleClSecret)

		mustOK(t, "SetClientSecret with the zero hash", a.SetClientSecret(t.Context(), "app", authkit.TokenHash{}, at(2*hour)), ruleClSecret)
		want.SecretHash, want.SecretRotatedAt = authkit.TokenHash{}, at(2*hour)
		diffClient(getClient(t, b, "app", ruleClGet), want).report(t, "the client after its secret was removed", ruleClSecret)

		want.JWKS = nil
		pub := newClient("pub", base)
		pub.JWKS = nil
		createClient(t, a, pub)
		mustOK(t, "SetClientSecret with the zero hash", a.SetClientSecret(t.Context(), "pub", authkit.TokenHash{}, at(hour)), ruleClSecret)
		if got := getClient(t, b, "pub", ruleClGet); !got.Public() {
			t.Errorf("a client without a key set whose secret was removed still reads as confidential (SecretHash %s); %s", got.SecretHash, ruleClSecret)
		}

		wantErr(t, "SetClientSecret of a client never stored", a.SetClientSecret(t.Context(), "ghost", hashOf("x"), at(hour)), authkit.ErrNotFound, ruleClSecret)
		wantClientAbsent(t, b, "ghost", "a client whose secret was set but never created", ruleClSecret)
	})
	// Readers while writers write: every token request reads its client.
	// A store caching GetClient in a map its reads did not lock passed
	// every other check and crashed its server under concurrent token
	// requests, and a cache whose writes dropped the entry before writing
	// the row, so that a reader in between cached the old row again, kept
	// a rotated-out secret working (found by review). Run the suite under
	// -race to have every unlocked read reported.
	t.Run("ReadersDuringWrites", func(t *testing.T) {
		a, b := open(t, h)
		const n, rounds = 8, 12
		id := func(prefix string, i int) string { return fmt.Sprint(prefix, i) }
		for i := range n {
			createClient(t, a, newClient(id("app-", i), base))
		}
		read := func(k int) error {
			if k%4 == 3 {
				_, err := b.ListClients(t.Context())
				return err
			}
			_, err := b.GetClient(t.Context(), id([]string{"app-", "new-"}[k/n%2], k%n))
			if errors.Is(err, authkit.ErrNotFound) {
				err = nil // a new client not created yet, or a deleted one
			}
			return err
		}
		for r := range rounds {
			secret := func(i int) authkit.TokenHash { return hashOf(fmt.Sprint("secret-", r, "-", i)) }
			errs := readDuringWrites(n, func(i int) error {
				return a.SetClientSecret(t.Context(), id("app-", i), secret(i), at(time.Duration(r+1)*minute))
			}, read)
			for _, err := range errs {
				mustOK(t, "a SetClientSecret, GetClient or ListClients while others wrote", err, ruleClSecret+"; "+ruleClGet)
			}
			for i := range n {
				if got := getClient(t, b, id("app-", i), ruleClGet); got.SecretHash != secret(i) {
					t.Fatalf("round %d: client %q read after its SetClientSecret returned (while readers read it) has secret %s, want the new %s: a rotated-out secret still works; %s", r, id("app-", i), got.SecretHash, secret(i), ruleClSecret+"; "+ruleClVisible)
				}
			}
		}
		errs := readDuringWrites(n, func(i int) error {
			if i%2 == 0 {
				return a.DeleteClient(t.Context(), id("app-", i))
			}
			return a.CreateClient(t.Context(), newClient(id("new-", i), base))
		}, read)
		for _, err := range errs {
			mustOK(t, "a DeleteClient, CreateClient, GetClient or ListClients while others wrote", err, ruleClDelete+"; "+ruleClCreate)
		}
		for i := range n {
			if i%2 == 0 {
				wantClientAbsent(t, b, id("app-", i), "a client deleted while readers read it", ruleClDelete+"; "+ruleClVisible)
			} else {
				getClient(t, b, id("new-", i), ruleClCreate+"; "+ruleClVisible)
			}
		}
	})
	t.Run("DeleteClient", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		mustOK(t, "SetClientSecret", a.SetClientSecret(t.Context(), "app", hashOf("leaked-secret"), at(30*time.Second)), ruleClSecret)
		createClient(t, a, newClient("keep", base))
		// IDs a delete must leave alone: "app" in another case, and IDs
		// that a LIKE pattern of "app_1" would match (found by review:
		// stores deleting by a case-folding or LIKE comparison passed).
		for _, id := range []string{"APP", "app_1", "appX1"} {
			createClient(t, a, newClient(id, base))
		}
		createCode(t, a, newCode("del-1", "app", base))
		createCode(t, a, newCode("del-2", "app", base))
		createCode(t, a, newCode("keep", "keep", base))
		redeem(t, a, hashOf("code-del-2"), at(time.Second))
		getClient(t, a, "app", ruleClGet) // a has read it before b deletes it
		mustOK(t, "DeleteClient", b.DeleteClient(t.Context(), "app"), ruleClDelete)
		mustOK(t, "DeleteClient", b.DeleteClient(t.Context(), "app_1"), ruleClDelete)
		wantClientAbsent(t, a, "app", "a deleted client", ruleClDelete+"; "+ruleClVisible)
		if got, want := clientIDs(listClients(t, a)), []string{"APP", "appX1", "keep"}; !slices.Equal(got, want) {
			t.Errorf("ListClients after DeleteClient of \"app\" and \"app_1\" returned %q, want %q (IDs compare byte for byte); %s", got, want, ruleClDelete)
		}
		wantErr(t, "SetClientSecret of a deleted client", a.SetClientSecret(t.Context(), "app", hashOf("x"), at(minute)), authkit.ErrNotFound, ruleClSecret+"; "+ruleClDelete)
		wantErr(t, "CreateAuthorizationCode for a deleted client", a.CreateAuthorizationCode(t.Context(), newCode("del-3", "app", at(minute))), authkit.ErrNotFound, ruleCodeCreate+"; "+ruleClDelete)
		wantClientAbsent(t, b, "app", "a deleted client after SetClientSecret and CreateAuthorizationCode named it", ruleClDelete)
		wantCodeAbsent(t, a, hashOf("code-del-1"), at(minute), "an unredeemed code of a deleted client", ruleClDelete)
		wantCodeAbsent(t, a, hashOf("code-del-2"), at(minute), "a redeemed code of a deleted client", ruleClDelete)
		wantErr(t, "SetAuthorizationCodeSession of a code of a deleted client", a.SetAuthorizationCodeSession(t.Context(), hashOf("code-del-2"), "sess"), authkit.ErrNotFound, ruleClDelete+"; "+ruleCodeSession)
		wantErr(t, "a second DeleteClient", a.DeleteClient(t.Context(), "app"), authkit.ErrNotFound, ruleClDelete)
		wantErr(t, "DeleteClient of a client never stored", b.DeleteClient(t.Context(), "ghost"), authkit.ErrNotFound, ruleClDelete)
		// Registering the ID again must not bring the old codes back, nor
		// anything of the old client: its CreatedAt especially, which
		// tells sessions and assertions of the earlier registration apart,
		// and its secret, scopes and redirect URIs (found by review: every
		// field but the name and CreatedAt was the old one's here, and a
		// store that revived the old record passed; the leaked secret the
		// operator deleted the client for would have worked again).
		again := authkit.Client{
			ID:           "app",
			Name:         "app, registered again",
			SecretHash:   hashOf("secret-registered-again"),
			GrantTypes:   []string{authkit.GrantAuthorizationCode},
			Scopes:       []string{"read"},
			RedirectURIs: []string{"https://app.example/again"},
			AccessTTL:    30 * time.Second,
			RefreshTTL:   day,
			CreatedAt:    at(minute),
		}
		createClient(t, b, again)
		diffClient(getClient(t, a, "app", ruleClGet), again).report(t, "a client registered again under a deleted client's ID", ruleClCreate+"; "+ruleClDelete)
		wantCodeAbsent(t, a, hashOf("code-del-1"), at(2*minute), "a code of a deleted client, once the ID is registered again", ruleClDelete)
		wantCodeAbsent(t, a, hashOf("code-del-3"), at(2*minute), "a code created for the ID while it was deleted", ruleCodeCreate+"; "+ruleClDelete)
		// The new registration's own codes work (the old codes stay dead,
		// not the ID: found by review, a store that kept deleted IDs on a
		// list refused every code of the client registered again).
		fresh := newCode("again-1", "app", at(minute))
		createCode(t, b, cloneCode(fresh))
		fresh.UsedAt = at(2 * minute)
		diffCode(redeem(t, a, fresh.Hash, at(2*minute)), fresh).report(t, "a code of the client registered again", ruleClDelete+"; "+ruleCodeRedeem)
		keep := newCode("keep", "keep", base)
		keep.UsedAt = at(2 * minute)
		diffCode(redeem(t, a, keep.Hash, at(2*minute)), keep).report(t, "a code of another client after DeleteClient", ruleClDelete)

		// Registered once more, as a public client (no secret, no key
		// set): nothing of the confidential registration before it comes
		// back (found by review: an upsert keeping the old secret where
		// the new one is empty passed, and the leaked secret worked
		// again).
		mustOK(t, "DeleteClient", a.DeleteClient(t.Context(), "app"), ruleClDelete)
		public := authkit.Client{ID: "app", Name: "app, public now", GrantTypes: []string{authkit.GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example/public"}, CreatedAt: at(3 * minute)}
		createClient(t, b, public)
		got := getClient(t, a, "app", ruleClGet)
		diffClient(got, public).report(t, "a confidential client's ID registered again as a public client", ruleClCreate+"; "+ruleClDelete)
		if !got.Public() {
			t.Errorf("a client registered without a secret or key set under a deleted confidential client's ID reads as confidential (SecretHash %s); %s", got.SecretHash, ruleClCreate+"; "+ruleClDelete)
		}
	})
	t.Run("Code/Redeem", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		zone := time.FixedZone("UTC-3", -3*3600)
		in := newCode("1", "app", base.Add(321*time.Nanosecond).In(zone))
		want := cloneCode(in)
		createCode(t, a, in)
		scribbleCode(in)
		now := at(minute).Add(654 * time.Nanosecond).In(zone)
		got := redeem(t, b, want.Hash, now)
		want.UsedAt = now
		diffCode(got, want).report(t, "the redeemed code (the caller changed its slices after CreateAuthorizationCode)", ruleCodeRedeem+"; "+ruleClCopies+"; "+ruleClRoundTrip)
		scribbleCode(got)
		again := redeemAgain(t, a, want.Hash, at(2*minute), want, "a second RedeemAuthorizationCode (after the slices of the first answer were changed)")
		scribbleCode(again) // a reuse answer is a fresh copy too (found by review: answers sharing slices passed)
		redeemAgain(t, a, want.Hash, at(3*minute), want, "a third RedeemAuthorizationCode (after the slices of the second answer were changed)")
		redeemAgain(t, b, want.Hash, at(3*minute), want, "a fourth RedeemAuthorizationCode")
	})
	t.Run("Code/Session", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		want := newCode("1", "app", base)
		createCode(t, a, cloneCode(want))
		createCode(t, a, newCode("2", "app", base))
		want.UsedAt = at(minute)
		diffCode(redeem(t, a, want.Hash, at(minute)), want).report(t, "the redeemed code", ruleCodeRedeem)
		mustOK(t, "SetAuthorizationCodeSession", b.SetAuthorizationCodeSession(t.Context(), want.Hash, "sess-42"), ruleCodeSession)
		want.SessionID = "sess-42"
		redeemAgain(t, a, want.Hash, at(2*minute), want, "a second RedeemAuthorizationCode after SetAuthorizationCodeSession")
		other := newCode("2", "app", base)
		other.UsedAt = at(3 * minute)
		diffCode(redeem(t, b, other.Hash, at(3*minute)), other).report(t, "another code of the client", ruleCodeSession+" (and only that code's)")
		wantErr(t, "SetAuthorizationCodeSession of a code never stored", a.SetAuthorizationCodeSession(t.Context(), hashOf("ghost"), "sess-1"), authkit.ErrNotFound, ruleCodeSession)
		wantCodeAbsent(t, b, hashOf("ghost"), at(3*minute), "a code whose session was set but never created", ruleCodeSession)
	})
	t.Run("Code/Create", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		createClient(t, a, newClient("app2", base))
		first := newCode("dup", "app", base)
		createCode(t, a, cloneCode(first))
		second := newCode("dup", "app2", at(time.Second))
		second.Subject, second.Scopes, second.RedirectURI = "mallory", []string{"admin:all"}, "https://evil.example/cb"
		wantErr(t, "CreateAuthorizationCode of a hash already present", b.CreateAuthorizationCode(t.Context(), second), authkit.ErrConflict, ruleCodeCreate)
		first.UsedAt = at(minute)
		diffCode(redeem(t, b, first.Hash, at(minute)), first).report(t, "the first code after a duplicate CreateAuthorizationCode", ruleCodeCreate)
		wantErr(t, "CreateAuthorizationCode of a hash already present and redeemed", a.CreateAuthorizationCode(t.Context(), second), authkit.ErrConflict, ruleCodeCreate)
		redeemAgain(t, a, first.Hash, at(2*minute), first, "a second RedeemAuthorizationCode after refused duplicates")

		// A code handed over as used is stored unused all the same.
		preUsed := newCode("pre-used", "app", base)
		preUsed.UsedAt = base
		createCode(t, a, preUsed)
		preUsed.UsedAt = at(2 * minute)
		diffCode(redeem(t, b, preUsed.Hash, at(2*minute)), preUsed).report(t, "a code created with UsedAt set, redeemed", ruleCodeCreate)

		ghost := newCode("ghost", "ghost", base)
		wantErr(t, "CreateAuthorizationCode for a client never stored", a.CreateAuthorizationCode(t.Context(), ghost), authkit.ErrNotFound, ruleCodeCreate)
		createClient(t, a, newClient("ghost", at(minute)))
		wantCodeAbsent(t, b, ghost.Hash, at(2*minute), "a code refused for its unknown client, once the client exists", ruleCodeCreate)
		wantCodeAbsent(t, b, hashOf("never"), at(2*minute), "a code never stored", ruleCodeNotFound)
	})
	t.Run("Code/Expiry", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		for _, l := range []string{"before", "at", "after"} {
			createCode(t, a, newCode(l, "app", base)) // ExpiresAt base+10m
		}
		exp := at(10 * minute)
		ok := newCode("before", "app", base)
		ok.UsedAt = exp.Add(-micro)
		diffCode(redeem(t, b, ok.Hash, exp.Add(-micro)), ok).report(t, "a code redeemed a microsecond before ExpiresAt", ruleCodeRedeem)
		wantCodeAbsent(t, b, hashOf("code-at"), exp, "a code at its ExpiresAt (ExpiresAt == now)", ruleCodeNotFound)
		wantCodeAbsent(t, a, hashOf("code-after"), exp.Add(micro), "a code a microsecond after its ExpiresAt", ruleCodeNotFound)
		wantCodeAbsent(t, a, hashOf("code-at"), exp.Add(hour), "an expired code presented again", ruleCodeNotFound)
	})
	t.Run("Code/ExactlyOneWinner", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		want := newCode("race", "app", base)
		createCode(t, a, cloneCode(want))
		const n = 32
		type result struct {
			c   authkit.AuthorizationCode
			err error
		}
		results := make([]result, n)
		together(n, a, b, func(i int, s authkit.ClientStore) func() {
			return func() {
				results[i].c, results[i].err = s.RedeemAuthorizationCode(t.Context(), want.Hash, at(minute+time.Duration(i)*micro))
			}
		})
		winner := -1
		wins := 0
		for i, r := range results {
			if r.err == nil {
				wins++
				winner = i
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d concurrent RedeemAuthorizationCode calls of one code succeeded; %s", wins, n, ruleCodeAtomic)
		}
		want.UsedAt = at(minute + time.Duration(winner)*micro)
		diffCode(results[winner].c, want).report(t, "the winning redemption's record", ruleCodeRedeem)
		for i, r := range results {
			if i == winner {
				continue
			}
			if !errors.Is(r.err, authkit.ErrTokenReused) {
				t.Errorf("a losing concurrent RedeemAuthorizationCode returned %v, want an error matching ErrTokenReused; %s", errOrNil(r.err), ruleCodeAtomic)
				continue
			}
			diffCode(r.c, want).report(t, fmt.Sprintf("the record losing redemption %d returned", i), ruleCodeAtomic+"; "+ruleCodeReuse)
		}
		redeemAgain(t, a, want.Hash, at(2*minute), want, "a RedeemAuthorizationCode after the race")
	})
	t.Run("DeleteExpiredAuthorizationCodes", func(t *testing.T) {
		a, b := open(t, h)
		createClient(t, a, newClient("app", base))
		now := at(hour)
		var live []authkit.AuthorizationCode
		for i := range 50 {
			c := newCode(fmt.Sprint("c", i), "app", base)
			switch {
			case i < 25: // expired before now, unredeemed
				c.ExpiresAt = at(time.Duration(i+1) * minute)
			case i < 36: // expired, redeemed
				c.ExpiresAt = at(time.Duration(i-20) * minute)
			case i < 37: // expires exactly at now
				c.ExpiresAt = now
			default: // live at now
				c.ExpiresAt = now.Add(time.Duration(i) * micro)
			}
			createCode(t, a, cloneCode(c))
			if i >= 25 && i < 36 || i >= 45 {
				c.UsedAt = at(30 * time.Second)
				redeem(t, b, c.Hash, c.UsedAt)
			}
			if i >= 37 {
				live = append(live, c)
			}
		}
		const limit, expired = 7, 37
		total, calls := 0, 0
		for {
			n, err := b.DeleteExpiredAuthorizationCodes(t.Context(), now, limit)
			mustOK(t, "DeleteExpiredAuthorizationCodes", err, ruleCodeDelete)
			calls++
			if n < 0 || n > limit {
				t.Fatalf("DeleteExpiredAuthorizationCodes(limit %d) returned %d; %s", limit, n, ruleCodeDelete)
			}
			total += n
			if n < limit || calls > expired {
				break
			}
		}
		if total != expired {
			t.Errorf("DeleteExpiredAuthorizationCodes, repeated until it returned less than its limit, deleted %d codes in %d calls; %d had expired at now (25 unredeemed, 11 redeemed, 1 with ExpiresAt == now); %s", total, calls, expired, ruleCodeDelete)
		}
		if n, err := a.DeleteExpiredAuthorizationCodes(t.Context(), now, limit); err != nil || n != 0 {
			t.Errorf("DeleteExpiredAuthorizationCodes after everything expired was deleted returned (%d, %v), want (0, nil); %s", n, errOrNil(err), ruleCodeDelete)
		}
		for _, c := range live {
			if c.UsedAt.IsZero() {
				c.UsedAt = now
				diffCode(redeem(t, a, c.Hash, now), c).report(t, "a live code after the cleanup", ruleCodeDelete)
			} else {
				redeemAgain(t, a, c.Hash, now, c, "a redemption of a live, redeemed code after the cleanup")
			}
		}
		for _, limit := range []int{0, -1} {
			// Found by review: any error passed, and a negative limit
			// deleted everything.
			_, err := b.DeleteExpiredAuthorizationCodes(t.Context(), now, limit)
			wantErr(t, fmt.Sprintf("DeleteExpiredAuthorizationCodes with limit %d", limit), err, authkit.ErrInvalidRequest, "ClientStore.DeleteExpiredAuthorizationCodes: limit > 0; otherwise an error matching ErrInvalidRequest")
		}
	})
	t.Run("Reopen", func(t *testing.T) {
		a, _ := open(t, h)
		c := newClient("app", base)
		c.SecretRotatedAt = at(time.Second)
		createClient(t, a, cloneClient(c))
		used := newCode("used", "app", base)
		createCode(t, a, cloneCode(used))
		createCode(t, a, newCode("fresh", "app", base))
		used.UsedAt = at(minute)
		redeem(t, a, used.Hash, at(minute))
		mustOK(t, "SetAuthorizationCodeSession", a.SetAuthorizationCodeSession(t.Context(), used.Hash, "sess-1"), ruleCodeSession)
		used.SessionID = "sess-1"
		r, ok := reopen(t, h, a)
		if !ok {
			return
		}
		diffClient(getClient(t, r, "app", ruleClDurable), c).report(t, "the client after a reopen", ruleClDurable)
		redeemAgain(t, r, used.Hash, at(2*minute), used, "a redemption, after a reopen, of a code redeemed before it")
		fresh := newCode("fresh", "app", base)
		fresh.UsedAt = at(2 * minute)
		diffCode(redeem(t, r, fresh.Hash, at(2*minute)), fresh).report(t, "a code created before a reopen, redeemed after it", ruleClDurable)
	})

	t.Run("Assertion", func(t *testing.T) {
		probe, _ := open(t, h)
		if _, ok := probe.(authkit.ClientAssertionStore); !ok {
			t.Logf("%T does not implement authkit.ClientAssertionStore: nothing to check", probe)
			return
		}
		runAssertions(t, h)
	})

	calls := clientCalls()
	if probe, _ := open(t, h); implementsAssertions(probe) {
		calls = append(calls, assertionCall())
	}
	t.Run("Context", func(t *testing.T) { runDeadContext(t, h, clientSetup, calls) })
	t.Run("Unavailable", func(t *testing.T) { runUnavailable(t, h, calls) })
	t.Run("Stalled", func(t *testing.T) { runStalled(t, h, calls) })
}

// jwksOfLen returns a JWK set document of exactly n bytes (n >= 32).
func jwksOfLen(n int) []byte {
	const open, end = `{"keys":[],"pad":"`, `"}`
	return []byte(open + strings.Repeat("k", n-len(open)-len(end)) + end)
}

// head returns the first few of ss, for messages.
func head(ss []string) []string { return ss[:min(len(ss), 8)] }

// clientSetup stores client "app" and its unredeemed code "1", which
// expires at base+10m.
func clientSetup(t *testing.T, s authkit.ClientStore) {
	t.Helper()
	createClient(t, s, newClient("app", base))
	createCode(t, s, newCode("1", "app", base))
}

func clientCalls() []call[authkit.ClientStore] {
	type S = authkit.ClientStore
	return []call[S]{
		{"CreateClient", func(ctx context.Context, s S) error {
			return s.CreateClient(ctx, newClient("new", base))
		}, func(t *testing.T, s S) {
			wantClientAbsent(t, s, "new", "a client written with a dead ctx", ruleContext)
		}},
		{"GetClient", func(ctx context.Context, s S) error {
			_, err := s.GetClient(ctx, "app")
			return err
		}, nil},
		{"ListClients", func(ctx context.Context, s S) error {
			_, err := s.ListClients(ctx)
			return err
		}, nil},
		{"SetClientSecret", func(ctx context.Context, s S) error {
			return s.SetClientSecret(ctx, "app", hashOf("rotated"), at(minute))
		}, func(t *testing.T, s S) {
			diffClient(getClient(t, s, "app", ruleClGet), newClient("app", base)).report(t, "the client after a SetClientSecret with a dead ctx", ruleContext)
		}},
		{"DeleteClient", func(ctx context.Context, s S) error {
			return s.DeleteClient(ctx, "app")
		}, func(t *testing.T, s S) {
			getClient(t, s, "app", ruleContext+" (a DeleteClient with a dead ctx deleted the client)")
		}},
		{"CreateAuthorizationCode", func(ctx context.Context, s S) error {
			return s.CreateAuthorizationCode(ctx, newCode("new", "app", base))
		}, func(t *testing.T, s S) {
			wantCodeAbsent(t, s, hashOf("code-new"), at(minute), "a code written with a dead ctx", ruleContext)
		}},
		{"RedeemAuthorizationCode", func(ctx context.Context, s S) error {
			_, err := s.RedeemAuthorizationCode(ctx, hashOf("code-1"), at(minute))
			return err
		}, func(t *testing.T, s S) {
			want := newCode("1", "app", base)
			want.UsedAt = at(2 * minute)
			diffCode(redeem(t, s, want.Hash, at(2*minute)), want).report(t, "the code redeemed after a redemption with a dead ctx", ruleContext)
		}},
		{"SetAuthorizationCodeSession", func(ctx context.Context, s S) error {
			return s.SetAuthorizationCodeSession(ctx, hashOf("code-1"), "sess-1")
		}, func(t *testing.T, s S) {
			want := newCode("1", "app", base)
			want.UsedAt = at(2 * minute)
			diffCode(redeem(t, s, want.Hash, at(2*minute)), want).report(t, "the code after a SetAuthorizationCodeSession with a dead ctx", ruleContext)
		}},
		{"DeleteExpiredAuthorizationCodes", func(ctx context.Context, s S) error {
			_, err := s.DeleteExpiredAuthorizationCodes(ctx, at(hour), 10)
			return err
		}, func(t *testing.T, s S) {
			n, err := s.DeleteExpiredAuthorizationCodes(t.Context(), at(hour), 10)
			mustOK(t, "DeleteExpiredAuthorizationCodes", err, ruleCodeDelete)
			if n != 1 {
				t.Errorf("DeleteExpiredAuthorizationCodes after one with a dead ctx deleted %d codes, want 1; %s", n, ruleContext)
			}
		}},
	}
}

// implementsAssertions reports whether s is an authkit.ClientAssertionStore.
func implementsAssertions(s authkit.ClientStore) bool {
	_, ok := s.(authkit.ClientAssertionStore)
	return ok
}

// assertionCall is UseClientAssertion as a call of the Context and
// Unavailable checks, for a store that implements it.
func assertionCall() call[authkit.ClientStore] {
	return call[authkit.ClientStore]{"UseClientAssertion", func(ctx context.Context, s authkit.ClientStore) error {
		ca, ok := s.(authkit.ClientAssertionStore)
		if !ok {
			return fmt.Errorf("conformance: %T does not implement authkit.ClientAssertionStore", s)
		}
		return ca.UseClientAssertion(ctx, "app", hashOf("jti-ctx"), at(10*minute), at(minute))
	}, func(t *testing.T, s authkit.ClientStore) {
		useAssertion(t, s.(authkit.ClientAssertionStore), "app", hashOf("jti-ctx"), at(10*minute), at(2*minute), ruleContext+" (a UseClientAssertion with a dead ctx recorded the assertion)")
	}}
}

// ---- client assertions ----

// assertions returns s as an authkit.ClientAssertionStore.
func assertions(t *testing.T, s authkit.ClientStore) authkit.ClientAssertionStore {
	t.Helper()
	ca, ok := s.(authkit.ClientAssertionStore)
	if !ok {
		t.Fatalf("conformance: a second store of the harness, %T, does not implement authkit.ClientAssertionStore while the first did", s)
	}
	return ca
}

// useAssertion is a UseClientAssertion that must succeed.
func useAssertion(t *testing.T, s authkit.ClientAssertionStore, clientID string, h authkit.TokenHash, exp, now time.Time, rule string) {
	t.Helper()
	mustOK(t, fmt.Sprintf("UseClientAssertion(%q)", clientID), s.UseClientAssertion(t.Context(), clientID, h, exp, now), rule)
}

// wantAssertionReused is a UseClientAssertion that must yield ErrTokenReused.
func wantAssertionReused(t *testing.T, s authkit.ClientAssertionStore, clientID string, h authkit.TokenHash, exp, now time.Time, what, rule string) {
	t.Helper()
	err := s.UseClientAssertion(t.Context(), clientID, h, exp, now)
	if !errors.Is(err, authkit.ErrTokenReused) || errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("%s returned %v, want an error matching ErrTokenReused; %s", what, errOrNil(err), rule)
	}
}

func runAssertions(t *testing.T, h PartialHarness[authkit.ClientStore]) {
	t.Run("Use", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		exp := at(5 * minute)
		useAssertion(t, ca, "app", hashOf("jti-1"), exp, at(minute), ruleCaUse)
		wantAssertionReused(t, cb, "app", hashOf("jti-1"), exp, at(minute), "a second use through another handle at the same now", ruleCaUse+"; "+ruleClVisible)
		wantAssertionReused(t, ca, "app", hashOf("jti-1"), exp, exp.Add(-micro), "a use a microsecond before the record's expiresAt", ruleCaUse)
		wantAssertionReused(t, cb, "app", hashOf("jti-1"), at(hour), at(2*minute), "a use presenting a later expiresAt", ruleCaUse)
		useAssertion(t, cb, "app", hashOf("jti-2"), exp, at(2*minute), ruleCaUse+" (another assertion of the same client)")
		wantAssertionReused(t, ca, "app", hashOf("jti-2"), exp, at(3*minute), "a second use of the other assertion", ruleCaUse)
		// The refused use that presented a later expiresAt moved nothing:
		// at the first use's expiresAt the record is absent (found by
		// review).
		useAssertion(t, ca, "app", hashOf("jti-1"), at(20*minute), exp, ruleCaExpired+" (after a refused use that presented a later expiresAt)")
	})
	t.Run("Expired", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		exp := at(5 * minute)
		useAssertion(t, ca, "app", hashOf("jti"), exp, at(minute), ruleCaUse)
		// At its expiresAt the record is absent: a use (with an expiry of
		// its own, after now) is a first use again, and records anew.
		useAssertion(t, cb, "app", hashOf("jti"), at(20*minute), exp, ruleCaExpired+" (a use at the record's expiresAt, expiresAt == now)")
		wantAssertionReused(t, ca, "app", hashOf("jti"), at(20*minute), at(6*minute), "a use after the record expired and was recorded again", ruleCaUse)
		useAssertion(t, ca, "app", hashOf("jti"), at(hour), at(20*minute).Add(micro), ruleCaExpired+" (a use a microsecond after the record's expiresAt)")
	})
	t.Run("ExactlyOneWinner", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		const n = 32
		errs := make([]error, n)
		together(n, ca, cb, func(i int, s authkit.ClientAssertionStore) func() {
			return func() {
				errs[i] = s.UseClientAssertion(t.Context(), "app", hashOf("race"), at(10*minute), at(minute+time.Duration(i)*micro))
			}
		})
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, authkit.ErrTokenReused):
				t.Errorf("a losing concurrent UseClientAssertion returned %v, want an error matching ErrTokenReused; %s", err, ruleCaAtomic)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d concurrent UseClientAssertion calls of one assertion succeeded; %s", wins, n, ruleCaAtomic)
		}
		wantAssertionReused(t, ca, "app", hashOf("race"), at(10*minute), at(2*minute), "a use after the race", ruleCaUse)
	})
	t.Run("ExpiryNotAfterNow", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		for _, exp := range []time.Time{at(minute), at(minute).Add(-micro), base} {
			wantErr(t, fmt.Sprintf("UseClientAssertion with expiresAt %v, now %v", exp, at(minute)), ca.UseClientAssertion(t.Context(), "app", hashOf("past"), exp, at(minute)), authkit.ErrInvalidRequest, ruleCaPast)
		}
		// Nothing was recorded: the same hash is a first use, even at an
		// earlier now (a replica whose clock is behind; found by review).
		useAssertion(t, cb, "app", hashOf("past"), at(10*minute), at(-minute), ruleCaPast)
	})
	t.Run("UnknownClient", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		for _, id := range []string{"ghost", "APP", "ap"} {
			wantErr(t, fmt.Sprintf("UseClientAssertion for client %q, never stored", id), ca.UseClientAssertion(t.Context(), id, hashOf("jti-"+id), at(10*minute), at(minute)), authkit.ErrNotFound, ruleCaNotFound+"; "+ruleClBytes)
		}
		// The refused use recorded nothing.
		createClient(t, b, newClient("ghost", base))
		useAssertion(t, cb, "ghost", hashOf("jti-ghost"), at(10*minute), at(2*minute), ruleCaNotFound+" (and records nothing: a use refused for its unknown client must not count once the client exists)")
	})
	t.Run("DeletedClient", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		createClient(t, a, newClient("keep", base))
		useAssertion(t, ca, "app", hashOf("used"), at(10*minute), at(minute), ruleCaUse)
		useAssertion(t, ca, "keep", hashOf("kept"), at(10*minute), at(minute), ruleCaUse)
		mustOK(t, "DeleteClient", b.DeleteClient(t.Context(), "app"), ruleClDelete)
		wantErr(t, "UseClientAssertion for a deleted client", cb.UseClientAssertion(t.Context(), "app", hashOf("fresh"), at(10*minute), at(2*minute)), authkit.ErrNotFound, ruleCaNotFound)
		if err := ca.UseClientAssertion(t.Context(), "app", hashOf("used"), at(10*minute), at(2*minute)); err == nil {
			t.Errorf("UseClientAssertion, for a deleted client, of an assertion it had used returned nil, want an error (ErrNotFound); %s", ruleCaNotFound)
		}
		wantAssertionReused(t, cb, "keep", hashOf("kept"), at(10*minute), at(2*minute), "a use of another client's assertion after DeleteClient", ruleCaUse)
		// Registered again under the same ID: the assertion the deleted
		// client used is still used (its record outlives the client);
		// a new one is a first use.
		createClient(t, b, newClient("app", at(2*minute)))
		wantAssertionReused(t, ca, "app", hashOf("used"), at(10*minute), at(3*minute), "a use, by a client registered again under the same ID, of an assertion the deleted client used", ruleCaKept)
		useAssertion(t, cb, "app", hashOf("fresh"), at(10*minute), at(3*minute), ruleCaUse+" (a new assertion of the client registered again)")
		// Its record still expires as any other.
		useAssertion(t, cb, "app", hashOf("used"), at(20*minute), at(10*minute), ruleCaExpired+" (a record kept through DeleteClient, at its expiresAt)")
	})
	// The cleanup keeps a deleted client's records too, until they expire
	// (not "… OR client_id IS NULL"): a client registered again with the
	// same keys must not replay them.
	t.Run("DeletedClientCleanup", func(t *testing.T) {
		a, b := open(t, h)
		ca := assertions(t, a)
		createClient(t, a, newClient("app", base))
		useAssertion(t, ca, "app", hashOf("used"), at(10*minute), at(minute), ruleCaUse)
		mustOK(t, "DeleteClient", a.DeleteClient(t.Context(), "app"), ruleClDelete)
		for range 10 {
			n, err := b.DeleteExpiredAuthorizationCodes(t.Context(), at(2*minute), 100)
			mustOK(t, "DeleteExpiredAuthorizationCodes", err, ruleCaCleanup)
			if n < 100 {
				break
			}
		}
		createClient(t, b, newClient("app", at(2*minute)))
		wantAssertionReused(t, ca, "app", hashOf("used"), at(10*minute), at(3*minute), "a use, by a client registered again under the same ID after a cleanup, of an assertion the deleted client used", ruleCaKept)
	})
	t.Run("Cleanup", func(t *testing.T) {
		a, b := open(t, h)
		ca, cb := assertions(t, a), assertions(t, b)
		createClient(t, a, newClient("app", base))
		for i := range 20 {
			useAssertion(t, ca, "app", hashOf(fmt.Sprint("old-", i)), at(time.Duration(i+1)*minute), base, ruleCaUse)
		}
		useAssertion(t, ca, "app", hashOf("at-now"), at(hour), base, ruleCaUse)
		for i := range 5 {
			useAssertion(t, ca, "app", hashOf(fmt.Sprint("live-", i)), at(hour+time.Duration(i+1)*micro), base, ruleCaUse)
		}
		createCode(t, a, newCode("live", "app", at(hour)))
		now := at(hour)
		const limit = 7
		for calls := 0; ; calls++ {
			n, err := b.DeleteExpiredAuthorizationCodes(t.Context(), now, limit)
			mustOK(t, "DeleteExpiredAuthorizationCodes", err, ruleCaCleanup)
			if n < 0 || n > limit {
				t.Fatalf("DeleteExpiredAuthorizationCodes(limit %d) returned %d; %s", limit, n, ruleCodeDelete)
			}
			if n < limit || calls > 30 {
				break
			}
		}
		for i := range 5 {
			wantAssertionReused(t, cb, "app", hashOf(fmt.Sprint("live-", i)), at(2*hour), now, fmt.Sprintf("a use of live assertion %d after DeleteExpiredAuthorizationCodes", i), ruleCaCleanup)
		}
		useAssertion(t, cb, "app", hashOf("at-now"), at(2*hour), now, ruleCaExpired+" (after DeleteExpiredAuthorizationCodes, of a record expiring at now)")
		useAssertion(t, ca, "app", hashOf("old-3"), at(2*hour), now, ruleCaExpired+" (after DeleteExpiredAuthorizationCodes, of an expired record)")
		want := newCode("live", "app", at(hour))
		want.UsedAt = now
		diffCode(redeem(t, a, want.Hash, now), want).report(t, "a live code after DeleteExpiredAuthorizationCodes removed expired assertion records", ruleCodeDelete)
	})
}
