package django_test

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/django"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Keys as DRF generates them: hexlify(os.urandom(20)).
const (
	aliceKey = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
	bobKey   = "0f6b3e1d9a8c7b5a4f3e2d1c0b9a8f7e6d5c4b3a"
	carolKey = "1234567890abcdef1234567890abcdef12345678"
)

// Knox digests computed with Python's hashlib the way each knox release
// does (knox/crypto.py hash_token), independently of this package:
//
//	5.x:  sha512(token.encode()).hexdigest()
//	4.2:  sha512(binascii.unhexlify(token)).hexdigest()
//	<4.2: sha512(binascii.unhexlify(token) + binascii.unhexlify(salt)).hexdigest()
const (
	knoxPrefixed        = "ab_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	knoxPrefixedDigest  = "8fad519bfa308c433fb3046d3558c3b964dfaf78eecb6c38ce3813ec5887958aa554cd48191c7d3cd2ed4c564d1248f81c1534445bc40830d116d3b0673e0dc3"
	knoxPlain           = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	knoxPlainDigest5    = "9403707f3a83f72c63cf9d3b7a1b2bc7c4fb74db0cb4e03c594b88638ecd383b1bde557793a022c75dfb0394fc10ef77321b2f922263fcc23dcb6b1413853696"
	knoxPlainDigest42   = "a3a1a6361d131890004e7094d82bed12510ea43119d1bff1c388711a321602a354b01a9a61a546437778dda1c654429b792f759d46117e70cb56aad6cdc9dd95"
	knoxSalt            = "00112233aabbccdd"
	knoxPlainDigestSalt = "2c064e1451261e493ab0995404d2c4b7b55ec05d6fa93e901f639f20937082d954647b10f1a574d3321b5a8707a2638ea061daee832cbe4df97843391304c4d9"
)

// knoxToken returns a random-looking knox 5 token (64 hex characters after
// prefix) and its digest, as knox's AuthToken.objects.create makes them.
func knoxToken(prefix, seed string) (token, digest string) {
	s := sha512.Sum512([]byte(seed))
	token = prefix + hex.EncodeToString(s[:32])
	d := sha512.Sum512([]byte(token))
	return token, hex.EncodeToString(d[:])
}

func mustAuthToken(t *testing.T, db *sqlx.DB, opts ...django.Option) *django.AuthTokenStore {
	t.Helper()
	s, err := django.NewAuthTokenStore(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustKnox(t *testing.T, db *sqlx.DB, opts ...django.Option) *django.KnoxStore {
	t.Helper()
	s, err := django.NewKnoxStore(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A DRF key authenticates with "Authorization: Token <key>" as long as its
// row exists and its user is active, as with DRF's TokenAuthentication.
func TestAuthToken(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "authtoken")
		db.user(t, 1, "alice", true)
		db.user(t, 2, "bob", false)
		db.user(t, 3, "carol", true)
		db.drfKey(t, aliceKey, 1)
		db.drfKey(t, bobKey, 2)
		db.drfKey(t, carolKey, 3)
		v := newVerifier(t, mustAuthToken(t, db.DB))

		p, err := authenticate(v, "Token", aliceKey)
		if err != nil {
			t.Fatalf("Token <alice's key>: %v", err)
		}
		if p.Subject != "1" || p.Method != authkit.MethodAPIToken || p.TokenID != "authtoken:1" || !p.IssuedAt.Equal(base.Add(-time.Hour)) {
			t.Errorf("principal %+v; want subject 1, api_token, authtoken:1, issued an hour ago", p)
		}
		if p, err := authenticate(v, "Bearer", aliceKey); err != nil || p.Subject != "1" {
			t.Errorf("Bearer <alice's key>: %+v %v", p, err)
		}
		for name, tok := range map[string]string{
			"unknown key":         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			"inactive user's key": bobKey,
			"upper-case key":      strings.ToUpper(aliceKey),
			"key one short":       aliceKey[:39],
			"key one long":        aliceKey + "0",
		} {
			if _, err := authenticate(v, "Token", tok); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Errorf("%s: %v, want ErrInvalidToken", name, err)
			}
		}
		// DRF's logout: the row is deleted.
		db.exec(t, `DELETE FROM "authtoken_token" WHERE "user_id" = ?`, 3)
		if _, err := authenticate(v, "Token", carolKey); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("deleted key: %v, want ErrInvalidToken", err)
		}

		// The subject from another column of auth_user.
		v2 := newVerifier(t, mustAuthToken(t, db.DB, django.WithSubjectColumn("username")))
		if p, err := authenticate(v2, "Token", aliceKey); err != nil || p.Subject != "alice" {
			t.Errorf("WithSubjectColumn(username): %+v %v", p, err)
		}
		// Without the is_active check, bob's key works.
		v3 := newVerifier(t, mustAuthToken(t, db.DB, django.WithoutActiveCheck()))
		if p, err := authenticate(v3, "Token", bobKey); err != nil || p.Subject != "2" {
			t.Errorf("WithoutActiveCheck: %+v %v", p, err)
		}
	})
}

