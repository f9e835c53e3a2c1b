package passwords_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/passwords"
	"github.com/authkit-go/authkit/verifier"
)

func ExampleHash() {
	encoded, err := passwords.Hash([]byte("correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$"))

	ok, err := passwords.Verify(encoded, []byte("correct horse battery"))
	fmt.Println(ok, err)
	ok, err = passwords.Verify(encoded, []byte("correct horse"))
	fmt.Println(ok, err)

	// A hash whose parameters are out of bounds is refused before hashing.
	_, err = passwords.Verify("$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg", []byte("x"))
	fmt.Println(err != nil)
	// Output:
	// true
	// true <nil>
	// false <nil>
	// true
}

func ExampleParseUsers() {
	alice, err := passwords.Hash([]byte("correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	file := "# staff\nalice:" + alice + "\n"
	users, err := passwords.ParseUsers(strings.NewReader(file))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(users.Names())

	_, err = passwords.ParseUsers(strings.NewReader("bob:hunter22\n"))
	fmt.Println(err)
	// Output:
	// [alice]
	// users file line 1 (user "bob"): not an argon2id (PHC) or bcrypt hash
}

func ExampleUsers_Check() {
	// The users: here from code; passwords.LoadUsers reads a users file
	// such as "authkit users add" writes.
	encoded, err := passwords.Hash([]byte("correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	users, err := passwords.NewUsers(map[string]string{"alice": encoded})
	if err != nil {
		log.Fatal(err)
	}

	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		log.Fatal(err)
	}
	endpoints, err := httpauth.NewHandler(iss, auth, httpauth.WithPasswordGrant(users.Check))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(endpoints)
	defer srv.Close()

	for _, login := range [][2]string{{"alice", "correct horse battery"}, {"alice", "wrong"}, {"mallory", "wrong"}} {
		res, err := http.PostForm(srv.URL+"/token", url.Values{
			"grant_type": {"password"}, "username": {login[0]}, "password": {login[1]},
		})
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		fmt.Println(login[0], res.StatusCode)
	}

	// Called directly, Check tells a wrong pair by its error.
	_, err = users.Check(context.Background(), "mallory", "wrong")
	fmt.Println(errors.Is(err, passwords.ErrBadCredentials))
	// Output:
	// alice 200
	// alice 400
	// mallory 400
	// true
}
