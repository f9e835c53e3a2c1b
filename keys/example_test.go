package keys_test

import (
	"errors"
	"fmt"

	"github.com/authkit-go/authkit/keys"
)

// Generate a key, sign a JWS signing input with it, and verify the
// signature, as the JWS layer does for every token.
func Example() {
	key, err := keys.Generate(keys.ES256)
	if err != nil {
		panic(err)
	}
	input := []byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9") // BASE64URL(header).BASE64URL(payload)
	sig, err := key.Sign(input)
	if err != nil {
		panic(err)
	}
	fmt.Println("signature bytes:", len(sig)) // R||S, 32 bytes each
	fmt.Println("verified:", key.Verify(input, sig) == nil)

	// A verifier holds only the public part.
	pub := key.Public()
	fmt.Println("public key can sign:", pub.CanSign())
	fmt.Println("public key verifies:", pub.Verify(input, sig) == nil)

	sig[0] ^= 1
	fmt.Println("tampered:", errors.Is(pub.Verify(input, sig), keys.ErrInvalidSignature))
	// Output:
	// signature bytes: 64
	// verified: true
	// public key can sign: false
	// public key verifies: true
	// tampered: true
}

// Rotate the signing key of a Set without invalidating tokens already
// issued, in the four steps of the package documentation.
func ExampleSet() {
	old, _ := keys.Generate(keys.EdDSA)
	set, err := keys.NewSet(old)
	if err != nil {
		panic(err)
	}
	input := []byte("header.payload")
	issued, _ := set.Active().Sign(input) // a token signed before the rotation

	// 1. Add the next key; it verifies but does not sign yet.
	next, _ := keys.Generate(keys.EdDSA)
	if err := set.Add(next); err != nil {
		panic(err)
	}
	fmt.Println("step 1, old key active:", set.Active() == old)

	// 2. Activate it: new tokens are signed with it.
	if err := set.Activate(next.ID()); err != nil {
		panic(err)
	}
	fmt.Println("step 2, next key active:", set.Active() == next)

	// 3. Until the old tokens expire, they still verify (looked up by kid).
	k, ok := set.Lookup(old.ID())
	fmt.Println("step 3, old token verifies:", ok && k.Verify(input, issued) == nil)

	// The active key cannot be removed.
	fmt.Println("remove active:", errors.Is(set.Remove(next.ID()), keys.ErrActiveKey))

	// 4. Drop the old key.
	if err := set.Remove(old.ID()); err != nil {
		panic(err)
	}
	_, ok = set.Lookup(old.ID())
	fmt.Println("step 4, old key found:", ok, "keys left:", len(set.Keys()))
	// Output:
	// step 1, old key active: true
	// step 2, next key active: true
	// step 3, old token verifies: true
	// remove active: true
	// step 4, old key found: false keys left: 1
}

// Publish the public keys of a set for verifiers, and load them there.
func ExampleSet_JWKS() {
	signing, _ := keys.Generate(keys.RS256)
	set, _ := keys.NewSet(signing)
	doc, err := set.JWKS() // serve at /.well-known/jwks.json
	if err != nil {
		panic(err)
	}
	remote, err := keys.ParseJWKS(doc) // on the verifier's side
	if err != nil {
		panic(err)
	}
	k, ok := remote.Lookup(signing.ID())
	fmt.Println("found:", ok, "can sign:", k.CanSign(), "alg:", k.Algorithm())
	// Output:
	// found: true can sign: false alg: RS256
}
