package passwords

import (
	"strings"
	"testing"
)

// Found by review: a bcrypt cost written "+5" parsed as 05, and a password
// no login can present (not UTF-8) was hashed.
func TestHashInputsReviewed(t *testing.T) {
	h, err := HashBcrypt([]byte("password"))
	if err != nil {
		t.Fatal(err)
	}
	h = strings.Replace(h, "$12$", "$10$", 1) // another cost: the hash no longer matches, the form is what counts
	if err := ValidateHash(h); err != nil {
		t.Fatalf("a well-formed bcrypt hash: %v", err)
	}
	for _, cost := range []string{"+5", " 5", "5$", "-1", "1a"} {
		bad := h[:4] + cost + h[6:]
		if len(bad) != len(h) {
			continue
		}
		if err := ValidateHash(bad); err == nil {
			t.Errorf("bcrypt cost %q accepted", cost)
		}
	}
	for _, pw := range []string{"\xff", "ok\xc3", "\xed\xa0\x80"} {
		if _, err := Hash([]byte(pw)); err == nil {
			t.Errorf("Hash(%q) accepted a password that is not UTF-8", pw)
		}
		if _, err := HashBcrypt([]byte(pw)); err == nil {
			t.Errorf("HashBcrypt(%q) accepted a password that is not UTF-8", pw)
		}
	}
	if _, err := Hash([]byte("nul\x00inside")); err != nil {
		t.Errorf("a NUL byte is UTF-8: %v", err)
	}
}

// Weak names the users whose hash costs less than OWASP's minimum, in the
// table's order (found by review: such hashes loaded silently).
func TestUsersWeak(t *testing.T) {
	argon := func(m, passes uint32) string {
		salt := []byte("saltsaltsaltsalt")
		return (&argon2Hash{memory: m, time: passes, threads: 1, salt: salt, key: make([]byte, 32)}).encode()
	}
	bcryptOf := func(cost string) string {
		h, err := HashBcrypt([]byte("password"))
		if err != nil {
			t.Fatal(err)
		}
		return h[:4] + cost + h[6:]
	}
	strong, err := Hash([]byte("password"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader(strings.Join([]string{
		"default:" + strong,
		"tiny:" + argon(8, 1),
		"owasp5:" + argon(7168, 5),
		"owasp4:" + argon(7168, 4),
		"onepass:" + argon(47104, 1),
		"lowmem:" + argon(4096, 10),
		"bcrypt4:" + bcryptOf("04"),
		"bcrypt10:" + bcryptOf("10"),
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(u.Weak(), ","), "tiny,owasp4,lowmem,bcrypt4"; got != want {
		t.Errorf("Weak() = %s, want %s", got, want)
	}
	if w := (*Users)(nil).Weak(); w != nil {
		t.Errorf("a nil table's Weak() = %v", w)
	}
}

// Unlike names the users whose hash is not of the class an unknown name is
// checked against (the most common one), in the table's order: their
// failed logins take another time (found by review: a bcrypt user among
// argon2id ones answered in 500 ms against 45 ms, a name anyone could
// confirm).
func TestUsersUnlike(t *testing.T) {
	a, err := Hash([]byte("pw-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash([]byte("pw-b"))
	if err != nil {
		t.Fatal(err)
	}
	bc, err := HashBcrypt([]byte("pw-c"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader("ann:" + a + "\nbob:" + b + "\ncid:" + bc + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Unlike(), ","); got != "cid" {
		t.Errorf("Unlike() = %q, want cid (bcrypt among argon2id)", got)
	}
	same, err := ParseUsers(strings.NewReader("ann:" + a + "\nbob:" + b + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := same.Unlike(); got != nil {
		t.Errorf("Unlike() of a table of one class = %v, want none", got)
	}
	if got := (*Users)(nil).Unlike(); got != nil {
		t.Errorf("a nil table's Unlike() = %v", got)
	}
}
