package golangjwt_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

// golang-jwt's PS* methods accept any PSS salt length; RFC 7518 §3.5 and
// authkit's verifier require the hash's length. The bridge checks PS*
// signatures itself, so that it and the verifier agree on every token: a
// PS256 token signed with another salt length is refused by both, and one
// signed as RFC 7518 says is accepted by both.
func TestKeyfuncPSSSaltLength(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.NewPrivate(keys.PS256, priv, "pss-1")
	if err != nil {
		t.Fatal(err)
	}
	set := newSet(t, k)
	good := signWith(t, k, validClaims("alice", "j1"))
	if _, _, err := parse(good, set); err != nil {
		t.Fatalf("a PS256 token with the RFC 7518 salt length: %v", err)
	}
	input := good[:strings.LastIndexByte(good, '.')]
	digest := sha256.Sum256([]byte(input))
	for _, salt := range []int{0, 20, 64} {
		sig, err := rsa.SignPSS(rand.Reader, priv, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		tok := input + "." + base64.RawURLEncoding.EncodeToString(sig)
		if err := k.Verify([]byte(input), sig); err == nil {
			t.Fatalf("keys accepts salt length %d", salt)
		}
		if _, _, err := parse(tok, set); err == nil {
			t.Errorf("the bridge accepts a PS256 signature with salt length %d, which authkit's verifier refuses", salt)
		}
	}
}
