package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// These checks of authkit.ClientStore are the backend's own; the shared
// ones run from the conformance suite ("Clients/…").

func codeHash(s string) authkit.TokenHash { return sha256.Sum256([]byte("code:" + s)) }

var clientsT0 = time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

func testClient(id string, at time.Time) authkit.Client {
	return authkit.Client{
		ID: id, Name: "App " + id, SecretHash: sha256.Sum256([]byte("secret " + id)),
		GrantTypes:   []string{authkit.GrantAuthorizationCode, authkit.GrantRefreshToken},
		Scopes:       []string{"read", "write"},
		RedirectURIs: []string{"https://app.example/cb?x=1"},
		AccessTTL:    5 * time.Minute, RefreshTTL: 24 * time.Hour,
		CreatedAt: at,
	}
}

func testCode(name, clientID string, at time.Time) authkit.AuthorizationCode {
	return authkit.AuthorizationCode{
		Hash: codeHash(name), ClientID: clientID, RedirectURI: "https://app.example/cb?x=1",
		Subject: "alice", Scopes: []string{"read"}, Challenge: strings.Repeat("c", 43),
		Claims: []byte(`{"amr":["pwd"]}`), CreatedAt: at, ExpiresAt: at.Add(time.Minute),
	}
}

// clientStores returns two handles (separate clients) on one fresh prefix,
// and the admin client, for each topology that is available.
func clientTopologies(t *testing.T, run func(t *testing.T, admin redis.UniversalClient, a, b *redisstore.Store)) {
	t.Run("Standalone", func(t *testing.T) {
		addr := testservers.Redis(t)
		admin := standalone(t, addr)
		p := testservers.RedisPrefix(t, admin)
		run(t, admin, newStore(t, standalone(t, addr), p), newStore(t, standalone(t, addr), p))
	})
	t.Run("Cluster", func(t *testing.T) {
		addrs := testservers.RedisCluster(t)
		admin := cluster(t, addrs)
		p := testservers.RedisPrefix(t, admin)
		run(t, admin, newStore(t, cluster(t, addrs), p), newStore(t, cluster(t, addrs), p))
	})
}

func TestClientRegistry(t *testing.T) {
	clientTopologies(t, func(t *testing.T, _ redis.UniversalClient, a, b *redisstore.Store) {
		ctx := t.Context()
		c1 := testClient("app-1", clientsT0)
		c2 := testClient("app-0", clientsT0) // same instant: ordered by ID
		c3 := testClient("{app}:3", clientsT0.Add(-time.Hour))
		c3.SecretHash, c3.JWKS = authkit.TokenHash{}, []byte(`{"keys":[]}`)
		for _, c := range []authkit.Client{c1, c2, c3} {
			if err := a.CreateClient(ctx, c); err != nil {
				t.Fatalf("CreateClient(%s): %v", c.ID, err)
			}
		}
		if err := b.CreateClient(ctx, testClient("app-1", clientsT0)); !errors.Is(err, authkit.ErrConflict) {
			t.Fatalf("second CreateClient of one ID: %v, want ErrConflict", err)
		}
		got, err := b.GetClient(ctx, "app-1")
		if err != nil || !reflect.DeepEqual(got, c1) {
			t.Fatalf("GetClient = %+v, %v; want %+v", got, err, c1)
		}
		if _, err := b.GetClient(ctx, "nope"); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("GetClient(unknown): %v", err)
		}
		list, err := b.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []authkit.Client{c3, c2, c1}; !reflect.DeepEqual(list, want) {
			t.Fatalf("ListClients = %+v\nwant %+v", list, want)
		}
		h := sha256.Sum256([]byte("new secret"))
		at := clientsT0.Add(time.Hour)
		if err := b.SetClientSecret(ctx, "app-1", h, at); err != nil {
			t.Fatal(err)
		}
		got, _ = a.GetClient(ctx, "app-1")
		if got.SecretHash != h || !got.SecretRotatedAt.Equal(at) {
			t.Fatalf("after SetClientSecret: %x at %v", got.SecretHash, got.SecretRotatedAt)
		}
		if err := b.SetClientSecret(ctx, "app-1", authkit.TokenHash{}, at); err != nil {
			t.Fatal(err)
		}
		if got, _ = a.GetClient(ctx, "app-1"); got.SecretHash != (authkit.TokenHash{}) {
			t.Fatal("the zero hash did not remove the secret")
		}
		if err := b.SetClientSecret(ctx, "nope", h, at); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("SetClientSecret(unknown): %v", err)
		}
		if err := a.DeleteClient(ctx, "app-0"); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteClient(ctx, "app-0"); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("second DeleteClient: %v", err)
		}
		list, _ = b.ListClients(ctx)
		if len(list) != 2 || list[0].ID != c3.ID || list[1].ID != c1.ID {
			t.Fatalf("ListClients after delete = %+v", list)
		}
	})
}