// knox tokens: found by token_key, matched by digest, expiry reported.
// A key is compared byte for byte after the lookup: on MySQL, whose
// default collation folds case, a stored "ABC…" matches a presented
// "abc…", and the comparison in Go is what refuses it (found by mutation
// testing: no test held it).
func TestAuthTokenKeyCaseSensitive(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "authtoken")
		db.user(t, 1, "alice", true)
		db.drfKey(t, strings.ToUpper(aliceKey), 1)
		v := newVerifier(t, mustAuthToken(t, db.DB))
		if p, err := authenticate(v, "Token", aliceKey); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("the lower-case form of a stored upper-case key: %+v, %v; want ErrInvalidToken", p, err)
		}
	})
}

func TestKnox(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "knox5")
		db.user(t, 7, "dave", true)
		db.user(t, 8, "erin", false)
		future, past := base.Add(10*time.Hour), base.Add(-time.Minute)
		live, liveDigest := knoxToken("", "live")
		forever, foreverDigest := knoxToken("", "forever")
		expired, expiredDigest := knoxToken("", "expired")
		inactive, inactiveDigest := knoxToken("", "inactive")
		db.knox(t, liveDigest, live[:15], 7, &future)
		db.knox(t, foreverDigest, forever[:15], 7, nil)
		db.knox(t, expiredDigest, expired[:15], 7, &past)
		db.knox(t, inactiveDigest, inactive[:15], 8, &future)
		db.knox(t, knoxPlainDigest5, knoxPlain[:15], 7, nil)
		// A second token sharing live's token_key: both rows are candidates.
		twin := live[:15] + strings.Repeat("0", 49)
		tw := sha512.Sum512([]byte(twin))
		db.knox(t, hex.EncodeToString(tw[:]), twin[:15], 7, nil)

		v := newVerifier(t, mustKnox(t, db.DB))
		p, err := authenticate(v, "Token", live)
		if err != nil {
			t.Fatalf("a live knox token: %v", err)
		}
		if p.Subject != "7" || p.Method != authkit.MethodAPIToken || p.TokenID != "knox:"+liveDigest[:16] || !p.ExpiresAt.Equal(future) {
			t.Errorf("principal %+v; want subject 7, knox:%s, expiring at %v", p, liveDigest[:16], future)
		}
		for name, tok := range map[string]string{"no expiry": forever, "Python's vector": knoxPlain, "token_key twin": twin} {
			if p, err := authenticate(v, "Bearer", tok); err != nil || p.Subject != "7" || !p.ExpiresAt.IsZero() {
				t.Errorf("%s: %+v %v", name, p, err)
			}
		}
		if _, err := authenticate(v, "Token", expired); !errors.Is(err, authkit.ErrTokenExpired) {
			t.Errorf("expired: %v, want ErrTokenExpired", err)
		}
		// Same token_key, another secret: the digest does not match.
		wrong := live[:15] + strings.Repeat("f", 49)
		for name, tok := range map[string]string{"wrong digest": wrong, "inactive user": inactive, "unknown": strings.Repeat("c", 64), "too short": live[:63]} {
			if _, err := authenticate(v, "Token", tok); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Errorf("%s: %v, want ErrInvalidToken", name, err)
			}
		}
		// knox's logout deletes the row.
		db.exec(t, `DELETE FROM "knox_authtoken" WHERE "digest" = ?`, liveDigest)
		if _, err := authenticate(v, "Token", live); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("after logout: %v, want ErrInvalidToken", err)
		}
	})
}

// knox's TOKEN_PREFIX: token_key is the first 15 characters of the whole
// token, prefix included, and the digest covers the prefix.
func TestKnoxPrefix(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "knox5")
		db.user(t, 1, "alice", true)
		db.knox(t, knoxPrefixedDigest, knoxPrefixed[:15], 1, nil)
		s := mustKnox(t, db.DB, django.WithKnoxPrefix("ab_"))
		if s.OwnsToken(knoxPrefixed[3:]) || s.OwnsToken("xy_"+knoxPrefixed[3:]) || !s.OwnsToken(knoxPrefixed) {
			t.Error("OwnsToken must require the prefix")
		}
		v := newVerifier(t, s)
		if p, err := authenticate(v, "Token", knoxPrefixed); err != nil || p.Subject != "1" {
			t.Errorf("prefixed token: %+v %v", p, err)
		}
		// A token issued before TOKEN_PREFIX was set, which knox still
		// accepts, through the chain the docs give: refused by the
		// prefixed store alone, accepted with the old form behind it.
		old, digest := knoxToken("", "before the prefix")
		db.knox(t, digest, old[:15], 1, nil)
		if _, err := authenticate(v, "Token", old); err == nil {
			t.Error("an unprefixed token was accepted by the prefixed store alone")
		}
		chained := newVerifier(t, mustKnox(t, db.DB, django.WithKnoxPrefix("ab_"), django.WithFallback(mustKnox(t, db.DB))))
		for _, tok := range []string{knoxPrefixed, old} {
			if p, err := authenticate(chained, "Token", tok); err != nil || p.Subject != "1" {
				t.Errorf("the prefixed store chained to the old form, token %.18s…: %+v %v", tok, p, err)
			}
		}
	})
}

