package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
)

// ParsePEM parses one PEM-encoded RSA, ECDSA or Ed25519 key and binds it to
// alg and kid (an empty kid is derived as [NewPrivate] describes). Accepted
// blocks: "PRIVATE KEY" (PKCS #8), "RSA PRIVATE KEY" (PKCS #1), "EC PRIVATE
// KEY" (SEC 1, optionally preceded by the "EC PARAMETERS" block OpenSSL
// writes), "PUBLIC KEY" (PKIX) and "RSA PUBLIC KEY" (PKCS #1).
//
// The document must hold exactly one key block. Text before it is allowed
// (such as the "Bag Attributes" lines openssl pkcs12 writes) when it holds
// no "-----" (no other PEM boundary, broken or not) and the block starts a
// line; after the key block only white space is allowed. An "EC
// PARAMETERS" block is accepted only directly before an "EC PRIVATE KEY"
// block (white space between them), without headers, holding the named
// curve OID of that key's curve. Everything else is refused with
// [ErrInvalidKey]: a second block, well-formed or broken, a malformed
// block, text after the key, encrypted PEM, PEM headers, and documents over
// MaxPEMBytes. HMAC algorithms are refused with [ErrAlgorithmMismatch]: PEM
// does not carry HMAC secrets.
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
	begin := bytes.Index(data, []byte(pemBegin))
	if begin < 0 {
		return nil, fmt.Errorf("%w: no PEM key block found", ErrInvalidKey)
	}
	if bytes.Contains(data[:begin], []byte("-----")) {
		return nil, fmt.Errorf("%w: the text before the PEM block holds a PEM boundary", ErrInvalidKey)
	}
	if begin > 0 && data[begin-1] != '\n' {
		return nil, fmt.Errorf("%w: the PEM block does not start a line", ErrInvalidKey)
	}
	block, rest, err := decodeOnePEM(data[begin:])
	if err != nil {
		return nil, err
	}
	var params []byte // the EC PARAMETERS block's content, if there is one
	if block.Type == "EC PARAMETERS" {
		if len(block.Headers) != 0 {
			return nil, fmt.Errorf("%w: PEM EC PARAMETERS block has headers", ErrInvalidKey)
		}
		params = block.Bytes
		rest = bytes.TrimLeft(rest, pemSpace)
		if !bytes.HasPrefix(rest, []byte(pemBegin)) {
			return nil, fmt.Errorf("%w: PEM EC PARAMETERS block not followed by an EC PRIVATE KEY block", ErrInvalidKey)
		}
		if block, rest, err = decodeOnePEM(rest); err != nil {
			return nil, err
		}
		if block.Type != "EC PRIVATE KEY" {
			clear(block.Bytes)
			return nil, fmt.Errorf("%w: PEM EC PARAMETERS block before a %s block (only an EC PRIVATE KEY may follow it)", ErrInvalidKey, quoteShort(block.Type))
		}
	}
	defer clear(block.Bytes) // after NewPrivate or NewPublic have copied what they keep
	if len(bytes.TrimLeft(rest, pemSpace)) != 0 {
		return nil, fmt.Errorf("%w: PEM holds more than the key block (a second block, or text after it); give one key", ErrInvalidKey)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM block has headers (encrypted PEM is not supported)", ErrInvalidKey)
	}
	var (
		priv any
		pub  any
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
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidKey, block.Type, err)
	}
	if params != nil {
		if err := checkECParameters(params, priv); err != nil {
			return nil, err
		}
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

const (
	pemBegin = "-----BEGIN"
	pemSpace = " \t\r\n"
)

// decodeOnePEM decodes the PEM block that data starts with. pem.Decode
// skips what it cannot read up to the next "-----BEGIN", so a broken block
// would silently give way to a later one; here the block decoded must be
// the one at the start, holding no other boundary.
func decodeOnePEM(data []byte) (*pem.Block, []byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, nil, fmt.Errorf("%w: malformed PEM block", ErrInvalidKey)
	}
	if bytes.Count(data[:len(data)-len(rest)], []byte(pemBegin)) != 1 {
		clear(block.Bytes)
		return nil, nil, fmt.Errorf("%w: malformed PEM block before the %s block", ErrInvalidKey, quoteShort(block.Type))
	}
	return block, rest, nil
}

// The named curve OIDs (RFC 5480 §2.1.1.1) of the curves this package
// supports.
var curveOIDs = []struct {
	oid   asn1.ObjectIdentifier
	curve elliptic.Curve
}{
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256()},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384()},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521()},
}

// checkECParameters checks the content of an EC PARAMETERS block: exactly
// one DER named curve OID, the curve of priv (the SEC 1 key it came with).
func checkECParameters(params []byte, priv any) error {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(params, &oid)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("%w: PEM EC PARAMETERS block is not one named curve OID", ErrInvalidKey)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("%w: PEM EC PARAMETERS block before a key that is not ECDSA", ErrInvalidKey)
	}
	for _, c := range curveOIDs {
		if oid.Equal(c.oid) {
			if c.curve != ec.Curve {
				return fmt.Errorf("%w: PEM EC PARAMETERS name %s, the key is on %s", ErrInvalidKey, c.curve.Params().Name, ec.Curve.Params().Name)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: PEM EC PARAMETERS name curve %s, the key is on %s", ErrInvalidKey, quoteShort(oid.String()), ec.Curve.Params().Name)
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
