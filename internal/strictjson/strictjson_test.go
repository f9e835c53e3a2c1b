package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestValidAccepts(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1`, `-1`, `123`, `1.5`, `-0.0`, `1e10`, `1E+10`, `1.5e-10`,
		`true`, `false`, `null`, " \t\r\n{ \"a\" : [ 1 , 2 ] } \t\r\n",
		`{"a":{"b":{"c":[true,false,null,"x",1.25]}}}`,
		`"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000"`,
		"\"caf\u00e9 \u20ac \U0001F600\"",
		"\"\uFFFD\"", // a literal replacement character is valid UTF-8
		`{"a":1,"b":2,"A1":3,"a2":4}`,
		`{"ß":1,"ss":2}`, // simple case folding keeps these apart
		`{"a":{"a":{"a":1}}}`,
		`[{"x":1},{"x":2}]`, // the same name in sibling objects
		`1e400`,             // grammatical; only Float refuses it
	} {
		if err := Valid([]byte(in)); err != nil {
			t.Errorf("Valid(%q) = %v, want nil", in, err)
		}
		if !json.Valid([]byte(in)) {
			t.Errorf("test bug: encoding/json rejects %q", in)
		}
	}
}

func nest(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func manyMembers(n int, last string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"m%d":%d,`, i, i)
	}
	b.WriteString(last)
	b.WriteString("}")
	return b.String()
}

