package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"sync"
	"unicode/utf8"
)

// Limits on key material and documents. Inputs beyond them are refused
// with [ErrInvalidKey] before any expensive work.
const (
	MinRSABits    = 2048     // smallest RSA modulus accepted (ErrWeakKey below it)
	MaxRSABits    = 8192     // largest RSA modulus accepted (bounds verification cost)
	MaxKeyIDBytes = 256      // longest kid accepted
	MaxJWKBytes   = 64 << 10 // largest single JWK document ParseJWK reads
	MaxJWKSBytes  = 1 << 20  // largest JWK Set document ParseJWKS reads
	MaxSetKeys    = 100      // most keys one Set (or JWK Set document) may hold
	MaxPEMBytes   = 64 << 10 // largest PEM document ParsePEM reads
)

// Key is a signing or verification key bound to exactly one [Algorithm] and
// one key ID (kid). It holds either secret material (HMAC), a private key
// (which includes its public key) or only a public key.
//
// A Key is immutable once made and safe for concurrent use. The zero Key is
// not usable: make keys with [Generate], [NewHMAC], [NewPrivate],
// [NewSigner], [NewPublic], [ParseJWK] or [ParsePEM]. Printing a Key with
// the fmt package shows its algorithm and kid, never its secret.
type Key struct {
	alg   Algorithm
	fam   family
	hash  crypto.Hash
	kid   string
	thumb string

	// Slice-typed secrets (HMAC secret, Ed25519 private key) sit behind a
	// pointer; with the value-receiver Format below, no fmt verb prints
	// them. nil for public-only and RSA/ECDSA keys.
	sec *secrets

	// HMAC
	macs   *sync.Pool // of *macState
	macLen int

	// RSA (RS*, PS*)
	rsaPub  *rsa.PublicKey
	rsaPriv *rsa.PrivateKey
	pss     *rsa.PSSOptions

	// ECDSA (ES*)
	ecPub   *ecdsa.PublicKey
	ecPriv  *ecdsa.PrivateKey
	ecPoint []byte // uncompressed SEC 1 point: 0x04 || X || Y
	ecSize  int    // bytes per coordinate and per signature half

	// Ed25519
	edPub ed25519.PublicKey

	// External signer (NewSigner): the private key lives behind signer,
	// which is given signerOpts; a non-ECDSA signature must be sigLen bytes.
	signer     crypto.Signer
	signerOpts crypto.SignerOpts
	sigLen     int
}

// secrets holds the secret material of HMAC and Ed25519 keys.
type secrets struct {
	hmac []byte
	ed   ed25519.PrivateKey
}

// macState is one pooled HMAC instance with room for its output, so a
// verification allocates nothing.
type macState struct {
	h   hash.Hash
	sum [sha512.Size]byte
}

// Generate returns a fresh random key for alg, with its kid derived as
// [NewHMAC] and [NewPrivate] describe:
//
//   - HS256/384/512: a secret as long as the hash output (32, 48, 64 bytes);
//   - RS* and PS*: a 2048-bit RSA key with e = 65537 (see [GenerateRSA] for
//     larger moduli);
//   - ES256, ES384, ES512: a key on P-256, P-384, P-521 respectively;
//   - EdDSA: an Ed25519 key.
//
// Randomness comes from crypto/rand.
func Generate(alg Algorithm) (*Key, error) {
	switch alg.family() {
	case famHMAC:
		secret := make([]byte, alg.hash().Size())
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		return NewHMAC(alg, secret, "")
	case famRSA, famPSS:
		return GenerateRSA(alg, MinRSABits)
	case famECDSA:
		priv, err := ecdsa.GenerateKey(alg.curve(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("%w: generating %s key: %v", ErrInvalidKey, alg, err)
		}
		return NewPrivate(alg, priv, "")
	case famEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("%w: generating Ed25519 key: %v", ErrInvalidKey, err)
		}
		return NewPrivate(alg, priv, "")
	}
	return nil, unsupported(alg)
}

