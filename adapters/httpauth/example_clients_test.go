package httpauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Register a confidential client and let it get an access token for
// itself with the client_credentials grant (RFC 6749 §4.4), authenticating
// with client_secret_basic. A wrong secret gets 401 invalid_client.
func ExampleWithClientStore() {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New() // also an authkit.ClientStore
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpauth.NewHandler(iss, auth, httpauth.WithClientStore(store))
	if err != nil {
		log.Fatal(err)
	}

	// Registration (the CLI or an admin tool does this): the secret is
	// shown once; only its hash is stored.
	secret, hash, err := iss.NewClientSecret()
	if err != nil {
		log.Fatal(err)
	}
	err = store.CreateClient(context.Background(), authkit.Client{
		ID:         "billing",
		SecretHash: hash,
		GrantTypes: []string{authkit.GrantClientCredentials},
		Scopes:     []string{"invoices:read", "invoices:write"},
		AccessTTL:  time.Minute,
		CreatedAt:  time.Now(),
	})
	if err != nil {
		log.Fatal(err)
	}

	srv := httptest.NewServer(h)
	defer srv.Close()
	token := func(secret string) {
		body := url.Values{"grant_type": {"client_credentials"}, "scope": {"invoices:read"}}
		req, _ := http.NewRequest("POST", srv.URL+"/token", strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// RFC 6749 §2.3.1: form-urlencode both parts, then Basic.
		req.SetBasicAuth(url.QueryEscape("billing"), url.QueryEscape(secret))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			log.Fatal(err)
		}
		fmt.Println(strings.TrimSpace(fmt.Sprint(res.StatusCode, " ", res.Header.Get("WWW-Authenticate"))))
		if res.StatusCode != http.StatusOK {
			fmt.Println(out["error"])
			return
		}
		_, hasRefresh := out["refresh_token"]
		fmt.Println(out["token_type"], out["expires_in"], out["scope"], hasRefresh)
		p, err := ver.Verify(context.Background(), out["access_token"].(string))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.Subject, p.ClientID)
	}
	token(secret)
	token("wrong")
	// Output:
	// 200
	// Bearer 60 invoices:read false
	// billing billing
	// 401 Basic realm="authkit", charset="UTF-8"
	// invalid_client
}
