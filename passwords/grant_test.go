package passwords

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestGrantAnswersBusy: through httpauth's password grant, a check refused
// with ErrBusy answers 503 temporarily_unavailable with Retry-After, and
// is not counted against the user's throttle: more refusals than the
// throttle lets fail for the pair (5), then the right password, still
// gets a token.
func TestGrantAnswersBusy(t *testing.T) {
	t.Parallel()
	u, err := NewUsers(map[string]string{"alice": cheapArgon2id(t, "correct horse")}, WithMaxConcurrent(1), WithMaxWaiting(0))
	if err != nil {
		t.Fatal(err)
	}
	started, _, release := holdSlots(t, u)
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		t.Fatal(err)
	}
	endpoints, err := httpauth.NewHandler(iss, auth, httpauth.WithPasswordGrant(u.Check))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(endpoints)
	defer srv.Close()
	login := func(password string) (int, string, http.Header) {
		t.Helper()
		// Bounded: a login wrongly let wait for the held slot fails the
		// test instead of hanging it.
		client := &http.Client{Timeout: 10 * time.Second}
		res, err := client.PostForm(srv.URL+"/token", url.Values{
			"grant_type": {"password"}, "username": {"alice"}, "password": {password},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Error, res.Header
	}

	holder := make(chan error, 1)
	go func() {
		_, err := u.Check(context.Background(), "alice", "correct horse")
		holder <- err
	}()
	<-started // the only slot is held, and no check may wait
	for i := range 8 {
		code, e, h := login("correct horse")
		if code != http.StatusServiceUnavailable || e != "temporarily_unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("busy login %d: %d %q, Retry-After %q; want 503 temporarily_unavailable with Retry-After", i, code, e, h.Get("Retry-After"))
		}
	}
	if n := len(started); n != 0 {
		t.Errorf("%d busy logins hashed", n)
	}
	release()
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	if code, e, _ := login("correct horse"); code != http.StatusOK {
		t.Errorf("the right password after the busy answers: %d %q; want 200 (busy answers were counted as failures?)", code, e)
	}
}
