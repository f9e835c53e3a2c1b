package jws

import "unsafe"

// readOnlyBytes returns the bytes of s without copying them, so that a
// token's signing input can be handed to keys.Key.Verify (which takes a
// []byte) without an allocation per verification. The result aliases
// immutable memory and MUST NOT be written to; keys.Key.Verify only hashes
// it.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// stringOf returns b as a string without copying it. b MUST NOT be
// modified afterwards (strings.Builder does the same); Sign drops its only
// reference.
func stringOf(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
