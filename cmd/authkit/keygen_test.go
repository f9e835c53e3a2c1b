package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

func TestKeygenEveryAlgorithm(t *testing.T) {
	t.Parallel()
	for _, alg := range keys.Algorithms() {
		if alg != keys.RS256 && alg != keys.PS384 && (strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")) {
			continue // RSA generation is slow; two RSA algorithms cover the path
		}
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "", "keygen", "--alg", string(alg))
			r.must(t, exitOK, nil, nil)
			set, err := keys.ParseJWKS([]byte(r.stdout))
			if err != nil {
				t.Fatalf("keygen output does not parse: %v\n%s", err, r.stdout)
			}
			k := set.Active()
			if k == nil || k.Algorithm() != alg || !k.CanSign() || len(set.Keys()) != 1 {
				t.Fatalf("got active %v of %d keys, want one %s signing key", k, len(set.Keys()), alg)
			}
			if k.ID() == "" {
				t.Error("no kid")
			}
			// The key signs, and its public JWKS verifies what it signs.
			sig, err := k.Sign([]byte("a.b"))
			if err != nil {
				t.Fatal(err)
			}
			if alg.Symmetric() {
				return
			}
			pub, err := keys.ParseJWKS(mustWrite(t, set, true))
			if err != nil {
				t.Fatal(err)
			}
			pk, ok := pub.Lookup(k.ID())
			if !ok || pk.CanSign() || pub.Active() != nil {
				t.Fatalf("public JWKS: key %v (found %v), active %v", pk, ok, pub.Active())
			}
			if err := pk.Verify([]byte("a.b"), sig); err != nil {
				t.Errorf("the public key does not verify the private key's signature: %v", err)
			}
		})
	}
}

func mustWrite(t *testing.T, set *keys.Set, public bool) []byte {
	t.Helper()
	var b strings.Builder
	if err := writeJWKS(&b, set, public); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

func TestKeygenOptions(t *testing.T) {
	t.Parallel()
	// Default EdDSA, chosen kid.
	r := runCLI(t, "", "keygen", "--kid", "2026-01")
	r.must(t, exitOK, []string{`"kid": "2026-01"`, `"alg": "EdDSA"`, `"d": `}, nil)
	set, err := keys.ParseJWKS([]byte(r.stdout))
	if err != nil || set.Active().ID() != "2026-01" || set.Active().Algorithm() != keys.EdDSA {
		t.Fatalf("got %v, %v", set, err)
	}

	// --public prints a public-only set: no private member.
	r = runCLI(t, "", "keygen", "--public", "--alg", "ES384")
	r.must(t, exitOK, []string{`"crv": "P-384"`}, nil)
	if strings.Contains(r.stdout, `"d"`) {
		t.Errorf("--public printed a private member:\n%s", r.stdout)
	}
	pub, err := keys.ParseJWKS([]byte(r.stdout))
	if err != nil || pub.Active() != nil {
		t.Fatalf("--public output: %v (active %v)", err, pub.Active())
	}

	// --public --keys FILE: the public JWKS of an existing key file.
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(file, []byte(runCLI(t, "", "keygen", "--kid", "k1").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "keygen", "--public", "--keys", file)
	r.must(t, exitOK, []string{`"kid": "k1"`}, nil)
	if strings.Contains(r.stdout, `"d"`) {
		t.Errorf("public JWKS holds a private member:\n%s", r.stdout)
	}

	// Refusals.
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"keygen", "--public", "--alg", "HS256"}, exitUsage, "no public form"},
		{[]string{"keygen", "--alg", "none"}, exitUsage, `--alg "none" is not supported`},
		{[]string{"keygen", "--alg", "ES521"}, exitUsage, "is not supported"},
		{[]string{"keygen", "--alg", "RS256", "--bits", "1024"}, exitUsage, "--bits must be between 2048 and 8192"},
		{[]string{"keygen", "--keys", file}, exitUsage, "--keys FILE is only for --public"},
		{[]string{"keygen", "--public", "--keys", file, "--alg", "ES256"}, exitUsage, "do not apply"},
		{[]string{"keygen", "--public", "--keys", filepath.Join(dir, "missing.json")}, exitFailure, "no such file"},
		{[]string{"keygen", "extra"}, exitUsage, "takes no arguments"},
	} {
		runCLI(t, "", tc.args...).must(t, tc.code, nil, []string{tc.msg})
	}

	// An HMAC key file has no public JWKS.
	hsFile := filepath.Join(dir, "hs.json")
	if err := os.WriteFile(hsFile, []byte(runCLI(t, "", "keygen", "--alg", "HS512").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", "keygen", "--public", "--keys", hsFile).must(t, exitFailure, nil, []string{"no public keys"})
}