func TestClientLimits(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	s := newStore(t, standalone(t, addr), testservers.RedisPrefix(t, admin))
	ctx := t.Context()
	long := func(n int) string { return strings.Repeat("a", n) }
	many := func(n, each int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = long(each)
		}
		return out
	}
	bad := map[string]func(*authkit.Client){
		"empty ID":     func(c *authkit.Client) { c.ID = "" },
		"long ID":      func(c *authkit.Client) { c.ID = long(authkit.MaxClientIDLen + 1) },
		"space in ID":  func(c *authkit.Client) { c.ID = "a b" },
		"long name":    func(c *authkit.Client) { c.Name = long(authkit.MaxClientNameLen + 1) },
		"long JWKS":    func(c *authkit.Client) { c.JWKS = []byte(long(authkit.MaxClientJWKSLen + 1)) },
		"many URIs":    func(c *authkit.Client) { c.RedirectURIs = many(authkit.MaxRedirectURIs+1, 10) },
		"long URI":     func(c *authkit.Client) { c.RedirectURIs = many(1, authkit.MaxRedirectURILen+1) },
		"many scopes":  func(c *authkit.Client) { c.Scopes = many(authkit.MaxClientScopes+1, 3) },
		"negative TTL": func(c *authkit.Client) { c.AccessTTL = -time.Second },
	}
	for name, f := range bad {
		c := testClient("x", clientsT0)
		f(&c)
		if err := s.CreateClient(ctx, c); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("CreateClient with %s: %v, want ErrInvalidRequest", name, err)
		}
	}
	ok := testClient(long(authkit.MaxClientIDLen), clientsT0)
	ok.Name, ok.JWKS = long(authkit.MaxClientNameLen), []byte(long(authkit.MaxClientJWKSLen))
	ok.RedirectURIs = many(authkit.MaxRedirectURIs, authkit.MaxRedirectURILen)
	ok.Scopes = many(authkit.MaxClientScopes, 20)
	if err := s.CreateClient(ctx, ok); err != nil {
		t.Fatalf("CreateClient at every limit: %v", err)
	}
	if got, err := s.GetClient(ctx, ok.ID); err != nil || !reflect.DeepEqual(got, ok) {
		t.Fatalf("GetClient of the client at every limit: %v", err)
	}
	if list, _ := s.ListClients(ctx); len(list) != 0+1 {
		t.Fatalf("ListClients holds %d clients: a refused create stored one", len(list))
	}
	if err := s.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
		t.Fatal(err)
	}
	code := testCode("c", "app", clientsT0)
	code.Challenge = long(authkit.MaxCodeChallengeLen + 1)
	if err := s.CreateAuthorizationCode(ctx, code); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("a code with a long challenge: %v", err)
	}
	code = testCode("c", "app", clientsT0)
	code.Scopes = many(authkit.MaxClientScopes+1, 3)
	if err := s.CreateAuthorizationCode(ctx, code); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("a code with too many scopes: %v", err)
	}
	code = testCode("c", "app", clientsT0)
	code.RedirectURI = long(authkit.MaxRedirectURILen + 1)
	if err := s.CreateAuthorizationCode(ctx, code); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("a code with a long redirect URI: %v", err)
	}
	if _, err := s.RedeemAuthorizationCode(ctx, codeHash("c"), clientsT0); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("a refused code redeems: %v", err)
	}
	if err := s.CreateAuthorizationCode(ctx, testCode("c", "app", clientsT0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemAuthorizationCode(ctx, codeHash("c"), time.Time{}); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("a redemption at the zero time: %v, want ErrInvalidRequest (it would leave the code unused)", err)
	}
	if _, err := s.RedeemAuthorizationCode(ctx, codeHash("c"), clientsT0); err != nil {
		t.Errorf("the code after a refused redemption: %v", err)
	}
}