// GenerateRSA returns a fresh RSA key of the given modulus size for an RS*
// or PS* algorithm. bits must lie in [MinRSABits, MaxRSABits]; generating
// large keys takes seconds.
func GenerateRSA(alg Algorithm, bits int) (*Key, error) {
	if f := alg.family(); f != famRSA && f != famPSS {
		if f == famNone {
			return nil, unsupported(alg)
		}
		return nil, fmt.Errorf("%w: GenerateRSA needs an RS or PS algorithm, not %s", ErrAlgorithmMismatch, alg)
	}
	if bits < MinRSABits {
		return nil, fmt.Errorf("%w: RSA modulus of %d bits requested, need at least %d", ErrWeakKey, bits, MinRSABits)
	}
	if bits > MaxRSABits {
		return nil, fmt.Errorf("%w: RSA modulus of %d bits requested, at most %d supported", ErrInvalidKey, bits, MaxRSABits)
	}
	for tries := 1; ; tries++ {
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("%w: generating RSA key: %v", ErrInvalidKey, err)
		}
		k, err := NewPrivate(alg, priv, "")
		// A sound random modulus has the ROCA fingerprint about once in
		// 2^28 draws (see hasROCAFingerprint): draw again, a few times.
		if errors.Is(err, ErrWeakKey) && tries < 4 {
			continue
		}
		return k, err
	}
}

// NewHMAC returns an HMAC key for alg (HS256, HS384 or HS512) with a copy of
// secret. A secret shorter than the hash output (32, 48 or 64 bytes; RFC 7518
// §3.2) is refused with [ErrWeakKey]; it should come from a CSPRNG.
//
// If kid is empty, the kid is derived from the secret: the first 16 bytes of
// HMAC-SHA-256 under the secret of the fixed label
// "authkit/keys hmac kid v1 " followed by the algorithm name, in base64url.
// Two processes that share a secret therefore agree on the kid, and the kid
// reveals nothing usable about the secret (it is never a plain hash of it).
func NewHMAC(alg Algorithm, secret []byte, kid string) (*Key, error) {
	switch alg.family() {
	case famHMAC:
	case famNone:
		return nil, unsupported(alg)
	default:
		return nil, fmt.Errorf("%w: %s is not an HMAC algorithm", ErrAlgorithmMismatch, alg)
	}
	h := alg.hash()
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: empty %s secret", ErrWeakKey, alg)
	}
	if len(secret) < h.Size() {
		return nil, fmt.Errorf("%w: %s secret is %d bytes, need at least %d", ErrWeakKey, alg, len(secret), h.Size())
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	s := bytes.Clone(secret)
	if kid == "" {
		kid = hmacKID(alg, s)
	}
	nh := newHash(h)
	k := &Key{
		alg:    alg,
		fam:    famHMAC,
		hash:   h,
		kid:    kid,
		sec:    &secrets{hmac: s},
		macLen: h.Size(),
		macs:   &sync.Pool{New: func() any { return &macState{h: hmac.New(nh, s)} }},
	}
	k.thumb = k.computeThumbprint()
	return k, nil
}

