package opaque

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// FuzzCheck holds Check to its contract for any string, prefix and kind:
// its only error is ErrMalformed; whatever it accepts has the exact shape
// (Looks, length at most MaxLen when the prefix fits, base62 after the
// head) and re-encodes from its Body to exactly itself; and no change of
// one byte after the head passes it (CRC-32 catches every single-byte
// error, and its base62 form is one to one).
func FuzzCheck(f *testing.F) {
	for _, kind := range []string{KindAPI, KindRefresh, KindClientSecret, KindAuthCode} {
		tok, err := New("ak", kind)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok, "ak", kind, uint(len(tok)-1), byte('x'))
		f.Add(tok, "ak", KindRefresh, uint(3), byte('0'))
		f.Add(tok[:len(tok)-1], "ak", kind, uint(0), byte(0))
		f.Add(tok+"A", "ak", kind, uint(0), byte(0))
		f.Add(strings.ToUpper(tok), "AK", kind, uint(0), byte(0))
	}
	for _, sid := range []string{"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"} {
		tok, err := NewRefresh("ak", sid)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok, "ak", KindRefresh, uint(bodyLen+3), byte('z'))
		f.Add(tok, "ak", KindAPI, uint(0), byte(0))
	}
	// The largest body: 43 base62 digits hold a little more than 256 bits.
	head := "ak_" + strings.Repeat("z", bodyLen)
	f.Add(string(appendCheck([]byte(head), crc32.ChecksumIEEE([]byte(head)))), "ak", KindAPI, uint(0), byte(0))
	f.Add("", "", "", uint(0), byte(0))
	f.Add("_", "", "", uint(0), byte(0))
	f.Add("ak_\xff", "ak", "", uint(3), byte(0xff))
	f.Fuzz(func(t *testing.T, s, prefix, kind string, at uint, b byte) {
		err := Check(s, prefix, kind)
		if err != nil {
			if err != ErrMalformed {
				t.Fatalf("Check(%q) = %v, want exactly ErrMalformed", s, err)
			}
			if _, berr := Body(s, prefix, kind); !errors.Is(berr, ErrMalformed) {
				t.Fatalf("Body accepts %q that Check refuses: %v", s, berr)
			}
			return
		}
		h := len(prefix) + len(kind) + 1
		named := kind == KindRefresh && len(s) == h+bodyLen+sessionLen+checkLen
		if !Looks(s, prefix, kind) || len(s) != h+bodyLen+checkLen && !named {
			t.Fatalf("Check accepts %q of the wrong shape", s)
		}
		// A refresh token names a session exactly when it has the
		// session part, and re-encodes from it.
		if kind == KindRefresh {
			sid := SessionOf(s, prefix)
			if named != (sid != "") {
				t.Fatalf("SessionOf(%q) = %q", s, sid)
			}
			if named {
				u := uuid.MustParse(sid)
				if got := string(appendBase62(nil, new(big.Int).SetBytes(u[:]), sessionLen)); got != s[h+bodyLen:h+bodyLen+sessionLen] {
					t.Fatalf("SessionOf(%q) = %s, which encodes to %s", s, sid, got)
				}
			}
		}
		if len(prefix) <= 16 && len(kind) <= 2 && len(s) > MaxLen {
			t.Fatalf("Check accepts %d bytes, over MaxLen", len(s))
		}
		for i := h; i < len(s); i++ {
			if !isBase62(s[i]) {
				t.Fatalf("Check accepts %q with byte %#x in the body", s, s[i])
			}
		}
		raw, berr := Body(s, prefix, kind)
		switch {
		case berr == nil:
			re := appendBase62([]byte(s[:h]), new(big.Int).SetBytes(raw[:]), bodyLen)
			if named {
				re = append(re, s[h+bodyLen:h+bodyLen+sessionLen]...)
			}
			re = appendCheck(re, crc32.ChecksumIEEE(re))
			if string(re) != s {
				t.Fatalf("Body(%q) re-encodes to %q", s, re)
			}
		case berr != ErrMalformed:
			t.Fatalf("Body(%q) = %v, want nil or ErrMalformed", s, berr)
		}
		// One changed byte after the head never passes.
		i := h + int(at%uint(len(s)-h))
		if s[i] == b {
			return
		}
		m := []byte(s)
		m[i] = b
		if Check(string(m), prefix, kind) == nil {
			t.Fatalf("Check accepts %q, %q with byte %d changed", m, s, i)
		}
	})
}

