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
	"runtime"
	"strings"

	"github.com/authkit-go/authkit/keys"
)

// keygen runs "authkit keygen".
func (c *cli) keygen(ctx context.Context, args []string) error {
	var algs []string
	for _, a := range keys.Algorithms() {
		algs = append(algs, string(a))
	}
	fs := c.newFlagSet("keygen", "authkit keygen [--alg ALG] [--kid KID] [--bits N] [--public]\n       authkit keygen --public --keys FILE\n       authkit keygen --keys FILE --add [--alg ALG] [--kid KID] [--bits N]\n       authkit keygen --keys FILE --activate KID | --remove KID", `
Print a new signing key as a private JWK set (one key) on standard output: the
file "authkit serve --keys FILE" reads. It is secret: keep it with mode 0600,
for example

  (umask 077; authkit keygen --alg EdDSA > keys.json)

--public prints the public JWK set of the new key instead, and with --keys FILE
the public JWK set of an existing key file (what a verifier elsewhere trusts;
"authkit serve" also publishes it at /.well-known/jwks.json). HMAC keys (HS*)
have no public form.

Rotation rewrites the key file FILE in place (atomically, mode 0600), one
step at a time; deploy the file to every replica after each step, before the
next:

  --add           add a new key after the others: it verifies, it does not
                  sign yet (--alg defaults to the signing key's algorithm)
  --activate KID  make KID the signing key (it moves first in the file)
  --remove KID    drop KID once the last token it signed has expired (the
                  access-token lifetime plus the verifiers' leeway)

Algorithms: `+strings.Join(algs, ", ")+`.`)
	alg := fs.String("alg", string(keys.EdDSA), "signing `ALGORITHM`")
	kid := fs.String("kid", "", "key ID (default: derived from the key, RFC 7638 thumbprint)")
	bits := fs.Int("bits", 2048, "RSA modulus size for RS* and PS* (2048 to 8192; with --add, default the signing key's size)")
	public := fs.Bool("public", false, "print the public JWK set instead of the private one")
	keysFile := fs.String("keys", "", "an existing private key `FILE`: with --public, print its public JWK set; with --add, --activate or --remove, rotate it in place")
	add := fs.Bool("add", false, "with --keys: add a new key to FILE that verifies but does not sign yet")
	activate := fs.String("activate", "", "with --keys: make the key `KID` of FILE the signing key")
	remove := fs.String("remove", "", "with --keys: remove the key `KID` from FILE")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("keygen takes no arguments (got %s)", strayArg(pos[0]))
	}
	if *kid != "" {
		// A kid the keys package refuses is a mistake on the command line,
		// found before the lock is taken or an RSA key made (found by
		// review: exit 1 after seconds of RSA generation). The keys
		// package says what it accepts when it makes a key: ask it with a
		// throwaway HMAC key, which costs nothing.
		if _, err := keys.NewHMAC(keys.HS256, make([]byte, 32), *kid); err != nil {
			return usagef("--kid %s: %v", quote(*kid), err)
		}
	}
	steps := 0
	for _, name := range []string{"add", "activate", "remove"} {
		if flagGiven(fs, name) {
			steps++
		}
	}
	if steps > 0 {
		switch {
		case steps > 1:
			return usagef("--add, --activate and --remove are steps of their own: give one")
		case *keysFile == "":
			return usagef("--add, --activate and --remove rotate a key file: name it with --keys FILE")
		case *public:
			return usagef("--public does not go with --add, --activate or --remove")
		case !*add && (flagGiven(fs, "alg") || flagGiven(fs, "kid") || flagGiven(fs, "bits")):
			return usagef("--alg, --kid and --bits are for --add")
		case flagGiven(fs, "activate") && *activate == "", flagGiven(fs, "remove") && *remove == "":
			return usagef("--activate and --remove take the key ID (kid) of a key in the file")
		}
		if !flagGiven(fs, "bits") {
			*bits = 0 // the signing key's size (rotateKeyFile)
		}
		return c.rotateKeyFile(ctx, *keysFile, *add, *activate, *remove, *alg, flagGiven(fs, "alg"), *kid, *bits)
	}
	if *keysFile != "" {
		if !*public {
			return usagef("--keys FILE is for --public, --add, --activate or --remove")
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
	if !*public {
		// Before the key is made: an RSA key takes seconds.
		if err := c.checkSecretOutput("the private key"); err != nil {
			return err
		}
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

// checkSecretOutput refuses, before anything is made or stored, to print
// secret (a private key, a client secret) to standard output when it is a
// regular file that another account may read or write, or one owned by
// another account: chmod after the shell opened the file would not close
// a descriptor another account opened in the meantime, and the owner of a
// file planted in a shared directory reads whatever goes into it (found by
// review: keygen used to narrow a 0644 file and write the key, which an
// account that had opened the file already read; and wrote into a 0600
// file of another account's). A terminal, a pipe, and a file of this
// account's that is 0600 or 0640 (the mode serve accepts for a serve
// account in the file's group) pass.
func (c *cli) checkSecretOutput(secret string) error {
	f, ok := c.stdout.(*os.File)
	if !ok || runtime.GOOS == "windows" {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("standard output is a file owned by uid %d, not by this account, and %s would be readable by its owner: nothing was written; write to a new file of your own, (umask 077; authkit … > FILE), and chown it after if need be", uid, secret)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return fmt.Errorf("standard output is a file other accounts can read or write (mode %#o), which one may have opened already, so narrowing it now would not keep %s from it: nothing was written; remove the file and write it again under umask 077: (umask 077; authkit … > FILE)", perm, secret)
	}
	acl, err := fileACL(f)
	if err != nil {
		return fmt.Errorf("standard output is a file whose ACL could not be read (%v), so whether other accounts can read %s cannot be told: nothing was written; write to a file under umask 077", err, secret)
	}
	if acl {
		// Its mode's group bits are the ACL's mask: a named entry can let
		// another account read it at 0640 (found by review). A directory's
		// default ACL gives one to every new file, whatever the umask.
		return fmt.Errorf("standard output is a file with a POSIX ACL (getfacl shows it), which can let other accounts read %s whatever its mode: nothing was written; write to a file without one (setfacl -b FILE, or a directory without a default ACL) under umask 077", secret)
	}
	return nil
}

// rotateKeyFile runs one rotation step on the key file at path: add a new
// key (alg, or the signing key's when algGiven is false; an RSA key of
// bits, or with bits 0 of the signing key's size, at least 2048: a 4096-bit
// key was followed by a 2048-bit one, found by review), activate the key
// activate, or remove the key remove. It rewrites the file in place
// (replaceSecretFile: a shell redirection onto the file it reads would
// empty it first) and says what it did on standard error. It holds the
// file's lock (the users commands' lock file beside it) from the read to
// the rewrite: two rotations at once each kept their key and wrote the
// file, and one key was lost (found by review). From the lock on, the
// first Ctrl-C or SIGTERM cancels ctx instead of ending the process: one
// that came while the file was written left the temporary copy of every
// private key beside it (found by review). A signal before the write
// begins (while the lock is awaited, or a new RSA key is made, which takes
// seconds) stops the command with nothing changed, exit status 1; one
// during the write lets it finish.
func (c *cli) rotateKeyFile(ctx context.Context, path string, add bool, activate, remove, alg string, algGiven bool, kid string, bits int) error {
	real, err := resolveLinks(path)
	if err != nil {
		return err
	}
	watchSignals(ctx)
	unlock, err := lockFile(ctx, real, func() {
		fmt.Fprintf(c.stderr, "waiting for another authkit command to finish with %s\n", path)
	})
	if err != nil {
		return err
	}
	defer unlock()
	set, err := readKeptKeyFile(real)
	if err != nil {
		return err
	}
	active := set.Active()
	if active == nil {
		return fmt.Errorf("key file %s holds no private key (is it a public JWKS?): rotate the private key file serve --keys reads", path)
	}
	var did string
	switch {
	case add:
		a := active.Algorithm()
		if algGiven {
			a = keys.Algorithm(alg)
			if !a.Valid() {
				return usagef("--alg %s is not supported", quote(alg))
			}
		}
		if a.Symmetric() != active.Algorithm().Symmetric() {
			return usagef("--alg %s: a key file holds HMAC keys or asymmetric keys, not both (its signing key is %s)", a, active.Algorithm())
		}
		if bits == 0 {
			bits = 2048
			if pub, ok := active.PublicKey().(*rsa.PublicKey); ok {
				bits = max(bits, pub.N.BitLen())
			}
		}
		k, err := generateKeyCtx(ctx, a, kid, bits)
		if err != nil {
			return err
		}
		if err := set.Add(k); err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		kind := string(a)
		if pub, ok := k.PublicKey().(*rsa.PublicKey); ok {
			kind = fmt.Sprintf("%s %d-bit", a, pub.N.BitLen())
		}
		did = fmt.Sprintf("added %s key %s: it verifies, and signs once activated (authkit keygen --keys %s --activate %s) after every replica has loaded this file", kind, quote(k.ID()), path, k.ID())
	case activate != "":
		if k, ok := set.Lookup(activate); ok && k == active {
			return fmt.Errorf("key file %s: key %s already signs", path, quote(activate))
		}
		if err := set.Activate(activate); err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		did = fmt.Sprintf("key %s signs from the next start on (it was %s, which still verifies)", quote(activate), quote(active.ID()))
	default:
		if err := set.Remove(remove); err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		did = fmt.Sprintf("removed key %s: tokens it signed stop verifying where this file is loaded", quote(remove))
	}
	var out bytes.Buffer
	if err := writeJWKS(&out, set, false); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped before %s was changed; nothing changed: %w", path, err)
	}
	err = replaceSecretFile(real, out.Bytes())
	clear(out.Bytes())
	if err != nil {
		return fmt.Errorf("key file %s: %w (unchanged)", path, err)
	}
	fmt.Fprintf(c.stderr, "%s: %s\n", path, did)
	return nil
}

// generateKeyCtx is generateKey ended by ctx: an RSA key of 8192 bits
// takes up to a minute, and a signal meanwhile must stop the command (found
// by review: it was ignored until the key was made and the file
// rewritten). The abandoned generation ends with the process.
func generateKeyCtx(ctx context.Context, alg keys.Algorithm, kid string, rsaBits int) (*keys.Key, error) {
	type result struct {
		k   *keys.Key
		err error
	}
	done := make(chan result, 1)
	go func() {
		k, err := generateKey(alg, kid, rsaBits)
		done <- result{k, err}
	}()
	select {
	case r := <-done:
		return r.k, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("stopped while making the new key; nothing changed: %w", ctx.Err())
	}
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
	err = json.Indent(&out, doc, "", "  ")
	if !public {
		clear(doc) // secret material: not left in the heap longer than needed
	}
	if err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	if !public {
		clear(out.Bytes())
	}
	return err
}

// readKeyFile loads a private JWK set as keygen writes it. The first key
// becomes the active signing key. Any file will do, a pipe too ("keygen
// --public --keys <(…)", "inspect --jwks /dev/stdin"): a command run once
// waits for what it was asked to read.
func readKeyFile(path string) (*keys.Set, error) {
	return readKeys(path, os.Open)
}

// readKeptKeyFile is readKeyFile for a key file serve loads or a keygen
// rotation rewrites: a regular file only (openRegular), never waited on
// (found by review: readKeyFile refused pipes for every command for a
// while, which broke inspect and keygen --public over process
// substitution).
func readKeptKeyFile(path string) (*keys.Set, error) {
	return readKeys(path, openRegular)
}

func readKeys(path string, open func(string) (*os.File, error)) (*keys.Set, error) {
	f, err := open(path)
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
