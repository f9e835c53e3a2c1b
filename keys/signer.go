package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"fmt"
)

// NewSigner returns a signing key for alg whose private key stays behind s:
// a key in a KMS, an HSM, Vault or any other implementation of
// [crypto.Signer]. alg must be an RS*, PS*, ES* or EdDSA algorithm; HMAC
// algorithms are refused with [ErrAlgorithmMismatch], unknown ones with
// [ErrUnsupportedAlgorithm].
//
// s.Public() is called once, here, and validated exactly as [NewPublic]
// validates a public key: RSA moduli under 2048 bits, small or even
// exponents and ROCA moduli are refused ([ErrWeakKey], [ErrInvalidKey]), an
// EC key must be on the alg's curve and an Ed25519 key must not be of small
// order; a key of the wrong type is refused with [ErrAlgorithmMismatch]. If
// kid is empty, it is the RFC 7638 thumbprint of that public key, as for
// [NewPrivate], so the key's JWK, JWKS entry and kid are the same as those
// of a local key with the same public key.
//
// [Key.Sign] hashes the signing input with the alg's hash and passes the
// digest to s.Sign with crypto.SHA256, SHA384 or SHA512 as the options (RS*,
// ES*), or an *rsa.PSSOptions whose SaltLength is the hash length (PS*,
// RFC 7518 §3.5); for EdDSA it passes the signing input itself with
// crypto.Hash(0). An ES* signer must return an ASN.1 DER signature, as
// crypto.Signer specifies; it is converted strictly to the fixed-width R||S
// of RFC 7518 §3.4. Every signature is then verified with the public key
// before it is returned: a signer that fails, is faulty, or now holds a
// different key (a key rotated under the same name in the KMS) yields an
// error matching [ErrSignerFailed] and never a signature. This also keeps a
// faulty RSA-CRT signature, which would reveal the private key, from
// leaving the process. The check costs one public-key verification per
// token.
//
// Such a key never exports its private part: [Key.MarshalJWK],
// [Key.MarshalPEM] and [Set.MarshalPrivateJWKS] refuse it with
// [ErrNotExportable]; [Key.PublicJWK] and [Set.JWKS] work as for any key.
//
// s must be safe for concurrent use, as the Key is. crypto.Signer takes no
// context, so Key.Sign waits as long as s.Sign does: bound every call inside
// s (a KMS client with a per-call timeout, or a Sign that runs the remote
// call under [context.WithTimeout]) and return the error when it expires.
// A panic in s is not recovered.
func NewSigner(alg Algorithm, s crypto.Signer, kid string) (*Key, error) {
	switch alg.family() {
	case famNone:
		return nil, unsupported(alg)
	case famHMAC:
		return nil, fmt.Errorf("%w: %s is an HMAC algorithm; a crypto.Signer can only be used with RS, PS, ES or EdDSA", ErrAlgorithmMismatch, alg)
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	// Typed nil standard-library keys would panic in Public.
	switch p := s.(type) {
	case nil:
		return nil, fmt.Errorf("%w: nil crypto.Signer", ErrInvalidKey)
	case *rsa.PrivateKey:
		if p == nil {
			return nil, fmt.Errorf("%w: nil RSA private key", ErrInvalidKey)
		}
	case *ecdsa.PrivateKey:
		if p == nil {
			return nil, fmt.Errorf("%w: nil ECDSA private key", ErrInvalidKey)
		}
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: Ed25519 private key is %d bytes, want %d", ErrInvalidKey, len(p), ed25519.PrivateKeySize)
		}
	case *ed25519.PrivateKey:
		if p == nil || len(*p) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: nil or short Ed25519 private key", ErrInvalidKey)
		}
	}
	pub := s.Public()
	switch pub.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey, *ed25519.PrivateKey:
		return nil, fmt.Errorf("%w: the crypto.Signer's Public method returned a private key (%T)", ErrInvalidKey, pub)
	}
	k, err := NewPublic(alg, pub, kid)
	if err != nil {
		return nil, fmt.Errorf("%w (the crypto.Signer's public key)", err)
	}
	k.signer = s
	switch k.fam {
	case famRSA, famECDSA:
		k.signerOpts = k.hash
		if k.fam == famRSA {
			k.sigLen = (k.rsaPub.N.BitLen() + 7) / 8
		} else {
			k.sigLen = 2 * k.ecSize
		}
	case famPSS:
		k.signerOpts = &rsa.PSSOptions{SaltLength: k.hash.Size(), Hash: k.hash}
		k.sigLen = (k.rsaPub.N.BitLen() + 7) / 8
	case famEdDSA:
		k.signerOpts = crypto.Hash(0)
		k.sigLen = ed25519.SignatureSize
	}
	return k, nil
}

