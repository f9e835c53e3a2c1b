package keys

import (
	"crypto"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// Algorithm is a JWS signature algorithm name as registered by RFC 7518 §3.1
// (and RFC 8037 §3.1 for EdDSA). Only the thirteen constants below are
// supported; "none" and every encryption algorithm are not.
type Algorithm string

// The supported algorithms. EdDSA means Ed25519 only (Ed448 is not supported).
const (
	HS256 Algorithm = "HS256" // HMAC with SHA-256
	HS384 Algorithm = "HS384" // HMAC with SHA-384
	HS512 Algorithm = "HS512" // HMAC with SHA-512
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	RS384 Algorithm = "RS384" // RSASSA-PKCS1-v1_5 with SHA-384
	RS512 Algorithm = "RS512" // RSASSA-PKCS1-v1_5 with SHA-512
	PS256 Algorithm = "PS256" // RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt length 32
	PS384 Algorithm = "PS384" // RSASSA-PSS with SHA-384, MGF1 with SHA-384, salt length 48
	PS512 Algorithm = "PS512" // RSASSA-PSS with SHA-512, MGF1 with SHA-512, salt length 64
	ES256 Algorithm = "ES256" // ECDSA on P-256 with SHA-256
	ES384 Algorithm = "ES384" // ECDSA on P-384 with SHA-384
	ES512 Algorithm = "ES512" // ECDSA on P-521 with SHA-512
	EdDSA Algorithm = "EdDSA" // Ed25519 (RFC 8037)
)

// Algorithms returns every supported algorithm, in a fresh slice the caller
// may modify.
func Algorithms() []Algorithm {
	return []Algorithm{HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA}
}

// Valid reports whether a is one of the supported algorithms. The comparison
// is exact: "hs256" and "ES521" are not valid.
func (a Algorithm) Valid() bool { return a.family() != famNone }

// Symmetric reports whether a is an HMAC algorithm (HS256, HS384, HS512).
func (a Algorithm) Symmetric() bool { return a.family() == famHMAC }

// family groups algorithms that share a key type and a signature scheme.
type family uint8

const (
	famNone family = iota
	famHMAC
	famRSA // PKCS #1 v1.5
	famPSS
	famECDSA
	famEdDSA
)

func (a Algorithm) family() family {
	switch a {
	case HS256, HS384, HS512:
		return famHMAC
	case RS256, RS384, RS512:
		return famRSA
	case PS256, PS384, PS512:
		return famPSS
	case ES256, ES384, ES512:
		return famECDSA
	case EdDSA:
		return famEdDSA
	}
	return famNone
}

// hash is the digest a uses; 0 for EdDSA, which hashes internally.
func (a Algorithm) hash() crypto.Hash {
	switch a {
	case HS256, RS256, PS256, ES256:
		return crypto.SHA256
	case HS384, RS384, PS384, ES384:
		return crypto.SHA384
	case HS512, RS512, PS512, ES512:
		return crypto.SHA512
	}
	return 0
}

// curve is the named curve an ES algorithm requires (RFC 7518 §3.4), or nil.
func (a Algorithm) curve() elliptic.Curve {
	switch a {
	case ES256:
		return elliptic.P256()
	case ES384:
		return elliptic.P384()
	case ES512:
		return elliptic.P521()
	}
	return nil
}

// newHash returns the constructor of h, for HMAC.
func newHash(h crypto.Hash) func() hash.Hash {
	switch h {
	case crypto.SHA256:
		return sha256.New
	case crypto.SHA384:
		return sha512.New384
	default:
		return sha512.New
	}
}

// digest hashes msg with h into buf and returns the used prefix of buf. The
// fixed-size Sum functions keep the hot path free of allocations.
func digest(h crypto.Hash, msg []byte, buf *[sha512.Size]byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		return buf[:copy(buf[:], s[:])]
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return buf[:copy(buf[:], s[:])]
	default:
		s := sha512.Sum512(msg)
		return buf[:copy(buf[:], s[:])]
	}
}

// curveAlgorithm maps a JWK "crv" value to the one ES algorithm that uses it.
func curveAlgorithm(crv string) (Algorithm, bool) {
	switch crv {
	case "P-256":
		return ES256, true
	case "P-384":
		return ES384, true
	case "P-521":
		return ES512, true
	}
	return "", false
}

// curveName is the JWK "crv" name of an ES algorithm's curve.
func curveName(a Algorithm) string {
	switch a {
	case ES256:
		return "P-256"
	case ES384:
		return "P-384"
	case ES512:
		return "P-521"
	}
	return ""
}

// coordSize is the byte length of a coordinate or scalar on a's curve
// (RFC 7518 §6.2.1.2): 32, 48 or 66.
func coordSize(a Algorithm) int {
	switch a {
	case ES256:
		return 32
	case ES384:
		return 48
	case ES512:
		return 66
	}
	return 0
}