// hmacKID derives the default kid of an HMAC key (see NewHMAC).
func hmacKID(alg Algorithm, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authkit/keys hmac kid v1 " + string(alg)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// NewPrivate returns a signing key for alg from priv, which must be an
// *rsa.PrivateKey (RS*, PS*), an *ecdsa.PrivateKey on the alg's curve (ES*),
// or an ed25519.PrivateKey (EdDSA). The key is copied and validated: weak
// RSA keys are refused with [ErrWeakKey], inconsistent ones with
// [ErrInvalidKey], a key of the wrong type or curve with
// [ErrAlgorithmMismatch]. Any other crypto.Signer (a KMS, HSM or Vault key)
// is refused with [ErrInvalidKey]: use [NewSigner] for it.
//
// If kid is empty, it is the RFC 7638 thumbprint of the public key.
func NewPrivate(alg Algorithm, priv crypto.Signer, kid string) (*Key, error) {
	f := alg.family()
	switch f {
	case famNone:
		return nil, unsupported(alg)
	case famHMAC:
		return nil, fmt.Errorf("%w: %s keys are made with NewHMAC", ErrAlgorithmMismatch, alg)
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	k := &Key{alg: alg, fam: f, hash: alg.hash(), kid: kid}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if f != famRSA && f != famPSS {
			return nil, mismatch(alg, "an RSA key")
		}
		cp, err := copyRSAPrivate(p)
		if err != nil {
			return nil, err
		}
		k.setRSA(&cp.PublicKey, cp)
	case *ecdsa.PrivateKey:
		if f != famECDSA {
			return nil, mismatch(alg, "an ECDSA key")
		}
		if p == nil || p.D == nil || p.X == nil || p.Y == nil || p.Curve == nil {
			return nil, fmt.Errorf("%w: incomplete ECDSA private key", ErrInvalidKey)
		}
		if p.Curve != alg.curve() {
			return nil, fmt.Errorf("%w: %s needs a %s key, got %s", ErrAlgorithmMismatch, alg, curveName(alg), p.Curve.Params().Name)
		}
		d, err := p.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: ECDSA private key: %v", ErrInvalidKey, err)
		}
		point, err := p.PublicKey.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: ECDSA public key: %v", ErrInvalidKey, err)
		}
		if err := k.setECDSAPrivate(d, point); err != nil {
			return nil, err
		}
	case ed25519.PrivateKey:
		if err := k.setEd25519Private(f, p); err != nil {
			return nil, err
		}
	case *ed25519.PrivateKey:
		if p == nil {
			return nil, fmt.Errorf("%w: nil Ed25519 private key", ErrInvalidKey)
		}
		if err := k.setEd25519Private(f, *p); err != nil {
			return nil, err
		}
	case nil:
		return nil, fmt.Errorf("%w: nil private key", ErrInvalidKey)
	default:
		return nil, fmt.Errorf("%w: unsupported private key type %T (use NewSigner for a KMS, HSM or other crypto.Signer)", ErrInvalidKey, priv)
	}
	k.finish()
	return k, nil
}

// NewPublic returns a verification-only key for alg from pub, which must be
// an *rsa.PublicKey (RS*, PS*), an *ecdsa.PublicKey on the alg's curve (ES*)
// or an ed25519.PublicKey (EdDSA). The key is copied and validated as in
// [NewPrivate]. If kid is empty, it is the RFC 7638 thumbprint of pub.
func NewPublic(alg Algorithm, pub crypto.PublicKey, kid string) (*Key, error) {
	f := alg.family()
	switch f {
	case famNone:
		return nil, unsupported(alg)
	case famHMAC:
		return nil, fmt.Errorf("%w: %s keys are made with NewHMAC", ErrAlgorithmMismatch, alg)
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	k := &Key{alg: alg, fam: f, hash: alg.hash(), kid: kid}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if f != famRSA && f != famPSS {
			return nil, mismatch(alg, "an RSA key")
		}
		if p == nil || p.N == nil {
			return nil, fmt.Errorf("%w: incomplete RSA public key", ErrInvalidKey)
		}
		cp := &rsa.PublicKey{N: new(big.Int).Set(p.N), E: p.E}
		if err := checkRSAPublic(cp); err != nil {
			return nil, err
		}
		k.setRSA(cp, nil)
	case *ecdsa.PublicKey:
		if f != famECDSA {
			return nil, mismatch(alg, "an ECDSA key")
		}
		if p == nil || p.X == nil || p.Y == nil || p.Curve == nil {
			return nil, fmt.Errorf("%w: incomplete ECDSA public key", ErrInvalidKey)
		}
		if p.Curve != alg.curve() {
			return nil, fmt.Errorf("%w: %s needs a %s key, got %s", ErrAlgorithmMismatch, alg, curveName(alg), p.Curve.Params().Name)
		}
		point, err := p.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: ECDSA public key: %v", ErrInvalidKey, err)
		}
		if err := k.setECDSAPublic(point); err != nil {
			return nil, err
		}
	case ed25519.PublicKey:
		if err := k.setEd25519Public(f, p); err != nil {
			return nil, err
		}
	case *ed25519.PublicKey:
		if p == nil {
			return nil, fmt.Errorf("%w: nil Ed25519 public key", ErrInvalidKey)
		}
		if err := k.setEd25519Public(f, *p); err != nil {
			return nil, err
		}
	case nil:
		return nil, fmt.Errorf("%w: nil public key", ErrInvalidKey)
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return nil, fmt.Errorf("%w: NewPublic was given a private key (%T); use NewPrivate, or pass its public key", ErrInvalidKey, pub)
	default:
		return nil, fmt.Errorf("%w: unsupported public key type %T", ErrInvalidKey, pub)
	}
	k.finish()
	return k, nil
}

