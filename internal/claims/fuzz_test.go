package claims_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/strictjson"
)

// rules are the rule sets the verifier's profiles compile to, besides the
// default (nil).
var rules = []*claims.Rules{
	nil,
	claims.NewRules(claims.RuleSpec{Subject: "user_id", Scopes: []string{"scp", "scope"}, ScopeString: true, ScopeArray: true,
		Clients: []string{"azp", "client_id"}, TokenType: "token_type", TokenTypeValue: "access", Required: []string{"jti", "exp", "org"}}),
}

// FuzzParse: a claims set either parses or fails with exactly
// ErrMalformed; one that parses is strict JSON, PeekIssuer agrees with
// the issuer read, every date is a NumericDate within 0 to 9999, and the
// scopes are non-empty, bounded by the payload, and hold no space.
func FuzzParse(f *testing.F) {
	iat := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	f.Add(claims.Append(nil, claims.Fields{Issuer: "https://auth.example", Subject: "alice", Audience: []string{"api"},
		ExpiresAt: iat.Add(time.Minute), IssuedAt: iat, TokenID: "j1", ClientID: "c", Scopes: []string{"read", "write"},
		SessionID: "s1", Extra: []byte(`{"org":"acme","n":[1,{"a":null}]}`)}))
	for _, s := range []string{
		`{}`, `{"iss":""}`, `{"iss":1}`, `{"aud":["a","b"]}`, `{"aud":[]}`, `{"exp":1e400}`, `{"exp":-0}`, `{"exp":253402300799.9}`,
		`{"iat":0.0005}`, `{"scope":"  a  b "}`, `{"scp":["a","",1]}`, `{"user_id":12345678901234567890}`, `{"user_id":1.5}`,
		`{"sub":"\u0000"}`, `{"token_type":"access","TOKEN_TYPE":"access"}`, `{"azp":"x","client_id":"y"}`, "{\"\xff\":1}",
		`{"sub":"a"}{}`, `[]`, ``, `{"org":{"org":{}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for ri, r := range rules {
			var c claims.Claims
			err := claims.ParseWith(payload, &c, r)
			if err != nil {
				if err != claims.ErrMalformed {
					t.Fatalf("rules %d: ParseWith(%q) = %v, want exactly ErrMalformed", ri, payload, err)
				}
				continue
			}
			if verr := strictjson.Valid(payload); verr != nil || !json.Valid(payload) {
				t.Fatalf("rules %d: ParseWith accepts %q, which is not strict JSON (%v)", ri, payload, verr)
			}
			iss, ok := claims.PeekIssuer(payload)
			if ok != (c.Issuer != "") || iss != c.Issuer {
				t.Fatalf("rules %d: PeekIssuer = %q, %v; ParseWith read iss %q", ri, iss, ok, c.Issuer)
			}
			for _, d := range []struct {
				has bool
				t   time.Time
			}{{c.HasExpiry, c.ExpiresAt}, {c.HasNotBefore, c.NotBefore}, {c.HasIssuedAt, c.IssuedAt}} {
				if !d.has && !d.t.IsZero() || d.has && (d.t.Before(time.Unix(0, 0)) || d.t.After(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))) {
					t.Fatalf("rules %d: date %v (present %v) out of range", ri, d.t, d.has)
				}
			}
			sc := c.Scopes()
			n := 0
			for _, s := range sc {
				if s == "" || strings.Contains(s, " ") || !utf8.ValidString(s) {
					t.Fatalf("rules %d: scope %q", ri, s)
				}
				n += len(s)
			}
			if n > len(payload) {
				t.Fatalf("rules %d: %d bytes of scopes from a %d-byte payload", ri, n, len(payload))
			}
			for _, s := range []string{c.Issuer, c.Subject, c.TokenID, c.ClientID, c.SessionID} {
				if !utf8.ValidString(s) {
					t.Fatalf("rules %d: invalid UTF-8 %q read", ri, s)
				}
			}
			_ = c.Missing(r)
			_ = c.HasAudience([]string{"api", ""})
		}
	})
}

// FuzzAppendParse: what Append writes, Parse reads back: every string
// exactly, the audience, the scopes, exp to the second and iat to the
// millisecond, and an application claim.
func FuzzAppendParse(f *testing.F) {
	f.Add("https://auth.example", "alice", "api", "", "j1", "c", "s1", "read write", int64(1893553445), int64(1893553445006), "org", "acme")
	f.Add("", "ユーザー \"q\" \\ \n\t\x01\u2028", "a", "b", "", "", "", "", int64(0), int64(0), "", "")
	f.Add("\x7f", "</script>", "&", "\u00e9", "x", "y", "z", "a!#[]~ b", int64(253402300799), int64(253402300799999), "k\"", "\\")
	// A second audience that is the first plus NUL (found by fuzzing: the
	// check that a longer string does not match took it for a false match).
	f.Add("0", "0", "0", "0\x00", "0", "0", "0", "0", int64(253402300795), int64(253402300799999), "0", "0")
	f.Fuzz(func(t *testing.T, iss, sub, aud1, aud2, jti, client, sid, scope string, exp, iatMillis int64, extraName, extraValue string) {
		for _, s := range []string{iss, sub, aud1, aud2, jti, client, sid, extraName, extraValue} {
			if !utf8.ValidString(s) {
				return // the issuer checks its strings before Append
			}
		}
		var scopes []string
		if scope != "" {
			scopes = strings.Split(scope, " ")
			for _, s := range scopes {
				if !authkit.ValidScope(s) {
					return
				}
			}
		}
		if aud1 == "" {
			aud1 = "api"
		}
		aud := []string{aud1}
		if aud2 != "" {
			aud = append(aud, aud2)
		}
		const maxDate = 253402300799
		exp %= maxDate + 1
		if exp < 0 {
			exp = -exp
		}
		iatMillis %= maxDate * 1000
		if iatMillis < 0 {
			iatMillis = -iatMillis
		}
		extra, err := json.Marshal(map[string]string{"x_" + extraName: extraValue})
		if err != nil {
			t.Fatal(err)
		}
		fs := claims.Fields{Issuer: iss, Subject: sub, Audience: aud, ExpiresAt: time.Unix(exp, 0), IssuedAt: time.UnixMilli(iatMillis),
			TokenID: jti, ClientID: client, Scopes: scopes, SessionID: sid, Extra: extra}
		b := claims.Append(nil, fs)
		var c claims.Claims
		if err := claims.Parse(b, &c); err != nil {
			t.Fatalf("Parse(Append(…)) = %v: %s", err, b)
		}
		if c.Issuer != iss || c.Subject != sub || c.TokenID != jti || c.ClientID != client || c.SessionID != sid {
			t.Fatalf("strings differ after the round trip: %+v from %s", c, b)
		}
		if !c.HasExpiry || c.ExpiresAt.Unix() != exp || !c.HasIssuedAt || c.IssuedAt.UnixMilli() != iatMillis ||
			!c.HasNotBefore || c.NotBefore.Unix() != fs.IssuedAt.Unix() {
			t.Fatalf("dates differ: exp %v iat %v nbf %v from %s", c.ExpiresAt, c.IssuedAt, c.NotBefore, b)
		}
		for _, a := range aud {
			if !c.HasAudience([]string{a}) {
				t.Fatalf("audience %q lost: %s", a, b)
			}
		}
		if aud2 != aud1+"\x00" && c.HasAudience([]string{aud1 + "\x00"}) {
			t.Fatal("HasAudience matches a longer string")
		}
		got := c.Scopes()
		var want []string
		for _, s := range scopes {
			if s != "" {
				want = append(want, s)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") || len(got) != len(want) {
			t.Fatalf("scopes %q, want %q", got, want)
		}
		if v, ok := c.Extra["x_"+extraName]; !ok || v != extraValue || len(c.Extra) != 1 {
			t.Fatalf("application claims %v, want {%q: %q}", c.Extra, "x_"+extraName, extraValue)
		}
		if iss2, ok := claims.PeekIssuer(b); iss2 != iss || ok != (iss != "") {
			t.Fatalf("PeekIssuer = %q, %v, want %q", iss2, ok, iss)
		}
		if c.Missing(nil) != "" && jti != "" && client != "" {
			t.Fatalf("Missing = %q with iat, jti and client_id present", c.Missing(nil))
		}
	})
}
