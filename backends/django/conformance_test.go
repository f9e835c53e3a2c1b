package django_test

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/django"
	"github.com/authkit-go/authkit/conformance"
)

// Both stores pass the conformance suite of authkit.ExternalAPITokens on
// every database, for each token layout, with tokens written as DRF and
// knox write them.
func TestExternalConformance(t *testing.T) {
	type layout struct {
		name   string
		table  string
		expiry bool
		open   func(t *testing.T, db *djangoDB) authkit.ExternalAPITokens
		mint   func(t *testing.T, db *djangoDB, userID int, expires time.Time) (token string, want authkit.APIToken)
		remove func(t *testing.T, db *djangoDB, token string)
	}
	var layouts []layout
	layouts = append(layouts, layout{
		name: "authtoken", table: "authtoken",
		open: func(t *testing.T, db *djangoDB) authkit.ExternalAPITokens {
			return mustAuthToken(t, db.DB, django.WithSubjectColumn("username"))
		},
		mint: func(t *testing.T, db *djangoDB, userID int, _ time.Time) (string, authkit.APIToken) {
			key := randomHex(t, 20) // DRF's hexlify(os.urandom(20))
			db.exec(t, `INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES (?, ?, ?)`, key, db.ts(minted), userID)
			return key, authkit.APIToken{ID: "authtoken:" + strconv.Itoa(userID), Name: "Django REST framework token", CreatedAt: minted}
		},
		remove: func(t *testing.T, db *djangoDB, token string) {
			db.exec(t, `DELETE FROM "authtoken_token" WHERE "key" = ?`, token)
		},
	})
	for _, k := range []struct {
		format django.KnoxFormat
		table  string
		prefix string
	}{
		{django.Knox5, "knox5", ""},
		{django.Knox5, "knox5", "ab_"},
		{django.Knox42, "knox42", ""},
		{django.Knox40, "knox40", ""},
		{django.Knox3, "knox3", ""},
	} {
		name := k.format.String()
		if k.prefix != "" {
			name += "-prefix"
		}
		expiryCol, keyLen := "expiry", 8
		if k.format == django.Knox5 {
			keyLen = 15
		}
		if k.format == django.Knox3 {
			expiryCol = "expires"
		}
		layouts = append(layouts, layout{
			name: name, table: k.table, expiry: true,
			open: func(t *testing.T, db *djangoDB) authkit.ExternalAPITokens {
				opts := []django.Option{django.WithSubjectColumn("username"), django.WithKnoxFormat(k.format)}
				if k.prefix != "" {
					opts = append(opts, django.WithKnoxPrefix(k.prefix))
				}
				return mustKnox(t, db.DB, opts...)
			},
			// As knox's AuthToken.objects.create: 32 random bytes in
			// hexadecimal after the prefix, the key its first characters
			// (15 from 5.0, 8 before), the digest by the release's rule.
			mint: func(t *testing.T, db *djangoDB, userID int, expires time.Time) (string, authkit.APIToken) {
				token := k.prefix + randomHex(t, 32)
				raw, _ := hex.DecodeString(token)
				h := sha512.New()
				var salt any
				switch k.format {
				case django.Knox5:
					h.Write([]byte(token))
				case django.Knox42:
					h.Write(raw)
				default:
					s := randomHex(t, 8)
					sb, _ := hex.DecodeString(s)
					h.Write(raw)
					h.Write(sb)
					salt = s
				}
				digest := hex.EncodeToString(h.Sum(nil))
				var exp any
				if !expires.IsZero() {
					exp = db.ts(expires)
				}
				q := `INSERT INTO "knox_authtoken" ("digest", "created", "user_id", "` + expiryCol + `", "token_key") VALUES (?, ?, ?, ?, ?)`
				args := []any{digest, db.ts(minted), userID, exp, token[:keyLen]}
				if salt != nil {
					q = `INSERT INTO "knox_authtoken" ("digest", "created", "user_id", "` + expiryCol + `", "token_key", "salt") VALUES (?, ?, ?, ?, ?, ?)`
					args = append(args, salt)
				}
				db.exec(t, q, args...)
				return token, authkit.APIToken{ID: "knox:" + digest[:16], Name: "django-rest-knox token", CreatedAt: minted, ExpiresAt: expires}
			},
			// knox's logout: the row deleted.
			remove: func(t *testing.T, db *djangoDB, token string) {
				db.exec(t, `DELETE FROM "knox_authtoken" WHERE "token_key" = ?`, token[:keyLen])
			},
		})
	}
	forEach(t, func(t *testing.T, b backend) {
		for _, l := range layouts {
			t.Run(l.name, func(t *testing.T) {
				var (
					mu    sync.Mutex
					dbs   = map[authkit.ExternalAPITokens]*djangoDB{}
					users = map[*djangoDB]int{}
				)
				dbOf := func(s authkit.ExternalAPITokens) *djangoDB {
					mu.Lock()
					defer mu.Unlock()
					return dbs[s]
				}
				conformance.RunExternalAPITokens(t, conformance.ExternalHarness{
					New: func(t *testing.T) authkit.ExternalAPITokens {
						db := open(t, b, l.table)
						s := l.open(t, db)
						mu.Lock()
						dbs[s] = db
						mu.Unlock()
						return s
					},
					// The suite mints at most one token per subject in a
					// store: one user each (DRF keeps one key per user).
					Mint: func(t *testing.T, s authkit.ExternalAPITokens, subject string, expires time.Time) (string, authkit.APIToken) {
						db := dbOf(s)
						mu.Lock()
						users[db]++
						id := users[db]
						mu.Unlock()
						db.user(t, id, subject, true)
						tok, want := l.mint(t, db, id, expires)
						want.Subject = subject
						return tok, want
					},
					Expires: l.expiry,
					Remove:  func(t *testing.T, s authkit.ExternalAPITokens, token string) { l.remove(t, dbOf(s), token) },
					Unavailable: func(t *testing.T) authkit.ExternalAPITokens {
						pool, _ := unreachable(t, b)
						return l.open(t, &djangoDB{DB: pool, b: b})
					},
				})
			})
		}
	})
}

// minted is the creation time of the conformance tokens.
var minted = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
