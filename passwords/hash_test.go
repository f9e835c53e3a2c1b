package passwords

import (
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheapArgon2id returns an argon2id hash of password with tiny parameters
// (64 KiB, 1 pass), to test the rules without the default cost.
func cheapArgon2id(t *testing.T, password string) string {
	t.Helper()
	salt := []byte("saltsaltsaltsalt")
	h := &argon2Hash{memory: 64, time: 1, threads: 1, salt: salt, key: argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)}
	return h.encode()
}

func TestHashRoundTrip(t *testing.T) {
	t.Parallel()
	enc, err := Hash([]byte("pässwörd 🔑"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("not the CLI's parameters: %s", enc)
	}
	h, err := parseHash(enc)
	if err != nil {
		t.Fatal(err)
	}
	a := h.(*argon2Hash)
	if a.encode() != enc || len(a.salt) != 16 || len(a.key) != 32 {
		t.Errorf("re-encoding changed the hash, or salt %d / key %d bytes:\n%s\n%s", len(a.salt), len(a.key), a.encode(), enc)
	}
	for pw, want := range map[string]bool{"pässwörd 🔑": true, "pässwörd": false, "": false, "pässwörd 🔑 ": false} {
		if ok, err := Verify(enc, []byte(pw)); ok != want || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	enc2, _ := Hash([]byte("pässwörd 🔑"))
	if enc2 == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if err := ValidateHash(enc); err != nil {
		t.Errorf("ValidateHash of a new hash: %v", err)
	}
}

func TestHashRefusals(t *testing.T) {
	t.Parallel()
	for name, pw := range map[string][]byte{"empty": nil, "too long": []byte(strings.Repeat("p", MaxPasswordLen+1))} {
		if enc, err := Hash(pw); err == nil || enc != "" {
			t.Errorf("Hash(%s) = %q, %v; want an error", name, enc, err)
		}
		if enc, err := HashBcrypt(pw); err == nil || enc != "" {
			t.Errorf("HashBcrypt(%s) = %q, %v; want an error", name, enc, err)
		}
	}
	// bcrypt reads 72 bytes of a password; longer ones are refused, not cut.
	if _, err := HashBcrypt([]byte(strings.Repeat("p", 73))); err == nil || !strings.Contains(err.Error(), "at most 72 bytes") {
		t.Errorf("HashBcrypt of 73 bytes: %v", err)
	}
	// The longest password is accepted.
	if _, err := Hash([]byte(strings.Repeat("p", MaxPasswordLen))); err != nil {
		t.Errorf("Hash of %d bytes: %v", MaxPasswordLen, err)
	}
}

func TestHashBcrypt(t *testing.T) {
	t.Parallel()
	// One cost-12 hash and comparison: slow, especially with -race.
	enc, err := HashBcrypt([]byte("bcrypt password"))
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(enc)); err != nil || cost != bcryptCost {
		t.Fatalf("bcrypt cost %d, %v; want %d", cost, err, bcryptCost)
	}
	if ok, err := Verify(enc, []byte("bcrypt password")); !ok || err != nil {
		t.Errorf("the right password: %v, %v", ok, err)
	}
}

func TestBcryptVerifyCheap(t *testing.T) {
	t.Parallel()
	// Cheap hashes exercise the verification rules without cost 12's time.
	enc, err := bcrypt.GenerateFromPassword([]byte(strings.Repeat("a", 72)), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		e := prefix + string(enc[4:])
		for pw, want := range map[string]bool{
			strings.Repeat("a", 72):            true,
			strings.Repeat("a", 72) + "suffix": false, // shares the 72 bytes bcrypt reads
			"a":                                false,
		} {
			if ok, err := Verify(e, []byte(pw)); ok != want || err != nil {
				t.Errorf("%s: Verify(%d bytes) = %v, %v; want %v", prefix, len(pw), ok, err, want)
			}
		}
	}
}

func TestVerifyLongPassword(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", MaxPasswordLen+1)
	enc := cheapArgon2id(t, long)
	if ok, err := Verify(enc, []byte(long)); ok || err != nil {
		t.Errorf("a password over MaxPasswordLen: %v, %v; want false, nil", ok, err)
	}
	enc = cheapArgon2id(t, long[:MaxPasswordLen])
	if ok, err := Verify(enc, []byte(long[:MaxPasswordLen])); !ok || err != nil {
		t.Errorf("a password of MaxPasswordLen: %v, %v; want true", ok, err)
	}
}

// badHashes are hashes Verify, ValidateHash and the users file refuse, with
// a word of the error each must give.
var badHashes = []struct{ name, hash, msg string }{
	{"empty", "", "not an argon2id"},
	{"plain text password", "hunter22", "not an argon2id"},
	{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg", "not an argon2id"},
	{"argon2d", "$argon2d$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "not an argon2id"},
	{"old version", "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "version 19"},
	{"no version", "$argon2id$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "want $argon2id$v=19"},
	{"extra field", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg$x", "want $argon2id$v=19"},
	{"two params", "$argon2id$v=19$m=19456,t=2$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "want parameters"},
	{"param order", "$argon2id$v=19$t=2,m=19456,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "in that order"},
	{"negative", "$argon2id$v=19$m=-1,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "decimal"},
	{"over 32 bits", "$argon2id$v=19$m=4294967296,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "decimal"},
	{"huge memory", "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "memory m=4194304 KiB out of range: want 8·p = 8 ≤ m ≤ 262144 KiB"},
	{"RFC 9106 first profile", "$argon2id$v=19$m=2097152,t=1,p=4$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "memory m=2097152 KiB out of range"},
	{"old memory bound", "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "memory m=1048576 KiB out of range"},
	{"memory just over", "$argon2id$v=19$m=262145,t=1,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "memory m=262145 KiB out of range: want 8·p = 8 ≤ m ≤ 262144 KiB"},
	{"memory under 8p", "$argon2id$v=19$m=15,t=1,p=2$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "memory m=15 KiB out of range: want 8·p = 16 ≤ m"},
	{"zero time", "$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "passes t=0 out of range: want 1 ≤ t ≤ 16"},
	{"many passes", "$argon2id$v=19$m=1024,t=17,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "passes t=17 out of range: want 1 ≤ t ≤ 16"},
	{"old passes bound", "$argon2id$v=19$m=19456,t=64,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "passes t=64 out of range"},
	{"work just over", "$argon2id$v=19$m=131073,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "work m·t = 262146 KiB out of range: want m·t ≤ 262144 KiB"},
	{"work at both bounds", "$argon2id$v=19$m=262144,t=16,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "work m·t = 4194304 KiB out of range"},
	{"zero lanes", "$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "lanes p=0 out of range: want 1 ≤ p ≤ 64"},
	{"many lanes", "$argon2id$v=19$m=19456,t=2,p=65$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "lanes p=65 out of range: want 1 ≤ p ≤ 64"},
	{"leading zero", "$argon2id$v=19$m=019456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", "decimal"},
	{"padded salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0==$MDEyMzQ1Njc4OWFiY2RlZg", "base64"},
	{"bad base64", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$notbase64!!", "base64"},
	{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$MDEyMzQ1Njc4OWFiY2RlZg", "salt must be"},
	{"short hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEy", "salt must be"},
	{"long hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$" + strings.Repeat("MDEy", 44), "salt must be"},
	{"bcrypt short", "$2b$12$abc", "53 characters"},
	{"bcrypt long", "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "53 characters"},
	{"bcrypt cost", "$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "cost 31 is above 14"},
	{"bcrypt cost 17", "$2b$17$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "cost 17 is above 14"},
	{"bcrypt cost 16", "$2b$16$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "cost 16 is above 14"},
	{"bcrypt cost 15", "$2b$15$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "cost 15 is above 14"},
	{"bcrypt cost letters", "$2b$xx$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "bad cost"},
	{"bcrypt alphabet", "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ0123!", "bad character"},
	{"bcrypt 2x", "$2x$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "not an argon2id"},
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	t.Parallel()
	for _, tc := range badHashes {
		ok, err := Verify(tc.hash, []byte("password"))
		if ok || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Verify = %v, %v; want false and an error with %q", tc.name, ok, err, tc.msg)
		}
		if err := ValidateHash(tc.hash); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: ValidateHash = %v; want an error with %q", tc.name, err, tc.msg)
		}
		if err != nil && len(tc.hash) > 12 && strings.Contains(err.Error(), tc.hash[len(tc.hash)-8:]) {
			t.Errorf("%s: the error quotes the hash: %v", tc.name, err)
		}
	}
}

// A stored hash with a line break inside its salt or key is refused: the
// base64 decoder skips CR and LF, even strict, and such a hash loaded and
// verified (found by review).
func TestHashWithLineBreakRefused(t *testing.T) {
	t.Parallel()
	good, err := Hash([]byte("password-1"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(good, '$') + 3
	for _, br := range []string{"\r\n", "\n", "\r"} {
		bad := good[:i] + br + good[i:]
		if err := ValidateHash(bad); err == nil {
			t.Errorf("ValidateHash of a hash with %q in its key: nil", br)
		}
		if ok, err := Verify(bad, []byte("password-1")); ok || err == nil {
			t.Errorf("Verify of a hash with %q in its key: %v, %v", br, ok, err)
		}
		p := strings.Index(good, "p=")
		j := p + strings.IndexByte(good[p:], '$') + 3 // inside the salt
		if err := ValidateHash(good[:j] + br + good[j:]); err == nil {
			t.Errorf("ValidateHash of a hash with %q in its salt: nil", br)
		}
	}
}

func TestBoundsAccepted(t *testing.T) {
	t.Parallel()
	// The edges of the bounds are accepted (parsed, not verified: 256 MiB),
	// and so are the standard profiles within them.
	for _, enc := range []string{
		"$argon2id$v=19$m=262144,t=1,p=64$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",    // the most memory
		"$argon2id$v=19$m=16384,t=16,p=64$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",    // the most passes
		"$argon2id$v=19$m=131072,t=2,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",     // the most work, m·t
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", // RFC 9106, second profile
		"$argon2id$v=19$m=47104,t=1,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", // OWASP's largest
		"$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg",  // OWASP's most passes
		"$argon2id$v=19$m=512,t=1,p=64$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg",       // m = 8·p
		"$argon2id$v=19$m=8,t=1,p=1$" + strings.Repeat("c2Fs", 16) + "$" + strings.Repeat("MDEy", 42) + "MDE",
		"$2y$14$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"$2a$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	} {
		if err := ValidateHash(enc); err != nil {
			t.Errorf("%s: %v", enc, err)
		}
	}
}