// The layouts and hashes of knox before 5.0.
func TestKnoxOlderFormats(t *testing.T) {
	cases := []struct {
		format       django.KnoxFormat
		table        string
		insert       string
		digest, salt string
	}{
		{django.Knox42, "knox42", `INSERT INTO "knox_authtoken" ("digest", "created", "user_id", "expiry", "token_key") VALUES (?, ?, ?, ?, ?)`, knoxPlainDigest42, ""},
		{django.Knox40, "knox40", `INSERT INTO "knox_authtoken" ("digest", "created", "user_id", "expiry", "token_key", "salt") VALUES (?, ?, ?, ?, ?, ?)`, knoxPlainDigestSalt, knoxSalt},
		{django.Knox3, "knox3", `INSERT INTO "knox_authtoken" ("digest", "created", "user_id", "expires", "token_key", "salt") VALUES (?, ?, ?, ?, ?, ?)`, knoxPlainDigestSalt, knoxSalt},
	}
	forEach(t, func(t *testing.T, b backend) {
		for _, c := range cases {
			t.Run(c.format.String(), func(t *testing.T) {
				db := open(t, b, c.table)
				db.user(t, 5, "frank", true)
				args := []any{c.digest, db.ts(base.Add(-time.Hour)), 5, db.ts(base.Add(time.Hour)), knoxPlain[:8]}
				if c.salt != "" {
					args = append(args, c.salt)
				}
				db.exec(t, c.insert, args...)
				v := newVerifier(t, mustKnox(t, db.DB, django.WithKnoxFormat(c.format)))
				if p, err := authenticate(v, "Token", knoxPlain); err != nil || p.Subject != "5" || !p.ExpiresAt.Equal(base.Add(time.Hour)) {
					t.Errorf("%v token: %+v %v", c.format, p, err)
				}
				if _, err := authenticate(v, "Token", knoxPlain[:8]+strings.Repeat("0", 56)); !errors.Is(err, authkit.ErrInvalidToken) {
					t.Errorf("%v, wrong digest: %v, want ErrInvalidToken", c.format, err)
				}
			})
		}
	})
}

// One verifier accepts authkit's own API tokens (from the fallback store)
// and the Django tokens, and the issuer writes authkit's through the
// composed store.
func TestFallback(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b, "authtoken", "knox5")
		db.user(t, 1, "alice", true)
		db.drfKey(t, aliceKey, 1)
		kt, kd := knoxToken("", "fallback")
		db.knox(t, kd, kt[:15], 1, nil)

		own := memory.New()
		drf := mustAuthToken(t, db.DB, django.WithFallback(own))
		knox := mustKnox(t, db.DB, django.WithFallback(drf))

		k, _ := keys.Generate(keys.HS256)
		set, _ := keys.NewSet(k)
		// As a service wires it: authkit's store for everything, and the
		// Django stores in front of it for API tokens.
		opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(own), authkit.WithAPITokenStore(knox), authkit.WithClock(clock)}
		is, err := issuer.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		v, err := verifier.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		secret, rec, err := is.CreateAPIToken(ctx, "1", "ci")
		if err != nil {
			t.Fatalf("CreateAPIToken through the fallback: %v", err)
		}
		for name, tok := range map[string]string{"authkit's own": secret, "DRF key": aliceKey, "knox token": kt} {
			if p, err := authenticate(v, "Token", tok); err != nil || p.Subject != "1" {
				t.Errorf("%s: %+v %v", name, p, err)
			}
		}
		if list, err := knox.ListAPITokens(ctx, "1", base); err != nil || len(list) != 1 || list[0].ID != rec.ID {
			t.Errorf("ListAPITokens through the fallback: %v %v", list, err)
		}
		pair, err := is.IssuePair(ctx, "1")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := authenticate(v, "Bearer", pair.AccessToken); err != nil || p.Subject != "1" || p.Method != authkit.MethodJWT {
			t.Errorf("an authkit access token: %+v %v", p, err)
		}
		if err := is.Revoke(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// authkit's revocation endpoint cannot revoke a Django token: it is
		// not one of authkit's, and the tables are only read.
		if err := is.Revoke(ctx, aliceKey); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("issuer.Revoke(a DRF key): %v, want ErrInvalidToken", err)
		}
		if _, err := authenticate(v, "Token", secret); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("revoked authkit token: %v", err)
		}
	})
}

