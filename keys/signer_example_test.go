package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/authkit-go/authkit/keys"
)

// kmsKey stands in for a KMS or HSM client: a crypto.Signer whose private
// key never leaves the service. A real one calls the service in Sign,
// bounded by its own timeout, and returns the service's error.
type kmsKey struct {
	priv *ecdsa.PrivateKey // inside the "service"
}

func (k kmsKey) Public() crypto.PublicKey { return k.priv.Public() }

func (k kmsKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.priv.Sign(r, digest, opts) // ASN.1 DER, as crypto.Signer specifies
}

// Sign tokens with a key held by a KMS or an HSM. The key's kid and public
// JWK are those of any key with the same public key; its private part
// cannot be exported.
func ExampleNewSigner() {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, err := keys.NewSigner(keys.ES256, kmsKey{priv}, "") // kid: RFC 7638 thumbprint
	if err != nil {
		panic(err)
	}
	set, err := keys.NewSet(key) // hand the set to authkit.WithKeys
	if err != nil {
		panic(err)
	}

	input := []byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9")
	sig, err := set.Active().Sign(input) // checked against the public key before it is returned
	if err != nil {
		panic(err) // errors.Is(err, keys.ErrSignerFailed) when the KMS fails
	}
	fmt.Println("signature bytes:", len(sig)) // R||S, converted from the signer's DER

	// Verifiers get the public key from the JWKS, as for any other key.
	doc, _ := set.JWKS()
	remote, _ := keys.ParseJWKS(doc)
	pub, _ := remote.Lookup(key.ID())
	fmt.Println("verified:", pub.Verify(input, sig) == nil)

	_, err = key.MarshalJWK()
	fmt.Println("private export refused:", errors.Is(err, keys.ErrNotExportable))
	// Output:
	// signature bytes: 64
	// verified: true
	// private export refused: true
}
