package main

import (
	"log/slog"
	"net/http"

	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/verifier"
)

// newEndpoints builds the HTTP layer: the middleware that protects /me and
// the handler with authkit's endpoints, whose password grant checks users.
// scopes are those a password login may ask for (none by default).
func newEndpoints(iss *issuer.Issuer, v *verifier.Verifier, users *userDB, scopes []string, log *slog.Logger) (func(http.Handler) http.Handler, http.Handler, error) {
	auth, err := httpauth.New(v, httpauth.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	h, err := httpauth.NewHandler(iss, auth,
		httpauth.WithPasswordGrant(users.check),
		httpauth.WithAllowedScopes(scopes...))
	if err != nil {
		return nil, nil, err
	}
	return auth.Require, h, nil
}