// Without a fallback the store reads only: writes fail clearly, lookups by
// authkit hash find nothing. Over a connection that can only read (a role
// or user granted SELECT alone, an SQLite file opened read-only), the
// Django tokens authenticate: nothing on the way writes.
func TestReadOnly(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		owner := open(t, b, "authtoken", "knox5")
		owner.user(t, 1, "alice", true)
		owner.drfKey(t, aliceKey, 1)
		kt, kd := knoxToken("", "read-only")
		owner.knox(t, kd, kt[:15], 1, nil)
		db := owner.readOnly(t)
		for _, q := range []string{`UPDATE "auth_user" SET "last_login" = NULL`, `DELETE FROM "knox_authtoken"`} {
			if err := db.tryExec(q); err == nil {
				t.Fatalf("%s succeeded over the read-only connection", q)
			}
		}
		ctx := context.Background()
		for _, s := range []authkit.APITokenStore{mustAuthToken(t, db.DB), mustKnox(t, db.DB)} {
			if err := s.CreateAPIToken(ctx, authkit.APIToken{ID: "x", Subject: "1"}, 0, base); !errors.Is(err, django.ErrReadOnly) {
				t.Errorf("%T.CreateAPIToken: %v, want ErrReadOnly", s, err)
			}
			if err := s.RevokeAPIToken(ctx, "1", "x", base); !errors.Is(err, django.ErrReadOnly) {
				t.Errorf("%T.RevokeAPIToken: %v, want ErrReadOnly", s, err)
			}
			if err := s.TouchAPIToken(ctx, "x", base); !errors.Is(err, django.ErrReadOnly) {
				t.Errorf("%T.TouchAPIToken: %v, want ErrReadOnly", s, err)
			}
			if _, err := s.LookupAPIToken(ctx, authkit.TokenHash{}); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("%T.LookupAPIToken: %v, want ErrNotFound", s, err)
			}
			if l, err := s.ListAPITokens(ctx, "1", base); err != nil || len(l) != 0 {
				t.Errorf("%T.ListAPITokens: %v %v", s, l, err)
			}
			if n, err := s.DeleteExpiredAPITokens(ctx, base, 10); err != nil || n != 0 {
				t.Errorf("%T.DeleteExpiredAPITokens: %d %v", s, n, err)
			}
		}
		v := newVerifier(t, mustKnox(t, db.DB, django.WithFallback(mustAuthToken(t, db.DB))))
		for name, tok := range map[string]string{"DRF key": aliceKey, "knox token": kt} {
			if p, err := authenticate(v, "Token", tok); err != nil || p.Subject != "1" {
				t.Errorf("%s over the read-only connection: %+v %v", name, p, err)
			}
		}
		k, _ := keys.Generate(keys.HS256)
		set, _ := keys.NewSet(k)
		is, _ := issuer.New(authkit.WithKeys(set), authkit.WithAPITokenStore(mustAuthToken(t, db.DB)))
		if _, _, err := is.CreateAPIToken(ctx, "1", "ci"); !errors.Is(err, django.ErrReadOnly) {
			t.Errorf("issuer.CreateAPIToken over a read-only store: %v", err)
		}
	})
}

// A token of the wrong form never reaches the database: over an
// unreachable one, where any query fails, it is plainly not found, while
// one of the right form reports the failure.
func TestMalformedTokensAreNotQueried(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db, _ := unreachable(t, b)
		drf := mustAuthToken(t, db)
		knox := mustKnox(t, db, django.WithKnoxPrefix("ab_"))
		ctx := context.Background()
		for _, tok := range []string{"", aliceKey[:39], aliceKey + "a", strings.ToUpper(aliceKey), "g" + aliceKey[1:], strings.Repeat("a", 1<<20)} {
			if _, err := drf.LookupExternalAPIToken(ctx, tok); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("authtoken, %d bytes: %v, want ErrNotFound without a query", len(tok), err)
			}
		}
		for _, tok := range []string{"", knoxPrefixed[3:], "xy_" + knoxPrefixed[3:], knoxPrefixed + "0", knoxPrefixed[:len(knoxPrefixed)-1], strings.ToUpper(knoxPrefixed)} {
			if _, err := knox.LookupExternalAPIToken(ctx, tok); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("knox, %d bytes: %v, want ErrNotFound without a query", len(tok), err)
			}
		}
		if _, err := drf.LookupExternalAPIToken(ctx, aliceKey); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("a well-formed key over an unreachable DB: %v, want ErrStoreUnavailable", err)
		}
		if _, err := knox.LookupExternalAPIToken(ctx, knoxPrefixed); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("a well-formed knox token over an unreachable DB: %v, want ErrStoreUnavailable", err)
		}
		v := newVerifier(t, drf)
		if _, err := authenticate(v, "Token", aliceKey+"0"); !errors.Is(err, authkit.ErrInvalidToken) || errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("verifier, a 41-character key over an unreachable DB: %v, want ErrInvalidToken without a query", err)
		}
	})
}

