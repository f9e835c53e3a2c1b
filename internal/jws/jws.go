// Package jws is authkit's strict compact JWS (RFC 7515 §7.1) layer: a
// compact token and a key in, a payload out; and the reverse for signing.
// The verifier and the issuer build their JWT handling on it.
//
// It is deliberately narrower than RFC 7515 allows, and refuses:
//
//   - a token longer than MaxTokenSize, before any decoding;
//   - anything but exactly three segments (so the JSON serialization, JWE's
//     five segments and a bare header are all refused);
//   - a segment that is not canonical unpadded base64url: only the alphabet
//     [A-Za-z0-9_-], no '=' padding, no white space or line breaks, no
//     non-zero unused trailing bits, no impossible length;
//   - an empty header or an empty signature, a header longer than
//     MaxHeaderSize once decoded, or a signature longer than
//     MaxSignatureSize;
//   - a header that is not a strict JSON object (see package strictjson:
//     valid UTF-8, no duplicate or case-variant member names, …), whose "alg"
//     is missing or not a non-empty string, or whose "kid", "typ" or "cty" is
//     not a string;
//   - a header with "crit" (authkit implements no extension, so any critical
//     extension is one it does not understand), "b64" (RFC 7797 unencoded
//     payloads) or "zip" (compression is a JWE feature; honouring it in a JWS
//     would only open a decompression bomb);
//   - a header with "jku", "x5u", "jwk" or "x5c": members that carry a key
//     or point at one (RFC 8725 §3.10). authkit never takes a key from the
//     token, so a token that offers one was made for another verifier, or
//     by someone hoping this one is careless; and "enc", which only a JWE
//     header carries;
//   - at verification, an "alg" that is not exactly the key's algorithm
//     (so "none", "HS256" against an RSA key and every other algorithm
//     confusion fail), and a signature whose length the algorithm rules out.
//
// The thumbprint members "x5t" and "x5t#S256" are ignored: the key always
// comes from the caller.
//
// # Allocation
//
// Parse and Token.Verify allocate nothing for a typical HS256 or ES256
// token when the Token is reused (the signature is decoded into a fixed
// buffer inside the Token, the header into a buffer on the stack, and the
// "kid" and "typ" strings are reused while they do not change). A Token is
// a little over 1 KiB; callers on a hot path keep one per goroutine or pool them.
//
// # Errors
//
// Every error matches one of ErrTooLarge, ErrMalformed, ErrUnsupportedHeader,
// ErrAlgorithmMismatch, ErrNoKey or keys.ErrInvalidSignature with errors.Is
// (key failures other than a bad signature are passed through wrapped).
// Messages never contain the token or any part of it.
package jws

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/keys"
)

const (
	// MaxTokenSize is the longest compact token Parse and Verify accept, in
	// bytes. Longer tokens are refused before any decoding.
	MaxTokenSize = 8 << 10
	// MaxSignatureSize is the longest decoded signature accepted: an RSA
	// signature with the largest modulus package keys accepts.
	MaxSignatureSize = keys.MaxRSABits / 8

	// MaxHeaderSize is the longest decoded header Parse reads, in bytes.
	// The members it reads are a few short strings; the longest a key set
	// allows, a kid of keys.MaxKeyIDBytes, takes 1,536 bytes when every
	// character is written as a \u escape (as encoding/json writes &, <
	// and >: found by review, a 1 KiB bound refused such a token another
	// issuer signed). The bound keeps what a token that is refused anyway
	// costs to parse close to what a valid one costs to verify.
	MaxHeaderSize = 2 << 10
)

var (
	// ErrTooLarge is returned for a token longer than MaxTokenSize, and by
	// Sign when the token it would produce is, or its header is longer
	// than MaxHeaderSize.
	ErrTooLarge = errors.New("jws: token too large")
	// ErrMalformed is returned for a token that is not a strict compact JWS
	// (see the package documentation).
	ErrMalformed = errors.New("jws: malformed token")
	// ErrUnsupportedHeader is returned for a header that uses a feature
	// authkit does not implement or refuses: "crit", "b64", "zip", "jku",
	// "x5u", "jwk", "x5c" or "enc". The error's message names the member
	// ("jws: unsupported header member \"jku\""); UnsupportedMember
	// returns it.
	ErrUnsupportedHeader = errors.New("jws: unsupported header member")
	// ErrAlgorithmMismatch is returned by Verify when the header's "alg" is
	// not exactly the key's algorithm ("none" included).
	ErrAlgorithmMismatch = errors.New("jws: algorithm does not match the key")
	// ErrNoKey is returned for a nil key, and by Sign for a key that cannot
	// sign.
	ErrNoKey = errors.New("jws: no usable key")
)