// copyRSAPrivate validates p and returns an independent copy whose CRT
// values are computed afresh.
func copyRSAPrivate(p *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if p == nil || p.N == nil || p.D == nil {
		return nil, fmt.Errorf("%w: incomplete RSA private key", ErrInvalidKey)
	}
	if len(p.Primes) != 2 || p.Primes[0] == nil || p.Primes[1] == nil {
		return nil, fmt.Errorf("%w: RSA private key must have exactly two primes", ErrInvalidKey)
	}
	cp := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Set(p.N), E: p.E},
		D:         new(big.Int).Set(p.D),
		Primes:    []*big.Int{new(big.Int).Set(p.Primes[0]), new(big.Int).Set(p.Primes[1])},
	}
	return cp, validateRSAPrivate(cp)
}

// validateRSAPrivate checks the public part, then the private part's
// consistency (and any CRT values already set) with crypto/rsa.
func validateRSAPrivate(p *rsa.PrivateKey) error {
	if err := checkRSAPublic(&p.PublicKey); err != nil {
		return err
	}
	p.Precompute() // safe on unvalidated keys; makes Validate cheaper
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: RSA private key is inconsistent: %v", ErrInvalidKey, err)
	}
	return nil
}

func (k *Key) setRSA(pub *rsa.PublicKey, priv *rsa.PrivateKey) {
	k.rsaPub, k.rsaPriv = pub, priv
	if k.fam == famPSS {
		// RFC 7518 §3.5: the salt is as long as the hash output, on both sides.
		k.pss = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: k.hash}
	}
}

// setECDSAPublic validates point (uncompressed SEC 1) on the alg's curve.
func (k *Key) setECDSAPublic(point []byte) error {
	pub, err := ecdsa.ParseUncompressedPublicKey(k.alg.curve(), point)
	if err != nil {
		return fmt.Errorf("%w: %s public key is not a point on %s: %v", ErrInvalidKey, k.alg, curveName(k.alg), err)
	}
	k.ecPub = pub
	k.ecPoint = bytes.Clone(point)
	k.ecSize = coordSize(k.alg)
	return nil
}

// setECDSAPrivate builds the key from the raw scalar d and checks that
// d·G equals point.
func (k *Key) setECDSAPrivate(d, point []byte) error {
	priv, err := ecdsa.ParseRawPrivateKey(k.alg.curve(), d)
	if err != nil {
		return fmt.Errorf("%w: %s private scalar: %v", ErrInvalidKey, k.alg, err)
	}
	derived, err := priv.PublicKey.Bytes()
	if err != nil {
		return fmt.Errorf("%w: %s private key: %v", ErrInvalidKey, k.alg, err)
	}
	if !bytes.Equal(derived, point) {
		return fmt.Errorf("%w: %s private scalar does not match the public point", ErrInvalidKey, k.alg)
	}
	k.ecPriv = priv
	k.ecPub = &priv.PublicKey
	k.ecPoint = derived
	k.ecSize = coordSize(k.alg)
	return nil
}

func (k *Key) setEd25519Private(f family, p ed25519.PrivateKey) error {
	if f != famEdDSA {
		return mismatch(k.alg, "an Ed25519 key")
	}
	if len(p) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: Ed25519 private key is %d bytes, want %d", ErrInvalidKey, len(p), ed25519.PrivateKeySize)
	}
	return k.setEd25519Seed(p.Seed(), p[ed25519.SeedSize:])
}

