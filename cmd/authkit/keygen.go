package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/authkit-go/authkit/keys"
)

// keygen runs "authkit keygen".
func (c *cli) keygen(ctx context.Context, args []string) error {
	var algs []string
	for _, a := range keys.Algorithms() {
		algs = append(algs, string(a))
	}
	fs := c.newFlagSet("keygen", "authkit keygen [--alg ALG] [--kid KID] [--bits N] [--public]\n       authkit keygen --public --keys FILE", `
Print a new signing key as a private JWK set (one key) on standard output: the
file "authkit serve --keys FILE" reads. It is secret: keep it with mode 0600,
for example

  (umask 077; authkit keygen --alg EdDSA > keys.json)

--public prints the public JWK set of the new key instead, and with --keys FILE
the public JWK set of an existing key file (what a verifier elsewhere trusts;
"authkit serve" also publishes it at /.well-known/jwks.json). HMAC keys (HS*)
have no public form.

Algorithms: `+strings.Join(algs, ", ")+`.`)
	alg := fs.String("alg", string(keys.EdDSA), "signing `ALGORITHM`")
	kid := fs.String("kid", "", "key ID (default: derived from the key, RFC 7638 thumbprint)")
	bits := fs.Int("bits", 2048, "RSA modulus size for RS* and PS* (2048 to 8192)")
	public := fs.Bool("public", false, "print the public JWK set instead of the private one")
	keysFile := fs.String("keys", "", "with --public: read an existing private key `FILE` instead of generating")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keygen takes no arguments (got %s)", strayArg(pos[0]))
	}
	if *keysFile != "" {
		if !*public {
			return usagef("--keys FILE is only for --public")
		}
		if flagGiven(fs, "alg") || flagGiven(fs, "kid") || flagGiven(fs, "bits") {
			return usagef("--alg, --kid and --bits do not apply to an existing key file")
		}
		set, err := readKeyFile(*keysFile)
		if err != nil {
			return err
		}
		return writeJWKS(c.stdout, set, true)
	}
	a := keys.Algorithm(*alg)
	if !a.Valid() {
		return usagef("--alg %s is not supported (want one of %s)", quote(*alg), strings.Join(algs, ", "))
	}
	if *public && a.Symmetric() {
		return usagef("--public: %s keys are shared secrets and have no public form", a)
	}
	k, err := generateKey(a, *kid, *bits)
	if err != nil {
		return err
	}
	set, err := keys.NewSet(k)
	if err != nil {
		return err
	}
	return writeJWKS(c.stdout, set, *public)
}

// generateKey makes a fresh key for alg with the given kid ("" derives one).
func generateKey(alg keys.Algorithm, kid string, rsaBits int) (*keys.Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case keys.HS256, keys.HS384, keys.HS512:
		secret := make([]byte, map[keys.Algorithm]int{keys.HS256: 32, keys.HS384: 48, keys.HS512: 64}[alg])
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		return keys.NewHMAC(alg, secret, kid)
	case keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512:
		if rsaBits < keys.MinRSABits || rsaBits > keys.MaxRSABits {
			return nil, usagef("--bits must be between %d and %d", keys.MinRSABits, keys.MaxRSABits)
		}
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case keys.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keys.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case keys.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case keys.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("%w: %s", keys.ErrUnsupportedAlgorithm, alg)
	}
	if err != nil {
		return nil, err
	}
	return keys.NewPrivate(alg, priv, kid)
}

// writeJWKS prints set's private key file, or its public JWKS, indented.
func writeJWKS(w io.Writer, set *keys.Set, public bool) error {
	var (
		doc []byte
		err error
	)
	if public {
		doc, err = set.JWKS()
		if err == nil && bytes.Equal(bytes.TrimSpace(doc), []byte(`{"keys":[]}`)) {
			err = errors.New("the key set has no public keys (HMAC keys are shared secrets)")
		}
	} else {
		doc, err = set.MarshalPrivateJWKS()
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// readKeyFile loads a private JWK set as keygen writes it. The first key
// becomes the active signing key.
func readKeyFile(path string) (*keys.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, keys.MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	set, err := keys.ParseJWKS(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return set, nil
}
