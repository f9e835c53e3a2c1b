package opaque

import (
	"math/big"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestNewCheck(t *testing.T) {
	for _, kind := range []string{KindAPI, KindRefresh} {
		tok, err := New("ak", kind)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, "ak"+kind+"_") || len(tok) != len("ak"+kind+"_")+bodyLen+checkLen {
			t.Fatalf("kind %q: token has shape %d chars, prefix %q", kind, len(tok), tok[:5])
		}
		if err := Check(tok, "ak", kind); err != nil {
			t.Fatalf("kind %q: fresh token fails its own check: %v", kind, err)
		}
		other := KindRefresh
		if kind == KindRefresh {
			other = KindAPI
		}
		if Check(tok, "ak", other) == nil {
			t.Errorf("kind %q token passes the check of kind %q", kind, other)
		}
		if Check(tok, "zz", kind) == nil {
			t.Errorf("token passes the check of another prefix")
		}
		// Every single-character change breaks the checksum or the alphabet.
		head := len("ak" + kind + "_")
		for i := head; i < len(tok); i++ {
			b := []byte(tok)
			if b[i] == 'a' {
				b[i] = 'b'
			} else {
				b[i] = 'a'
			}
			if Check(string(b), "ak", kind) == nil {
				t.Errorf("kind %q: changing byte %d still passes the checksum", kind, i)
			}
		}
		for _, bad := range []string{"", tok[:len(tok)-1], tok + "A", strings.Replace(tok, tok[head:head+1], "-", 1)} {
			if Check(bad, "ak", kind) == nil {
				t.Errorf("kind %q: malformed token accepted", kind)
			}
		}
	}
}

// NewRefresh carries a canonical UUID session ID, which SessionOf reads
// back; any other ID gives a token without one, as New makes; a session
// part is only ever a refresh token's.
func TestNewRefreshSession(t *testing.T) {
	for _, sid := range []string{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"} {
		tok, err := NewRefresh("ak", sid)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != len("akrt_")+bodyLen+sessionLen+checkLen || len(tok) > MaxLen {
			t.Errorf("%s: token of %d characters", sid, len(tok))
		}
		if err := Check(tok, "ak", KindRefresh); err != nil {
			t.Errorf("%s: %v", sid, err)
		}
		if got := SessionOf(tok, "ak"); got != sid {
			t.Errorf("SessionOf = %q, want %q", got, sid)
		}
		if Check(tok, "ak", KindAPI) == nil || Check("ak_"+tok[len("akrt_"):], "ak", KindAPI) == nil {
			t.Errorf("%s: a token with a session part passes as an API token", sid)
		}
		if _, err := Body(tok, "ak", KindRefresh); err != nil {
			t.Errorf("Body: %v", err)
		}
		if SessionOf(tok, "zz") != "" || SessionOf(tok[:len(tok)-1], "ak") != "" {
			t.Errorf("%s: SessionOf reads a session from a token it should refuse", sid)
		}
	}
	for _, sid := range []string{"", "sess-1", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b8109dad11d180b400c04fd430c8"} {
		tok, err := NewRefresh("ak", sid)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != len("akrt_")+bodyLen+checkLen || Check(tok, "ak", KindRefresh) != nil || SessionOf(tok, "ak") != "" {
			t.Errorf("NewRefresh(%q) = a token of %d characters naming %q", sid, len(tok), SessionOf(tok, "ak"))
		}
	}
	plain, err := New("ak", KindRefresh)
	if err != nil {
		t.Fatal(err)
	}
	if SessionOf(plain, "ak") != "" {
		t.Error("a token from New names a session")
	}
}

// The session part is the UUID's 128 bits, most significant first, in
// base62: checked against google/uuid's bytes and math/big for random
// IDs, so that the 64-bit arithmetic cannot drift from the documented
// encoding.
func TestSessionPartEncoding(t *testing.T) {
	for range 2000 {
		u := uuid.New()
		if uuid.New()[0]&1 == 0 {
			u[0] = 0xff // the top bits set too
		}
		tok, err := NewRefresh("ak", u.String())
		if err != nil {
			t.Fatal(err)
		}
		head := len("akrt_") + bodyLen
		want := string(appendBase62(nil, new(big.Int).SetBytes(u[:]), sessionLen))
		if got := tok[head : head+sessionLen]; got != want {
			t.Fatalf("%s encodes as %s, want %s", u, got, want)
		}
		if got := SessionOf(tok, "ak"); got != u.String() {
			t.Fatalf("SessionOf = %s, want %s", got, u)
		}
	}
}

func TestUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := New("ak", KindAPI)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestHasher(t *testing.T) {
	plain := NewHasher(nil)
	keyed := NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	other := NewHasher([]byte("0123456789abcdef0123456789abcdeX"))
	if plain.Hash("x") != plain.Hash("x") || keyed.Hash("x") != keyed.Hash("x") {
		t.Fatal("hash not deterministic")
	}
	if plain.Hash("x") == keyed.Hash("x") || keyed.Hash("x") == other.Hash("x") || plain.Hash("x") == plain.Hash("y") {
		t.Fatal("different inputs or keys give the same hash")
	}
	if !Equal(plain.Hash("x"), plain.Hash("x")) || Equal(plain.Hash("x"), plain.Hash("y")) {
		t.Fatal("Equal is wrong")
	}
}

func TestSealOpen(t *testing.T) {
	a, _ := New("ak", KindRefresh)
	b, _ := New("ak", KindRefresh)
	box, err := Seal(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(box), b) {
		t.Fatal("sealed box contains the successor in clear")
	}
	got, err := Open(a, box)
	if err != nil || got != b {
		t.Fatalf("Open with the right secret: %v", err)
	}
	if _, err := Open(b, box); err == nil {
		t.Fatal("Open with another secret succeeded")
	}
	box[len(box)-1] ^= 1
	if _, err := Open(a, box); err == nil {
		t.Fatal("Open of a tampered box succeeded")
	}
	if _, err := Open(a, box[:5]); err == nil {
		t.Fatal("Open of a short box succeeded")
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	tok, _ := New("ak", KindAPI)
	h := NewHasher(nil)
	if n := testing.AllocsPerRun(100, func() {
		_ = Check(tok, "ak", KindAPI)
		_ = h.Hash(tok)
	}); n != 0 {
		t.Errorf("Check+Hash allocate %v times per call", n)
	}
}

// Body inverts New's encoding: the base62 body reads back as the 32 bytes
// it was made from, for many tokens (a wrong digit order would overflow or
// differ).
func TestBodyRoundTrip(t *testing.T) {
	for range 500 {
		tok, err := New("ak", KindRefresh)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := Body(tok, "ak", KindRefresh)
		if err != nil {
			t.Fatalf("Body of a fresh token: %v", err)
		}
		again := appendBase62(nil, new(big.Int).SetBytes(raw[:]), bodyLen)
		if string(again) != tok[len("akrt_"):len("akrt_")+bodyLen] {
			t.Fatal("Body does not invert the encoding")
		}
	}
	if _, err := Body("akrt_short", "ak", KindRefresh); err == nil {
		t.Error("Body of a malformed token succeeded")
	}
}

// Embedded knows a token damaged or wrapped, and lets names and IDs by.
func TestEmbedded(t *testing.T) {
	for _, prefix := range []string{"ak", "a", "acme0123456789ab"} {
		for _, kind := range []string{KindAPI, KindRefresh, KindClientSecret, KindAuthCode} {
			tok, err := New(prefix, kind)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{tok, `"` + tok + `"`, tok + " ", "Bearer " + tok, tok[:len(tok)-1], tok[:len(tok)-8], "x" + tok[5:]} {
				if !Embedded(s) {
					t.Errorf("Embedded(%q) = false", s)
				}
			}
		}
	}
	for _, s := range []string{"", "alice", "alice@example.com", "billing-service", "3f2a9c1e-7b4d-4e2a-9f1c-0d8e6b5a4c3b", "3f2a9c1e7b4d4e2a9f1c0d8e6b5a4c3b", strings.Repeat("a", 39), strings.Repeat("ab-", 40)} {
		if Embedded(s) {
			t.Errorf("Embedded(%q) = true", s)
		}
	}
}