// signWithSigner is Key.Sign for a key made by NewSigner.
func (k *Key) signWithSigner(signingInput []byte) ([]byte, error) {
	msg := signingInput
	if k.fam != famEdDSA {
		var buf [sha512.Size]byte
		msg = digest(k.hash, signingInput, &buf)
	}
	raw, err := k.signer.Sign(rand.Reader, msg, k.signerOpts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s kid %s: %w", ErrSignerFailed, k.alg, quoteShort(k.kid), err)
	}
	var sig []byte
	if k.fam == famECDSA {
		var ok bool
		if sig, ok = ecdsaFromDER(raw, k.ecSize); !ok {
			return nil, fmt.Errorf("%w: %s kid %s: the signer returned %d bytes that are not a DER ECDSA signature for this curve", ErrSignerFailed, k.alg, quoteShort(k.kid), len(raw))
		}
	} else {
		if len(raw) != k.sigLen {
			return nil, fmt.Errorf("%w: %s kid %s: the signer returned a %d-byte signature, want %d", ErrSignerFailed, k.alg, quoteShort(k.kid), len(raw), k.sigLen)
		}
		sig = bytes.Clone(raw) // the signer cannot change what was checked
	}
	if k.Verify(signingInput, sig) != nil {
		return nil, fmt.Errorf("%w: %s kid %s: the signature does not verify with the key's public key (a faulty signer, or one that now holds another key); it was discarded", ErrSignerFailed, k.alg, quoteShort(k.kid))
	}
	return sig, nil
}

// ecdsaFromDER converts the ASN.1 DER ECDSA signature SEQUENCE { r
// INTEGER, s INTEGER } to R||S with each half left-padded to size bytes
// (RFC 7518 §3.4). It is strict: anything but minimal definite-length DER
// of two positive integers of at most size bytes, with nothing after them,
// is refused. Whether r and s are below the group order is left to the
// verification that follows.
func ecdsaFromDER(der []byte, size int) ([]byte, bool) {
	if len(der) < 2 || der[0] != 0x30 {
		return nil, false
	}
	body, n := der[2:], int(der[1])
	switch {
	case n < 0x80: // short form
	case n == 0x81 && len(der) >= 3 && der[2] >= 0x80: // long form only where needed
		body, n = der[3:], int(der[2])
	default:
		return nil, false
	}
	if len(body) != n {
		return nil, false // truncated, or trailing data
	}
	out := make([]byte, 2*size)
	for i := range 2 {
		v, rest, ok := derPositiveInt(body)
		if !ok || len(v) > size {
			return nil, false
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
		body = rest
	}
	if len(body) != 0 {
		return nil, false
	}
	return out, true
}

// derPositiveInt reads one minimal DER INTEGER (short-form length) from b,
// which must be positive, and returns its big-endian magnitude without
// leading zeros and the bytes after it.
func derPositiveInt(b []byte) (v, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != 0x02 || b[1] >= 0x80 {
		return nil, nil, false
	}
	n := int(b[1])
	if n == 0 || len(b)-2 < n {
		return nil, nil, false
	}
	v, rest = b[2:2+n], b[2+n:]
	if v[0]&0x80 != 0 {
		return nil, nil, false // negative
	}
	if v[0] == 0 {
		if n == 1 {
			return nil, nil, false // zero
		}
		if v[1]&0x80 == 0 {
			return nil, nil, false // not minimal
		}
		v = v[1:]
	}
	return v, rest, true
}