// A database that does not answer refuses the request (fail closed), and
// the error names neither the token nor the server.
func TestUnavailable(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db, addr := unreachable(t, b)
		drf := mustAuthToken(t, db)
		knox := mustKnox(t, db, django.WithFallback(drf))
		v := newVerifier(t, knox)
		kt, _ := knoxToken("", "down")
		for _, tok := range []string{aliceKey, kt} {
			_, err := authenticate(v, "Token", tok)
			if !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Errorf("unreachable database: %v, want ErrStoreUnavailable", err)
			}
			if err != nil && (strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), addr)) {
				t.Errorf("error text %q names the token or the server", err)
			}
		}
		if err := knox.Ping(context.Background()); !errors.Is(err, authkit.ErrStoreUnavailable) || strings.Contains(err.Error(), addr) {
			t.Errorf("Ping: %v", err)
		}
	})
}

// A cancelled context ends the query with an error matching both
// ErrStoreUnavailable and context.Canceled.
func TestContextCancelled(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "authtoken", "knox5")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		kt, _ := knoxToken("", "ctx")
		if _, err := mustAuthToken(t, db.DB).LookupExternalAPIToken(ctx, aliceKey); !errors.Is(err, context.Canceled) || !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("authtoken: %v", err)
		}
		if _, err := mustKnox(t, db.DB).LookupExternalAPIToken(ctx, kt); !errors.Is(err, context.Canceled) || !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("knox: %v", err)
		}
	})
}

// Options out of range are refused; a schema-qualified table and user
// table (SQLite's main, the PostgreSQL schema, the MySQL database) are
// quoted as the database wants them.
func TestOptions(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "knox5")
		for name, f := range map[string]func() error{
			"nil db":             func() error { _, err := django.NewAuthTokenStore(nil); return err },
			"knox option on DRF": func() error { _, err := django.NewAuthTokenStore(db.DB, django.WithKnoxPrefix("ab_")); return err },
			"bad table": func() error {
				_, err := django.NewAuthTokenStore(db.DB, django.WithTable(`t"; DROP TABLE x`))
				return err
			},
			"bad user table":    func() error { _, err := django.NewKnoxStore(db.DB, django.WithUserTable("a.b.c")); return err },
			"qualified subject": func() error { _, err := django.NewKnoxStore(db.DB, django.WithSubjectColumn("u.id")); return err },
			"long prefix":       func() error { _, err := django.NewKnoxStore(db.DB, django.WithKnoxPrefix("abcdefghijk")); return err },
			"prefix with a dot": func() error { _, err := django.NewKnoxStore(db.DB, django.WithKnoxPrefix("a.b")); return err },
			"prefix on knox 4.2": func() error {
				_, err := django.NewKnoxStore(db.DB, django.WithKnoxFormat(django.Knox42), django.WithKnoxPrefix("ab"))
				return err
			},
			"odd token length": func() error { _, err := django.NewKnoxStore(db.DB, django.WithKnoxTokenChars(63)); return err },
			"unknown format":   func() error { _, err := django.NewKnoxStore(db.DB, django.WithKnoxFormat(9)); return err },
			"nil fallback":     func() error { _, err := django.NewKnoxStore(db.DB, django.WithFallback(nil)); return err },
			"nil option":       func() error { _, err := django.NewKnoxStore(db.DB, nil); return err },
		} {
			if err := f(); !errors.Is(err, authkit.ErrInvalidConfig) {
				t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
			}
		}
		schema := db.schema(t)
		s := mustKnox(t, db.DB, django.WithKnoxTokenChars(32), django.WithTable(schema+".knox_authtoken"), django.WithUserTable(schema+".auth_user"))
		if !s.OwnsToken(strings.Repeat("a", 32)) || s.OwnsToken(strings.Repeat("a", 64)) {
			t.Error("WithKnoxTokenChars(32) not honoured by OwnsToken")
		}
		db.user(t, 1, "alice", true)
		tok := randomHex(t, 16)
		digest := sha512.Sum512([]byte(tok))
		db.knox(t, hex.EncodeToString(digest[:]), tok[:15], 1, nil)
		if p, err := authenticate(newVerifier(t, s), "Token", tok); err != nil || p.Subject != "1" {
			t.Errorf("a 32-character token in %s.knox_authtoken: %+v %v", schema, p, err)
		}
	})
}