// FuzzSealOpen: Open returns a sealed successor only to the secret that
// sealed it, never for a box it did not make (ErrMalformed, not a panic,
// whatever the box), never for a box with one bit flipped; and a sealed
// box is exactly nonce + successor + tag long.
func FuzzSealOpen(f *testing.F) {
	// The seeds are the same in every fuzzing process (each runs this
	// setup): fixed tokens, and a box sealed with a fixed nonce.
	const rt = "akrt_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg000000"
	const next = "akrt_hijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN000000"
	box := sealWithNonce(f, rt, next, bytes.Repeat([]byte{7}, 12))
	if got, err := Open(rt, box); err != nil || got != next {
		f.Fatalf("Open of a box sealed as Seal seals: %q, %v", got, err)
	}
	// The boxes sealed for the seeds, by box: the secret and successor.
	made := map[string][2]string{string(box): {rt, next}}
	f.Add(rt, next, box, uint(0))
	f.Add(rt, next, box[:len(box)-1], uint(len(box)*8-1))
	f.Add(rt+"x", next, box, uint(100))
	f.Add("", "", []byte{}, uint(0))
	f.Add("", "", make([]byte, 28), uint(7))
	f.Add("s", "\x00\xff", bytes.Repeat([]byte{0xff}, 29), uint(9))
	f.Fuzz(func(t *testing.T, secret, successor string, box []byte, flip uint) {
		sealed, err := Seal(secret, successor)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if len(sealed) != 12+len(successor)+16 {
			t.Fatalf("sealed box is %d bytes for a %d-byte successor", len(sealed), len(successor))
		}
		got, err := Open(secret, sealed)
		if err != nil || got != successor {
			t.Fatalf("Open(Seal(%q)) = %q, %v", successor, got, err)
		}
		if _, err := Open(secret+"\x00", sealed); err != ErrMalformed {
			t.Fatalf("Open with another secret: %v, want ErrMalformed", err)
		}
		m := bytes.Clone(sealed)
		bit := flip % uint(len(m)*8)
		m[bit/8] ^= 1 << (bit % 8)
		if _, err := Open(secret, m); err != ErrMalformed {
			t.Fatalf("Open of a box with bit %d flipped: %v, want ErrMalformed", bit, err)
		}
		// A box the fuzzer made is never opened (it would have to forge
		// AES-GCM): only a box Seal made, under its own secret, to its own
		// successor.
		pt, err := Open(secret, box)
		if err == nil {
			if w, ok := made[string(box)]; !bytes.Equal(box, sealed) && (!ok || w[0] != secret || w[1] != pt) {
				t.Fatalf("Open accepted a box Seal did not make: %q", pt)
			}
		} else if err != ErrMalformed {
			t.Fatalf("Open(%x) = %v, want ErrMalformed", box, err)
		}
	})
}

// sealWithNonce is Seal with a chosen nonce, for seeds that must be the
// same in every process.
func sealWithNonce(t testing.TB, secret, successor string, nonce []byte) []byte {
	key, err := sealKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal(bytes.Clone(nonce), nonce, []byte(successor), []byte(sealInfo))
}

// maxBody is 2^256-1, and Check refuses a body one above it (with a valid
// checksum) as Body does.
func TestMaxBody(t *testing.T) {
	n := new(big.Int).Lsh(big.NewInt(1), 256)
	n.Sub(n, big.NewInt(1))
	digits := func(n *big.Int) string {
		b := make([]byte, bodyLen)
		m, r, base := new(big.Int).Set(n), new(big.Int), big.NewInt(62)
		for i := bodyLen - 1; i >= 0; i-- {
			m.DivMod(m, base, r)
			b[i] = alphabet[r.Int64()]
		}
		return string(b)
	}
	if got := digits(n); got != maxBody {
		t.Fatalf("maxBody = %s, want %s", maxBody, got)
	}
	token := func(body string) string { return withChecksum("ak_rt_" + body) }
	if err := Check(token(maxBody), "ak_", "rt"); err != nil {
		t.Errorf("Check of the largest body: %v", err)
	}
	if _, err := Body(token(maxBody), "ak_", "rt"); err != nil {
		t.Errorf("Body of the largest body: %v", err)
	}
	over := digits(n.Add(n, big.NewInt(1)))
	if err := Check(token(over), "ak_", "rt"); err != ErrMalformed {
		t.Errorf("Check of 2^256: %v, want ErrMalformed", err)
	}
	// The session part likewise: 2^128-1 is the largest, one more is
	// refused.
	m := new(big.Int).Lsh(big.NewInt(1), 128)
	m.Sub(m, big.NewInt(1))
	if got := string(appendBase62(nil, new(big.Int).Set(m), sessionLen)); got != maxSession {
		t.Fatalf("maxSession = %s, want %s", maxSession, got)
	}
	if sid := SessionOf(token(maxBody+maxSession), "ak_"); sid != "ffffffff-ffff-ffff-ffff-ffffffffffff" {
		t.Errorf("SessionOf of the largest session part: %q", sid)
	}
	overSession := string(appendBase62(nil, m.Add(m, big.NewInt(1)), sessionLen))
	if err := Check(token(maxBody+overSession), "ak_", "rt"); err != ErrMalformed {
		t.Errorf("Check of a session part of 2^128: %v, want ErrMalformed", err)
	}
}