func TestValidRejects(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		// grammar
		{``, ErrSyntax},
		{` `, ErrSyntax},
		{`{`, ErrSyntax},
		{`}`, ErrSyntax},
		{`[`, ErrSyntax},
		{`{"a"}`, ErrSyntax},
		{`{"a":}`, ErrSyntax},
		{`{"a" 1}`, ErrSyntax},
		{`{"a":1,}`, ErrSyntax},
		{`{,"a":1}`, ErrSyntax},
		{`{"a":1 "b":2}`, ErrSyntax},
		{`{a:1}`, ErrSyntax},
		{`{'a':1}`, ErrSyntax},
		{`{1:1}`, ErrSyntax},
		{`[1,]`, ErrSyntax},
		{`[,1]`, ErrSyntax},
		{`[1 2]`, ErrSyntax},
		{`tru`, ErrSyntax},
		{`True`, ErrSyntax},
		{`nul`, ErrSyntax},
		{`NaN`, ErrSyntax},
		{`Infinity`, ErrSyntax},
		{`-Infinity`, ErrSyntax},
		{`+1`, ErrSyntax},
		{`-`, ErrSyntax},
		{`.5`, ErrSyntax},
		{`1.`, ErrSyntax},
		{`1.e5`, ErrSyntax},
		{`1e`, ErrSyntax},
		{`1e+`, ErrSyntax},
		{`0x10`, ErrTrailingData},
		{`[01]`, ErrSyntax},
		{`[-01]`, ErrSyntax},
		{`01`, ErrTrailingData},
		{`"abc`, ErrSyntax},
		{`"\"`, ErrSyntax},
		{"\"a\tb\"", ErrSyntax}, // raw control character
		{"\"a\nb\"", ErrSyntax},
		{"\"\x00\"", ErrSyntax},
		{"\"\x1f\"", ErrSyntax}, // the last control character
		{`"\x41"`, ErrSyntax},
		{`"\U0041"`, ErrSyntax},
		{`"\u12"`, ErrSyntax},
		{`"\u12G4"`, ErrSyntax},
		{`"\`, ErrSyntax},
		{"\xef\xbb\xbf{}", ErrSyntax}, // byte order mark
		{"{}\x00", ErrTrailingData},
		// trailing data
		{`{}{}`, ErrTrailingData},
		{`{} x`, ErrTrailingData},
		{`1 2`, ErrTrailingData},
		{`{"a":1}}`, ErrTrailingData},
		// UTF-8
		{"\"\xff\"", ErrUTF8},
		{"\"\xc0\xaf\"", ErrUTF8},         // overlong '/'
		{"\"\xed\xa0\x80\"", ErrUTF8},     // UTF-8-encoded surrogate
		{"\"\xf4\x90\x80\x80\"", ErrUTF8}, // beyond U+10FFFF
		{"\"\xe2\x82\"", ErrUTF8},         // truncated sequence
		{"{\"\xff\":1}", ErrUTF8},
		{`"\ud800"`, ErrUTF8},
		{`"\udc00"`, ErrUTF8},
		{`"\udfff\ud800"`, ErrUTF8},
		{`"\ud800\u0041"`, ErrUTF8},
		{`"\ud800\ud800"`, ErrUTF8},
		{`"\ud800x"`, ErrUTF8},
		{`"\ud800\n"`, ErrUTF8},
		{`{"\ud800":1}`, ErrUTF8},
		// duplicate and case-variant member names
		{`{"a":1,"a":2}`, ErrDuplicateName},
		{`{"a":1,"a":1}`, ErrDuplicateName},
		{`{"alg":"HS256","ALG":"none"}`, ErrDuplicateName},
		{`{"alg":"HS256","aLg":"none"}`, ErrDuplicateName},
		{`{"\u0061lg":1,"alg":2}`, ErrDuplicateName},
		{`{"alg":1,"\u0041LG":2}`, ErrDuplicateName},
		{`{"k":1,"` + "\u212a" + `":2}`, ErrDuplicateName}, // Kelvin sign folds to k
		{`{"kid":1,"\u212aid":2}`, ErrDuplicateName},
		{`{"s":1,"` + "\u017f" + `":2}`, ErrDuplicateName}, // long s folds to s
		{`{"é":1,"É":2}`, ErrDuplicateName},
		{`{"":1,"":2}`, ErrDuplicateName},
		{`{"a":{"b":1,"B":2}}`, ErrDuplicateName},
		{`[{"x":1,"x":1}]`, ErrDuplicateName},
		{`{"a":[{"b":[{"c":1,"C":1}]}]}`, ErrDuplicateName},
		{manyMembers(40, `"m3":0`), ErrDuplicateName},  // beyond the fixed array
		{manyMembers(40, `"M39":0`), ErrDuplicateName}, // case variant beyond it
		{manyMembers(15, `"m0":0`), ErrDuplicateName},  // the 16th name
		{manyMembers(16, `"m15":0`), ErrDuplicateName}, // the 17th name
		{manyMembers(100, `"\u006d99":0`), ErrDuplicateName},
		// depth
		{nest("[", "]", MaxDepth+1, ""), ErrDepth},
		{nest(`{"a":`, "}", MaxDepth+1, "1"), ErrDepth},
		{nest(`[{"a":`, "}]", MaxDepth/2+1, "1"), ErrDepth},
		// size
		{`{}` + strings.Repeat(" ", MaxSize-1), ErrTooLarge},
	} {
		err := Valid([]byte(tc.in))
		if !errors.Is(err, tc.want) {
			name := tc.in
			if len(name) > 60 {
				name = name[:60] + "…"
			}
			t.Errorf("Valid(%q) = %v, want %v", name, err, tc.want)
		}
	}
}

func TestLimitsAccepted(t *testing.T) {
	for _, in := range []string{
		nest("[", "]", MaxDepth, ""),
		nest(`{"a":`, "}", MaxDepth, "1"),
		`{}` + strings.Repeat(" ", MaxSize-2),
		manyMembers(200, `"end":0`),
	} {
		if err := Valid([]byte(in)); err != nil {
			t.Errorf("Valid(%.40q…) = %v, want nil", in, err)
		}
	}
}

func TestErrorsCarryNoInput(t *testing.T) {
	secret := "s3cr3t-token-material"
	for _, in := range []string{`{"a":"` + secret + `","a":1}`, `"` + secret, `{"` + secret + `"}`} {
		err := Valid([]byte(in))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("Valid: error %v for %q is nil or contains the input", err, in)
		}
		if !strings.HasPrefix(err.Error(), "strictjson: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

const claims = `{"iss":"https://auth.example.com","sub":"user-4711","aud":["api","billing"],` +
	`"exp":1767225600,"iat":1767225300,"nbf":1767225300,"jti":"0b4c2f1e-8a0d-4a57-9c36-2f6f1b9d1e5a",` +
	`"client_id":"web-app","scope":"read write admin:users","sid":"f0e1d2c3-b4a5-4968-8776-655443322110"}`

func TestObjectIteration(t *testing.T) {
	o, err := NewObject([]byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	got := map[string]any{}
	for o.Next() {
		name := string(o.Name())
		names = append(names, name)
		v := o.Value()
		switch v.Kind() {
		case KindString:
			s, err := v.Text()
			if err != nil {
				t.Fatal(err)
			}
			got[name] = s
		case KindNumber:
			n, err := v.Int()
			if err != nil {
				t.Fatal(err)
			}
			got[name] = n
		case KindArray:
			s, err := v.Strings(nil)
			if err != nil {
				t.Fatal(err)
			}
			got[name] = s
		default:
			t.Fatalf("%s: kind %v", name, v.Kind())
		}
	}
	if o.Err() != nil {
		t.Fatal(o.Err())
	}
	wantNames := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("names = %v, want %v", names, wantNames)
	}
	if got["exp"] != int64(1767225600) || got["sub"] != "user-4711" ||
		!reflect.DeepEqual(got["aud"], []string{"api", "billing"}) {
		t.Errorf("values = %v", got)
	}
	if o.Next() {
		t.Error("Next after the end returned true")
	}
}

func TestNewObjectErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`[]`, ErrType},
		{`"x"`, ErrType},
		{`{"a":1,"a":2}`, ErrDuplicateName},
		{`{"a":1} x`, ErrTrailingData},
	} {
		o, err := NewObject([]byte(tc.in))
		if !errors.Is(err, tc.want) {
			t.Errorf("NewObject(%q) = %v, want %v", tc.in, err, tc.want)
		}
		if o.Next() {
			t.Errorf("NewObject(%q) failed but Next yielded a member", tc.in)
		}
		if !errors.Is(o.Err(), tc.want) {
			t.Errorf("Err() = %v after NewObject(%q)", o.Err(), tc.in)
		}
		if v := o.Value(); v.Kind() != KindInvalid {
			t.Errorf("NewObject(%q) failed but Value has kind %v", tc.in, v.Kind())
		}
	}
	var zero Object
	if zero.Next() || zero.Name() != nil || zero.Value().Kind() != KindInvalid {
		t.Error("zero Object yields a member")
	}
}

func TestEscapedNamesAndStrings(t *testing.T) {
	in := `{"\u0074yp":"at\u002bjwt","k\"id":"a\/b","plain":"x"}`
	o, err := NewObject([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var vals []Value
	for o.Next() {
		names = append(names, string(o.Name()))
		vals = append(vals, o.Value())
	}
	if !reflect.DeepEqual(names, []string{"typ", `k"id`, "plain"}) {
		t.Fatalf("names = %q", names)
	}
	if !vals[0].EqualString("at+jwt") || vals[0].EqualString("at+jwT") || vals[0].EqualString("at+jw") ||
		vals[0].EqualString("at+jwtt") {
		t.Error("EqualString with escapes is wrong")
	}
	if !vals[2].EqualString("x") || vals[2].EqualString("X") {
		t.Error("EqualString without escapes is wrong")
	}
	scratch := make([]byte, 0, 16)
	b, err := vals[1].StringBytes(scratch)
	if err != nil || string(b) != "a/b" || &b[0] != &scratch[:1][0] {
		t.Errorf("StringBytes(escaped) = %q, %v; want a/b in scratch", b, err)
	}
	b, err = vals[2].StringBytes(scratch)
	raw := vals[2].Raw()
	if err != nil || string(b) != "x" || &b[0] != &raw[1] {
		t.Errorf("StringBytes(plain) = %q, %v; want an alias of the input", b, err)
	}
	a, err := vals[0].AppendString([]byte("<"))
	if err != nil || string(a) != "<at+jwt" {
		t.Errorf("AppendString = %q, %v", a, err)
	}
	if s, err := vals[0].Text(); err != nil || s != "at+jwt" {
		t.Errorf("Text = %q, %v", s, err)
	}
	if string(raw) != `"x"` {
		t.Errorf("Raw = %s", raw)
	}
}

func TestUnescapeMatchesEncodingJSON(t *testing.T) {
	in := `"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00\u0000 end"`
	o, err := NewObject([]byte(`{"s":` + in + `}`))
	if err != nil {
		t.Fatal(err)
	}
	o.Next()
	got, err := o.Value().Text()
	if err != nil {
		t.Fatal(err)
	}
	var want string
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func member(t *testing.T, doc string) Value {
	t.Helper()
	o, err := NewObject([]byte(`{"v":` + doc + `}`))
	if err != nil {
		t.Fatalf("NewObject(%s): %v", doc, err)
	}
	if !o.Next() {
		t.Fatal("no member")
	}
	return o.Value()
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{`0`, 0, nil},
		{`-0`, 0, nil},
		{`42`, 42, nil},
		{`-42`, -42, nil},
		{`9223372036854775807`, math.MaxInt64, nil},
		{`-9223372036854775808`, math.MinInt64, nil},
		{`9223372036854775808`, 0, ErrRange},
		{`-9223372036854775809`, 0, ErrRange},
		{`99999999999999999999999`, 0, ErrRange},
		{`1.0`, 0, ErrType},
		{`1e3`, 0, ErrType},
		{`"1"`, 0, ErrType},
		{`true`, 0, ErrType},
	} {
		got, err := member(t, tc.in).Int()
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		in   string
		want float64
		err  error
	}{
		{`1767225600`, 1767225600, nil},
		{`1767225600.5`, 1767225600.5, nil},
		{`-1.5e3`, -1500, nil},
		{`1e-400`, 0, nil},
		{`1e400`, 0, ErrRange},
		{`-1e400`, 0, ErrRange},
		{`"1"`, 0, ErrType},
		{`null`, 0, ErrType},
	} {
		got, err := member(t, tc.in).Float()
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Float(%s) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestKindsAndAccessors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind Kind
	}{
		{`"s"`, KindString}, {`1`, KindNumber}, {`{}`, KindObject}, {`[]`, KindArray},
		{`true`, KindTrue}, {`false`, KindFalse}, {`null`, KindNull},
	} {
		v := member(t, tc.in)
		if v.Kind() != tc.kind || string(v.Raw()) != tc.in {
			t.Errorf("%s: kind %v raw %s", tc.in, v.Kind(), v.Raw())
		}
	}
	if b, err := member(t, `true`).Bool(); !b || err != nil {
		t.Error("Bool(true)")
	}
	if b, err := member(t, `false`).Bool(); b || err != nil {
		t.Error("Bool(false)")
	}
	if _, err := member(t, `"true"`).Bool(); !errors.Is(err, ErrType) {
		t.Error("Bool on a string succeeded")
	}
	if _, err := member(t, `1`).Text(); !errors.Is(err, ErrType) {
		t.Error("Text on a number succeeded")
	}
	if _, err := member(t, `["a",1]`).Strings(nil); !errors.Is(err, ErrType) {
		t.Error("Strings with a number element succeeded")
	}
	if _, err := member(t, `"a"`).Strings(nil); !errors.Is(err, ErrType) {
		t.Error("Strings on a string succeeded")
	}
	if s, err := member(t, `[]`).Strings(nil); err != nil || len(s) != 0 {
		t.Errorf("Strings([]) = %v, %v", s, err)
	}
	if _, err := member(t, `[]`).Members(); !errors.Is(err, ErrType) {
		t.Error("Members on an array succeeded")
	}
	if _, err := member(t, `{}`).Elements(); !errors.Is(err, ErrType) {
		t.Error("Elements on an object succeeded")
	}
	var zero Value
	if zero.Kind() != KindInvalid || zero.EqualString("") {
		t.Error("zero Value")
	}
	if _, err := zero.Decode(); !errors.Is(err, ErrType) {
		t.Error("zero Value decodes")
	}
	if KindObject.String() != "object" || Kind(99).String() != "invalid" {
		t.Error("Kind.String")
	}
}

func TestNestedIteration(t *testing.T) {
	v := member(t, `{"cnf":{"jkt":"abc"},"list":[1,{"a":"}"},"]"]}`)
	o, err := v.Members()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for o.Next() {
		names = append(names, string(o.Name()))
		if string(o.Name()) == "list" {
			a, err := o.Value().Elements()
			if err != nil {
				t.Fatal(err)
			}
			var raws []string
			for a.Next() {
				raws = append(raws, string(a.Value().Raw()))
			}
			if !reflect.DeepEqual(raws, []string{`1`, `{"a":"}"}`, `"]"`}) {
				t.Errorf("elements = %q", raws)
			}
		}
	}
	if !reflect.DeepEqual(names, []string{"cnf", "list"}) {
		t.Errorf("names = %q", names)
	}
}

func TestDecode(t *testing.T) {
	in := `{"a":[1,2.5,"x",true,false,null,{}],"b":{"c":"\u00e9"},"n":-0.5e2,"e":[]}`
	got, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %#v, want %#v", got, want)
	}
	big := `{"id":9007199254740993}`
	n, err := DecodeUseNumber([]byte(big))
	if err != nil || n.(map[string]any)["id"] != json.Number("9007199254740993") {
		t.Errorf("DecodeUseNumber = %v, %v", n, err)
	}
	if _, err := Decode([]byte(`[1e999]`)); !errors.Is(err, ErrRange) {
		t.Errorf("Decode(1e999) = %v, want ErrRange", err)
	}
	if _, err := Decode([]byte(`{"a":1,"A":2}`)); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("Decode(dup) = %v", err)
	}
	x, err := member(t, `{"k":[1]}`).Decode()
	if err != nil || !reflect.DeepEqual(x, map[string]any{"k": []any{1.0}}) {
		t.Errorf("Value.Decode = %v, %v", x, err)
	}
	x, err = member(t, `12345678901234567890`).DecodeUseNumber()
	if err != nil || x != json.Number("12345678901234567890") {
		t.Errorf("Value.DecodeUseNumber = %v, %v", x, err)
	}
}

// readClaims reads every member of a JWT claims set the way the verifier
// does, returning something derived from each so nothing is optimised away.
func readClaims(data []byte) (n int, err error) {
	o, err := NewObject(data)
	if err != nil {
		return 0, err
	}
	var scratch [64]byte
	for o.Next() {
		v := o.Value()
		switch string(o.Name()) {
		case "exp", "iat", "nbf":
			f, err := v.Float()
			if err != nil {
				return 0, err
			}
			n += int(f) & 1
		case "aud":
			a, err := v.Elements()
			if err != nil {
				return 0, err
			}
			for a.Next() {
				if a.Value().EqualString("api") {
					n++
				}
			}
		default:
			b, err := v.StringBytes(scratch[:0])
			if err != nil {
				return 0, err
			}
			n += len(b)
		}
	}
	return n, nil
}

func TestClaimsIterationDoesNotAllocate(t *testing.T) {
	data := []byte(claims)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := readClaims(data); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("reading a 10-member claims set allocates %v times, want 0", allocs)
	}
	// A document in a stack buffer must stay there.
	allocs = testing.AllocsPerRun(100, func() {
		var buf [len(claims)]byte
		copy(buf[:], claims)
		if _, err := readClaims(buf[:]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("reading claims from a stack buffer allocates %v times, want 0", allocs)
	}
}

func BenchmarkClaims(b *testing.B) {
	data := []byte(claims)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readClaims(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimsEncodingJSON is the comparison point: encoding/json
// unmarshalling the same claims into a struct.
func BenchmarkClaimsEncodingJSON(b *testing.B) {
	data := []byte(claims)
	type claimsStruct struct {
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
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var c claimsStruct
		if err := json.Unmarshal(data, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// ---------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------

// refHasFoldDup reports, using encoding/json's tokenizer and bytes.EqualFold
// as an independent reference, whether any object in the valid document
// data has two names equal under case folding.
func refHasFoldDup(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers as text: one too large for a float64 (1e700) is valid JSON,
	// and the tokenizer's error on it read as "no duplicate" (found by
	// fuzzing: FuzzValid failed on {"B":1e700,"B":0}).
	dec.UseNumber()
	type frame struct {
		obj     bool
		names   []string
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if s, ok := tok.(string); ok {
				for _, n := range top.names {
					if bytes.EqualFold([]byte(n), []byte(s)) {
						return true
					}
				}
				top.names = append(top.names, s)
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value completed: the enclosing object wants a key next.
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{
		claims, `{}`, `[]`, `{"a":1,"A":2}`, `{"a":{"b":[1,2,{"c":"d"}]}}`, `"\ud83d\ude00"`, `"\ud800"`,
		"\"\xff\"", `-0.0e+0`, `01`, `{"k":1,"` + "\u212a" + `":2}`, `[1e400]`, `{"\u0061":1,"a":2}`,
		nest("[", "]", MaxDepth+1, ""), manyMembers(20, `"M1":1`), `{"alg":"HS256","typ":"JWT"}`,
		`{"B":1e700,"B":0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Valid(data)
		std := json.Valid(data)
		if err == nil && !std {
			t.Fatalf("Valid accepts %q, encoding/json rejects it", data)
		}
		if err != nil && std {
			// The only input encoding/json accepts and strictjson refuses is
			// the input strictjson exists to refuse.
			if !errors.Is(err, ErrDuplicateName) && !errors.Is(err, ErrUTF8) &&
				!errors.Is(err, ErrDepth) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Valid(%q) = %v, encoding/json accepts it", data, err)
			}
		}
		if err == nil || errors.Is(err, ErrDuplicateName) {
			if ref := refHasFoldDup(data); ref != (err != nil) {
				t.Fatalf("Valid(%q) = %v, reference duplicate check says %v", data, err, ref)
			}
		}
		if err != nil {
			if _, derr := Decode(data); derr == nil {
				t.Fatalf("Decode accepts %q that Valid refuses (%v)", data, err)
			}
			return
		}
		got, derr := Decode(data)
		var want any
		jerr := json.Unmarshal(data, &want)
		if (derr != nil) != (jerr != nil) {
			t.Fatalf("Decode(%q) error %v, encoding/json error %v", data, derr, jerr)
		}
		if derr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %#v, encoding/json = %#v", data, got, want)
		}
		if o, err := NewObject(data); err == nil {
			n := 0
			for o.Next() {
				n++
				if _, err := o.Value().Decode(); err != nil && !errors.Is(err, ErrRange) {
					t.Fatalf("member of %q: %v", data, err)
				}
			}
			if m, ok := want.(map[string]any); ok && jerr == nil && n != len(m) {
				t.Fatalf("iterated %d members of %q, encoding/json has %d", n, data, len(m))
			}
		}
	})
}

// TestManyNamesFoldedDuplicates covers duplicates the check of an object
// with more than smallNames members must find by folding.
func TestManyNamesFoldedDuplicates(t *testing.T) {
	for _, in := range []string{
		manyMembers(40, `"ſ":0,"S":1`),
		manyMembers(40, `"k":0,"`+"\u212a"+`":1`),
		manyMembers(40, `"\u00e9":0,"É":1`),
		manyMembers(40, `"\ud83d\ude00":0,"😀":1`),
		manyMembers(40, `"a\"b":0,"A\u0022B":1`),
	} {
		if err := Valid([]byte(in)); !errors.Is(err, ErrDuplicateName) {
			t.Errorf("Valid(…%.30q) = %v, want ErrDuplicateName", in[len(in)-30:], err)
		}
	}
}

// TestManyNamesCheapToCheck: the duplicate check of a large object costs
// no allocation per name (a token header of hundreds of short names cost
// a hundred times a valid token's verification to refuse, most of it one
// allocation per name).
func TestManyNamesCheapToCheck(t *testing.T) {
	for _, in := range []string{
		manyMembers(300, `"end":0`),
		strings.ReplaceAll(manyMembers(300, `"end":0`), `"m`, `"\u212a\u006d`),
	} {
		data := []byte(in)
		allocs := testing.AllocsPerRun(20, func() {
			if err := Valid(data); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 20 {
			t.Errorf("checking an object of 301 names allocates %v times, want at most 20", allocs)
		}
	}
}

// TestBigNamesHashCollision puts different names under one hash: the check
// must then tell them apart by the names themselves, and still find
// duplicates.
func TestBigNamesHashCollision(t *testing.T) {
	d := []byte(`"m0""m1""m2""k""` + "\u212a" + `"`)
	ref := func(start, end int) nameRef {
		return nameRef{start: int32(start), end: int32(end), hash: foldHash(d[start:end])}
	}
	m0, m1, m2 := ref(1, 3), ref(5, 7), ref(9, 11)
	k, kelvin := ref(13, 14), ref(16, 16+len("\u212a"))
	var b bigNames
	b.init(d, nil)
	const h = 42
	for _, r := range []nameRef{m0, m1, m2, k} {
		if !b.insert(d, r, h) {
			t.Fatalf("name %q taken for a duplicate of another with its hash", d[r.start:r.end])
		}
	}
	for _, r := range []nameRef{m0, m1, m2, kelvin} {
		if b.insert(d, r, h) {
			t.Errorf("duplicate %q not found among names of one hash", d[r.start:r.end])
		}
	}
	// And through growth: 100 names, all of one hash.
	var names []byte
	var refs []nameRef
	for i := range 100 {
		start := len(names) + 1
		names = fmt.Appendf(names, `"n%d"`, i)
		refs = append(refs, nameRef{start: int32(start), end: int32(len(names) - 1)})
	}
	b = bigNames{}
	b.init(names, nil)
	for _, r := range refs {
		if !b.insert(names, r, h) {
			t.Fatalf("name %q taken for a duplicate", names[r.start:r.end])
		}
	}
	for _, r := range refs {
		if b.insert(names, r, h) {
			t.Fatalf("duplicate %q not found after growth", names[r.start:r.end])
		}
	}
}