// Knox configured for 40-character tokens without a prefix has the form of
// a DRF key: a token no knox row matches goes on to the DRF fallback, so
// that DRF keys keep working behind it (found by review: every one was
// refused), while knox tokens still resolve in the knox table.
func TestKnox40FallsBackToDRF(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "authtoken", "knox5")
		db.user(t, 1, "alice", true)
		db.drfKey(t, aliceKey, 1)
		drf := mustAuthToken(t, db.DB)
		knox := mustKnox(t, db.DB, django.WithKnoxTokenChars(40), django.WithFallback(drf))
		rec, err := knox.LookupExternalAPIToken(context.Background(), aliceKey)
		if err != nil || rec.Subject != "1" {
			t.Errorf("a DRF key behind knox with 40-character tokens: %+v %v", rec, err)
		}
		if _, err := knox.LookupExternalAPIToken(context.Background(), strings.Repeat("ab", 20)); !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("a 40-hex token neither table holds: %v, want ErrNotFound", err)
		}
	})
}

// Django with USE_TZ = False writes naive local times (its TIME_ZONE) to
// SQLite and MySQL: read as UTC, a knox token it expired an hour ago was
// accepted for the zone's offset longer (found by review). WithTimeZone
// reads them in that zone. On PostgreSQL, whose timestamptz values are
// instants (Django sets the session's zone to TIME_ZONE), it changes
// nothing.
func TestKnoxNaiveTimesInDjangosTimeZone(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600) // Asia/Tokyo, without needing a tz database
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "knox5")
		db.user(t, 1, "alice", true)
		naive := func(at time.Time) any {
			if b.dir == "postgres" {
				return db.ts(at)
			}
			return at.In(tokyo).Format("2006-01-02 15:04:05.000000")
		}
		expired, expiredDigest := knoxToken("", "tz-expired")
		live, liveDigest := knoxToken("", "tz-live")
		for _, r := range []struct {
			digest, key string
			expiry      time.Time
		}{{expiredDigest, expired[:15], base.Add(-time.Hour)}, {liveDigest, live[:15], base.Add(time.Hour)}} {
			db.exec(t, `INSERT INTO "knox_authtoken" ("digest","created","user_id","expiry","token_key") VALUES (?,?,?,?,?)`,
				r.digest, naive(r.expiry.Add(-2*time.Hour)), 1, naive(r.expiry), r.key)
		}
		v := newVerifier(t, mustKnox(t, db.DB, django.WithTimeZone(tokyo)))
		if _, err := authenticate(v, "Token", expired); !errors.Is(err, authkit.ErrTokenExpired) {
			t.Errorf("a token knox expired an hour ago: %v, want ErrTokenExpired", err)
		}
		if p, err := authenticate(v, "Token", live); err != nil || !p.ExpiresAt.Equal(base.Add(time.Hour)) {
			t.Errorf("a live token: %v (expires %v, want %v)", err, p, base.Add(time.Hour))
		}
		if _, err := django.NewKnoxStore(db.DB, django.WithTimeZone(nil)); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("WithTimeZone(nil): %v", err)
		}
	})
}

// A custom user model with its own primary key column: WithUserKeyColumn
// joins on it (found by review: the join named "id", and every lookup
// failed).
func TestCustomUserPrimaryKey(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "authtoken")
		db.exec(t, `CREATE TABLE "accounts_user" ("user_id" integer NOT NULL PRIMARY KEY, "handle" varchar(150) NOT NULL UNIQUE, "is_active" bool NOT NULL)`)
		db.exec(t, `INSERT INTO "accounts_user" ("user_id", "handle", "is_active") VALUES (?, ?, ?)`, 7, "alice", db.boolean(true))
		const key = "0123456789abcdef0123456789abcdef01234567"
		// authtoken.sql's FOREIGN KEY names auth_user: a row 7 there too,
		// inactive and named otherwise, which a store reading auth_user
		// instead of accounts_user would refuse or name wrongly.
		db.user(t, 7, "not-alice", false)
		db.exec(t, `INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES (?, ?, ?)`, key, db.ts(base), 7)
		s := mustAuthToken(t, db.DB, django.WithUserTable("accounts_user"), django.WithUserKeyColumn("user_id"), django.WithSubjectColumn("handle"))
		if p, err := authenticate(newVerifier(t, s), "Token", key); err != nil || p.Subject != "alice" {
			t.Errorf("a token of a custom user model: %v, %v", p, err)
		}
		if _, err := django.NewAuthTokenStore(db.DB, django.WithUserKeyColumn("id; --")); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("WithUserKeyColumn with SQL in it: %v", err)
		}
	})
}

