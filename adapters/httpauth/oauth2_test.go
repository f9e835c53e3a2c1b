package httpauth_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// A standard OAuth 2.0 client works unchanged: the password grant, a
// protected call, and an automatic refresh when its token has expired.
func TestOAuth2Client(t *testing.T) {
	f := newFx(t, fxOptions{})
	conf := &oauth2.Config{
		ClientID: "first-party-app",
		Endpoint: oauth2.Endpoint{TokenURL: f.srv.URL + "/token"},
		Scopes:   []string{"read"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, f.srv.Client())

	tok, err := conf.PasswordCredentialsToken(ctx, "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("scope") != "read" {
		t.Fatalf("token %+v", tok)
	}
	if d := time.Until(tok.Expiry); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("expiry in %v, want about 5 minutes", d)
	}
	get := func(src oauth2.TokenSource) (int, string) {
		t.Helper()
		res, err := oauth2.NewClient(ctx, src).Get(f.srv.URL + "/api/me")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(conf.TokenSource(ctx, tok)); code != 200 || body != "alice jwt [read]" {
		t.Fatalf("protected call: %d %s", code, body)
	}

	// The client believes its token has expired: it refreshes on its own.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	src := conf.TokenSource(ctx, &expired)
	if code, body := get(src); code != 200 || body != "alice jwt [read]" {
		t.Fatalf("call after refresh: %d %s", code, body)
	}
	next, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken || !next.Valid() {
		t.Errorf("the token was not refreshed: %+v", next)
	}

	// Replaying the rotated refresh token is reuse: invalid_grant.
	_, err = conf.TokenSource(ctx, &expired).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Errorf("reuse: %v", err)
	}
	_, err = conf.PasswordCredentialsToken(ctx, "alice", "wrong")
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("bad password: %v", err)
	}
}
