package verifier_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/authkit-go/authkit/keys"
)

func hmacSecret(t testing.TB, k *keys.Key) []byte {
	if !k.Symmetric() {
		return nil
	}
	b, err := k.MarshalJWK()
	if err != nil {
		panic(err)
	}
	var j struct {
		K string `json:"k"`
	}
	json.Unmarshal(b, &j)
	s, err := base64.RawURLEncoding.DecodeString(j.K)
	if err != nil {
		panic(err)
	}
	return s
}

func privateKey(t *testing.T, k *keys.Key) any {
	t.Helper()
	b, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}
