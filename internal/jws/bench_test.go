package jws

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/keys"
)

// benchClaims is a realistic access-token claims set of about 300 bytes.
const benchClaims = `{"iss":"https://auth.example.com","sub":"user-4711","aud":["https://api.example.com"],` +
	`"exp":1767225600,"iat":1767225300,"nbf":1767225300,"jti":"0b4c2f1e-8a0d-4a57-9c36-2f6f1b9d1e5a",` +
	`"client_id":"web-app","scope":"read write admin:users","sid":"f0e1d2c3-b4a5-4968-8776-655443322110",` +
	`"tenant":"acme"}`

type benchClaimsStruct struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      []string `json:"aud"`
	Exp      float64  `json:"exp"`
	Iat      float64  `json:"iat"`
	Nbf      float64  `json:"nbf"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Sid      string   `json:"sid"`
	Tenant   string   `json:"tenant"`
}

func benchToken(b *testing.B, alg keys.Algorithm) (string, *keys.Key) {
	b.Helper()
	var k *keys.Key
	if alg == keys.HS256 {
		k = hsKey(b)
	} else {
		k = testKeys()[alg]
	}
	tok, err := Sign(k, "at+jwt", []byte(benchClaims))
	if err != nil {
		b.Fatal(err)
	}
	return tok, k
}

func benchParseVerifyPayload(b *testing.B, alg keys.Algorithm) {
	tok, k := benchToken(b, alg)
	var t Token
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(tok, &t); err != nil {
			b.Fatal(err)
		}
		if err := t.Verify(k); err != nil {
			b.Fatal(err)
		}
		p, err := t.AppendPayload(buf[:0])
		if err != nil || len(p) != len(benchClaims) {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerifyPayloadHS256 is Parse + Token.Verify + AppendPayload
// of an HS256 token with a ~300-byte claims payload, reusing the Token and
// the payload buffer as a verifier does.
func BenchmarkParseVerifyPayloadHS256(b *testing.B) { benchParseVerifyPayload(b, keys.HS256) }

// BenchmarkParseVerifyPayloadES256 is the same for ES256.
func BenchmarkParseVerifyPayloadES256(b *testing.B) { benchParseVerifyPayload(b, keys.ES256) }

// BenchmarkParseVerifyClaimsHS256 adds what the verifier does next: read
// every claim with strictjson. It is the like-for-like comparison with
// BenchmarkFloorHS256.
func BenchmarkParseVerifyClaimsHS256(b *testing.B) {
	tok, k := benchToken(b, keys.HS256)
	var t Token
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(tok, &t); err != nil {
			b.Fatal(err)
		}
		if err := t.Verify(k); err != nil {
			b.Fatal(err)
		}
		p, err := t.AppendPayload(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		o, err := strictjson.NewObject(p)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for o.Next() {
			v := o.Value()
			switch string(o.Name()) {
			case "exp", "iat", "nbf":
				f, err := v.Float()
				if err != nil {
					b.Fatal(err)
				}
				n += int(f) & 1
			case "aud":
				a, _ := v.Elements()
				for a.Next() {
					if a.Value().EqualString("https://api.example.com") {
						n++
					}
				}
			default:
				s, err := v.StringBytes(nil)
				if err != nil {
					b.Fatal(err)
				}
				n += len(s)
			}
		}
		if n == 0 {
			b.Fatal("no claims read")
		}
	}
}

// BenchmarkVerifyHS256 is the one-call entry point, which allocates its
// Token and the payload.
func BenchmarkVerifyHS256(b *testing.B) {
	tok, k := benchToken(b, keys.HS256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignHS256 is the issuer's signing path.
func BenchmarkSignHS256(b *testing.B) {
	k := hsKey(b)
	payload := []byte(benchClaims)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(k, "at+jwt", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorHS256 is what a hand-written HS256 verifier with no
// library costs: hmac.New per call, base64.RawURLEncoding decoding of all
// three segments and encoding/json.Unmarshal of the claims into a struct.
// It checks far less than Parse+Verify (no header JSON, no strictness).
func BenchmarkFloorHS256(b *testing.B) {
	tok, _ := benchToken(b, keys.HS256)
	secret := []byte(strings.Repeat("\x07", 32))
	enc := base64.RawURLEncoding
	b.ReportAllocs()
	for b.Loop() {
		d1 := strings.IndexByte(tok, '.')
		d2 := strings.LastIndexByte(tok, '.')
		hdr, err := enc.DecodeString(tok[:d1])
		if err != nil || len(hdr) == 0 {
			b.Fatal(err)
		}
		payload, err := enc.DecodeString(tok[d1+1 : d2])
		if err != nil {
			b.Fatal(err)
		}
		sig, err := enc.DecodeString(tok[d2+1:])
		if err != nil {
			b.Fatal(err)
		}
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(tok[:d2]))
		if !hmac.Equal(m.Sum(nil), sig) {
			b.Fatal("bad MAC")
		}
		var c benchClaimsStruct
		if err := json.Unmarshal(payload, &c); err != nil || c.Sub != "user-4711" {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefuseManyMembers: what a forged token whose header is as many
// short members as MaxHeaderSize allows costs to refuse, against
// BenchmarkParseVerify's valid token.
func BenchmarkRefuseManyMembers(b *testing.B) {
	k := hsKey(b)
	for _, esc := range []bool{false, true} {
		name := "plain"
		if esc {
			name = "escaped"
		}
		b.Run(name, func(b *testing.B) {
			tok := craft(b, manyMemberHeader(esc), []byte(benchClaims), nil, make([]byte, 32))
			var tk Token
			b.ReportAllocs()
			for b.Loop() {
				if err := Parse(tok, &tk); err == nil {
					_ = tk.Verify(k)
				}
			}
		})
	}
}