// Prebuilt errors, so that refusing a token allocates nothing either.
var (
	errSegments   = fmt.Errorf("%w: not three segments", ErrMalformed)
	errEmptyHdr   = fmt.Errorf("%w: empty header", ErrMalformed)
	errEmptySig   = fmt.Errorf("%w: empty signature", ErrMalformed)
	errLongSig    = fmt.Errorf("%w: signature too long", ErrMalformed)
	errLongHdr    = fmt.Errorf("%w: header too long", ErrMalformed)
	errHdrB64     = fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	errPayloadB64 = fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	errSigB64     = fmt.Errorf("%w: signature is not canonical base64url", ErrMalformed)
	errNoAlg      = fmt.Errorf("%w: header has no \"alg\"", ErrMalformed)
	errAlgType    = fmt.Errorf("%w: header \"alg\" is not a non-empty string", ErrMalformed)
	errKidType    = fmt.Errorf("%w: header \"kid\" is not a string", ErrMalformed)
	errTypType    = fmt.Errorf("%w: header \"typ\" is not a string", ErrMalformed)
	errCtyType    = fmt.Errorf("%w: header \"cty\" is not a string", ErrMalformed)
	errNotParsed  = fmt.Errorf("%w: no token parsed", ErrMalformed)
	errSigLen     = fmt.Errorf("jws: signature length does not fit the algorithm: %w", keys.ErrInvalidSignature)
	errBadSig     = fmt.Errorf("jws: %w", keys.ErrInvalidSignature)
)

// Header holds the JOSE header parameters authkit reads. Others are
// ignored (see the package documentation for the ones that are refused).
type Header struct {
	// Alg is "alg" exactly as the token states it; it may be an algorithm
	// package keys does not know, such as "none", which Verify refuses.
	Alg keys.Algorithm
	// Kid is "kid", or "" when absent.
	Kid string
	// Typ is "typ", or "" when absent.
	Typ string
	// Cty is "cty", or "" when absent.
	Cty string
}

// Token is a parsed compact JWS. Fill it with Parse; the zero Token is
// empty and Verify refuses it. A Token may be reused for another Parse.
type Token struct {
	// Header is the token's parsed header.
	Header Header

	signingInput string // "header.payload", a substring of the token
	payload      string // the payload segment, a substring of the token
	sigLen       int
	sig          [MaxSignatureSize]byte

	// The last "kid", "typ" and "cty" strings, reused when the next token
	// carries the same values so that a reused Token does not allocate.
	kid, typ, cty string
}

// Parse parses token as a strict compact JWS into t, replacing whatever t
// held. It checks the structure, the encoding and the header; it does not
// check the signature (see Token.Verify). On error t holds no token.
func Parse(token string, t *Token) error {
	t.Header = Header{}
	t.signingInput, t.payload, t.sigLen = "", "", 0

	if len(token) > MaxTokenSize {
		return ErrTooLarge
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return errSegments
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return errSegments
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return errSegments
	}
	hseg, pseg, sseg := token[:d1], token[d1+1:d2], token[d2+1:]
	if hseg == "" {
		return errEmptyHdr
	}
	if sseg == "" {
		return errEmptySig
	}

	// Signature: decoded into the Token's fixed buffer.
	n, ok := decodedLen(len(sseg))
	if !ok {
		return errSigB64
	}
	if n > MaxSignatureSize {
		return errLongSig
	}
	if _, ok := decode(t.sig[:n], sseg); !ok {
		return errSigB64
	}

	// Payload: checked now, decoded by AppendPayload.
	if !canonical(pseg) {
		return errPayloadB64
	}

	// Header.
	hn, ok := decodedLen(len(hseg))
	if !ok {
		return errHdrB64
	}
	if hn > MaxHeaderSize {
		return errLongHdr
	}
	var hbuf [MaxHeaderSize]byte
	if _, ok := decode(hbuf[:hn], hseg); !ok {
		return errHdrB64
	}
	h, err := t.parseHeader(hbuf[:hn])
	if err != nil {
		return err
	}

	t.Header = h
	t.signingInput, t.payload, t.sigLen = token[:d2], pseg, n
	return nil
}