// setEd25519Seed derives the key from seed and, when pub is non-nil, checks
// that it is the matching public key.
func (k *Key) setEd25519Seed(seed, pub []byte) error {
	priv := ed25519.NewKeyFromSeed(seed)
	derived := priv.Public().(ed25519.PublicKey)
	if pub != nil && !bytes.Equal(derived, pub) {
		return fmt.Errorf("%w: Ed25519 private key does not match its public key", ErrInvalidKey)
	}
	k.sec = &secrets{ed: priv}
	k.edPub = derived
	return nil
}

func (k *Key) setEd25519Public(f family, p ed25519.PublicKey) error {
	if f != famEdDSA {
		return mismatch(k.alg, "an Ed25519 key")
	}
	if len(p) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", ErrInvalidKey, len(p), ed25519.PublicKeySize)
	}
	if ed25519SmallOrder(p) {
		return fmt.Errorf("%w: Ed25519 public key is a point of small order", ErrWeakKey)
	}
	k.edPub = ed25519.PublicKey(bytes.Clone(p))
	return nil
}

// finish computes the thumbprint and the default kid of an asymmetric key.
func (k *Key) finish() {
	k.thumb = k.computeThumbprint()
	if k.kid == "" {
		k.kid = k.thumb
	}
}

func unsupported(alg Algorithm) error {
	return fmt.Errorf("%w: %s", ErrUnsupportedAlgorithm, quoteShort(string(alg)))
}

func mismatch(alg Algorithm, got string) error {
	return fmt.Errorf("%w: %s cannot use %s", ErrAlgorithmMismatch, alg, got)
}

// quoteShort quotes an untrusted string for an error message, truncated so
// a hostile input cannot flood logs.
func quoteShort(s string) string {
	const max = 32
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return fmt.Sprintf("%q…", s)
	}
	return fmt.Sprintf("%q", s)
}

// checkKID accepts "" (derive one) or a kid of at most MaxKeyIDBytes of
// valid UTF-8 without control characters.
func checkKID(kid string) error {
	if len(kid) > MaxKeyIDBytes {
		return fmt.Errorf("%w: kid is %d bytes, at most %d allowed", ErrInvalidKey, len(kid), MaxKeyIDBytes)
	}
	if !utf8.ValidString(kid) {
		return fmt.Errorf("%w: kid is not valid UTF-8", ErrInvalidKey)
	}
	for _, r := range kid {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return fmt.Errorf("%w: kid contains a control character", ErrInvalidKey)
		}
	}
	return nil
}

// ID returns the key ID (the JWS "kid").
func (k *Key) ID() string {
	if k == nil {
		return ""
	}
	return k.kid
}

// Algorithm returns the one algorithm the key is bound to.
func (k *Key) Algorithm() Algorithm {
	if k == nil {
		return ""
	}
	return k.alg
}

// CanSign reports whether the key holds a private key or an HMAC secret,
// or signs through a crypto.Signer (see [NewSigner]).
func (k *Key) CanSign() bool {
	return k != nil && (k.sec != nil || k.rsaPriv != nil || k.ecPriv != nil || k.signer != nil)
}

// Symmetric reports whether the key is an HMAC key.
func (k *Key) Symmetric() bool { return k != nil && k.fam == famHMAC }

// Public returns a verification-only copy of k with the same kid and
// algorithm; k itself if it already is public-only, and nil for HMAC keys,
// which have no public part.
func (k *Key) Public() *Key {
	if k == nil || k.fam == famHMAC || k.fam == famNone {
		return nil
	}
	if !k.CanSign() {
		return k
	}
	return &Key{
		alg: k.alg, fam: k.fam, hash: k.hash, kid: k.kid, thumb: k.thumb,
		rsaPub: k.rsaPub, pss: k.pss,
		ecPub: k.ecPub, ecPoint: k.ecPoint, ecSize: k.ecSize,
		edPub: k.edPub,
	}
}

