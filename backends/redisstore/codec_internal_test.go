package redisstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

func TestTimeEncoding(t *testing.T) {
	zone := time.FixedZone("+05:30", 5*3600+30*60)
	for _, tt := range []time.Time{
		time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC),
		time.Date(2030, 1, 2, 8, 34, 5, 123456789, zone),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		got, err := parseTime(fmtTime(tt))
		if err != nil {
			t.Fatal(err)
		}
		if want := tt.Truncate(time.Microsecond); !got.Equal(want) {
			t.Errorf("%v round-trips to %v, want %v", tt, got, want)
		}
		if got.Location() != time.UTC {
			t.Errorf("%v comes back in %v, want UTC", tt, got.Location())
		}
	}
	if s := fmtTime(time.Time{}); s != "" {
		t.Errorf("the zero time encodes as %q, want \"\"", s)
	}
	if got, err := parseTime(""); err != nil || !got.IsZero() {
		t.Errorf(`parseTime("") = %v, %v; want the zero time`, got, err)
	}
	for _, bad := range []string{"x", "1.5", "1e9", " 1", "99999999999999999999"} {
		if _, err := parseTime(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("parseTime(%q) = %v, want errCorrupt", bad, err)
		}
	}
}

func TestMicrosCeil(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	if got, want := microsCeil(base), base.UnixMicro(); got != want {
		t.Errorf("microsCeil of a whole microsecond = %d, want %d", got, want)
	}
	if got, want := microsCeil(base.Add(1)), base.UnixMicro()+1; got != want {
		t.Errorf("microsCeil rounds %d, want up to %d", got, want)
	}
	if got, want := micros(base.Add(999)), base.UnixMicro(); got != want {
		t.Errorf("micros = %d, want %d (down)", got, want)
	}
	before := time.Date(1969, 12, 31, 23, 59, 59, 999999500, time.UTC)
	if got := microsCeil(before); got != 0 {
		t.Errorf("microsCeil before the epoch = %d, want 0", got)
	}
	far := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := micros(far); got != maxTime.UnixMicro() {
		t.Errorf("micros of year 300000 = %d, want the clamp %d", got, maxTime.UnixMicro())
	}
}

func TestPXAt(t *testing.T) {
	tt := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	if got, want := pxat(tt, time.Hour), tt.UnixMilli()+3600_000+1; got != want {
		t.Errorf("pxat = %d, want %d", got, want)
	}
	if got := pxat(time.Time{}, time.Hour); got != 1 {
		t.Errorf("pxat of the zero time = %d, want 1 (Redis refuses 0 and negative times)", got)
	}
}

func TestSessionMetaRoundTrip(t *testing.T) {
	in := authkit.Session{
		ID: "s", Subject: "ユーザー", ClientID: "c",
		Scopes: []string{"a", "", "ü c"}, Audience: []string{"https://a"},
		Claims: []byte{0, 1, 255, '"'}, UserAgent: "ua", IP: "::1", Name: "n",
		CreatedAt:  time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC),
		LastUsedAt: time.Date(2030, 1, 2, 3, 4, 6, 0, time.UTC),
		ExpiresAt:  time.Date(2030, 3, 2, 3, 4, 6, 0, time.UTC),
	}
	f := []any{in.Subject, encodeMeta(in), fmtTime(in.LastUsedAt), fmtTime(in.ExpiresAt), "", nil}
	got, err := decodeSession(in.ID, f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != in.Subject || got.ClientID != in.ClientID || !slices.Equal(got.Scopes, in.Scopes) ||
		!slices.Equal(got.Audience, in.Audience) || !bytes.Equal(got.Claims, in.Claims) || got.UserAgent != in.UserAgent ||
		got.IP != in.IP || got.Name != in.Name || !got.CreatedAt.Equal(in.CreatedAt) || !got.LastUsedAt.Equal(in.LastUsedAt) ||
		!got.ExpiresAt.Equal(in.ExpiresAt) || !got.IdleExpiresAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("session round-trip:\n got %+v\nwant %+v", got, in)
	}
}

