package httpsuite

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// golden is what every mounting must answer: the net/http mounting's
// transcript (see the package documentation to regenerate it).
//
//go:embed testdata/transcript.golden
var golden string

// recordedHeaders are the response headers a transcript holds, besides the
// status and the body. Date, Content-Length and the like are left out: they
// belong to the server, not to authkit.
var recordedHeaders = []string{"Allow", "Cache-Control", "Content-Type", "ETag", "Location", "Pragma", "Retry-After", "WWW-Authenticate", "X-Frame-Options"}

// dynamicKeys are the JSON members whose string values are random (tokens
// and IDs). A transcript shows each such value as a label, "<key#n>", the
// same label wherever the value appears again (a request path, a header,
// another body), so that two runs compare equal byte for byte while the
// references between values are still checked.
var dynamicKeys = map[string]bool{"access_token": true, "refresh_token": true, "token": true, "id": true, "jti": true, "sid": true}

// Entry is the record of one scenario: its name and its exchanges, each a
// request ("> " lines) and its response ("< " lines: status, the headers
// Allow, Cache-Control, Content-Type, ETag, Location, Pragma, Retry-After,
// WWW-Authenticate and X-Frame-Options, and the body).
type Entry struct {
	Name string
	Text string
}

// Transcript is the record of one run of the suite, scenario by scenario.
type Transcript []Entry

// String formats t as the golden file holds it.
func (t Transcript) String() string {
	var b strings.Builder
	for _, e := range t {
		fmt.Fprintf(&b, "=== %s\n%s", e.Name, e.Text)
	}
	return b.String()
}

// parseTranscript reads the golden file's format back.
func parseTranscript(s string) (Transcript, error) {
	var t Transcript
	for line := range strings.Lines(s) {
		if name, ok := strings.CutPrefix(line, "=== "); ok {
			t = append(t, Entry{Name: strings.TrimSuffix(name, "\n")})
			continue
		}
		if len(t) == 0 {
			return nil, fmt.Errorf("httpsuite: transcript text before the first scenario: %q", line)
		}
		t[len(t)-1].Text += line
	}
	return t, nil
}

// diffTranscripts describes every difference between got and want, for the
// scenarios that ran (an entry with empty text did not run, as when -run
// selects some scenarios only).
func diffTranscripts(got, want Transcript) []string {
	var out []string
	for _, g := range got {
		if g.Text == "" {
			continue
		}
		i := slices.IndexFunc(want, func(e Entry) bool { return e.Name == g.Name })
		if i < 0 {
			out = append(out, fmt.Sprintf("scenario %q is not in testdata/transcript.golden (regenerate it: go test ./internal/httpsuite -run TestNetHTTP -update)", g.Name))
			continue
		}
		if g.Text != want[i].Text {
			out = append(out, fmt.Sprintf("scenario %q answers differently from testdata/transcript.golden (the net/http mounting):\n%s", g.Name, lineDiff(g.Text, want[i].Text)))
		}
	}
	return out
}

// lineDiff shows the first line where got and want differ, with context.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	line := func(ls []string, i int) string {
		if i < len(ls) {
			return ls[i]
		}
		return "(end)"
	}
	from := max(0, i-6)
	var b strings.Builder
	fmt.Fprintf(&b, "  line %d:\n", i+1)
	for _, l := range g[from:i] {
		fmt.Fprintf(&b, "      %s\n", l)
	}
	fmt.Fprintf(&b, "  got  %s\n  want %s", line(g, i), line(w, i))
	return b.String()
}

// masker replaces random values with stable labels.
type masker struct {
	label map[string]string
	count map[string]int
	vals  []string // longest first, so that no value is cut inside a longer one
}

func newMasker() *masker {
	return &masker{label: map[string]string{}, count: map[string]int{}}
}

// name gives v the next label of its kind, unless it has one.
func (m *masker) name(kind, v string) {
	if len(v) < 8 || m.label[v] != "" {
		return
	}
	m.count[kind]++
	m.label[v] = fmt.Sprintf("<%s#%d>", kind, m.count[kind])
	// Written with every byte percent-encoded (a scenario's path may
	// carry it so): a label of its own.
	m.label[escapeAll(v)] = fmt.Sprintf("<%s#%d escaped>", kind, m.count[kind])
	m.vals = append(m.vals, v, escapeAll(v))
	sort.SliceStable(m.vals, func(i, j int) bool { return len(m.vals[i]) > len(m.vals[j]) })
}

// learn names the random values of a JSON body, members in sorted order.
func (m *masker) learn(body []byte) {
	var v any
	if json.Unmarshal(body, &v) == nil {
		m.walk("", v)
	}
}

func (m *masker) walk(key string, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m.walk(k, x[k])
		}
	case []any:
		for _, e := range x {
			m.walk(key, e)
		}
	case string:
		if dynamicKeys[key] {
			m.name(key, x)
		}
	}
}

// apply replaces every named value in s by its label.
func (m *masker) apply(s string) string {
	for _, v := range m.vals {
		s = strings.ReplaceAll(s, v, m.label[v])
	}
	return s
}

// shorten keeps long values (the oversized header) readable.
func shorten(s string) string {
	if len(s) <= 200 {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:40], len(s))
}

