package keys

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// jwk is the JSON form of a key this package writes. Member order follows
// RFC 7517's examples; omitempty drops what a key type does not have.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	K   string `json:"k,omitempty"`
	D   string `json:"d,omitempty"`
	P   string `json:"p,omitempty"`
	Q   string `json:"q,omitempty"`
	DP  string `json:"dp,omitempty"`
	DQ  string `json:"dq,omitempty"`
	QI  string `json:"qi,omitempty"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// b64Int is the Base64urlUInt encoding of RFC 7518 §2: minimal big-endian.
func b64Int(n *big.Int) string {
	if n.Sign() == 0 {
		return "AA"
	}
	return b64(n.Bytes())
}

// toJWK returns the JWK form of k, with its private or secret members when
// private is true.
func (k *Key) toJWK(private bool) jwk {
	j := jwk{Kid: k.kid, Use: "sig", Alg: string(k.alg)}
	switch k.fam {
	case famHMAC:
		j.Kty = "oct"
		if private {
			j.K = b64(k.sec.hmac)
		}
	case famRSA, famPSS:
		j.Kty, j.N, j.E = "RSA", b64Int(k.rsaPub.N), b64Int(big.NewInt(int64(k.rsaPub.E)))
		if private && k.rsaPriv != nil {
			p := k.rsaPriv
			j.D, j.P, j.Q = b64Int(p.D), b64Int(p.Primes[0]), b64Int(p.Primes[1])
			j.DP, j.DQ, j.QI = b64Int(p.Precomputed.Dp), b64Int(p.Precomputed.Dq), b64Int(p.Precomputed.Qinv)
		}
	case famECDSA:
		j.Kty, j.Crv = "EC", curveName(k.alg)
		j.X, j.Y = b64(k.ecPoint[1:1+k.ecSize]), b64(k.ecPoint[1+k.ecSize:])
		if private && k.ecPriv != nil {
			d, _ := k.ecPriv.Bytes() // cannot fail: validated when k was made
			j.D = b64(d)
		}
	case famEdDSA:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(k.edPub)
		if private && k.sec != nil {
			j.D = b64(k.sec.ed.Seed())
		}
	}
	return j
}

// MarshalJWK returns k as a JWK (RFC 7517) with "kid", "alg" and
// "use":"sig", including the private key or HMAC secret when k has one.
// The result is secret material: store it as such. A key made by
// [NewSigner] is refused with [ErrNotExportable]: use [Key.PublicJWK].
func (k *Key) MarshalJWK() ([]byte, error) {
	if k == nil || k.fam == famNone {
		return nil, fmt.Errorf("%w: nil or zero Key", ErrInvalidKey)
	}
	if k.signer != nil {
		return nil, notExportable(k)
	}
	return json.Marshal(k.toJWK(true))
}

// PublicJWK returns the public part of k as a JWK, safe to publish. It
// returns [ErrSymmetricKey] for HMAC keys.
func (k *Key) PublicJWK() ([]byte, error) {
	if k == nil || k.fam == famNone {
		return nil, fmt.Errorf("%w: nil or zero Key", ErrInvalidKey)
	}
	if k.fam == famHMAC {
		return nil, fmt.Errorf("%w: kid %s is an HMAC key", ErrSymmetricKey, quoteShort(k.kid))
	}
	return json.Marshal(k.toJWK(false))
}

// notExportable is the error for a private export of a NewSigner key.
func notExportable(k *Key) error {
	return fmt.Errorf("%w: kid %s signs through a crypto.Signer; its private key is not in this process (export the public key instead)", ErrNotExportable, quoteShort(k.kid))
}

// computeThumbprint implements RFC 7638 §3: SHA-256 over the required
// members in lexicographic order, without whitespace. Every value here is
// base64url or a fixed name, so none needs JSON escaping.
func (k *Key) computeThumbprint() string {
	j := k.toJWK(true)
	var s string
	switch j.Kty {
	case "oct":
		s = `{"k":"` + j.K + `","kty":"oct"}`
	case "RSA":
		s = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "EC":
		s = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		s = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return b64(sum[:])
}

// ParseJWK parses one JWK (RFC 7517, with the key types of RFC 7518 §6 and
// RFC 8037 §2), private or public, and validates it:
//
//   - the document is at most MaxJWKBytes of valid UTF-8 JSON, one object,
//     with no duplicate member names and no \u escape of a lone surrogate
//     (such as "\ud800", which a lenient decoder turns into U+FFFD);
//   - "alg", if present, is one of the supported algorithms (else
//     [ErrUnsupportedAlgorithm]) and fits "kty" and "crv" (else
//     [ErrAlgorithmMismatch]); it may be absent only where it is implied: an
//     EC key's curve (P-256 → ES256, P-384 → ES384, P-521 → ES512) or an
//     Ed25519 OKP key (EdDSA). RSA and oct keys must name their algorithm;
//   - "use", if present, is "sig"; "key_ops", if present, is an array of
//     distinct strings from {"sign","verify"} that includes "sign" for a
//     private or secret key and "verify" for a public key;
//   - "kid", if present, is a non-empty string of at most MaxKeyIDBytes
//     without control characters; if absent the kid is derived as
//     [NewHMAC] and [NewPrivate] describe;
//   - every base64url member is canonical (no padding, whitespace or
//     non-zero trailing bits); EC "x", "y" and "d" are exactly the curve's
//     size; Ed25519 "x" and "d" are 32 bytes;
//   - the key meets the rules of [NewHMAC], [NewPrivate] and [NewPublic];
//     private members are consistent with the public ones (RSA: all of d, p,
//     q, dp, dq, qi are required and checked; EC: d·G equals (x, y);
//     Ed25519: the seed yields x). Multi-prime RSA ("oth") is refused.
//
// Members this package does not use (x5c, x5t, ext, …) are ignored.
func ParseJWK(data []byte) (*Key, error) {
	k, _, err := parseJWK(data, MaxJWKBytes)
	return k, err
}

// jwkMembers is a parsed JWK object with typed accessors.
type jwkMembers map[string]json.RawMessage

// str returns a string member; present is false when it is absent.
func (m jwkMembers) str(name string) (s string, present bool, err error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, fmt.Errorf("%w: JWK member %q must be a string", ErrInvalidKey, name)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf("%w: JWK member %q: %v", ErrInvalidKey, name, err)
	}
	return s, true, nil
}

// bytes returns a base64url member, decoded.
func (m jwkMembers) bytes(name string) (b []byte, present bool, err error) {
	s, present, err := m.str(name)
	if err != nil || !present {
		return nil, present, err
	}
	b, err = decodeB64(s)
	if err != nil {
		return nil, true, fmt.Errorf("%w: JWK member %q: %v", ErrInvalidKey, name, err)
	}
	return b, true, nil
}

// required is bytes for a member that must be present and non-empty.
func (m jwkMembers) required(kty, name string) ([]byte, error) {
	b, present, err := m.bytes(name)
	if err != nil {
		return nil, err
	}
	if !present || len(b) == 0 {
		return nil, fmt.Errorf("%w: %s JWK without %q", ErrInvalidKey, kty, name)
	}
	return b, nil
}

// fixed is required with an exact decoded length.
func (m jwkMembers) fixed(kty, name string, size int) ([]byte, error) {
	b, err := m.required(kty, name)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%w: %s JWK member %q is %d bytes, want exactly %d", ErrInvalidKey, kty, name, len(b), size)
	}
	return b, nil
}

// decodeB64 decodes unpadded base64url strictly: only the 64 alphabet
// characters (Go's decoder would otherwise skip CR and LF) and zero
// trailing bits.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errors.New("not canonical base64url")
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

// parseObject parses data as exactly one JSON object and returns its
// members, refusing duplicate names (which encoding/json would silently
// resolve to the last one), and invalid UTF-8 and escaped lone surrogates
// (which it would replace with U+FFFD, so that "\ud800a" would read as
// "\ufffda" and the distinct kids "\ud800" and "\udbff" as one).
func parseObject(data []byte) (jwkMembers, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	if !validEscapes(data) {
		return nil, errors.New(`a \u escape of a lone surrogate (not valid UTF-16)`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if err != nil {
		return nil, errors.New("not valid JSON")
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := jwkMembers{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("not valid JSON")
		}
		name, ok := t.(string)
		if !ok {
			return nil, errors.New("not valid JSON")
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("duplicate member %s", quoteShort(name))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errors.New("not valid JSON")
		}
		m[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errors.New("not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// validEscapes reports whether every \u escape of a surrogate (U+D800 to
// U+DFFF) in data is a high surrogate immediately followed by a \u escape
// of a low surrogate: one valid UTF-16 pair. A backslash in valid JSON
// occurs only inside a string and always starts an escape, so data is read
// escape by escape without tracking strings; what is not valid JSON is
// refused by the decoder anyway.
func validEscapes(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if i+1 >= len(data) || data[i+1] != 'u' {
			i++ // a one-character escape such as \\ or \"
			continue
		}
		r, ok := hex4(data, i+2)
		if !ok {
			return true // not JSON: the decoder refuses it
		}
		switch {
		case r < 0xd800 || r > 0xdfff:
			i += 5
			continue
		case r >= 0xdc00:
			return false // a low surrogate without a high one before it
		}
		if i+7 >= len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
			return false // a high surrogate not followed by a \u escape
		}
		if r2, ok := hex4(data, i+8); !ok || r2 < 0xdc00 || r2 > 0xdfff {
			return false // a high surrogate not followed by a low one
		}
		i += 11
	}
	return true
}

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(data[i:i+4]), 16, 16)
	return rune(v), err == nil
}

// parseArray splits a JSON array into its raw elements.
func parseArray(raw json.RawMessage) ([]json.RawMessage, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errors.New("not a JSON array")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, errors.New("not a JSON array")
	}
	return elems, nil
}

// parseKeyOps validates "key_ops" (RFC 7517 §4.3) and reports whether it
// includes "sign" and "verify".
func parseKeyOps(raw json.RawMessage) (sign, verify bool, err error) {
	elems, err := parseArray(raw)
	if err != nil {
		return false, false, fmt.Errorf("%w: JWK key_ops must be an array of strings", ErrInvalidKey)
	}
	for _, e := range elems {
		if len(e) == 0 || e[0] != '"' {
			return false, false, fmt.Errorf("%w: JWK key_ops must be an array of strings", ErrInvalidKey)
		}
		var op string
		if err := json.Unmarshal(e, &op); err != nil {
			return false, false, fmt.Errorf("%w: JWK key_ops must be an array of strings", ErrInvalidKey)
		}
		switch {
		case op == "sign" && !sign:
			sign = true
		case op == "verify" && !verify:
			verify = true
		case op == "sign" || op == "verify":
			return false, false, fmt.Errorf("%w: JWK key_ops lists %q twice", ErrInvalidKey, op)
		default:
			return false, false, fmt.Errorf("%w: JWK key_ops %s is not a signature operation", ErrInvalidKey, quoteShort(op))
		}
	}
	return sign, verify, nil
}

// parseJWK is ParseJWK with a size limit; hadKID reports whether the
// document named a kid (ParseJWKS requires one in a multi-key set).
func parseJWK(data []byte, limit int) (k *Key, hadKID bool, err error) {
	if len(data) > limit {
		return nil, false, fmt.Errorf("%w: JWK is %d bytes, at most %d accepted", ErrInvalidKey, len(data), limit)
	}
	m, err := parseObject(data)
	if err != nil {
		return nil, false, fmt.Errorf("%w: JWK: %v", ErrInvalidKey, err)
	}
	kty, present, err := m.str("kty")
	if err != nil {
		return nil, false, err
	}
	if !present {
		return nil, false, fmt.Errorf("%w: JWK without \"kty\"", ErrInvalidKey)
	}

	algName, hasAlg, err := m.str("alg")
	if err != nil {
		return nil, false, err
	}
	alg := Algorithm(algName)
	if hasAlg && !alg.Valid() {
		return nil, false, unsupported(alg)
	}

	use, hasUse, err := m.str("use")
	if err != nil {
		return nil, false, err
	}
	if hasUse && use != "sig" {
		return nil, false, fmt.Errorf("%w: JWK \"use\" is %s; only \"sig\" keys are accepted", ErrInvalidKey, quoteShort(use))
	}
	rawOps, hasOps := m["key_ops"]
	var opSign, opVerify bool
	if hasOps {
		if opSign, opVerify, err = parseKeyOps(rawOps); err != nil {
			return nil, false, err
		}
	}

	kid, hadKID, err := m.str("kid")
	if err != nil {
		return nil, false, err
	}
	if hadKID && kid == "" {
		return nil, false, fmt.Errorf("%w: JWK \"kid\" is empty", ErrInvalidKey)
	}
	if err := checkKID(kid); err != nil {
		return nil, false, err
	}

	switch kty {
	case "oct":
		k, err = parseOctJWK(m, alg, hasAlg, kid)
	case "RSA":
		k, err = parseRSAJWK(m, alg, hasAlg, kid)
	case "EC":
		k, err = parseECJWK(m, alg, hasAlg, kid)
	case "OKP":
		k, err = parseOKPJWK(m, alg, hasAlg, kid)
	default:
		err = fmt.Errorf("%w: unsupported JWK \"kty\" %s", ErrInvalidKey, quoteShort(kty))
	}
	if err != nil {
		return nil, false, err
	}
	if hasOps {
		if k.CanSign() && !opSign {
			return nil, false, fmt.Errorf("%w: JWK key_ops of a private or secret key must include \"sign\"", ErrInvalidKey)
		}
		if !k.CanSign() && !opVerify {
			return nil, false, fmt.Errorf("%w: JWK key_ops of a public key must include \"verify\"", ErrInvalidKey)
		}
	}
	return k, hadKID, nil
}

// ktyMismatch reports an "alg" that belongs to another key type.
func ktyMismatch(kty string, alg Algorithm) error {
	return fmt.Errorf("%w: JWK \"kty\" %s cannot be used with %s", ErrAlgorithmMismatch, kty, alg)
}

func parseOctJWK(m jwkMembers, alg Algorithm, hasAlg bool, kid string) (*Key, error) {
	if !hasAlg {
		return nil, fmt.Errorf("%w: an oct JWK must name its \"alg\"", ErrInvalidKey)
	}
	if alg.family() != famHMAC {
		return nil, ktyMismatch("oct", alg)
	}
	secret, present, err := m.bytes("k")
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, fmt.Errorf("%w: oct JWK without \"k\"", ErrInvalidKey)
	}
	return NewHMAC(alg, secret, kid)
}

func parseRSAJWK(m jwkMembers, alg Algorithm, hasAlg bool, kid string) (*Key, error) {
	if !hasAlg {
		return nil, fmt.Errorf("%w: an RSA JWK must name its \"alg\" (RS or PS)", ErrInvalidKey)
	}
	if f := alg.family(); f != famRSA && f != famPSS {
		return nil, ktyMismatch("RSA", alg)
	}
	if _, multi := m["oth"]; multi {
		return nil, fmt.Errorf("%w: multi-prime RSA keys (\"oth\") are not supported", ErrInvalidKey)
	}
	n, err := m.required("RSA", "n")
	if err != nil {
		return nil, err
	}
	eb, err := m.required("RSA", "e")
	if err != nil {
		return nil, err
	}
	eb = bytes.TrimLeft(eb, "\x00")
	if len(eb) > 4 {
		return nil, fmt.Errorf("%w: RSA public exponent is too large", ErrInvalidKey)
	}
	var e uint64
	for _, c := range eb {
		e = e<<8 | uint64(c)
	}
	if e > 1<<31-1 {
		return nil, fmt.Errorf("%w: RSA public exponent is too large", ErrInvalidKey)
	}
	pub := rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(e)}
	if err := checkRSAPublic(&pub); err != nil {
		return nil, err
	}

	names := [...]string{"d", "p", "q", "dp", "dq", "qi"}
	var priv [len(names)][]byte
	have := 0
	for i, name := range names {
		b, present, err := m.bytes(name)
		if err != nil {
			return nil, err
		}
		if present {
			if len(b) == 0 {
				return nil, fmt.Errorf("%w: RSA JWK member %q is empty", ErrInvalidKey, name)
			}
			priv[i] = b
			have++
		}
	}
	k := &Key{alg: alg, fam: alg.family(), hash: alg.hash(), kid: kid}
	switch have {
	case 0:
		k.setRSA(&pub, nil)
	case len(names):
		num := func(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
		p := &rsa.PrivateKey{
			PublicKey: pub,
			D:         num(priv[0]),
			Primes:    []*big.Int{num(priv[1]), num(priv[2])},
			Precomputed: rsa.PrecomputedValues{
				Dp: num(priv[3]), Dq: num(priv[4]), Qinv: num(priv[5]),
			},
		}
		// Validate checks p·q = n, d, and the given CRT values against them.
		if err := validateRSAPrivate(p); err != nil {
			return nil, err
		}
		k.setRSA(&p.PublicKey, p)
	default:
		return nil, fmt.Errorf("%w: RSA private JWK needs all of d, p, q, dp, dq and qi", ErrInvalidKey)
	}
	k.finish()
	return k, nil
}

func parseECJWK(m jwkMembers, alg Algorithm, hasAlg bool, kid string) (*Key, error) {
	if hasAlg && alg.family() != famECDSA {
		return nil, ktyMismatch("EC", alg)
	}
	crv, present, err := m.str("crv")
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, fmt.Errorf("%w: EC JWK without \"crv\"", ErrInvalidKey)
	}
	curveAlg, ok := curveAlgorithm(crv)
	if !ok {
		return nil, fmt.Errorf("%w: EC curve %s", ErrUnsupportedAlgorithm, quoteShort(crv))
	}
	if !hasAlg {
		alg = curveAlg
	} else if alg != curveAlg {
		return nil, fmt.Errorf("%w: %s needs curve %s, the JWK has %s", ErrAlgorithmMismatch, alg, curveName(alg), crv)
	}
	size := coordSize(alg)
	x, err := m.fixed("EC", "x", size)
	if err != nil {
		return nil, err
	}
	y, err := m.fixed("EC", "y", size)
	if err != nil {
		return nil, err
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	k := &Key{alg: alg, fam: famECDSA, hash: alg.hash(), kid: kid}
	if _, hasD := m["d"]; hasD {
		d, err := m.fixed("EC", "d", size)
		if err != nil {
			return nil, err
		}
		err = k.setECDSAPrivate(d, point)
		clear(d)
		if err != nil {
			return nil, err
		}
	} else if err := k.setECDSAPublic(point); err != nil {
		return nil, err
	}
	k.finish()
	return k, nil
}

func parseOKPJWK(m jwkMembers, alg Algorithm, hasAlg bool, kid string) (*Key, error) {
	if hasAlg && alg != EdDSA {
		return nil, ktyMismatch("OKP", alg)
	}
	crv, present, err := m.str("crv")
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, fmt.Errorf("%w: OKP JWK without \"crv\"", ErrInvalidKey)
	}
	if crv != "Ed25519" {
		return nil, fmt.Errorf("%w: OKP curve %s (only Ed25519 is supported)", ErrUnsupportedAlgorithm, quoteShort(crv))
	}
	x, err := m.fixed("OKP", "x", 32)
	if err != nil {
		return nil, err
	}
	k := &Key{alg: EdDSA, fam: famEdDSA, kid: kid}
	if _, hasD := m["d"]; hasD {
		d, err := m.fixed("OKP", "d", 32)
		if err != nil {
			return nil, err
		}
		err = k.setEd25519Seed(d, x)
		clear(d)
		if err != nil {
			return nil, err
		}
	} else if err := k.setEd25519Public(famEdDSA, x); err != nil {
		return nil, err
	}
	k.finish()
	return k, nil
}
