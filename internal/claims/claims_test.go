package claims

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAppendParseRoundTrip(t *testing.T) {
	iat := time.Date(2030, 1, 2, 3, 4, 5, 123_456_789, time.UTC)
	f := Fields{
		Issuer:    "https://issuer.example",
		Subject:   "ユーザー \"quoted\" \\ \n\t\x01",
		Audience:  []string{"api", "admin"},
		ExpiresAt: iat.Add(5 * time.Minute),
		IssuedAt:  iat,
		TokenID:   "jti-1",
		ClientID:  "cli",
		Scopes:    []string{"read", "write"},
		SessionID: "sid-1",
		Extra:     []byte(`{"org":"acme","n":3}`),
	}
	b := Append(nil, f)
	if !json.Valid(b) {
		t.Fatalf("Append wrote invalid JSON: %s", b)
	}
	var c Claims
	if err := Parse(b, &c); err != nil {
		t.Fatalf("Parse: %v (%s)", err, b)
	}
	if c.Issuer != f.Issuer || c.Subject != f.Subject || c.TokenID != f.TokenID || c.ClientID != f.ClientID || c.SessionID != f.SessionID {
		t.Errorf("strings differ: %+v", c)
	}
	if !c.IssuedAt.Equal(iat.Truncate(time.Millisecond)) {
		t.Errorf("iat %v, want millisecond precision %v", c.IssuedAt, iat.Truncate(time.Millisecond))
	}
	if !c.ExpiresAt.Equal(f.ExpiresAt.Truncate(time.Second)) || !c.NotBefore.Equal(iat.Truncate(time.Second)) {
		t.Errorf("exp %v nbf %v", c.ExpiresAt, c.NotBefore)
	}
	if !c.HasAudience([]string{"x", "admin"}) || c.HasAudience([]string{"Admin"}) {
		t.Error("HasAudience wrong")
	}
	if s := c.Scopes(); len(s) != 2 || s[0] != "read" || s[1] != "write" {
		t.Errorf("scopes %q", s)
	}
	if c.Extra["org"] != "acme" || c.Extra["n"] != float64(3) || len(c.Extra) != 2 {
		t.Errorf("extra %v", c.Extra)
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"duplicate":       `{"sub":"a","sub":"b"}`,
		"case variant":    `{"exp":1,"EXP":2}`,
		"exp string":      `{"exp":"1"}`,
		"negative exp":    `{"exp":-1}`,
		"huge exp":        `{"exp":1e300}`,
		"sub number":      `{"sub":1}`,
		"aud number":      `{"aud":1}`,
		"aud empty array": `{"aud":[]}`,
		"aud mixed":       `{"aud":["a",1]}`,
		"bad utf8":        "{\"sub\":\"\xff\"}",
		"not object":      `["sub"]`,
		"trailing":        `{"sub":"a"} x`,
	} {
		var c Claims
		if err := Parse([]byte(in), &c); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

func TestAppendMillis(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(100, 0), "100"},
		{time.Unix(100, 5_000_000), "100.005"},
		{time.Unix(100, 999_999_999), "100.999"},
		{time.Unix(100, 120_000_000), "100.120"},
	} {
		if got := string(AppendMillis(nil, tc.t)); got != tc.want {
			t.Errorf("AppendMillis(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
}

func TestIsAccessTokenType(t *testing.T) {
	for typ, want := range map[string]bool{"at+jwt": true, "AT+JWT": true, "application/at+jwt": true, "JWT": false, "": false} {
		if IsAccessTokenType(typ) != want {
			t.Errorf("IsAccessTokenType(%q) != %v", typ, want)
		}
	}
}

func TestParseWithRules(t *testing.T) {
	oidc := NewRules(RuleSpec{Subject: "sub", Scopes: []string{"scope", "scp"}, ScopeString: true, ScopeArray: true,
		Clients: []string{"client_id", "azp", "cid"}, Required: []string{"iat"}})
	var c Claims
	// scp comes first in the document, scope first in the rules: scope wins.
	if err := ParseWith([]byte(`{"scp":["x","y"],"cid":"okta","azp":"entra","scope":"a b","sub":"s","iat":1,"tenant":"t"}`), &c, oidc); err != nil {
		t.Fatal(err)
	}
	if got := c.Scopes(); len(got) != 2 || got[0] != "a" || c.ClientID != "entra" || c.Subject != "s" || c.Missing(oidc) != "" {
		t.Fatalf("scopes %q client %q subject %q missing %q", got, c.ClientID, c.Subject, c.Missing(oidc))
	}
	if _, ok := c.Extra["scp"]; ok || c.Extra["tenant"] != "t" || len(c.Extra) != 1 {
		t.Fatalf("Extra %v: the rules' claims must not be application claims", c.Extra)
	}
	c = Claims{}
	if err := ParseWith([]byte(`{"scp":["x","y"],"sub":"s"}`), &c, oidc); err != nil || len(c.Scopes()) != 2 || c.Scopes()[1] != "y" {
		t.Fatalf("scp array: %q %v", c.Scopes(), err)
	}
	if c.Missing(oidc) != "iat" {
		t.Fatalf("Missing = %q, want iat", c.Missing(oidc))
	}
	for _, bad := range []string{`{"scp":1}`, `{"scp":{"a":1}}`, `{"scp":["a",null]}`, `{"azp":7}`, `{"scope":true}`} {
		if err := ParseWith([]byte(bad), &Claims{}, oidc); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// The rules' order decides whatever the document's, for strings as for
	// arrays, and for the client as for the scopes (found missing by
	// mutation testing: the last one in the document won).
	for _, doc := range []string{`{"scope":"a","scp":"b","client_id":"x","azp":"y","cid":"z"}`, `{"cid":"z","azp":"y","client_id":"x","scp":"b","scope":"a"}`} {
		c = Claims{}
		if err := ParseWith([]byte(doc), &c, oidc); err != nil || c.Scope != "a" || c.ClientID != "x" {
			t.Errorf("%s: scope %q, client %q, %v; want a and x", doc, c.Scope, c.ClientID, err)
		}
	}
	c = Claims{}
	if err := ParseWith([]byte(`{"azp":"y","cid":"z"}`), &c, oidc); err != nil || c.ClientID != "y" {
		t.Errorf("azp before cid: client %q, %v; want y", c.ClientID, err)
	}
	// Scope and client_id are registered names: a profile that reads
	// neither still refuses them ill-typed, as it would its own claims.
	scp := NewRules(RuleSpec{Subject: "sub", Scopes: []string{"scp"}, ScopeArray: true, Clients: []string{"azp"}})
	for _, bad := range []string{`{"scope":5}`, `{"scope":["a",1]}`, `{"client_id":{}}`, `{"client_id":1}`} {
		if err := ParseWith([]byte(bad), &Claims{}, scp); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with rules that read neither scope nor client_id: %v, want ErrMalformed", bad, err)
		}
	}
	// An array's element that is no scope-token is left out, not split
	// into several once the scopes are joined again.
	c = Claims{}
	if err := ParseWith([]byte(`{"scp":["a b","c","d\"e","f\u007f","g\\h","i"]}`), &c, oidc); err != nil || strings.Join(c.Scopes(), ",") != "c,i" {
		t.Errorf("scp elements that are no scope-tokens: %q, %v; want c and i", c.Scopes(), err)
	}
	// The RFC 9068 rules take no array, and need client_id.
	if err := Parse([]byte(`{"scope":["a"]}`), &Claims{}); err == nil {
		t.Error("RFC 9068 accepted a scope array")
	}
	c = Claims{}
	if err := Parse([]byte(`{"sub":"s","iat":1,"jti":"j"}`), &c); err != nil || c.Missing(nil) != "client_id" {
		t.Fatalf("Missing = %q, %v; want client_id", c.Missing(nil), err)
	}

	sj := NewRules(RuleSpec{Subject: "user_id", TokenType: "token_type", TokenTypeValue: "access", Required: []string{"iat", "jti"}})
	c = Claims{}
	if err := ParseWith([]byte(`{"user_id":9007199254740993,"token_type":"access","sub":"ignored"}`), &c, sj); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "9007199254740993" || !c.TokenTypeOK || c.Extra != nil {
		t.Fatalf("subject %q token type %v extra %v", c.Subject, c.TokenTypeOK, c.Extra)
	}
	c = Claims{}
	if err := ParseWith([]byte(`{"user_id":"u","token_type":"refresh"}`), &c, sj); err != nil || c.TokenTypeOK {
		t.Fatalf("refresh: ok %v %v", c.TokenTypeOK, err)
	}
	c = Claims{}
	if err := ParseWith([]byte(`{"user_id":"u"}`), &c, sj); err != nil || c.TokenTypeOK {
		t.Fatalf("no token_type: ok %v %v", c.TokenTypeOK, err)
	}
	for _, bad := range []string{`{"user_id":1.5}`, `{"user_id":1e3}`, `{"user_id":true}`, `{"token_type":1}`, `{"sub":1}`} {
		if err := ParseWith([]byte(bad), &Claims{}, sj); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// A required application claim stays an application claim.
	req := NewRules(RuleSpec{Subject: "sub", Required: []string{"tenant"}})
	c = Claims{}
	if err := ParseWith([]byte(`{"tenant":"t"}`), &c, req); err != nil || c.Missing(req) != "" || c.Extra["tenant"] != "t" {
		t.Fatalf("required app claim: %v %q %v", c.Extra, c.Missing(req), err)
	}
	c = Claims{}
	if err := ParseWith([]byte(`{"other":1}`), &c, req); err != nil || c.Missing(req) != "tenant" {
		t.Fatalf("Missing = %q, want tenant", c.Missing(req))
	}
	// iss, sub and aud named by Required are presence checks: the verifier
	// requires them only when the profile reads the subject from sub and
	// lets neither iss nor aud be missing (found by review: they were
	// dropped, so a simplejwt profile requiring "sub" accepted a token
	// without one).
	reg := NewRules(RuleSpec{Subject: "user_id", Required: []string{"sub", "iss", "aud"}})
	for in, want := range map[string]string{
		`{"user_id":"u","iss":"i","aud":"a"}`:           "sub",
		`{"user_id":"u","sub":"s","aud":["a"]}`:         "iss",
		`{"user_id":"u","sub":"s","iss":"i"}`:           "aud",
		`{"user_id":"u","sub":"s","iss":"i","aud":"a"}`: "",
	} {
		c = Claims{}
		if err := ParseWith([]byte(in), &c, reg); err != nil || c.Missing(reg) != want {
			t.Errorf("%s: Missing = %q (%v), want %q", in, c.Missing(reg), err, want)
		}
	}
}

func TestPeekIssuer(t *testing.T) {
	for in, want := range map[string]string{`{"sub":"x","iss":"https://a"}`: "https://a", `{"iss":1}`: "", `{"iss":"a","iss":"b"}`: "", `{}`: "", `[`: ""} {
		if got, ok := PeekIssuer([]byte(in)); got != want && ok == (want != "") || ok != (want != "") {
			t.Errorf("PeekIssuer(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestIsType(t *testing.T) {
	for _, tc := range []struct {
		typ, want string
		ok        bool
	}{{"JWT", "JWT", true}, {"jwt", "JWT", true}, {"application/jwt", "JWT", true}, {"Application/AT+JWT", "at+jwt", true},
		{"application/", "", false}, {"at+jwt", "JWT", false}, {"xapplication/jwt", "JWT", false},
		// The prefix is optional on either side, and taken off once (found by review).
		{"at+jwt", "application/at+jwt", true}, {"AT+JWT", "Application/at+jwt", true},
		{"application/application/at+jwt", "at+jwt", false}, {"application/application/at+jwt", "application/at+jwt", false}} {
		if IsType(tc.typ, tc.want) != tc.ok {
			t.Errorf("IsType(%q, %q) = %v", tc.typ, tc.want, !tc.ok)
		}
	}
}

// NumericDates are read exactly from their text to the millisecond and
// rounded towards the safe side: exp and iat down (never later than
// written), nbf up (never earlier). A float64 reading rounded them to the
// nearest millisecond, so an iat just before a logout-all cutoff could read
// as after it (found by review).
func TestNumericDateRounding(t *testing.T) {
	ms := func(n int64) time.Time { return time.UnixMilli(n) }
	for _, tc := range []struct {
		in          string
		down, nbfUp time.Time
	}{
		{"0", ms(0), ms(0)},
		{"-0", ms(0), ms(0)},
		{"100", ms(100_000), ms(100_000)},
		{"100.123", ms(100_123), ms(100_123)},
		{"100.0004", ms(100_000), ms(100_001)},
		{"100.0005", ms(100_000), ms(100_001)},
		{"100.9996", ms(100_999), ms(101_000)},
		{"100.12300000", ms(100_123), ms(100_123)},
		{"1893553445.0007", ms(1893553445_000), ms(1893553445_001)},
		{"1893553445.123", ms(1893553445_123), ms(1893553445_123)},
		{"1.8935534451239e9", ms(1893553445_123), ms(1893553445_124)},
		{"189355344512e-2", ms(1893553445_120), ms(1893553445_120)},
		{"1E3", ms(1_000_000), ms(1_000_000)},
		{"0.0005", ms(0), ms(1)},
		{"1e-400", ms(0), ms(1)},
		{"253402300799", ms(253402300799_000), ms(253402300799_000)},
	} {
		var c Claims
		in := `{"exp":` + tc.in + `,"iat":` + tc.in + `,"nbf":` + tc.in + `}`
		if err := Parse([]byte(in), &c); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !c.ExpiresAt.Equal(tc.down) || !c.IssuedAt.Equal(tc.down) || !c.NotBefore.Equal(tc.nbfUp) {
			t.Errorf("%s: exp %v iat %v nbf %v; want exp and iat %v, nbf %v", tc.in,
				c.ExpiresAt.UnixMilli(), c.IssuedAt.UnixMilli(), c.NotBefore.UnixMilli(), tc.down.UnixMilli(), tc.nbfUp.UnixMilli())
		}
	}
	for _, bad := range []string{"-1", "-0.001", "1e400", "253402300799.001", "253402300799.0000001", "253402300800", `"1"`} {
		var c Claims
		if err := Parse([]byte(`{"iat":`+bad+`}`), &c); err == nil {
			t.Errorf("iat %s accepted as %v", bad, c.IssuedAt)
		}
	}
}

// SplitScope keeps only scope-tokens (RFC 6749 §3.3: %x21, %x23-5B,
// %x5D-7E): a quote, a backslash, DEL, a tab, a non-ASCII character or an
// empty part (two spaces) is left out.
func TestSplitScope(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "<nil>",
		"read write":                 "read,write",
		"a\"b c\x7f d e\\f g\th ü x": "d,x",
		"a  b":                       "a,b",
		"!#[]~":                      "!#[]~",
	} {
		got := SplitScope(in)
		s := strings.Join(got, ",")
		if got == nil {
			s = "<nil>"
		}
		if s != want {
			t.Errorf("SplitScope(%q) = %q, want %s", in, got, want)
		}
	}
}
