package httpsuite_test

import (
	"flag"
	"net/http"
	"os"
	"testing"

	"github.com/authkit-go/authkit/internal/httpsuite"
)

var update = flag.Bool("update", false, "rewrite testdata/transcript.golden from the net/http mounting")

// mountNetHTTP is the reference mounting: plain net/http, the endpoints
// under a prefix with http.StripPrefix.
func mountNetHTTP(_ *testing.T, env httpsuite.Env) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(httpsuite.Prefix+"/", http.StripPrefix(httpsuite.Prefix, env.Handler))
	mux.Handle("GET "+httpsuite.MePath, env.Auth.Require(env.Me))
	mux.Handle("GET "+httpsuite.AdminPath, env.Auth.Require(env.Auth.RequireScopes(httpsuite.AdminScope)(env.Me)))
	mux.Handle("GET "+httpsuite.AnyPath, env.Auth.RequireAnyScope(httpsuite.ReadScope, httpsuite.AdminScope)(env.Me))
	mux.Handle("GET "+httpsuite.AllPath, env.Auth.RequireScopes(httpsuite.ReadScope, httpsuite.AdminScope)(env.Me))
	mux.Handle("GET "+httpsuite.MaybePath, env.Auth.Optional(env.Me))
	return mux
}

// TestNetHTTP runs the suite on net/http. With -update it rewrites the
// golden file that every framework's mounting is compared with.
func TestNetHTTP(t *testing.T) {
	if !*update {
		httpsuite.Run(t, mountNetHTTP)
		return
	}
	tr := httpsuite.Record(t, mountNetHTTP)
	if t.Failed() {
		t.Fatal("not rewriting the golden file: the net/http mounting fails the suite's expectations")
	}
	for _, e := range tr {
		if e.Text == "" {
			t.Fatalf("not rewriting the golden file: scenario %q did not run (do not combine -update with a -run pattern below TestNetHTTP)", e.Name)
		}
	}
	if err := os.WriteFile("testdata/transcript.golden", []byte(tr.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
