package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParsePEM parses one PEM-encoded RSA, ECDSA or Ed25519 key and binds it to
// alg and kid (an empty kid is derived as [NewPrivate] describes). Accepted
// blocks: "PRIVATE KEY" (PKCS #8), "RSA PRIVATE KEY" (PKCS #1), "EC PRIVATE
// KEY" (SEC 1, optionally preceded by the "EC PARAMETERS" block OpenSSL
// writes), "PUBLIC KEY" (PKIX) and "RSA PUBLIC KEY" (PKCS #1). Encrypted
// PEM, PEM headers, more than one key, and documents over MaxPEMBytes are
// refused with [ErrInvalidKey]. HMAC algorithms are refused with
// [ErrAlgorithmMismatch]: PEM does not carry HMAC secrets.
func ParsePEM(data []byte, alg Algorithm, kid string) (*Key, error) {
	switch alg.family() {
	case famNone:
		return nil, unsupported(alg)
	case famHMAC:
		return nil, fmt.Errorf("%w: PEM holds no %s secret; use NewHMAC", ErrAlgorithmMismatch, alg)
	}
	if len(data) > MaxPEMBytes {
		return nil, fmt.Errorf("%w: PEM is %d bytes, at most %d accepted", ErrInvalidKey, len(data), MaxPEMBytes)
	}
	block, rest := pem.Decode(data)
	if block != nil && block.Type == "EC PARAMETERS" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM key block found", ErrInvalidKey)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("%w: PEM holds more than one block; give one key", ErrInvalidKey)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM block has headers (encrypted PEM is not supported)", ErrInvalidKey)
	}
	var (
		priv any
		pub  any
		err  error
	)
	switch block.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: unsupported PEM block type %s", ErrInvalidKey, quoteShort(block.Type))
	}
	defer clear(block.Bytes) // after NewPrivate or NewPublic have copied what they keep
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidKey, block.Type, err)
	}
	if priv != nil {
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: unsupported private key type %T", ErrInvalidKey, priv)
		}
		return NewPrivate(alg, signer, kid)
	}
	return NewPublic(alg, pub, kid)
}

// MarshalPEM returns k in PEM: a "PRIVATE KEY" block (PKCS #8) when k can
// sign, else a "PUBLIC KEY" block (PKIX). It returns [ErrSymmetricKey] for
// HMAC keys, and [ErrNotExportable] for a key made by [NewSigner] (marshal
// its [Key.Public] instead). A private result is secret material: store it
// as such.
func (k *Key) MarshalPEM() ([]byte, error) {
	if k == nil || k.fam == famNone {
		return nil, fmt.Errorf("%w: nil or zero Key", ErrInvalidKey)
	}
	if k.signer != nil {
		return nil, notExportable(k)
	}
	if k.fam == famHMAC {
		return nil, fmt.Errorf("%w: kid %s is an HMAC key", ErrSymmetricKey, quoteShort(k.kid))
	}
	var (
		der []byte
		typ string
		err error
	)
	if k.CanSign() {
		typ = "PRIVATE KEY"
		switch {
		case k.rsaPriv != nil:
			der, err = x509.MarshalPKCS8PrivateKey(k.rsaPriv)
		case k.ecPriv != nil:
			der, err = x509.MarshalPKCS8PrivateKey(k.ecPriv)
		default:
			der, err = x509.MarshalPKCS8PrivateKey(k.sec.ed)
		}
	} else {
		typ = "PUBLIC KEY"
		der, err = x509.MarshalPKIXPublicKey(k.PublicKey())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: encoding PEM: %v", ErrInvalidKey, err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	clear(der)
	return out, nil
}
