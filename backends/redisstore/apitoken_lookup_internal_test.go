package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// lookupPair is one standalone server seen through the two LookupAPIToken
// paths: one, which a *redis.Client gets (lookupTokenOneScript, its
// commands counted), and steps, which a cluster gets (GET, then HMGET).
type lookupPair struct {
	rdb       *redis.Client
	one       *Store
	steps     *Store
	oneSent   *int
	stepsSent *int
}

func newLookupPair(t testing.TB) lookupPair {
	t.Helper()
	addr := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testservers.RedisPrefix(t, rdb)
	p := lookupPair{rdb: rdb, oneSent: new(int), stepsSent: new(int)}
	for _, c := range []struct {
		dst  **Store
		sent *int
	}{{&p.one, p.oneSent}, {&p.steps, p.stepsSent}} {
		counted := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = counted.Close() })
		counted.AddHook(countHook{c.sent})
		s, err := New(counted, WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		*c.dst = s
	}
	if !p.one.oneCall {
		t.Fatal("a Store over a *redis.Client does not look API tokens up in one call")
	}
	p.steps.oneCall = false
	// Loaded, so that no lookup is counted with the EVAL a server that
	// never saw the script answers NOSCRIPT to.
	if err := lookupTokenOneScript.Load(t.Context(), rdb).Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

// lookupWant is what a case must come to, whichever the path.
type lookupWant int

const (
	wantFound lookupWant = iota
	wantNotFound
	wantCorrupt
)

// check looks h up through both paths and requires the same token and
// the same error text from each, the outcome want, and one command from
// the one-call path (two at most from the steps).
func (p lookupPair) check(t *testing.T, what string, h authkit.TokenHash, want lookupWant) authkit.APIToken {
	t.Helper()
	ctx := t.Context()
	*p.oneSent, *p.stepsSent = 0, 0
	got, err := p.one.LookupAPIToken(ctx, h)
	ref, refErr := p.steps.LookupAPIToken(ctx, h)
	if fmt.Sprint(err) != fmt.Sprint(refErr) || !reflect.DeepEqual(got, ref) {
		t.Errorf("%s: one call gives %+v, %v; the steps %+v, %v", what, got, err, ref, refErr)
	}
	if *p.oneSent != 1 {
		t.Errorf("%s: the one-call lookup sent %d commands, want 1", what, *p.oneSent)
	}
	if *p.stepsSent < 1 || *p.stepsSent > 2 {
		t.Errorf("%s: the two-step lookup sent %d commands", what, *p.stepsSent)
	}
	switch want {
	case wantFound:
		if err != nil || got.Hash != h {
			t.Errorf("%s: %+v, %v; want the token of the hash", what, got, err)
		}
	case wantNotFound:
		if !errors.Is(err, authkit.ErrNotFound) || !reflect.DeepEqual(got, authkit.APIToken{}) {
			t.Errorf("%s: %+v, %v; want ErrNotFound", what, got, err)
		}
	case wantCorrupt:
		if !errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, authkit.ErrNotFound) || !reflect.DeepEqual(got, authkit.APIToken{}) {
			t.Errorf("%s: %+v, %v; want a corrupt entry (ErrStoreUnavailable)", what, got, err)
		}
	}
	return got
}