// parseHeader reads the header JSON into a Header.
func (t *Token) parseHeader(data []byte) (Header, error) {
	var h Header
	o, err := strictjson.NewObject(data)
	if err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	hasAlg := false
	var nameBuf [32]byte // every member Parse reads or refuses fits
	for o.Next() {
		v := o.Value()
		name := o.AppendName(nameBuf[:0])
		switch string(name) {
		case "alg":
			b, err := v.StringBytes(nil)
			if err != nil || len(b) == 0 {
				return h, errAlgType
			}
			h.Alg, hasAlg = algorithm(b), true
		case "kid":
			b, err := v.StringBytes(nil)
			if err != nil {
				return h, errKidType
			}
			h.Kid = reuse(&t.kid, b)
		case "typ":
			b, err := v.StringBytes(nil)
			if err != nil {
				return h, errTypType
			}
			h.Typ = reuse(&t.typ, b)
		case "cty":
			b, err := v.StringBytes(nil)
			if err != nil {
				return h, errCtyType
			}
			h.Cty = reuse(&t.cty, b)
		default:
			if err := unsupported(name); err != nil {
				return h, err
			}
		}
	}
	if !hasAlg {
		return h, errNoAlg
	}
	return h, nil
}

// unsupportedMembers are the header members Parse refuses, in the order of
// unsupportedErrs.
var unsupportedMembers = [...]string{"crit", "b64", "zip", "jku", "x5u", "jwk", "x5c", "enc"}

// unsupportedErrs holds one prebuilt error per refused member, so that
// refusing a token allocates nothing.
var unsupportedErrs = func() (errs [len(unsupportedMembers)]*memberError) {
	for i, m := range unsupportedMembers {
		errs[i] = &memberError{member: m}
	}
	return errs
}()

// memberError is ErrUnsupportedHeader naming the member.
type memberError struct{ member string }

func (e *memberError) Error() string { return "jws: unsupported header member \"" + e.member + "\"" }
func (e *memberError) Unwrap() error { return ErrUnsupportedHeader }

// unsupported returns the error for a refused header member, or nil.
func unsupported(name []byte) error {
	for i, m := range unsupportedMembers {
		if string(name) == m {
			return unsupportedErrs[i]
		}
	}
	return nil
}

// UnsupportedMember returns the name of the header member err refuses
// ("jku", "crit", …) when err is Parse's ErrUnsupportedHeader, and ""
// otherwise.
func UnsupportedMember(err error) string {
	var m *memberError
	if errors.As(err, &m) {
		return m.member
	}
	return ""
}

// algorithm returns b as a keys.Algorithm, without allocating for the
// algorithms keys supports.
func algorithm(b []byte) keys.Algorithm {
	switch keys.Algorithm(b) {
	case keys.HS256:
		return keys.HS256
	case keys.HS384:
		return keys.HS384
	case keys.HS512:
		return keys.HS512
	case keys.RS256:
		return keys.RS256
	case keys.RS384:
		return keys.RS384
	case keys.RS512:
		return keys.RS512
	case keys.PS256:
		return keys.PS256
	case keys.PS384:
		return keys.PS384
	case keys.PS512:
		return keys.PS512
	case keys.ES256:
		return keys.ES256
	case keys.ES384:
		return keys.ES384
	case keys.ES512:
		return keys.ES512
	case keys.EdDSA:
		return keys.EdDSA
	}
	return keys.Algorithm(b)
}

// reuse returns *cache when it equals b, and otherwise stores and returns
// a new string made from b.
func reuse(cache *string, b []byte) string {
	if string(b) != *cache {
		*cache = string(b)
	}
	return *cache
}

// SigningInput returns the JWS signing input, "header.payload" as it
// appears in the token.
func (t *Token) SigningInput() string { return t.signingInput }

// Signature returns the decoded signature. It aliases t's buffer and is
// valid until the next Parse into t.
func (t *Token) Signature() []byte { return t.sig[:t.sigLen] }