// PublicKey returns a copy of the public key: an *rsa.PublicKey, an
// *ecdsa.PublicKey or an ed25519.PublicKey; nil for HMAC keys.
func (k *Key) PublicKey() crypto.PublicKey {
	if k == nil {
		return nil
	}
	switch {
	case k.rsaPub != nil:
		return &rsa.PublicKey{N: new(big.Int).Set(k.rsaPub.N), E: k.rsaPub.E}
	case k.ecPub != nil:
		pub, err := ecdsa.ParseUncompressedPublicKey(k.alg.curve(), k.ecPoint)
		if err != nil {
			return nil // unreachable: the point was validated when k was made
		}
		return pub
	case k.edPub != nil:
		return ed25519.PublicKey(bytes.Clone(k.edPub))
	}
	return nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of the key: the base64url
// SHA-256 of its required JWK members. For an asymmetric key it identifies
// the public key and is the default kid. For an HMAC key it is, as the RFC
// defines it, a hash of the secret; it is never used as the kid (see
// [NewHMAC]) and should not be published.
func (k *Key) Thumbprint() string {
	if k == nil {
		return ""
	}
	return k.thumb
}

// String describes the key without any secret, for logs: its algorithm,
// whether it is secret, private, signer (its private key is behind a
// crypto.Signer, see [NewSigner]) or public, and its kid.
//
// String, GoString and Format have value receivers so that a Key value
// (not only a *Key) printed with any fmt verb shows this description and
// never the fields holding key material.
func (k Key) String() string {
	if k.fam == famNone {
		return "keys.Key(zero)"
	}
	kind := "public"
	switch {
	case k.fam == famHMAC:
		kind = "secret"
	case k.signer != nil:
		kind = "signer"
	case k.CanSign():
		kind = "private"
	}
	return fmt.Sprintf("keys.Key(%s %s kid=%s)", k.alg, kind, quoteShort(k.kid))
}

// GoString is String, so that %#v cannot print key material.
func (k Key) GoString() string { return k.String() }

// Format writes String for every verb, so that no fmt verb prints key
// material.
func (k Key) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(k.String())) }

// Sign returns the JWS signature (RFC 7515 §5.1, RFC 7518 §3) of
// signingInput, which is "BASE64URL(header).BASE64URL(payload)". ES
// signatures are R||S with each half left-padded to the curve size (RFC 7518
// §3.4); PS signatures use a salt as long as the hash. A public-only key
// returns [ErrNotSigningKey]. A key made by [NewSigner] signs through its
// crypto.Signer, checks the result with its public key, and returns an
// error matching [ErrSignerFailed] (wrapping the signer's own error, if
// any) instead of a signature the public key does not verify.
func (k *Key) Sign(signingInput []byte) ([]byte, error) {
	if k == nil || k.fam == famNone {
		return nil, fmt.Errorf("%w: nil or zero Key", ErrInvalidKey)
	}
	if !k.CanSign() {
		return nil, fmt.Errorf("%w: kid %s has no private part", ErrNotSigningKey, quoteShort(k.kid))
	}
	if k.signer != nil {
		return k.signWithSigner(signingInput)
	}
	var buf [sha512.Size]byte
	switch k.fam {
	case famHMAC:
		st := k.macs.Get().(*macState)
		st.h.Reset()
		st.h.Write(signingInput)
		out := st.h.Sum(nil)
		k.macs.Put(st)
		return out, nil
	case famRSA:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsaPriv, k.hash, digest(k.hash, signingInput, &buf))
		if err != nil {
			return nil, fmt.Errorf("keys: %s signing failed: %w", k.alg, err)
		}
		return sig, nil
	case famPSS:
		sig, err := rsa.SignPSS(rand.Reader, k.rsaPriv, k.hash, digest(k.hash, signingInput, &buf), k.pss)
		if err != nil {
			return nil, fmt.Errorf("keys: %s signing failed: %w", k.alg, err)
		}
		return sig, nil
	case famECDSA:
		r, s, err := ecdsa.Sign(rand.Reader, k.ecPriv, digest(k.hash, signingInput, &buf))
		if err != nil {
			return nil, fmt.Errorf("keys: %s signing failed: %w", k.alg, err)
		}
		out := make([]byte, 2*k.ecSize)
		r.FillBytes(out[:k.ecSize])
		s.FillBytes(out[k.ecSize:])
		return out, nil
	case famEdDSA:
		return ed25519.Sign(k.sec.ed, signingInput), nil
	}
	return nil, fmt.Errorf("%w: nil or zero Key", ErrInvalidKey)
}

