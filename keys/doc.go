// Package keys holds authkit's signing and verification keys: generation,
// parsing and serialisation as JWK (RFC 7517, 7518, 8037) and PEM, JWS
// signatures (RFC 7515, 7518 §3), key sets with rotation, and the public
// JWKS document a verifier elsewhere fetches.
//
// It supports HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512
// and EdDSA (Ed25519). Every [Key] is bound to exactly one [Algorithm] and
// one kid, so a token's "alg" can be checked against its key (RFC 8725
// §3.1): there is no way to use an RSA public key as an HMAC secret, or a
// P-384 key with ES256. Keys are immutable and safe for concurrent use.
//
// Weak or malformed keys are refused when they are made or parsed, never at
// first use: HMAC secrets shorter than the hash output, RSA moduli under 2048
// bits (or over 8192), RSA public exponents that are even or below 3, RSA
// moduli with the ROCA fingerprint (CVE-2017-15361), EC points not on their
// named curve, Ed25519 public keys of small order, private parts that do not match their public part, and JWKs
// whose "kty", "crv", "use" or "key_ops" do not fit a signature key of the
// named algorithm. In JWK and JWKS documents, duplicate member names,
// invalid UTF-8 and \u escapes of lone surrogates (which a lenient decoder
// turns into U+FFFD, rewriting a kid) are refused. A PEM document holds
// exactly one key block: a second block, a broken one, text after the key,
// and an "EC PARAMETERS" block that does not name the curve of the EC
// private key after it are refused (see [ParsePEM]).
//
// This package imports nothing else of authkit; the JWS and JWT layers build
// on [Key.Sign], [Key.Verify] and [Set.Lookup].
//
// # Rotation
//
// A [Set] has one active key, which signs new tokens, and any number of
// further keys, which only verify. Keys rotate without logging anyone out:
//
//  1. Add the new key with [Set.Add]. Publish the JWKS (see [Set.JWKS]) and
//     let verifiers that fetch it pick the new key up before it signs
//     (within their refresh interval). Replicas that each load a key file
//     must all have loaded the file with the new key before any signs with
//     it: a replica that has not refuses the others' new tokens
//     ("authkit keygen --keys FILE --add|--activate|--remove" edits such a
//     file one step at a time).
//  2. Make it the active key with [Set.Activate]. New tokens are signed
//     with it; tokens signed with the old key still verify.
//  3. Keep the old key until the last token it signed has expired (the
//     access-token lifetime plus any clock-skew leeway).
//  4. Drop the old key with [Set.Remove]. Tokens it signed no longer verify.
//
// Each step replaces the set's snapshot atomically, so requests in flight
// see either the old or the new set, never a mixture, and [Set.Lookup]
// never waits for a writer.
//
// # External signers
//
// [NewSigner] makes a signing key from any [crypto.Signer], so that the
// private key stays in a KMS, an HSM or Vault. Its public key is validated
// like any other; its JWK, JWKS entry and default kid are those of a local
// key with the same public key; its private part is never exported
// ([ErrNotExportable]). Every signature it produces is verified with the
// public key before it is returned, so a faulty or misconfigured signer
// yields [ErrSignerFailed], never a token that does not verify.
// crypto.Signer takes no context: the signer bounds its own calls (a
// timeout in the KMS client) and reports expiry as an error.
//
// # Errors
//
// Every error matches one sentinel with [errors.Is]; the message adds the
// detail, never secret material:
//
//   - [ErrUnsupportedAlgorithm]: an algorithm or curve outside the thirteen
//     supported ("none", "RSA1_5", "ES224", "Ed448", …).
//   - [ErrWeakKey]: a key that must not be used (short HMAC secret, small
//     RSA modulus, RSA exponent below 3, ROCA, small-order Ed25519 point).
//   - [ErrInvalidKey]: malformed or inconsistent key material or document,
//     including size limits and ambiguous key sets.
//   - [ErrAlgorithmMismatch]: key material that does not fit its algorithm.
//   - [ErrNotSigningKey]: a public-only key asked to sign or to be active.
//   - [ErrSymmetricKey]: a public form asked of an HMAC key.
//   - [ErrSignerFailed]: a [crypto.Signer] behind a [NewSigner] key
//     failed, or returned a signature that is malformed or does not verify.
//   - [ErrNotExportable]: a private export of a [NewSigner] key.
//   - [ErrInvalidSignature]: a signature that does not verify.
//   - [ErrUnknownKey], [ErrDuplicateKeyID], [ErrActiveKey]: set operations.
package keys
