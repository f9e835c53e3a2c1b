package verifier

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

// The documents fetched from an issuer are strict JSON read by exact
// member names: a duplicate or case-variant member cannot stand in for
// (or beside) the one read.
func TestFetchedDocumentsStrict(t *testing.T) {
	const jwk = `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA"}`
	log := slog.New(slog.DiscardHandler)
	if set, _, err := parseRemoteJWKS([]byte(`{"keys":[`+jwk+`]}`), "", log, "u"); err != nil || set == nil {
		t.Fatalf("a plain JWKS: %v", err)
	}
	for _, doc := range []string{
		`{"keys":[` + jwk + `],"keys":[]}`,
		`{"keys":[` + jwk + `],"KEYS":[]}`,
		`{"KEYS":[` + jwk + `]}`,
		`{"keys":{}}`,
		// A kid with a lone surrogate escape is not strict JSON; it is
		// never read as a U+FFFD kid.
		strings.Replace(`{"keys":[`+jwk+`]}`, `"k1"`, `"\ud800"`, 1),
	} {
		if set, _, err := parseRemoteJWKS([]byte(doc), "", log, "u"); err == nil {
			t.Errorf("JWKS %s: accepted (%v keys), want an error", doc, set != nil)
		}
	}

	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	const iss = "https://issuer.example"
	body = `{"issuer":"` + iss + `","jwks_uri":"https://issuer.example/jwks"}`
	if got, err := fetchMetadata(t.Context(), srv.Client(), srv.URL, iss); err != nil || got != "https://issuer.example/jwks" {
		t.Fatalf("plain metadata: %q, %v", got, err)
	}
	for _, doc := range []string{
		`{"issuer":"` + iss + `","jwks_uri":"https://issuer.example/jwks","jwks_uri":"https://evil.example/jwks"}`,
		`{"issuer":"` + iss + `","jwks_uri":"https://issuer.example/jwks","JWKS_URI":"https://evil.example/jwks"}`,
		`{"ISSUER":"` + iss + `","jwks_uri":"https://issuer.example/jwks"}`,
		`{"issuer":1,"jwks_uri":"https://issuer.example/jwks"}`,
	} {
		body = doc
		if got, err := fetchMetadata(t.Context(), srv.Client(), srv.URL, iss); err == nil {
			t.Errorf("metadata %s: accepted (%q), want an error", doc, got)
		} else if strings.Contains(err.Error(), "evil") {
			t.Errorf("metadata %s: the error quotes the other member: %v", doc, err)
		}
	}
}

// Two keys under one kid in a remote JWKS: that kid is unusable (neither
// is chosen), and the other keys stay in service.
func TestRemoteJWKSDuplicateKid(t *testing.T) {
	jwkOf := func(kid string) string {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		k, err := keys.NewPrivate(keys.EdDSA, priv, kid)
		if err != nil {
			t.Fatal(err)
		}
		b, err := k.PublicJWK()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	doc := `{"keys":[` + jwkOf("k1") + `,` + jwkOf("k1") + `,` + jwkOf("k2") + `]}`
	set, unusable, err := parseRemoteJWKS([]byte(doc), "", slog.New(slog.DiscardHandler), "u")
	if err != nil || set == nil {
		t.Fatalf("parseRemoteJWKS: %v", err)
	}
	if _, ok := set.Lookup("k2"); !ok || len(set.Keys()) != 1 {
		t.Errorf("the set holds %d keys, want k2 alone", len(set.Keys()))
	}
	if unusable["k1"] == "" {
		t.Errorf("k1 is not marked unusable: %v", unusable)
	}
}

// A kid named by a usable key and by a key authkit cannot use (a P-256 key
// marked "ES384") is unusable too: the usable key is not chosen, in either
// order, the reason says why and is logged, and the other keys stay in
// service.
func TestRemoteJWKSDuplicateKidWithUnusableTwin(t *testing.T) {
	p256 := func(kid string) map[string]any {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := keys.NewPrivate(keys.ES256, priv, kid)
		if err != nil {
			t.Fatal(err)
		}
		b, err := k.PublicJWK()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	good, twin, other := p256("a"), p256("a"), p256("b")
	twin["alg"] = "ES384" // a P-256 key cannot be ES384: unusable
	for name, order := range map[string][]map[string]any{
		"usable first":   {good, twin, other},
		"unusable first": {twin, good, other},
	} {
		doc, err := json.Marshal(map[string]any{"keys": order})
		if err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		set, unusable, err := parseRemoteJWKS(doc, "", slog.New(slog.NewTextHandler(&logged, nil)), "u")
		if err != nil || set == nil {
			t.Fatalf("%s: parseRemoteJWKS: %v", name, err)
		}
		if k, ok := set.Lookup("a"); ok {
			t.Errorf("%s: kid a chose %v, want no key", name, k)
		}
		if _, ok := set.Lookup("b"); !ok || len(set.Keys()) != 1 {
			t.Errorf("%s: the set holds %d keys, want b alone", name, len(set.Keys()))
		}
		if got := unusable["a"]; got != "two keys with this kid in the JWKS" {
			t.Errorf("%s: kid a unusable as %q, want the two-keys reason", name, got)
		}
		if !strings.Contains(logged.String(), `JWKS key \"a\" unusable: two keys with this kid`) {
			t.Errorf("%s: no warning of the two keys: %s", name, logged.String())
		}
	}
}
