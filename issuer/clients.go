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
	if err := i.ready(); err != nil {
		return "", authkit.TokenHash{}, err
	}
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
	if i.ready() != nil {
		return false
	}
	if c.SecretHash == (authkit.TokenHash{}) || opaque.Check(secret, i.prefix, opaque.KindClientSecret) != nil {
		return false
	}
	return opaque.Equal(i.hasher.Hash(secret), c.SecretHash)
}

// NewAuthorizationCode returns a fresh OAuth 2.0 authorization code (RFC
// 6749 §4.1.2) and the hash to store in authkit.AuthorizationCode.Hash:
// "<prefix>ac_" and 49 characters of base62 with a checksum, 256 bits of
// entropy, hashed as the issuer hashes API tokens. The code goes to the
// client once, in the redirect; it is never stored.
func (i *Issuer) NewAuthorizationCode() (code string, hash authkit.TokenHash, err error) {
	if err := i.ready(); err != nil {
		return "", authkit.TokenHash{}, err
	}
	code, err = opaque.New(i.prefix, opaque.KindAuthCode)
	if err != nil {
		return "", authkit.TokenHash{}, fmt.Errorf("issuer: generating an authorization code: %w", err)
	}
	return code, i.hasher.Hash(code), nil
}

// AuthorizationCodeHash returns the hash under which code was stored, and
// false without hashing when code does not have the form
// NewAuthorizationCode gives (a mistyped, truncated or foreign code).
func (i *Issuer) AuthorizationCodeHash(code string) (authkit.TokenHash, bool) {
	if i.ready() != nil {
		return authkit.TokenHash{}, false
	}
	if opaque.Check(code, i.prefix, opaque.KindAuthCode) != nil {
		return authkit.TokenHash{}, false
	}
	return i.hasher.Hash(code), true
}

// CheckIssueOptions reports whether IssuePair would accept subject and
// opts, without issuing anything: the error it would return for them
// (matching authkit.ErrInvalidRequest), or nil. The HTTP layer uses it to
// refuse a login hook's claims or lifetimes when the login completes,
// rather than when a client later exchanges an authorization code.
func (i *Issuer) CheckIssueOptions(subject string, opts ...IssueOption) error {
	if err := i.ready(); err != nil {
		return err
	}
	_, err := i.params(subject, opts)
	return err
}