// client drives one scenario against its fixture and records it.
type client struct {
	t   *testing.T
	f   *fixture
	m   *masker
	log strings.Builder
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request; hdr alternates header names and values.
func (c *client) do(method, path, body string, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.f.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(&c.log, "> %s %s\n", method, c.m.apply(path))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
		fmt.Fprintf(&c.log, "> %s: %s\n", hdr[i], shorten(c.m.apply(hdr[i+1])))
	}
	if body != "" {
		fmt.Fprintf(&c.log, "> %s\n", shorten(c.m.apply(body)))
	}
	hc := *c.f.srv.Client()
	// A redirect is part of the transcript, never followed.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.m.learn(b)
	if u, err := url.Parse(res.Header.Get("Location")); err == nil {
		// An authorization code travels in a redirect, not a body.
		c.m.name("code", u.Query().Get("code"))
	}
	fmt.Fprintf(&c.log, "< %d\n", res.StatusCode)
	for _, name := range recordedHeaders {
		for _, v := range res.Header.Values(name) {
			fmt.Fprintf(&c.log, "< %s: %s\n", name, c.m.apply(v))
		}
	}
	if len(b) > 0 {
		fmt.Fprintf(&c.log, "< %s\n", c.m.apply(string(b)))
	}
	c.log.WriteString("\n")
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string, hdr ...string) response {
	c.t.Helper()
	return c.do(http.MethodGet, path, "", hdr...)
}

const formType = "application/x-www-form-urlencoded"

// form posts form-encoded values (name, value, name, value…).
func (c *client) form(path string, kv []string, hdr ...string) response {
	c.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return c.do(http.MethodPost, path, v.Encode(), append([]string{"Content-Type", formType}, hdr...)...)
}

// postJSON posts a JSON body.
func (c *client) postJSON(path, body string, hdr ...string) response {
	c.t.Helper()
	return c.do(http.MethodPost, path, body, append([]string{"Content-Type", "application/json"}, hdr...)...)
}

// note records a step of the scenario that is not an exchange (a clock
// change, the store going down).
func (c *client) note(format string, args ...any) {
	fmt.Fprintf(&c.log, "# "+format+"\n", args...)
}

func (c *client) advance(d time.Duration) {
	c.f.clock.advance(d)
	c.note("the clock advances %v", d)
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// decode parses a JSON body into v.
func (c *client) decode(r response, v any) {
	c.t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		c.t.Fatalf("body %q: %v", r.body, err)
	}
}

// login runs the password grant and returns the tokens.
func (c *client) login(user, scope string) tokens {
	c.t.Helper()
	kv := []string{"grant_type", "password", "username", user, "password", users[user]}
	if scope != "" {
		kv = append(kv, "scope", scope)
	}
	r := c.form(Prefix+"/token", kv)
	if r.status != http.StatusOK {
		c.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var tk tokens
	c.decode(r, &tk)
	if tk.AccessToken == "" || tk.RefreshToken == "" {
		c.t.Fatalf("login %s: no tokens in %s", user, r.body)
	}
	return tk
}

// refresh runs the refresh_token grant.
func (c *client) refresh(rt string) response {
	c.t.Helper()
	return c.form(Prefix+"/token", []string{"grant_type", "refresh_token", "refresh_token", rt})
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// expect checks the status, the WWW-Authenticate fields (see expectStatus)
// and the exact body.
func (c *client) expect(r response, status int, challenge, body string) {
	c.t.Helper()
	c.expectStatus(r, status, challenge)
	if r.body != body {
		c.t.Errorf("body %s, want %s", r.body, body)
	}
}

// expectStatus checks the status and the WWW-Authenticate fields: challenge
// is each field's exact value, in order, separated by "\n" ("" = none).
func (c *client) expectStatus(r response, status int, challenge string) {
	c.t.Helper()
	if r.status != status {
		c.t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := strings.Join(r.header.Values("WWW-Authenticate"), "\n"); got != challenge {
		c.t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
	}
}

// expectHeader checks one response header's exact value ("" = absent).
func (c *client) expectHeader(r response, name, want string) {
	c.t.Helper()
	if got := r.header.Get(name); got != want {
		c.t.Errorf("%s %q, want %q", name, got, want)
	}
}

// Record runs every scenario against the router mount builds and returns
// the transcript, checking each answer against the scenario's explicit
// expectations but not against the golden file. Run is Record plus that
// comparison; Record alone serves to regenerate the golden file.
func Record(t *testing.T, mount Mount) Transcript {
	t.Helper()
	var tr Transcript
	for _, sc := range scenarios {
		var text string
		t.Run(sc.name, func(t *testing.T) {
			c := &client{t: t, m: newMasker(), f: newFixture(t, mount)}
			defer func() { text = c.log.String() }() // also after t.Fatal
			sc.run(c)
		})
		tr = append(tr, Entry{Name: sc.name, Text: text})
	}
	return tr
}

// Run runs every scenario against the router mount builds: each answer
// must meet the scenario's expectations, and the whole transcript must
// equal testdata/transcript.golden — the net/http mounting's — byte for
// byte.
func Run(t *testing.T, mount Mount) {
	t.Helper()
	got := Record(t, mount)
	want, err := parseTranscript(golden)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffTranscripts(got, want) {
		t.Error(d)
	}
}
