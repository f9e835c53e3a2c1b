package keys_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/internal/wycheproof"
	"github.com/authkit-go/authkit/keys"
)

// jwkFile is the shape of Wycheproof's json_web_key_test.json (schema
// json_web_key_schema_v1.json): each group holds a private and optionally
// a public JWK Set, and tests that carry one compact JWS each.
type jwkFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Private json.RawMessage `json:"private"`
		Public  json.RawMessage `json:"public"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			JWS     string   `json:"jws"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// verifyCompact is a minimal compact-JWS check for these vectors: find the
// key by the header's kid (or try every key), require the key's algorithm
// to equal the header's alg, and verify the signature over
// "header.payload". The strict JWS parser lives in internal/jws; this
// helper only lets the keyset vectors be checked from package keys.
func verifyCompact(s *keys.Set, jws string) error {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	candidates := s.Keys()
	if hdr.Kid != "" {
		k, ok := s.Lookup(hdr.Kid)
		if !ok {
			return keys.ErrUnknownKey
		}
		candidates = []*keys.Key{k}
	}
	input := []byte(parts[0] + "." + parts[1])
	for _, k := range candidates {
		if string(k.Algorithm()) != hdr.Alg {
			continue
		}
		if err := k.Verify(input, sig); err == nil {
			return nil
		}
	}
	return keys.ErrInvalidSignature
}

// TestWycheproofKeySets runs every case of json_web_key_test.json. A case
// is about whether a key set may be used: a valid case's sets must parse
// and its JWS must verify against each; an invalid case must be refused
// by every set it gives. An invalid case whose flaw is in the keys must be
// refused when the set is parsed, not merely fail to verify; the one case
// that alters the signature instead must parse and then fail to verify.
//
// The file has no defects documented in SOURCE.md (those concern
// json_web_signature_test.json), so nothing here is special-cased.
func TestWycheproofKeySets(t *testing.T) {
	var file jwkFile
	readJSON(t, wycheproof.JWKFile, &file)
	var ran, passed, special int
	for _, g := range file.TestGroups {
		for _, tc := range g.Tests {
			ran++
			name := fmt.Sprintf("tcId %d (%s, %s)", tc.TcID, g.Comment, tc.Comment)
			sets := []struct {
				name string
				doc  json.RawMessage
			}{{"private", g.Private}}
			if len(g.Public) != 0 {
				sets = append(sets, struct {
					name string
					doc  json.RawMessage
				}{"public", g.Public})
			}
			ok := true
			for _, set := range sets {
				s, parseErr := keys.ParseJWKS(set.doc)
				var verifyErr error
				if parseErr == nil {
					verifyErr = verifyCompact(s, tc.JWS)
				}
				switch {
				case tc.Result == "valid":
					if parseErr != nil || verifyErr != nil {
						t.Errorf("%s: valid, but the %s set: parse %v, verify %v", name, set.name, parseErr, verifyErr)
						ok = false
					}
				case tc.Result == "invalid" && tc.Comment == "rejectsModifiedSignature":
					if parseErr != nil || verifyErr == nil {
						t.Errorf("%s: the %s set must parse and the JWS fail to verify: parse %v, verify %v", name, set.name, parseErr, verifyErr)
						ok = false
					}
				case tc.Result == "invalid":
					if parseErr == nil {
						t.Errorf("%s: invalid, but the %s set was accepted (verify: %v)", name, set.name, verifyErr)
						ok = false
					} else {
						t.Logf("%s: %s set refused: %v", name, set.name, parseErr)
					}
				default:
					t.Errorf("%s: unexpected result %q", name, tc.Result)
					ok = false
				}
			}
			if ok {
				passed++
			}
		}
	}
	// tcId 4 (duplicate kid) is refused above before its duplicate is
	// seen: the second key's "k" has non-zero trailing bits, which this
	// package refuses as non-canonical base64url. Check the duplicate rule
	// itself on the same set with that "k" re-encoded canonically.
	for _, g := range file.TestGroups {
		if g.Comment != "jws_duplicate_kid" {
			continue
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		mustNoErr(t, json.Unmarshal(g.Private, &set))
		for _, k := range set.Keys {
			raw, err := base64.RawURLEncoding.DecodeString(k["k"].(string)) // lenient: ignores trailing bits
			mustNoErr(t, err)
			k["k"] = base64.RawURLEncoding.EncodeToString(raw)
		}
		_, err := keys.ParseJWKS(toJSON(t, set))
		if !isErr(err, keys.ErrDuplicateKeyID) {
			t.Errorf("jws_duplicate_kid with canonical secrets: got %v, want ErrDuplicateKeyID", err)
		}
	}
	if ran != file.NumberOfTests {
		t.Errorf("ran %d cases, the file declares %d", ran, file.NumberOfTests)
	}
	summary := fmt.Sprintf("Wycheproof json_web_key_test.json: %d cases ran, %d passed, %d special-cased", ran, passed, special)
	t.Log(summary)
	fmt.Println(summary)
}

// jwsFile is the part of json_web_signature_test.json that holds keys.
type jwsFile struct {
	TestGroups []struct {
		Comment string          `json:"comment"`
		Private json.RawMessage `json:"private"`
		Public  json.RawMessage `json:"public"`
		Tests   []struct {
			TcID int `json:"tcId"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofSignatureFileKeys checks that ParseJWK loads every key the
// JWS vectors (run by the JWS layer's own tests) need, and refuses exactly
// the keys that are not signature keys of a supported algorithm. Groups are
// named by their first tcId.
func TestWycheproofSignatureFileKeys(t *testing.T) {
	var file jwsFile
	readJSON(t, wycheproof.JWSFile, &file)
	refused := map[int]string{
		347: "both",    // "alg":"ES521" is not a JWA name (SOURCE.md: relabel to ES512 in the JWS test)
		351: "both",    // the same key with key_ops
		353: "both",    // RSA encryption key: "use":"enc", no alg
		354: "both",    // EC encryption key: "use":"enc"
		355: "both",    // RSA key_ops ["encrypt", …] (private: a malformed string)
		356: "both",    // EC key_ops ["encrypt", …]
		349: "private", // key_ops ["sign, verify"]: one malformed entry (SOURCE.md); the public key is fine
	}
	checked := 0
	for _, g := range file.TestGroups {
		first := g.Tests[0].TcID
		for _, which := range []string{"private", "public"} {
			doc := g.Private
			if which == "public" {
				doc = g.Public
			}
			if len(doc) == 0 {
				continue
			}
			checked++
			_, err := keys.ParseJWK(doc)
			wantRefused := refused[first] == "both" || refused[first] == which
			switch {
			case wantRefused && err == nil:
				t.Errorf("group %s (tcId %d): %s key accepted, want refused", g.Comment, first, which)
			case !wantRefused && err != nil:
				t.Errorf("group %s (tcId %d): %s key refused: %v", g.Comment, first, which, err)
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d keys checked; the vector file has changed shape", checked)
	}
	// Relabelled as SOURCE.md suggests, the ES521 key loads as ES512.
	for _, g := range file.TestGroups {
		if g.Tests[0].TcID != 347 {
			continue
		}
		m := jwkMap(t, g.Public)
		m["alg"] = "ES512"
		k, err := keys.ParseJWK(toJSON(t, m))
		mustNoErr(t, err)
		if k.Algorithm() != keys.ES512 {
			t.Fatalf("relabelled key is %s", k.Algorithm())
		}
	}
}
