package verifier

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/keys"
)

// FuzzRemoteJWKS: parseRemoteJWKS of any document never panics; it keeps
// only public, asymmetric signature keys with distinct kids, never more
// keys than the document holds (at most 100), and reports each key it
// skipped by a kid of at most 256 bytes; an error comes without keys, and
// a document none of whose "keys" is a JWK is an error.
func FuzzRemoteJWKS(f *testing.F) {
	ed, err := keys.Generate(keys.EdDSA)
	if err != nil {
		f.Fatal(err)
	}
	es, err := keys.Generate(keys.ES256)
	if err != nil {
		f.Fatal(err)
	}
	pub, err := func() ([]byte, error) {
		s, err := keys.NewSet(ed, es)
		if err != nil {
			return nil, err
		}
		return s.JWKS()
	}()
	if err != nil {
		f.Fatal(err)
	}
	priv, err := ed.MarshalJWK()
	if err != nil {
		f.Fatal(err)
	}
	hs, err := keys.Generate(keys.HS256)
	if err != nil {
		f.Fatal(err)
	}
	secret, err := hs.MarshalJWK()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(pub), `{"keys":[` + string(priv) + `]}`, `{"keys":[` + string(secret) + `]}`,
		`{"keys":[` + string(priv) + `,` + string(priv) + `]}`,
		`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`, `{"keys":[{"kty":"EC","use":"enc","kid":"` + strings.Repeat("é", 200) + `"}]}`,
		`{"keys":[]}`, `{"keys":null}`, `{"keys":{}}`, `{}`, ``, `[`, `{"keys":[1,"a",null,{}]}`,
		`{"keys":[` + strings.Repeat(`{},`, 100) + `{}]}`, `{"KEYS":[{"kty":"OKP"}],"keys":[]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, body []byte, rsaDefault bool) {
		var def keys.Algorithm
		if rsaDefault {
			def = keys.RS256
		}
		set, unusable, err := parseRemoteJWKS(body, def, log, "https://issuer.example/jwks")
		if err != nil {
			if set != nil || unusable != nil {
				t.Fatalf("error %v with keys", err)
			}
			return
		}
		var doc struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(body, &doc) != nil || len(doc.Keys) == 0 || len(doc.Keys) > 100 {
			t.Fatalf("accepted a document of %d keys", len(doc.Keys))
		}
		jwk := false // a JWKS has at least one JWK: an object with a string kty
		for _, raw := range doc.Keys {
			var m map[string]any
			if json.Unmarshal(raw, &m) == nil {
				if kty, ok := m["kty"].(string); ok && kty != "" {
					jwk = true
				}
			}
		}
		if !jwk {
			t.Fatal("accepted a document none of whose keys is a JWK")
		}
		n := len(unusable)
		for kid := range unusable {
			if len(kid) > 256 {
				t.Fatalf("unusable kid of %d bytes", len(kid))
			}
		}
		if set == nil {
			if n == 0 {
				t.Fatal("no keys and no reason")
			}
			return
		}
		ks := set.Keys()
		n += len(ks)
		if len(ks) == 0 || set.Active() != nil {
			t.Fatalf("set of %d keys, active %v", len(ks), set.Active())
		}
		seen := map[string]bool{}
		for _, k := range ks {
			if k.CanSign() || k.Symmetric() || seen[k.ID()] {
				t.Fatalf("kept %v (CanSign %v, Symmetric %v, kid seen %v)", k, k.CanSign(), k.Symmetric(), seen[k.ID()])
			}
			seen[k.ID()] = true
		}
		if n > len(doc.Keys) {
			t.Fatalf("%d keys kept or skipped from a document of %d", n, len(doc.Keys))
		}
	})
}

// FuzzLifetime: whatever Cache-Control and Age a JWKS server sends, a
// document is trusted for at least the refresh interval and at most
// max(interval, maxLifetime), and exactly the interval with no-cache or
// no-store.
func FuzzLifetime(f *testing.F) {
	for _, c := range []struct{ cc1, cc2, age string }{
		{"max-age=300", "", ""}, {"public, max-age=300", "no-store", ""}, {"max-age=99999999999999999999", "", "5"},
		{`max-age="60"`, "", "-1"}, {"max-age=300", "max-age=300", ""}, {"No-Cache", "", ""}, {",,,=,", "max-age", "x"},
		{"max-age=9223372036854775807", "", "9223372036854775807"},
	} {
		f.Add(c.cc1, c.cc2, c.age, int64(time.Minute))
	}
	f.Fuzz(func(t *testing.T, cc1, cc2, age string, interval int64) {
		iv := time.Duration(interval)
		if iv < time.Second || iv > 24*time.Hour {
			iv = time.Minute
		}
		h := http.Header{}
		for _, v := range []string{cc1, cc2} {
			if v != "" {
				h.Add("Cache-Control", v)
			}
		}
		if age != "" {
			h.Set("Age", age)
		}
		got := lifetime(h, iv)
		if got < iv || got > max(iv, maxLifetime) {
			t.Fatalf("Cache-Control %q, Age %q, interval %v: lifetime %v out of bounds", h.Values("Cache-Control"), age, iv, got)
		}
		for _, v := range []string{cc1, cc2} {
			for d := range strings.SplitSeq(v, ",") {
				name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
				if n := strings.ToLower(strings.TrimSpace(name)); (n == "no-cache" || n == "no-store") && got != iv {
					t.Fatalf("Cache-Control %q: lifetime %v, want the interval %v", h.Values("Cache-Control"), got, iv)
				}
			}
		}
	})
}