// TestLookupAPITokenPathsAgree runs LookupAPIToken through the one call
// a single primary gets and through the two steps a cluster takes, over
// the same keys, for every case: found (identities of every length and
// byte), not found, a locator whose token was collected, a locator that
// names another token, corrupt locator values (random ones too), a
// corrupt token, and keys of the wrong type. Both must give the same
// token and the same error, and the one call one command.
func TestLookupAPITokenPathsAgree(t *testing.T) {
	p := newLookupPair(t)
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 123000, time.UTC)
	create := func(subject, id, secret string, mod func(*authkit.APIToken)) authkit.APIToken {
		t.Helper()
		tok := authkit.APIToken{ID: id, Hash: testHash(secret), Subject: subject, Name: "ci " + id, Scopes: []string{"read", "write"},
			CreatedAt: base, ExpiresAt: base.Add(24 * time.Hour), LastUsedAt: base.Add(time.Minute)}
		if mod != nil {
			mod(&tok)
		}
		if err := p.one.CreateAPIToken(ctx, tok, 0, base); err != nil {
			t.Fatalf("CreateAPIToken %q of %q: %v", id, subject, err)
		}
		return tok
	}

	// Found, with identities the key encoding must get right.
	rng := rand.New(rand.NewPCG(5, 6))
	randomBytes := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	type ident struct{ subject, id string }
	idents := []ident{{"alice", "tok-1"}, {"{x}", "a:b"}, {"user:10", "{}"}, {"élan ✓", "\x00\xff\xfe-_+/="},
		{"a", "b"}, {"ab", "cd"}, {"abc", "def"}, {strings.Repeat("\xfb", MaxKeyLen), strings.Repeat("\xff", MaxIDLen)}}
	for n := 1; n <= MaxIDLen; n += 1 + n/6 {
		idents = append(idents, ident{randomBytes(1 + rng.IntN(MaxKeyLen)), randomBytes(n)})
	}
	for i, c := range idents {
		mod := func(tok *authkit.APIToken) {
			switch i % 4 {
			case 1:
				tok.ExpiresAt, tok.LastUsedAt = time.Time{}, time.Time{}
			case 2:
				tok.RevokedAt = base.Add(time.Hour)
				tok.Scopes = nil
			case 3:
				tok.Name = ""
			}
		}
		want := create(c.subject, c.id, fmt.Sprint("secret-", i), mod)
		got := p.check(t, fmt.Sprintf("token %d", i), want.Hash, wantFound)
		if got.ID != want.ID || got.Subject != want.Subject || got.Name != want.Name || !reflect.DeepEqual(got.Scopes, want.Scopes) ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.LastUsedAt.Equal(want.LastUsedAt) || !got.RevokedAt.Equal(want.RevokedAt) {
			t.Errorf("token %d: read %+v, stored %+v", i, got, want)
		}
	}

	p.check(t, "no locator", testHash("never stored"), wantNotFound)

	// The locator without its token: collected, or a create that never ran.
	gone := create("bob", "gone", "gone-secret", nil)
	if err := p.rdb.Del(ctx, p.one.k.token(gone.Subject, gone.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	p.check(t, "a locator whose token is gone", gone.Hash, wantNotFound)

	// A token whose subject field alone is left is found (the steps read
	// only "sub" as presence); one without it is not.
	partial := create("bob", "partial", "partial-secret", nil)
	if err := p.rdb.HDel(ctx, p.one.k.token(partial.Subject, partial.ID), "nm", "ex", "lu", "rv", "ca").Err(); err != nil {
		t.Fatal(err)
	}
	p.check(t, "a token with some fields gone", partial.Hash, wantFound)
	if err := p.rdb.HDel(ctx, p.one.k.token(partial.Subject, partial.ID), "sub").Err(); err != nil {
		t.Fatal(err)
	}
	p.check(t, "a token without its subject field", partial.Hash, wantNotFound)

	// A locator that names another token: the hash does not match.
	owner := create("carol", "owner", "owner-secret", nil)
	ownerLoc, err := p.rdb.Get(ctx, p.one.k.tokenByHash(owner.Hash)).Result()
	if err != nil {
		t.Fatal(err)
	}
	stray := testHash("stray")
	if err := p.rdb.Set(ctx, p.one.k.tokenByHash(stray), ownerLoc, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	p.check(t, "a locator that names another token", stray, wantNotFound)
	p.check(t, "the other token itself", owner.Hash, wantFound)

	// A token whose stored values do not decode.
	bad := create("dave", "bad", "bad-secret", nil)
	badKey := p.one.k.token(bad.Subject, bad.ID)
	for _, c := range []struct{ field, value string }{{"ca", "yesterday"}, {"sc", "\x05a"}, {"h", "short"}} {
		if err := p.rdb.HSet(ctx, badKey, c.field, c.value).Err(); err != nil {
			t.Fatal(err)
		}
		p.check(t, "a token whose "+c.field+" does not decode", bad.Hash, wantCorrupt)
	}

	// Locator values, hand-made: each decodes as parseTokenOwner says.
	nonce := strings.Repeat("n", nonceLen)
	owned := create("erin", "owned", "owned-secret", nil)
	uv := func(n uint64) string { return string(binary.AppendUvarint(nil, n)) }
	for _, c := range []struct {
		what  string
		value string
		want  lookupWant
	}{
		{"an empty value", "", wantCorrupt},
		{"shorter than a nonce", "abc", wantCorrupt},
		{"a nonce alone", nonce, wantCorrupt},
		{"a cut uvarint", nonce + "\xff", wantCorrupt},
		{"a uvarint of 10 bytes, the last 1", nonce + strings.Repeat("\x80", 9) + "\x01" + "x", wantCorrupt}, // 2^63: longer than the value
		{"a uvarint that overflows in its 10th byte", nonce + strings.Repeat("\x80", 9) + "\x02", wantCorrupt},
		{"a uvarint of 11 bytes", nonce + strings.Repeat("\x80", 10) + "\x00", wantCorrupt},
		{"a length past the end", nonce + uv(6) + "erin", wantCorrupt},
		{"a length one past the end", nonce + uv(5) + "erin", wantCorrupt},
		{"the owner exactly", nonce + uv(4) + "erin" + "owned", wantFound},
		{"the owner, a non-canonical uvarint", nonce + "\x84\x80\x00" + "erin" + "owned", wantFound},
		{"a subject and no ID", nonce + uv(4) + "erin", wantNotFound},
		{"an empty subject", nonce + uv(0) + "owned", wantNotFound},
		{"another subject's ID", nonce + uv(3) + "bob" + "owned", wantNotFound},
		{"a subject of 20000 bytes", nonce + uv(20000) + strings.Repeat("s", 20000) + "owned", wantNotFound},
	} {
		if err := p.rdb.Set(ctx, p.one.k.tokenByHash(owned.Hash), c.value, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		p.check(t, "locator: "+c.what, owned.Hash, c.want)
	}

	// A token under identities far longer than the store writes (a
	// locator's value is not bounded): the script encodes them in blocks.
	longSub, longID := randomBytes(7000), randomBytes(9000)
	if err := p.rdb.Copy(ctx, p.one.k.token(owned.Subject, owned.ID), p.one.k.token(longSub, longID), 0, false).Err(); err != nil {
		t.Fatal(err)
	}
	if err := p.rdb.Set(ctx, p.one.k.tokenByHash(owned.Hash), nonce+tokenOwner(longSub, longID), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if got := p.check(t, "a token of a 7000-byte subject and a 9000-byte ID", owned.Hash, wantFound); got.ID != longID {
		t.Errorf("the long token's ID came back as %d bytes", len(got.ID))
	}

	// Random locator values, most of them near the shape of a real one.
	for i := range 300 {
		var v string
		switch i % 3 {
		case 0:
			v = randomBytes(rng.IntN(40))
		case 1:
			v = nonce + uv(uint64(rng.IntN(12))) + randomBytes(rng.IntN(12))
		default:
			v = nonce + randomBytes(1+rng.IntN(10))
		}
		h := testHash(fmt.Sprint("random-", i))
		if err := p.rdb.Set(ctx, p.one.k.tokenByHash(h), v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		_, stepsErr := p.steps.LookupAPIToken(ctx, h)
		want := wantNotFound
		if !errors.Is(stepsErr, authkit.ErrNotFound) {
			want = wantCorrupt
		}
		p.check(t, fmt.Sprintf("random locator %q", v), h, want)
	}

	// Keys of the wrong type: the server's error, from either path.
	wrongLoc := testHash("wrong-locator")
	if err := p.rdb.HSet(ctx, p.one.k.tokenByHash(wrongLoc), "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	p.check(t, "a locator that is a hash", wrongLoc, wantCorrupt)
	wrongTok := testHash("wrong-token")
	if err := p.rdb.Set(ctx, p.one.k.tokenByHash(wrongTok), nonce+tokenOwner("frank", "str"), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := p.rdb.Set(ctx, p.one.k.token("frank", "str"), "not a hash", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	p.check(t, "a token key that is a string", wrongTok, wantCorrupt)
}

// TestLookupOneCallRepliesFailClosed feeds lookupTokenReply every reply
// shape lookupTokenOneScript does not make: each is a corrupt entry,
// never a token and never "not found".
func TestLookupOneCallRepliesFailClosed(t *testing.T) {
	h := testHash("fail-closed")
	fields := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = ""
		}
		out[0] = string(h[:])
		return out
	}
	ok := func(id any, f []any) []any { return append([]any{"ok", id}, f...) }
	good := ok("x", fields(len(tokenFields)))
	good[3], good[5] = "alice", "\x00" // sub, and sc: no scopes
	if got, err := lookupTokenReply("op", h, good); err != nil || got.ID != "x" || got.Subject != "alice" {
		t.Fatalf("the well-formed reply: %+v, %v", got, err)
	}
	withNil := ok("x", fields(len(tokenFields)))
	withNil[3] = nil
	withBool := ok("x", fields(len(tokenFields)))
	withBool[4] = false // a Lua false through RESP3
	withInt := ok("x", fields(len(tokenFields)))
	withInt[5] = int64(7)
	for i, reply := range []any{
		nil, "ok", int64(1), []any{}, []any{"ok"}, []any{"nf", "x"}, []any{"bad"}, []any{"bad", "x"}, []any{"what"}, []any{int64(1)},
		[]any{[]byte("nf"), "x"},
		ok("x", fields(len(tokenFields)-1)), ok("x", fields(len(tokenFields)+1)),
		ok(int64(1), fields(len(tokenFields))), ok(nil, fields(len(tokenFields))), ok([]byte("x"), fields(len(tokenFields))),
		withNil, withBool, withInt,
	} {
		got, err := lookupTokenReply("op", h, reply)
		if !errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, authkit.ErrNotFound) || !reflect.DeepEqual(got, authkit.APIToken{}) {
			t.Errorf("reply %d %#v: %+v, %v; want a corrupt entry", i, reply, got, err)
		}
	}
}

// TestLookupDocumentedACL looks an API token up as a Redis user with the
// ACL docs/backends/redis.md documents: the token key the script derives
// is under the prefix.
func TestLookupDocumentedACL(t *testing.T) {
	s, _, _ := storeAsACLUser(t, "lookup", documentedACL...)
	ctx := t.Context()
	now := time.Now()
	tok := authkit.APIToken{ID: "ci", Hash: testHash("acl"), Subject: "{alice}", CreatedAt: now}
	if err := s.CreateAPIToken(ctx, tok, 0, now); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LookupAPIToken(ctx, tok.Hash); err != nil || got.ID != tok.ID {
		t.Errorf("LookupAPIToken as a user with the documented ACL: %+v, %v", got, err)
	}
}

// BenchmarkLookupAPIToken looks one API token up through the one call a
// single primary gets and through the two steps (GET, then HMGET) a
// cluster takes, on one standalone server, in turn in each iteration, so
// that both see the same load: Steps-ns and OneCall-ns are each one's
// mean time. ns/op is the pair's, allocs/op the pair's; the sub-benchmarks
// Steps and OneCall give each one's allocations.
//
//	go test -run '^$' -bench LookupAPIToken -benchmem -count 6 ./backends/redisstore
func BenchmarkLookupAPIToken(b *testing.B) {
	p := newLookupPair(b)
	ctx := context.Background()
	now := time.Now()
	tok := authkit.APIToken{ID: "tok_0123456789abcdef", Hash: testHash("bench-lookup"), Subject: "user-1234567890",
		Name: "ci", Scopes: []string{"read", "write"}, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := p.one.CreateAPIToken(ctx, tok, 0, now); err != nil {
		b.Fatal(err)
	}
	lookup := func(b *testing.B, s *Store) {
		if _, err := s.LookupAPIToken(ctx, tok.Hash); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Paired", func(b *testing.B) {
		lookup(b, p.one) // warm both connections
		lookup(b, p.steps)
		var inSteps, inOne time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			t0 := time.Now()
			lookup(b, p.steps)
			t1 := time.Now()
			lookup(b, p.one)
			inSteps += t1.Sub(t0)
			inOne += time.Since(t1)
		}
		b.ReportMetric(float64(inSteps.Nanoseconds())/float64(b.N), "Steps-ns")
		b.ReportMetric(float64(inOne.Nanoseconds())/float64(b.N), "OneCall-ns")
		b.ReportMetric(float64(inSteps)/float64(inOne), "Steps-x-OneCall")
	})
	for _, c := range []struct {
		name string
		s    *Store
	}{{"Steps", p.steps}, {"OneCall", p.one}} {
		b.Run(c.name, func(b *testing.B) {
			lookup(b, c.s)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				lookup(b, c.s)
			}
		})
	}
}

// A NOPERM reply is described with the command the ACL refused, which
// names no server (found by an adoption test: "Redis error reply NOPERM"
// left the operator guessing that a cluster client needs cluster|slots).
//
// Such a user is refused by New, which names the command too; one whose
// permissions are taken away later gets it named in each call's error.
func TestNoPermNamesCommand(t *testing.T) {
	rdb, user, addr, prefix := aclUser(t, "noperm", "+@read", "+@connection")
	_, err := New(rdb, WithPrefix(prefix))
	if !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "NOPERM (eval)") {
		t.Errorf("New as a user without +@write and +@scripting: %v, want ErrInvalidConfig naming NOPERM (eval)", err)
	}
	if strings.Contains(err.Error(), user) || strings.Contains(err.Error(), addr) {
		t.Errorf("the error names the user or the server: %v", err)
	}
	s, user, addr := storeAsACLUser(t, "noperm-later", documentedACL...)
	admin := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Do(t.Context(), "ACL", "SETUSER", user, "-@write", "-@scripting").Err(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = s.CreateAPIToken(t.Context(), authkit.APIToken{ID: "ci", Hash: testHash("noperm"), Subject: "alice", CreatedAt: now}, 0, now)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "NOPERM (evalsha)") && !strings.Contains(err.Error(), "NOPERM (eval)") {
		t.Errorf("a write as a user without +@write and +@scripting: %v, want NOPERM naming the command", err)
	}
	if strings.Contains(err.Error(), user) || strings.Contains(err.Error(), addr) {
		t.Errorf("the error names the user or the server: %v", err)
	}
	for msg, want := range map[string]string{
		"NOPERM User u has no permissions to run the 'cluster|slots' command": "cluster|slots",
		"NOPERM No permissions to access a key":                               "",
		"NOPERM User u has no permissions to run the 'x y' command":           "",
		"NOPERM User u has no permissions to run the 'SET' command":           "",
		"NOPERM User u has no permissions to run the 'get":                    "",
	} {
		if got := quotedCommand(msg); got != want {
			t.Errorf("quotedCommand(%q) = %q, want %q", msg, got, want)
		}
	}
}

// documentedACL is the ACL docs/backends/redis.md gives a standalone
// server's authkit user.
var documentedACL = []string{"+@read", "+@write", "+@scripting", "+@connection"}

// storeAsACLUser returns a Store on the test Redis whose client logs in as
// a user of its own (named after what and the test's prefix) allowed the
// categories and commands of perms on the prefix's keys only, with the
// user's name and the server's address; the user is deleted when t ends.
func storeAsACLUser(t *testing.T, what string, perms ...string) (s *Store, user, addr string) {
	t.Helper()
	rdb, user, addr, prefix := aclUser(t, what, perms...)
	s, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return s, user, addr
}

// aclUser makes storeAsACLUser's user and returns a client logged in as
// it, with the user's name, the server's address and the prefix.
func aclUser(t *testing.T, what string, perms ...string) (rdb *redis.Client, user, addr, prefix string) {
	t.Helper()
	addr = testservers.Redis(t)
	admin := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = admin.Close() })
	prefix = testservers.RedisPrefix(t, admin)
	user = "authkit-" + what + "-" + strings.TrimSuffix(prefix, ":")
	args := append([]any{"ACL", "SETUSER", user, "on", ">pw", "resetkeys", "~" + prefix + "*", "-@all"}, toAny(perms)...)
	if err := admin.Do(t.Context(), args...).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	rdb = redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, user, addr, prefix
}
