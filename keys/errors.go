package keys

import "errors"

// Sentinel errors. Every error this package returns matches exactly one of
// them with [errors.Is]; the message adds the detail. See the package
// documentation's Errors section.
var (
	// ErrUnsupportedAlgorithm: an algorithm (or JWK curve) that is not one of
	// the thirteen this package implements, such as "none", "RSA1_5",
	// "A256GCM", "ES224" or "ES521".
	ErrUnsupportedAlgorithm = errors.New("keys: unsupported algorithm")

	// ErrWeakKey: key material that parses but must not be used: an HMAC
	// secret shorter than the hash output, an RSA modulus under 2048 bits, an
	// RSA public exponent below 3, an RSA modulus with the ROCA
	// fingerprint (CVE-2017-15361), or an Ed25519 public key of small order.
	ErrWeakKey = errors.New("keys: weak key")

	// ErrInvalidKey: malformed or inconsistent key material or key document:
	// bad base64url or JSON, an EC point not on its curve, a private part
	// that does not match the public part, a "use" other than "sig", an
	// oversized document, a key set that mixes kinds of keys, and so on.
	ErrInvalidKey = errors.New("keys: invalid key")

	// ErrAlgorithmMismatch: key material that does not fit the algorithm it
	// is bound to, such as a P-384 key with ES256, an RSA key with EdDSA, or a
	// JWK whose "kty" does not fit its "alg".
	ErrAlgorithmMismatch = errors.New("keys: key does not fit the algorithm")

	// ErrNotSigningKey: a public-only key was asked to sign, or to become a
	// set's active key.
	ErrNotSigningKey = errors.New("keys: not a signing key")

	// ErrSymmetricKey: an operation that needs a public key (PublicJWK,
	// MarshalPEM) was asked of an HMAC key, which has none.
	ErrSymmetricKey = errors.New("keys: symmetric key has no public form")

	// ErrSignerFailed: a key made by NewSigner could not sign: its
	// crypto.Signer returned an error (wrapped, so errors.Is also finds it,
	// such as context.DeadlineExceeded), or a signature that is malformed or
	// does not verify with the key's public key. No signature is returned.
	ErrSignerFailed = errors.New("keys: external signer failed")

	// ErrNotExportable: the private part of a key made by NewSigner was
	// asked for (MarshalJWK, MarshalPEM, Set.MarshalPrivateJWKS); it lives
	// behind the crypto.Signer, not in this process.
	ErrNotExportable = errors.New("keys: private key is not exportable")

	// ErrInvalidSignature: a signature does not verify.
	ErrInvalidSignature = errors.New("keys: invalid signature")

	// ErrUnknownKey: no key with the given kid is in the set.
	ErrUnknownKey = errors.New("keys: unknown key ID")

	// ErrDuplicateKeyID: two keys in one set share a kid.
	ErrDuplicateKeyID = errors.New("keys: duplicate key ID")

	// ErrActiveKey: Set.Remove was asked to remove the active signing key.
	// Activate another key first.
	ErrActiveKey = errors.New("keys: cannot remove the active key")
)