func TestAuthorizationCodes(t *testing.T) {
	clientTopologies(t, func(t *testing.T, _ redis.UniversalClient, a, b *redisstore.Store) {
		ctx := t.Context()
		if err := a.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
			t.Fatal(err)
		}
		if err := a.CreateAuthorizationCode(ctx, testCode("x", "nope", clientsT0)); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("a code of an unknown client: %v, want ErrNotFound", err)
		}
		// The refused code's hash is free again.
		code := testCode("x", "app", clientsT0)
		code.UsedAt, code.SessionID = clientsT0, "ignored"
		if err := a.CreateAuthorizationCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		if err := b.CreateAuthorizationCode(ctx, testCode("x", "app", clientsT0)); !errors.Is(err, authkit.ErrConflict) {
			t.Fatalf("a duplicate code hash: %v, want ErrConflict", err)
		}
		now := clientsT0.Add(10 * time.Second)
		got, err := b.RedeemAuthorizationCode(ctx, code.Hash, now)
		want := code
		want.UsedAt, want.SessionID = now, ""
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Redeem = %+v, %v\nwant %+v", got, err, want)
		}
		if err := a.SetAuthorizationCodeSession(ctx, code.Hash, "sess-1"); err != nil {
			t.Fatal(err)
		}
		got, err = a.RedeemAuthorizationCode(ctx, code.Hash, now.Add(time.Second))
		want.SessionID = "sess-1"
		if !errors.Is(err, authkit.ErrTokenReused) || !reflect.DeepEqual(got, want) {
			t.Fatalf("second Redeem = %+v, %v\nwant the stored record with ErrTokenReused", got, err)
		}
		if err := a.SetAuthorizationCodeSession(ctx, codeHash("none"), "s"); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("SetAuthorizationCodeSession(unknown): %v", err)
		}
		if _, err := a.RedeemAuthorizationCode(ctx, codeHash("none"), now); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("Redeem(unknown): %v", err)
		}
		// Expired at now (ExpiresAt <= now).
		exp := testCode("exp", "app", clientsT0)
		if err := a.CreateAuthorizationCode(ctx, exp); err != nil {
			t.Fatal(err)
		}
		if _, err := b.RedeemAuthorizationCode(ctx, exp.Hash, exp.ExpiresAt); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("Redeem at ExpiresAt: %v, want ErrNotFound", err)
		}
		if _, err := b.RedeemAuthorizationCode(ctx, exp.Hash, exp.ExpiresAt.Add(-time.Microsecond)); err != nil {
			t.Fatalf("Redeem a µs before ExpiresAt: %v", err)
		}
		// A deleted client's codes stop redeeming, also once a client of
		// the same ID is created again.
		del := testCode("del", "app", clientsT0)
		if err := a.CreateAuthorizationCode(ctx, del); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RedeemAuthorizationCode(ctx, del.Hash, now); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("Redeem of a deleted client's code: %v, want ErrNotFound", err)
		}
		if err := b.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RedeemAuthorizationCode(ctx, del.Hash, now); !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("Redeem of a deleted client's code after the ID was registered again: %v, want ErrNotFound", err)
		}
	})
}

