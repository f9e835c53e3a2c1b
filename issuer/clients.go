package issuer

import (
	"fmt"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/opaque"
)

// NewClientSecret returns a fresh secret for an OAuth 2.0 client and the
// hash to store in authkit.Client.SecretHash: "<prefix>cs_" and 49
// characters of base62 with a checksum, 256 bits of entropy, hashed as the
// issuer hashes API tokens (WithTokenHashKey). Show the secret to the
// client's owner once; it is never stored.
func (i *Issuer) NewClientSecret() (secret string, hash authkit.TokenHash, err error) {
	secret, err = opaque.New(i.prefix, opaque.KindClientSecret)
	if err != nil {
		return "", authkit.TokenHash{}, fmt.Errorf("issuer: generating a client secret: %w", err)
	}
	return secret, i.hasher.Hash(secret), nil
}

// CheckClientSecret reports whether secret is c's: c has a secret, secret
// has the form NewClientSecret gives (checked first, without a hash), and
// its hash equals c.SecretHash, compared in constant time.
func (i *Issuer) CheckClientSecret(c authkit.Client, secret string) bool {
	if c.SecretHash == (authkit.TokenHash{}) || opaque.Check(secret, i.prefix, opaque.KindClientSecret) != nil {
		return false
	}
	return opaque.Equal(i.hasher.Hash(secret), c.SecretHash)
}
