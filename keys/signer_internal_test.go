package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"
)

// TestECDSAFromDER checks the DER to R||S conversion against encoding/asn1
// and ecdsaDER (its inverse), for random and edge-case halves of every
// curve size.
func TestECDSAFromDER(t *testing.T) {
	for _, size := range []int{32, 48, 66} {
		halves := [][]byte{
			append(make([]byte, size-1), 1),
			bytes.Repeat([]byte{0xff}, size),
			append([]byte{0x80}, make([]byte, size-1)...),
			append([]byte{0, 0x7f}, bytes.Repeat([]byte{0xff}, size-2)...),
		}
		for range 50 {
			h := make([]byte, size)
			_, _ = rand.Read(h)
			h[0] |= 1
			halves = append(halves, h)
		}
		for i, r := range halves {
			s := halves[(i*7+3)%len(halves)]
			der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ecdsaFromDER(der, size)
			if !ok || !bytes.Equal(got, append(append([]byte(nil), r...), s...)) {
				t.Fatalf("size %d: %x -> %x, %v", size, der, got, ok)
			}
			back, ok := ecdsaDER(nil, got[:size], got[size:])
			if !ok || !bytes.Equal(back, der) {
				t.Fatalf("size %d: round trip %x != %x", size, back, der)
			}
		}
	}
}

// TestECDSAFromDERMalformed checks that everything but strict DER of two
// positive integers that fit the curve is refused.
func TestECDSAFromDERMalformed(t *testing.T) {
	one := []byte{0x02, 0x01, 0x01}
	seq := func(parts ...[]byte) []byte {
		body := bytes.Join(parts, nil)
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	big33 := append([]byte{0x02, 33, 0x01}, make([]byte, 32)...) // 33-byte value
	long := func(n int) []byte {                                 // a valid P-521-size signature using the 0x81 form
		v := append([]byte{0x02, byte(n)}, bytes.Repeat([]byte{0x11}, n)...)
		body := append(append([]byte(nil), v...), v...)
		return append([]byte{0x30, 0x81, byte(len(body))}, body...)
	}
	if _, ok := ecdsaFromDER(long(66), 66); !ok {
		t.Fatal("a valid long-form P-521 signature was refused")
	}
	if _, ok := ecdsaFromDER(seq(one, one), 32); !ok {
		t.Fatal("a valid minimal signature was refused")
	}
	for name, der := range map[string][]byte{
		"empty":                 nil,
		"one byte":              {0x30},
		"not a sequence":        append([]byte{0x31, 6}, append(one, one...)...),
		"set of ints":           {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"length too long":       {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"length too short":      {0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"trailing data":         append(seq(one, one), 0),
		"trailing in sequence":  seq(one, one, []byte{0}),
		"one integer":           seq(one),
		"three integers":        seq(one, one, one),
		"indefinite length":     {0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00},
		"non-minimal long form": {0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"0x82 long form":        {0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"zero r":                seq([]byte{0x02, 0x01, 0x00}, one),
		"zero s":                seq(one, []byte{0x02, 0x01, 0x00}),
		"negative r":            seq([]byte{0x02, 0x01, 0xff}, one),
		"negative s":            seq(one, []byte{0x02, 0x01, 0x80}),
		"non-minimal r":         seq([]byte{0x02, 0x02, 0x00, 0x01}, one),
		"empty integer":         seq([]byte{0x02, 0x00}, one),
		"wrong tag":             seq([]byte{0x04, 0x01, 0x01}, one),
		"integer overruns":      seq([]byte{0x02, 0x05, 0x01}, one),
		"integer long form":     seq([]byte{0x02, 0x81, 0x01, 0x01}, one),
		"r wider than curve":    seq(big33, one),
		"s wider than curve":    seq(one, big33),
		"raw r||s":              bytes.Repeat([]byte{0x30}, 64),
	} {
		if got, ok := ecdsaFromDER(der, 32); ok {
			t.Errorf("%s: %x accepted as %x", name, der, got)
		}
	}
	if _, ok := ecdsaFromDER(long(67), 66); ok {
		t.Error("67-byte halves accepted for P-521")
	}
}