// TestRedeemRace: of 32 concurrent redemptions of one code through two
// handles, exactly one succeeds and the others get the winner's record
// with ErrTokenReused.
func TestRedeemRace(t *testing.T) {
	clientTopologies(t, func(t *testing.T, _ redis.UniversalClient, a, b *redisstore.Store) {
		ctx := t.Context()
		if err := a.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
			t.Fatal(err)
		}
		code := testCode("race", "app", clientsT0)
		if err := a.CreateAuthorizationCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		const n = 32
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
			used = map[time.Time]int{}
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := []*redisstore.Store{a, b}[i%2]
				got, err := s.RedeemAuthorizationCode(ctx, code.Hash, clientsT0.Add(time.Duration(i+1)*time.Millisecond))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, authkit.ErrTokenReused):
				default:
					t.Errorf("redemption %d: %v", i, err)
					return
				}
				used[got.UsedAt]++
			}()
		}
		wg.Wait()
		if wins != 1 || len(used) != 1 {
			t.Fatalf("%d of %d redemptions won, UsedAt seen %v: want exactly one winner, whose UsedAt all report", wins, n, used)
		}
	})
}

func TestDeleteExpiredAuthorizationCodes(t *testing.T) {
	clientTopologies(t, func(t *testing.T, admin redis.UniversalClient, a, b *redisstore.Store) {
		ctx := t.Context()
		if err := a.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			c := testCode(fmt.Sprint(i), "app", clientsT0)
			c.ExpiresAt = clientsT0.Add(time.Duration(i+1) * time.Minute)
			if err := a.CreateAuthorizationCode(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.RedeemAuthorizationCode(ctx, codeHash("0"), clientsT0); err != nil {
			t.Fatal(err)
		}
		// Codes 0…5 expired at +6m; 4 of them now, then the other 2.
		at := clientsT0.Add(6 * time.Minute)
		if n, err := b.DeleteExpiredAuthorizationCodes(ctx, at, 4); err != nil || n != 4 {
			t.Fatalf("DeleteExpired(limit 4) = %d, %v", n, err)
		}
		if n, err := b.DeleteExpiredAuthorizationCodes(ctx, at, 100); err != nil || n != 2 {
			t.Fatalf("DeleteExpired(limit 100) = %d, %v; want the other 2", n, err)
		}
		if n, err := b.DeleteExpiredAuthorizationCodes(ctx, at, 100); err != nil || n != 0 {
			t.Fatalf("DeleteExpired again = %d, %v", n, err)
		}
		if _, err := b.DeleteExpiredAuthorizationCodes(ctx, at, 0); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Fatalf("limit 0: %v", err)
		}
		// The live ones redeem; the deleted ones' hashes are free.
		if _, err := a.RedeemAuthorizationCode(ctx, codeHash("6"), at); err != nil {
			t.Fatalf("a live code after cleanup: %v", err)
		}
		if err := a.CreateAuthorizationCode(ctx, testCode("0", "app", at)); err != nil {
			t.Fatalf("the hash of a deleted code: %v", err)
		}
		// Nothing left but the 4 live codes, the new one and their locators
		// (and the client, the index and GC index entries).
		codes := 0
		forEachKey(t, admin, a.Prefix(), func(k string) {
			if strings.HasPrefix(k[len(a.Prefix()):], "code:") {
				codes++
			}
		})
		if codes != 5 {
			t.Fatalf("%d code keys remain, want 5", codes)
		}
	})
}

