package jws

// A strict decoder for unpadded base64url (RFC 4648 §5, RFC 7515 §2). It
// reads straight from the token string, so no []byte copy of the token is
// made, and it accepts exactly one encoding of each byte string: the
// alphabet [A-Za-z0-9_-] only (no '=', no white space, no line breaks, which
// encoding/base64 would silently skip), no length of the form 4k+1, and
// zero unused bits in the last character.

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// decodeTable maps a byte to its 6-bit value, or to 0xFF when it is not in
// the alphabet. It is computed once and never written.
var decodeTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodedLen returns the decoded length of an n-character segment, and
// false when no canonical encoding has n characters.
func decodedLen(n int) (int, bool) {
	if n%4 == 1 {
		return 0, false
	}
	return n/4*3 + n%4*3/4, true
}

// decode decodes s into dst, which must be exactly decodedLen(len(s)) bytes
// long, and reports whether s was canonical. On failure dst holds garbage.
func decode(dst []byte, s string) (int, bool) {
	n := 0
	i := 0
	for ; i+4 <= len(s) && n+3 <= len(dst); i += 4 {
		a, b, c, d := decodeTable[s[i]], decodeTable[s[i+1]], decodeTable[s[i+2]], decodeTable[s[i+3]]
		if (a|b|c|d)&0x80 != 0 {
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	switch len(s) - i {
	case 0:
	case 2:
		if n+1 > len(dst) {
			return 0, false
		}
		a, b := decodeTable[s[i]], decodeTable[s[i+1]]
		if (a|b)&0x80 != 0 || b&0x0F != 0 {
			return 0, false
		}
		dst[n] = a<<2 | b>>4
		n++
	case 3:
		if n+2 > len(dst) {
			return 0, false
		}
		a, b, c := decodeTable[s[i]], decodeTable[s[i+1]], decodeTable[s[i+2]]
		if (a|b|c)&0x80 != 0 || c&0x03 != 0 {
			return 0, false
		}
		v := uint32(a)<<12 | uint32(b)<<6 | uint32(c)
		dst[n], dst[n+1] = byte(v>>10), byte(v>>2)
		n += 2
	default:
		return 0, false
	}
	return n, n == len(dst)
}

// canonical reports whether s is canonical unpadded base64url, without
// decoding it.
func canonical(s string) bool {
	if len(s)%4 == 1 {
		return false
	}
	var acc byte
	for i := 0; i < len(s); i++ {
		acc |= decodeTable[s[i]]
	}
	if acc&0x80 != 0 {
		return false
	}
	switch len(s) % 4 {
	case 2:
		return decodeTable[s[len(s)-1]]&0x0F == 0
	case 3:
		return decodeTable[s[len(s)-1]]&0x03 == 0
	}
	return true
}
