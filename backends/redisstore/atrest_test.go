package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/opaque"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// dumpPrefix returns every key under prefix and everything it holds, of
// every type, as text: each name and value as it is and in hex and
// base64 too, so that a secret stored in any of those forms would show.
func dumpPrefix(t *testing.T, rdb redis.UniversalClient, prefix string) (string, map[string]int) {
	t.Helper()
	ctx := t.Context()
	var keys []string
	scan := func(c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return iter.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs concurrently
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(c)
		})
	} else {
		err = scan(rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	types := map[string]int{}
	var b strings.Builder
	show := func(v string) {
		fmt.Fprintf(&b, " %q %x %s %s", v, v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)))
	}
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		types[typ]++
		b.WriteString(typ + " ")
		show(k)
		b.WriteString(" =")
		var vals []string
		switch typ {
		case "string":
			v, err := rdb.Get(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			vals = []string{v}
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range m {
				vals = append(vals, f, v)
			}
		case "zset":
			zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range zs {
				vals = append(vals, fmt.Sprint(z.Member), fmt.Sprint(z.Score))
			}
		case "set":
			if vals, err = rdb.SMembers(ctx, k).Result(); err != nil {
				t.Fatal(err)
			}
		case "list":
			if vals, err = rdb.LRange(ctx, k, 0, -1).Result(); err != nil {
				t.Fatal(err)
			}
		case "stream":
			msgs, err := rdb.XRange(ctx, k, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				vals = append(vals, m.ID)
				for f, v := range m.Values {
					vals = append(vals, f, fmt.Sprint(v))
				}
			}
		default:
			t.Fatalf("key %q has type %s, which the dump cannot read", k, typ)
		}
		for _, v := range vals {
			show(v)
		}
		b.WriteString("\n")
	}
	return b.String(), types
}

// secretForms returns what of an opaque token must never be stored: the
// token, its 43-character random body, and the body's 32 bytes raw, in
// hex and in base64.
func secretForms(t *testing.T, tok string) []string {
	t.Helper()
	i := strings.LastIndexByte(tok, '_')
	if i < 0 || len(tok) < i+1+43 {
		t.Fatalf("not an opaque token: %d bytes", len(tok))
	}
	kind := opaque.KindAPI
	if strings.HasPrefix(tok, authkit.DefaultTokenPrefix+opaque.KindRefresh+"_") {
		kind = opaque.KindRefresh
	}
	b, err := opaque.Body(tok, authkit.DefaultTokenPrefix, kind)
	if err != nil {
		t.Fatalf("not a token of ours: %v", err)
	}
	raw := b[:]
	body := tok[i+1 : i+1+43]
	return []string{tok, body, string(raw), hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)}
}

// TestNoSecretAtRest issues every kind of credential through the issuer,
// refreshes, revokes and logs out, then dumps every key under the store's
// prefix, of every type, and looks for each secret in it.
func TestNoSecretAtRest(t *testing.T) {
	addr := testservers.Redis(t)
	rdb := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, rdb)
	s := newStore(t, rdb, prefix)
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s), authkit.WithAPITokenLimit(10))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var (
		opaque   []string // refresh and API tokens
		jwts     []string
		apiHashs []string
	)
	for i := range 4 {
		subject := fmt.Sprintf("user-%d", i)
		pair, err := iss.IssuePair(ctx, subject, issuer.WithScopes("read", "write"),
			issuer.WithUserAgent("agent"), issuer.WithClientIP("192.0.2.7"), issuer.WithDeviceName("laptop"))
		if err != nil {
			t.Fatal(err)
		}
		next, err := iss.Refresh(ctx, pair.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		opaque = append(opaque, pair.RefreshToken, next.RefreshToken)
		jwts = append(jwts, pair.AccessToken, next.AccessToken)
		switch i {
		case 0:
			if err := iss.Revoke(ctx, next.AccessToken); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := iss.RevokeSession(ctx, next.SessionID); err != nil {
				t.Fatal(err)
			}
		case 2:
			// Reuse: the rotated token again revokes the session; the
			// successor sealed under it stays stored.
			if _, err := iss.Refresh(ctx, pair.RefreshToken); err == nil {
				t.Fatal("a reused refresh token refreshed")
			}
		}
		secret, _, err := iss.CreateAPIToken(ctx, subject, "ci", issuer.WithTokenScopes("deploy"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatalf("a new API token does not verify: %v", err)
		}
		opaque = append(opaque, secret)
		h := sha256.Sum256([]byte(secret))
		apiHashs = append(apiHashs, base64.RawURLEncoding.EncodeToString(h[:]))
	}
	if err := iss.RevokeSubject(ctx, "user-3"); err != nil {
		t.Fatal(err)
	}

	dump, types := dumpPrefix(t, rdb, prefix)
	// The dump shows what the store keeps: its kinds of key, and the
	// hashes the issuer stores.
	for _, typ := range []string{"string", "hash", "zset", "set", "stream"} {
		if types[typ] == 0 {
			t.Errorf("the dump holds no key of type %s: it does not show everything the store writes\n%s", typ, dump)
		}
	}
	for _, h := range apiHashs {
		if !strings.Contains(dump, h) {
			t.Fatalf("the dump lacks an API token's SHA-256 %s; it does not show what the store keeps", h)
		}
	}
	for _, tok := range opaque {
		for _, form := range secretForms(t, tok) {
			if strings.Contains(dump, form) {
				t.Errorf("a token secret (%d-byte form) is stored in Redis", len(form))
			}
		}
	}
	for _, tok := range jwts {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(dump, tok) || strings.Contains(dump, sig) {
			t.Error("an access token (or its signature) is stored in Redis")
		}
	}
}
