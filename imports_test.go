package authkit_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The root package imports none of its sub-packages except the leaf
// package keys, and the core packages stay free of framework, driver and
// container dependencies.
func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "github.com/authkit-go/authkit/") && imp != "github.com/authkit-go/authkit/keys" {
			t.Errorf("the root package imports %s; only keys is allowed", imp)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "./keys").Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("github.com/authkit-go/authkit\n")) {
		t.Error("keys imports the root package; it must stay a leaf")
	}
	out, err = exec.Command("go", "list", "-deps", ".", "./issuer", "./verifier", "./keys", "./conformance", "./backends/memory").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gin-gonic/", "labstack/", "go-chi/", "redis/go-redis", "jmoiron/sqlx", "lib/pq", "jackc/pgx", "go-sql-driver", "modernc.org", "testcontainers", "golang-jwt"} {
		if bytes.Contains(out, []byte(p)) {
			t.Errorf("a core package depends on %s; only adapters/* and backends/* may", p)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "./conformance").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"authkit/backends/", "authkit/issuer", "authkit/verifier"} {
		if bytes.Contains(out, []byte(p)) {
			t.Errorf("conformance depends on %s; it must need only the root package", p)
		}
	}
}