// forEachKey calls f with every key under prefix, on every master.
func forEachKey(t *testing.T, admin redis.UniversalClient, prefix string, f func(string)) {
	t.Helper()
	var mu sync.Mutex
	scan := func(c redis.UniversalClient) error {
		iter := c.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
		for iter.Next(t.Context()) {
			mu.Lock()
			f(iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := admin.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), func(_ context.Context, c *redis.Client) error { return scan(c) })
	} else {
		err = scan(admin)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestRedeemAcrossMasters: on a cluster, codes of clients whose hash tags
// land on each master redeem once, and the client keys, codes and
// locators are where the layout says.
func TestRedeemAcrossMasters(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	admin := cluster(t, addrs)
	p := testservers.RedisPrefix(t, admin)
	s := newStore(t, cluster(t, addrs), p)
	ctx := t.Context()
	masters := map[string]int{}
	for i := range 24 {
		id := fmt.Sprintf("client-%d", i)
		if err := s.CreateClient(ctx, testClient(id, clientsT0)); err != nil {
			t.Fatal(err)
		}
		code := testCode(id, id, clientsT0)
		if err := s.CreateAuthorizationCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		m, err := admin.MasterForKey(ctx, p+"cl:{c"+b64(id)+"}")
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr]++
		if got, err := s.RedeemAuthorizationCode(ctx, code.Hash, clientsT0); err != nil || got.ClientID != id {
			t.Fatalf("Redeem of %s's code: %+v, %v", id, got, err)
		}
		if _, err := s.RedeemAuthorizationCode(ctx, code.Hash, clientsT0); !errors.Is(err, authkit.ErrTokenReused) {
			t.Fatalf("second Redeem of %s's code: %v", id, err)
		}
	}
	if len(masters) < 3 {
		t.Fatalf("the clients' tags landed on %d masters (%v), want all 3", len(masters), masters)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestRetriedClientCommands: every ClientStore write that Redis executes
// twice (a lost reply and go-redis's resend) takes effect once and reports
// the first execution's outcome.
func TestRetriedClientCommands(t *testing.T) {
	addr := testservers.Redis(t)
	plain := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, plain)
	replayed := standalone(t, addr)
	replayed.AddHook(replayHook{})
	s, ref := newStore(t, replayed, prefix), newStore(t, plain, prefix)
	ctx := t.Context()
	if err := s.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
		t.Fatalf("a replayed CreateClient: %v", err)
	}
	if err := s.SetClientSecret(ctx, "app", codeHash("s"), clientsT0); err != nil {
		t.Fatalf("a replayed SetClientSecret: %v", err)
	}
	code := testCode("c", "app", clientsT0)
	if err := s.CreateAuthorizationCode(ctx, code); err != nil {
		t.Fatalf("a replayed CreateAuthorizationCode: %v", err)
	}
	if _, err := s.RedeemAuthorizationCode(ctx, code.Hash, clientsT0); err != nil {
		t.Fatalf("a replayed RedeemAuthorizationCode: %v, want nil (a retry is not reuse)", err)
	}
	if _, err := ref.RedeemAuthorizationCode(ctx, code.Hash, clientsT0); !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("a second RedeemAuthorizationCode: %v, want ErrTokenReused", err)
	}
	if err := s.SetAuthorizationCodeSession(ctx, code.Hash, "sess"); err != nil {
		t.Fatalf("a replayed SetAuthorizationCodeSession: %v", err)
	}
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("a replayed DeleteClient: %v, want nil", err)
	}
	if err := ref.DeleteClient(ctx, "app"); !errors.Is(err, authkit.ErrNotFound) {
		t.Fatalf("a second DeleteClient: %v, want ErrNotFound", err)
	}
	if _, err := ref.GetClient(ctx, "app"); !errors.Is(err, authkit.ErrNotFound) {
		t.Fatalf("GetClient of a deleted client: %v", err)
	}
	if list, err := ref.ListClients(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListClients after the delete: %v, %v", list, err)
	}
	if err := ref.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
		t.Fatalf("CreateClient over a deletion's tombstone: %v", err)
	}
	if list, err := ref.ListClients(ctx); err != nil || len(list) != 1 {
		t.Fatalf("ListClients after the create again: %v, %v", list, err)
	}
}