// TestDecodeNeverPanics feeds the decoders corrupt values: a damaged
// entry is an error, never a panic or a half-read record.
func TestDecodeNeverPanics(t *testing.T) {
	good := encodeMeta(authkit.Session{Scopes: []string{"a", "b"}, Claims: []byte("{}"), Name: "n"})
	r := rand.New(rand.NewPCG(1, 2))
	inputs := []string{"", "\x01", "\x02" + good[1:], good[:len(good)-1], good + "x", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"}
	for range 2000 {
		b := []byte(good)
		b[r.IntN(len(b))] = byte(r.IntN(256))
		inputs = append(inputs, string(b[:r.IntN(len(b)+1)]))
	}
	for _, m := range inputs {
		_, _ = decodeSession("id", []any{"sub", m, "", "", "", ""})
		_, _ = decodeToken("id", []any{strings.Repeat("h", 32), "sub", "n", m, "", "", "", ""})
	}
	if _, err := decodeSession("id", []any{"sub", good + "x", "", "", "", ""}); err == nil {
		t.Error("a metadata blob with trailing bytes decodes")
	}
	if _, err := decodeToken("id", []any{"short", "sub", "n", "", "", "", "", ""}); err == nil {
		t.Error("a token with a short hash decodes")
	}
	if _, _, err := parseTokenOwner("\xff"); err == nil {
		t.Error("a corrupt hash locator decodes")
	}
}

// hashTag returns the part of key Redis Cluster hashes: the content of the
// first {…} if it is not empty, else the whole key.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// TestHashTags checks the key layout: what a script or MGET touches
// together shares a hash tag, for any identity, braces included.
func TestHashTags(t *testing.T) {
	k := keyspace{p: DefaultPrefix}
	ids := []string{"", "a", "{x}", "}{", "{", "}", "a:b", "ユーザー", "user:10", strings.Repeat("z", MaxKeyLen)}
	h := authkit.TokenHash{1, 2, 3}
	for _, id := range ids {
		same := func(what string, keys ...string) {
			t.Helper()
			for _, key := range keys[1:] {
				if hashTag(key) != hashTag(keys[0]) {
					t.Errorf("%s keys of %q hash differently: %q and %q", what, id, keys[0], key)
				}
			}
			if hashTag(keys[0]) == keys[0] {
				t.Errorf("%s key %q of %q has no hash tag", what, keys[0], id)
			}
		}
		same("session", k.session(id), k.record(id, h), k.records(id), k.recordPrefix(id)+"x")
		same("subject", k.token(id, id), k.tokens(id), k.subjectSessions(id))
		b := bucket(id)
		same("revocation", k.p+revCutoff(id), k.p+revJTI(id, "j"), k.p+revSID(id, id), k.revIndex(b), k.feed(b), k.feedMeta(b))
		same("legacy revocation", k.p+legacyCutoff(id), k.p+legacyJTI(id, "j"), k.p+legacySID(id, id), k.token(id, id))
	}
	// Different identities never share a key.
	seen := map[string]string{}
	for _, a := range ids {
		for _, b := range ids {
			for _, e := range []struct{ key, id string }{
				{k.p + revJTI(a, b), "jti " + a + "\x00" + b},
				{k.p + revSID(a, b), "sid " + a + "\x00" + b},
				{k.p + revCutoff(a), "cutoff " + a},
				{k.p + legacyJTI(a, b), "legacy jti " + a + "\x00" + b},
				{k.p + legacySID(a, b), "legacy sid " + a + "\x00" + b},
				{k.token(a, b), "token " + a + "\x00" + b},
				{k.record(a, h), "record " + a},
				{k.session(a), "session " + a},
			} {
				if prev, ok := seen[e.key]; ok && prev != e.id {
					t.Errorf("one key names two entries: %.40q and %.40q", prev, e.id)
				}
				seen[e.key] = e.id
			}
		}
	}
	for i := range gcShards {
		if tag := hashTag(k.gc(gcSess, i)); tag != fmt.Sprint(i) {
			t.Errorf("GC shard key %q has tag %q, want %d", k.gc(gcSess, i), tag, i)
		}
	}
}

func TestOptions(t *testing.T) {
	ok := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer ok.Close()
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer plain.Close()
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		opts []Option
		ok   bool
	}{
		{"defaults", ok, nil, true},
		{"nil client", nil, nil, false},
		{"typed nil client", (*redis.Client)(nil), nil, false},
		{"typed nil cluster client", (*redis.ClusterClient)(nil), nil, false},
		{"nil option", ok, []Option{nil}, false},
		{"prefix with a brace", ok, []Option{WithPrefix("app{x}:")}, false},
		{"prefix with a closing brace", ok, []Option{WithPrefix("app}:")}, false},
		{"long prefix", ok, []Option{WithPrefix(strings.Repeat("p", MaxPrefixLen+1))}, false},
		{"empty prefix", ok, []Option{WithPrefix("")}, true},
		{"negative margin", ok, []Option{WithExpiryMargin(-time.Second)}, false},
		{"huge margin", ok, []Option{WithExpiryMargin(31 * 24 * time.Hour)}, false},
		{"negative call timeout", ok, []Option{WithCallTimeout(-1)}, false},
		{"client ignoring deadlines", plain, nil, false},
		{"client ignoring deadlines, accepted", plain, []Option{WithoutDeadlineCheck()}, true},
		{"cluster client ignoring deadlines", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.rdb, tc.opts...)
			if tc.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tc.ok && !errors.Is(err, authkit.ErrInvalidConfig) {
				t.Fatalf("New = %v, %v; want an error matching ErrInvalidConfig", s, err)
			}
		})
	}
}