// sigSize is the exact signature length of the fixed-size algorithms, and
// 0 for RSA, whose length is the modulus size (package keys checks it).
func sigSize(a keys.Algorithm) int {
	switch a {
	case keys.HS256:
		return 32
	case keys.HS384:
		return 48
	case keys.HS512, keys.ES256, keys.EdDSA:
		return 64
	case keys.ES384:
		return 96
	case keys.ES512:
		return 132
	}
	return 0
}

// Verify checks the parsed token's signature with k. The header's "alg"
// must equal k.Algorithm() exactly, or ErrAlgorithmMismatch is returned;
// a signature that does not verify yields an error matching
// keys.ErrInvalidSignature. Verify allocates nothing for HMAC keys.
func (t *Token) Verify(k *keys.Key) error {
	if k == nil {
		return ErrNoKey
	}
	if t.signingInput == "" {
		return errNotParsed
	}
	if t.Header.Alg != k.Algorithm() || !t.Header.Alg.Valid() {
		return ErrAlgorithmMismatch
	}
	if n := sigSize(t.Header.Alg); n != 0 && t.sigLen != n {
		return errSigLen
	}
	if err := k.Verify(readOnlyBytes(t.signingInput), t.sig[:t.sigLen]); err != nil {
		if errors.Is(err, keys.ErrInvalidSignature) {
			return errBadSig
		}
		return fmt.Errorf("jws: %w", err)
	}
	return nil
}

// AppendPayload appends the decoded payload to dst. Call it after Verify:
// the payload of a token whose signature has not been checked is
// attacker-controlled.
func (t *Token) AppendPayload(dst []byte) ([]byte, error) {
	if t.signingInput == "" {
		return dst, errNotParsed
	}
	n, ok := decodedLen(len(t.payload))
	if !ok {
		return dst, errPayloadB64 // unreachable: Parse checked it
	}
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	if _, ok := decode(dst[len(dst):len(dst)+n], t.payload); !ok {
		return dst, errPayloadB64
	}
	return dst[:len(dst)+n], nil
}

// Verify parses token, checks its signature with k and returns its
// decoded payload: the "compact JWS and a key in, payload out" entry point.
func Verify(token string, k *keys.Key) ([]byte, error) {
	var t Token
	if err := Parse(token, &t); err != nil {
		return nil, err
	}
	if err := t.Verify(k); err != nil {
		return nil, err
	}
	return t.AppendPayload(nil)
}

// Sign returns the compact JWS of payload signed with k, with the header
// {"alg":k.Algorithm(),"kid":k.ID(),"typ":typ} ("kid" and "typ" are left
// out when empty). It makes one allocation for the token, plus whatever
// k.Sign needs.
func Sign(k *keys.Key, typ string, payload []byte) (string, error) {
	if k == nil || !k.CanSign() {
		return "", ErrNoKey
	}
	alg := k.Algorithm()
	kid := k.ID()
	if !utf8.ValidString(typ) || !utf8.ValidString(kid) {
		return "", fmt.Errorf("%w: \"typ\" or \"kid\" is not valid UTF-8", ErrMalformed)
	}

	var stack [MaxHeaderSize]byte
	h := append(stack[:0], `{"alg":`...)
	h = appendJSONString(h, string(alg))
	if kid != "" {
		h = append(h, `,"kid":`...)
		h = appendJSONString(h, kid)
	}
	if typ != "" {
		h = append(h, `,"typ":`...)
		h = appendJSONString(h, typ)
	}
	h = append(h, '}')
	if len(h) > MaxHeaderSize {
		return "", ErrTooLarge // Parse would refuse it
	}

	enc := base64.RawURLEncoding
	maxSig := sigSize(alg)
	if maxSig == 0 {
		maxSig = MaxSignatureSize
	}
	size := enc.EncodedLen(len(h)) + 1 + enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(maxSig)
	if size-enc.EncodedLen(maxSig) > MaxTokenSize {
		return "", ErrTooLarge
	}
	buf := make([]byte, 0, size)
	buf = enc.AppendEncode(buf, h)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := k.Sign(buf)
	if err != nil {
		return "", fmt.Errorf("jws: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	if len(buf) > MaxTokenSize {
		return "", ErrTooLarge
	}
	return stringOf(buf), nil
}

// appendJSONString appends s, which is valid UTF-8, as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
