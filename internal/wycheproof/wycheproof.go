// Package wycheproof holds the third-party Wycheproof test vectors that the
// keys and internal/jws tests run, embedded from this package's testdata
// folder so that a fresh clone of the repository runs them with nothing
// beside it. testdata/SOURCE.md says where each file came from, at which
// commit, under which licence (testdata/LICENSE), and which vectors are
// known to be wrong.
//
// Only tests import this package; no program built from the repository
// links it.
package wycheproof

import "embed"

//go:embed testdata/json_web_signature_test.json testdata/json_web_key_test.json
var files embed.FS

// The vector files, by their names in testdata/ and in the upstream
// repository's testvectors_v1 folder.
const (
	// JWSFile is the JSON Web Signature vectors: compact JWS strings with
	// the key that should (or should not) verify them.
	JWSFile = "json_web_signature_test.json"
	// JWKFile is the JSON Web Key vectors: key sets that may or may not be
	// used at all.
	JWKFile = "json_web_key_test.json"
)

// Read returns the bytes of one vector file (JWSFile or JWKFile), a fresh
// copy on every call.
func Read(name string) ([]byte, error) {
	return files.ReadFile("testdata/" + name)
}