// Verify checks sig, a JWS signature in the encoding [Key.Sign] produces,
// over signingInput. It returns nil or an error matching
// [ErrInvalidSignature] (or [ErrInvalidKey] for a nil or zero Key). It is
// strict: HMAC tags are compared in constant time and must have the full
// length; ES signatures must be exactly twice the curve size; PS signatures
// must use a salt exactly as long as the hash.
//
// Verify is the hot path of token verification: for HMAC keys it allocates
// nothing.
func (k *Key) Verify(signingInput, sig []byte) error {
	if k == nil {
		return ErrInvalidKey
	}
	var ok bool
	switch k.fam {
	case famHMAC:
		ok = k.verifyHMAC(signingInput, sig)
	case famRSA, famPSS:
		ok = k.verifyRSA(signingInput, sig)
	case famECDSA:
		ok = k.verifyECDSA(signingInput, sig)
	case famEdDSA:
		ok = len(sig) == ed25519.SignatureSize && ed25519.Verify(k.edPub, signingInput, sig)
	default:
		return ErrInvalidKey
	}
	if !ok {
		return ErrInvalidSignature
	}
	return nil
}

// The verify helpers each keep their digest buffer on their own stack
// frame, so that one family's escaping buffer never costs another an
// allocation.

func (k *Key) verifyHMAC(signingInput, sig []byte) bool {
	if len(sig) != k.macLen { // the length is public: no need for constant time
		return false
	}
	st := k.macs.Get().(*macState)
	st.h.Reset()
	st.h.Write(signingInput)
	ok := hmac.Equal(st.h.Sum(st.sum[:0]), sig)
	k.macs.Put(st)
	return ok
}

func (k *Key) verifyRSA(signingInput, sig []byte) bool {
	var buf [sha512.Size]byte
	d := digest(k.hash, signingInput, &buf)
	if k.fam == famPSS {
		return rsa.VerifyPSS(k.rsaPub, k.hash, d, sig, k.pss) == nil
	}
	return rsa.VerifyPKCS1v15(k.rsaPub, k.hash, d, sig) == nil
}

func (k *Key) verifyECDSA(signingInput, sig []byte) bool {
	if len(sig) != 2*k.ecSize {
		return false
	}
	var der [2*(66+3) + 3]byte
	asn1, ok := ecdsaDER(der[:0], sig[:k.ecSize], sig[k.ecSize:])
	if !ok {
		return false
	}
	var buf [sha512.Size]byte
	return ecdsa.VerifyASN1(k.ecPub, digest(k.hash, signingInput, &buf), asn1)
}

// ecdsaDER appends the ASN.1 DER encoding of the ECDSA signature (r, s),
// given as fixed-width big-endian halves, to dst. It reports false when r
// or s is zero, which no valid signature has.
func ecdsaDER(dst, r, s []byte) ([]byte, bool) {
	r, s = bytes.TrimLeft(r, "\x00"), bytes.TrimLeft(s, "\x00")
	if len(r) == 0 || len(s) == 0 {
		return nil, false
	}
	intLen := func(b []byte) int {
		if b[0]&0x80 != 0 {
			return len(b) + 1
		}
		return len(b)
	}
	body := 2 + intLen(r) + 2 + intLen(s) // each half is at most 67 bytes: short-form lengths
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	for _, b := range [2][]byte{r, s} {
		dst = append(dst, 0x02, byte(intLen(b)))
		if b[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, b...)
	}
	return dst, true
}