// A user model whose subject is a UUIDField: Django keeps it as 32
// hexadecimal digits on MySQL/MariaDB and SQLite and as a native uuid on
// PostgreSQL; with WithUUIDSubject the subject is str(uuid) on every
// database, as simplejwt's user_id claim has it (found by review: one user
// was two principals on MySQL and SQLite).
func TestUUIDSubject(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		const want = "550e8400-e29b-41d4-a716-446655440000"
		db := open(t, b, "knox5")
		col, stored := "char(32)", strings.ReplaceAll(want, "-", "")
		if b.dir == "postgres" {
			col, stored = "uuid", want
		}
		db.exec(t, `CREATE TABLE "accounts_user" ("id" integer NOT NULL PRIMARY KEY, "uid" `+col+` NOT NULL UNIQUE, "is_active" bool NOT NULL)`)
		db.exec(t, `INSERT INTO "accounts_user" ("id", "uid", "is_active") VALUES (?, ?, ?)`, 1, stored, db.boolean(true))
		db.user(t, 1, "alice", true) // knox's FOREIGN KEY names auth_user
		tok, digest := knoxToken("", "uuid")
		db.knox(t, digest, tok[:15], 1, nil)
		opts := []django.Option{django.WithUserTable("accounts_user"), django.WithSubjectColumn("uid")}
		if p, err := authenticate(newVerifier(t, mustKnox(t, db.DB, append(opts, django.WithUUIDSubject())...)), "Token", tok); err != nil || p.Subject != want {
			t.Errorf("WithUUIDSubject: %+v %v, want subject %s", p, err, want)
		}
		if b.dir == "postgres" {
			return
		}
		if p, err := authenticate(newVerifier(t, mustKnox(t, db.DB, opts...)), "Token", tok); err != nil || p.Subject != stored {
			t.Errorf("without WithUUIDSubject: %+v %v, want the column as stored, %s", p, err, stored)
		}
		// A subject of 32 characters that are not all hexadecimal digits
		// is kept as it is.
		const odd = "not-a-uuid-but-thirty-two-chars!"
		db.exec(t, `UPDATE "accounts_user" SET "uid" = ? WHERE "id" = 1`, odd)
		if p, err := authenticate(newVerifier(t, mustKnox(t, db.DB, append(opts, django.WithUUIDSubject())...)), "Token", tok); err != nil || p.Subject != odd {
			t.Errorf("WithUUIDSubject on a subject that is no UUID: %+v %v, want %s", p, err, odd)
		}
	})
}

// A knox TOKEN_PREFIX that makes its tokens begin as authkit's do ("ak_",
// "akrt_" with the default token prefix) still reaches the knox store
// (found by review: every such token was refused as a malformed authkit
// token), and authkit's own tokens still go to authkit.
func TestKnoxPrefixLikeAuthkits(t *testing.T) {
	for _, prefix := range []string{"ak_", "akrt_"} {
		db := open(t, backends[2], "knox5")
		db.user(t, 1, "alice", true)
		tok, digest := knoxToken(prefix, "lookalike")
		db.knox(t, digest, tok[:15], 1, nil)
		v := newVerifier(t, mustKnox(t, db.DB, django.WithKnoxPrefix(prefix)))
		if p, err := authenticate(v, "Token", tok); err != nil || p.Subject != "1" {
			t.Errorf("knox prefix %q: %+v %v", prefix, p, err)
		}
	}
}

// tzChildEnv marks the run of TestKnoxUTCWithDriverInLocalZone in a
// process whose local zone is not UTC.
const tzChildEnv = "AUTHKIT_DJANGO_TZ_CHILD"

