package httpsuite

import (
	"strings"
	"testing"
)

func TestGoldenParsesBack(t *testing.T) {
	tr, err := parseTranscript(golden)
	if err != nil {
		t.Fatal(err)
	}
	if tr.String() != golden {
		t.Error("the golden file does not survive a parse and format round trip")
	}
	if len(tr) != len(scenarios) {
		t.Fatalf("golden file has %d scenarios, the suite %d (regenerate it)", len(tr), len(scenarios))
	}
	for i, sc := range scenarios {
		if tr[i].Name != sc.name || tr[i].Text == "" {
			t.Errorf("golden scenario %d is %q, want %q with exchanges", i, tr[i].Name, sc.name)
		}
	}
}

// A one-byte difference in any scenario is a failure; a scenario that did
// not run is not.
func TestDiffTranscripts(t *testing.T) {
	want, err := parseTranscript(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTranscripts(want, want); d != nil {
		t.Fatalf("identical transcripts differ: %v", d)
	}
	for i := range want {
		got := append(Transcript(nil), want...)
		text := got[i].Text
		j := strings.LastIndex(text, "}") // inside the last JSON body, or the last byte
		if j < 0 {
			j = len(text) - 1
		}
		got[i].Text = text[:j] + "!" + text[j+1:]
		d := diffTranscripts(got, want)
		if len(d) != 1 || !strings.Contains(d[0], want[i].Name) {
			t.Errorf("a changed byte in %q: diff %q", want[i].Name, d)
		}
	}
	skipped := append(Transcript(nil), want...)
	skipped[0].Text = ""
	if d := diffTranscripts(skipped, want); d != nil {
		t.Errorf("a scenario that did not run: %v", d)
	}
	extra := append(Transcript{{Name: "new scenario", Text: "> GET /\n"}}, want...)
	if d := diffTranscripts(extra, want); len(d) != 1 || !strings.Contains(d[0], "not in testdata/transcript.golden") {
		t.Errorf("a scenario missing from the golden file: %v", d)
	}
	if _, err := parseTranscript("text before a scenario\n=== x\n"); err == nil {
		t.Error("parseTranscript accepted text before the first scenario")
	}
}

func TestMasker(t *testing.T) {
	m := newMasker()
	m.learn([]byte(`{"sessions":[{"id":"11111111-aaaa","subject":"alice"},{"id":"22222222-bbbb"}],"access_token":"eyJhbGciOi.x.y","jti":"short"}`))
	m.learn([]byte(`{"sid":"11111111-aaaa","token":"ak_secretsecret"}`))
	m.learn([]byte(`not json 22222222-bbbb`))
	in := `{"id":"11111111-aaaa","other":"22222222-bbbb","sid":"11111111-aaaa"} Bearer eyJhbGciOi.x.y ak_secretsecret short alice`
	want := `{"id":"<id#1>","other":"<id#2>","sid":"<id#1>"} Bearer <access_token#1> <token#1> short alice`
	if got := m.apply(in); got != want {
		t.Errorf("apply:\n got %s\nwant %s", got, want)
	}
	// A value containing another is replaced whole.
	m.name("tampered", "eyJhbGciOi.x.y-and-more")
	if got := m.apply("eyJhbGciOi.x.y-and-more"); got != "<tampered#1>" {
		t.Errorf("longer value: %s", got)
	}
}

func TestMeBody(t *testing.T) {
	if got := string(MeBody(nil)); got != `{"anonymous":true}` {
		t.Errorf("anonymous: %s", got)
	}
}
