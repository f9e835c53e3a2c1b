// Package golangjwt bridges authkit's keys and principals to
// github.com/golang-jwt/jwt/v5, for code bases that already parse or sign
// tokens with golang-jwt. authkit's core (the root package, keys, issuer and
// verifier) does not import golang-jwt; only this package does.
//
// It offers three things:
//
//   - [Keyfunc]: a jwt.Keyfunc over a [keys.Set]. It finds the key named by
//     the token's kid, refuses the token unless its alg is exactly the
//     algorithm that key is bound to (RFC 8725 §3.1), never accepts "none",
//     and hands golang-jwt the public key (or HMAC secret) in the type its
//     built-in signing methods expect. [ValidMethods] and [ParserOptions]
//     add golang-jwt's own algorithm allow-list on top.
//   - [SigningMethod]: a jwt.SigningMethod that signs with a [keys.Key], so
//     golang-jwt code can mint tokens with keys taken from an authkit key
//     set or JWKS file. [NewAccessToken] also sets the kid and the RFC 9068
//     typ "at+jwt", which authkit's verifier requires.
//   - [RegisteredClaims] and [AccessTokenClaims]: conversions from an
//     [authkit.Principal] to golang-jwt claims, and [AccessClaims], a claims
//     type that reads and writes the RFC 9068 claims authkit uses.
//
// The package holds no global state: it registers nothing in golang-jwt's
// signing-method registry. [Keyfunc] returns keys in the types golang-jwt's
// built-in methods take, so parsing needs no registration, and a
// [SigningMethod] value is passed to jwt.New or jwt.NewWithClaims directly,
// so signing needs none either.
//
// # Errors
//
// Errors from [Keyfunc] reach the caller of jwt.Parse wrapped in
// jwt.ErrTokenUnverifiable, and match the keys package's sentinels with
// [errors.Is]:
//
//   - [keys.ErrUnknownKey]: the kid names no key of the set (or the key was
//     removed), or a token without kid could not be matched to exactly one key;
//   - [keys.ErrAlgorithmMismatch]: the token's alg is not the key's
//     algorithm, or the header's alg and golang-jwt's method disagree, or the
//     method is not golang-jwt's own implementation of that algorithm;
//   - [keys.ErrUnsupportedAlgorithm]: "none" or any other algorithm authkit
//     does not implement;
//   - [keys.ErrInvalidKey]: a malformed header (kid not a string, a "crit"
//     member) or a nil set;
//   - jwt.ErrTokenSignatureInvalid and [keys.ErrInvalidSignature]: a PS*
//     signature that does not verify with the RFC 7518 §3.5 salt length,
//     which Keyfunc checks itself because golang-jwt accepts any salt
//     length and authkit's verifier does not.
//
// [Method.Sign] and [Method.Verify] return errors that match jwt.ErrInvalidKeyType
// when given a key they do not take, and the keys package's errors otherwise
// ([keys.ErrInvalidSignature] for a signature that does not verify, also
// matching jwt.ErrSignatureInvalid).
//
// # Concurrency
//
// Every function and method here is safe for concurrent use. A Keyfunc reads
// the set on every call, so keys added to or removed from the set take
// effect at once.
package golangjwt