// Django with USE_TZ = True writes UTC wall clocks to MySQL; a pool
// opened with loc=Local read them in the process's zone, so that in a zone
// behind UTC a knox token expired an hour ago was accepted, and ahead of
// it a live one refused (found by an adoption test). The test runs itself
// again with TZ set, the local zone of a CI machine being UTC.
func TestKnoxUTCWithDriverInLocalZone(t *testing.T) {
	if os.Getenv(tzChildEnv) == "" {
		for _, tz := range []string{"America/New_York", "Asia/Tokyo"} {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKnoxUTCWithDriverInLocalZone$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), tzChildEnv+"=1", "TZ="+tz)
			out, err := cmd.CombinedOutput()
			if err == nil && strings.Contains(string(out), "--- SKIP: TestKnoxUTCWithDriverInLocalZone") {
				// No MySQL here: skipped as the child was, unless a
				// missing server must fail (the child fails then too).
				if os.Getenv(testservers.RequireEnv) == "1" {
					t.Fatalf("in %s the child skipped under %s=1:\n%s", tz, testservers.RequireEnv, out)
				}
				t.Skipf("in %s the child skipped (set %s=1 to make this a failure):\n%s", tz, testservers.RequireEnv, out)
			}
			if err != nil || !strings.Contains(string(out), "--- PASS: TestKnoxUTCWithDriverInLocalZone") {
				t.Errorf("in %s: %v\n%s", tz, err, out)
			}
		}
		return
	}
	if name, off := time.Now().Zone(); off == 0 {
		t.Fatalf("the child's local zone is %s, UTC's offset: TZ was not applied", name)
	}
	b := backends[len(backends)-1]
	if b.name != "mysql" {
		t.Fatalf("the last backend is %s, want mysql", b.name)
	}
	dsn := b.fresh(t)
	if strings.Contains(dsn, "loc=") {
		t.Fatalf("the test DSN already names a zone: %s", dsn)
	}
	db, err := sqlx.Open(b.driver, dsn+"&loc=Local")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := &djangoDB{DB: db, b: b, dsn: dsn}
	for _, name := range []string{"auth_user", "knox5"} {
		ddl, err := os.ReadFile(filepath.Join("testdata", b.dir, name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(ddl), ";\n") {
			if strings.TrimSpace(stmt) != "" {
				d.exec(t, stmt)
			}
		}
	}
	d.user(t, 1, "alice", true)
	utc := func(at time.Time) string { return at.UTC().Format("2006-01-02 15:04:05.000000") } // as Django writes with USE_TZ
	now := time.Now()
	expired, expiredDigest := knoxToken("", "utc-expired")
	live, liveDigest := knoxToken("", "utc-live")
	d.exec(t, `INSERT INTO "knox_authtoken" ("digest","created","user_id","expiry","token_key") VALUES (?,?,?,?,?)`,
		expiredDigest, utc(now.Add(-3*time.Hour)), 1, utc(now.Add(-time.Hour)), expired[:15])
	d.exec(t, `INSERT INTO "knox_authtoken" ("digest","created","user_id","expiry","token_key") VALUES (?,?,?,?,?)`,
		liveDigest, utc(now.Add(-time.Hour)), 1, utc(now.Add(time.Hour)), live[:15])
	v := newVerifier(t, mustKnox(t, db))
	if _, err := authenticate(v, "Token", expired); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Errorf("a token knox expired an hour ago, read through loc=Local: %v, want ErrTokenExpired", err)
	}
	if p, err := authenticate(v, "Token", live); err != nil || p.Subject != "1" {
		t.Errorf("a token knox keeps for another hour, read through loc=Local: %+v %v", p, err)
	}
}

// A database error is reported by its code, never its text (which names
// the server, the database and the user): a missing grant or table read
// "*mysql.MySQLError (message withheld)", and nothing told which (found
// by an adoption test).
func TestErrorsNameTheirCode(t *testing.T) {
	want := map[string]string{"postgres": "SQLSTATE 42P01 (undefined table)", "mysql": "MySQL error 1146", "sqlite": "SQLite error 1 (SQLITE_ERROR)"}
	forEach(t, func(t *testing.T, b backend) {
		db := open(t, b, "authtoken")
		s := mustAuthToken(t, db.DB, django.WithUserTable("missing_users"))
		_, err := s.LookupExternalAPIToken(context.Background(), strings.Repeat("ab", 20))
		if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), want[b.dir]) || strings.Contains(err.Error(), "missing_users") {
			t.Errorf("a lookup joining a missing table: %v, want ErrStoreUnavailable naming %q and not the table", err, want[b.dir])
		}
	})
}

// A pool whose driver name tells no dialect the queries are written for
// is refused at construction (found by review: a MySQL pool under a
// wrapper's name, nrmysql, was taken for SQLite's dialect and every
// lookup failed with a syntax error, a 503); named so with sqlx.NewDb, the
// same pool is taken.
func TestUnknownDriverNameRefused(t *testing.T) {
	t.Parallel()
	db, err := sqlx.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	wrapped := sqlx.NewDb(db.DB, "nrmysql")
	if _, err := django.NewAuthTokenStore(wrapped); !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "nrmysql") {
		t.Errorf("NewAuthTokenStore over driver name nrmysql: %v, want ErrInvalidConfig naming it", err)
	}
	if _, err := django.NewKnoxStore(wrapped); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("NewKnoxStore over driver name nrmysql: %v, want ErrInvalidConfig", err)
	}
	for _, name := range []string{"sqlite", "sqlite3", "mysql", "pgx", "pgx/v5", "postgres"} {
		if _, err := django.NewAuthTokenStore(sqlx.NewDb(db.DB, name)); err != nil {
			t.Errorf("driver name %q: %v", name, err)
		}
	}
}
