package keys

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

// TestECDSADER checks the R||S to DER conversion against encoding/asn1 for
// halves with leading zero bytes, the high bit set, and every curve size.
func TestECDSADER(t *testing.T) {
	for _, size := range []int{32, 48, 66} {
		for _, tc := range [][2][]byte{
			{append([]byte{0x80}, make([]byte, size-1)...), append([]byte{0x7f}, bytes.Repeat([]byte{0xff}, size-1)...)},
			{append(make([]byte, size-1), 1), append([]byte{0, 0, 0x80}, bytes.Repeat([]byte{1}, size-3)...)},
			{bytes.Repeat([]byte{0xff}, size), bytes.Repeat([]byte{0xff}, size)},
			{append([]byte{0}, bytes.Repeat([]byte{0x90}, size-1)...), append([]byte{0, 0x01}, bytes.Repeat([]byte{0x90}, size-2)...)},
		} {
			got, ok := ecdsaDER(nil, tc[0], tc[1])
			if !ok {
				t.Fatalf("size %d: refused", size)
			}
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(tc[0]), new(big.Int).SetBytes(tc[1])})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d:\n got %x\nwant %x", size, got, want)
			}
		}
		if _, ok := ecdsaDER(nil, make([]byte, size), bytes.Repeat([]byte{1}, size)); ok {
			t.Fatal("r = 0 accepted")
		}
		if _, ok := ecdsaDER(nil, bytes.Repeat([]byte{1}, size), make([]byte, size)); ok {
			t.Fatal("s = 0 accepted")
		}
	}
}
