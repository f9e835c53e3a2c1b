package sqlstore_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// authkitTables are every table the migrations create, schema_migrations
// included.
var authkitTables = []string{"sessions", "refresh_tokens", "revocations", "api_tokens", "api_token_subjects", "schema_migrations"}

// dumpTables returns every row of every authkit table as text: each value
// as it is and, for bytes, in lower- and upper-case hex and base64 too, so
// that a secret stored in any of those forms would show.
func dumpTables(t *testing.T, s *sqlstore.Store) string {
	t.Helper()
	var b strings.Builder
	for _, table := range authkitTables {
		rows, err := s.DB().QueryContext(t.Context(), "SELECT * FROM authkit_"+table)
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s:", table)
			for i, v := range vals {
				switch v := v.(type) {
				case []byte:
					fmt.Fprintf(&b, " %s=%q/%x/%X/%s", cols[i], v, v, v, base64.StdEncoding.EncodeToString(v))
				default:
					fmt.Fprintf(&b, " %s=%v", cols[i], v)
				}
			}
			b.WriteString("\n")
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n == 0 && table != "api_token_subjects" {
			t.Errorf("table authkit_%s is empty: the dump would prove nothing", table)
		}
	}
	return b.String()
}

// TestNoSecretAtRest issues every kind of credential through the issuer,
// refreshes, revokes, then dumps every authkit table and looks for each
// secret — whole, its random body, and their hex — in it.
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
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
			var secrets []string
			var apiHashes []string
			for i := range 4 {
				pair, err := iss.IssuePair(ctx, fmt.Sprintf("user-%d", i), issuer.WithScopes("read", "write"),
					issuer.WithUserAgent("agent"), issuer.WithClientIP("192.0.2.7"), issuer.WithDeviceName("laptop"))
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, pair.AccessToken, pair.RefreshToken)
				next, err := iss.Refresh(ctx, pair.RefreshToken)
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, next.AccessToken, next.RefreshToken)
				if i == 0 {
					if err := iss.Revoke(ctx, next.AccessToken); err != nil {
						t.Fatal(err)
					}
					if _, err := v.Verify(ctx, next.AccessToken); err == nil {
						t.Fatal("a revoked access token verifies")
					}
				}
				if i == 1 {
					if err := iss.RevokeSession(ctx, next.SessionID); err != nil {
						t.Fatal(err)
					}
				}
				secret, _, err := iss.CreateAPIToken(ctx, fmt.Sprintf("user-%d", i), "ci", issuer.WithTokenScopes("deploy"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(ctx, secret); err != nil {
					t.Fatalf("a new API token does not verify: %v", err)
				}
				secrets = append(secrets, secret)
				h := sha256.Sum256([]byte(secret))
				apiHashes = append(apiHashes, hex.EncodeToString(h[:]))
			}
			if err := iss.RevokeSubject(ctx, "user-2"); err != nil {
				t.Fatal(err)
			}
			dump := dumpTables(t, s)
			// The dump reads the right data: the hashes the issuer stores.
			for _, h := range apiHashes {
				if !strings.Contains(dump, h) {
					t.Fatalf("the dump lacks an API token's SHA-256 %s; it does not show what the store keeps:\n%s", h, dump)
				}
			}
			for _, secret := range secrets {
				for _, part := range secretParts(secret) {
					for _, form := range []string{part, hex.EncodeToString([]byte(part)), base64.StdEncoding.EncodeToString([]byte(part))} {
						if strings.Contains(dump, form) {
							t.Errorf("the database holds a token secret (or part of one, %q) at rest", form[:min(12, len(form))]+"…")
						}
					}
				}
			}
		})
	}
}

// secretParts is the secret and its random part: an opaque token's body
// (after the last "_"), or a JWT's signature.
func secretParts(secret string) []string {
	if i := strings.LastIndexByte(secret, '.'); i > 0 {
		return []string{secret, secret[i+1:]}
	}
	if i := strings.LastIndexByte(secret, '_'); i > 0 {
		return []string{secret, secret[i+1:]}
	}
	return []string{secret}
}
