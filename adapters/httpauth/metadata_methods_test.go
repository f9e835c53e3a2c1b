package httpauth_test

import (
	"slices"
	"testing"

	"github.com/authkit-go/authkit"
)

// metadataDoc is the metadata document of f's Handler.
func metadataDoc(t *testing.T, f *fx) map[string]any {
	t.Helper()
	h, err := f.h.MetadataHandler()
	if err != nil {
		t.Fatal(err)
	}
	return metadataOf(t, h)
}

// The introspection and revocation endpoints advertise exactly the client
// authentication methods they accept: each advertised method is tried and
// works, and "none" is advertised at introspection by no configuration,
// since a public client is refused there.
func TestMetadataEndpointAuthMethods(t *testing.T) {
	f := newPKFx(t)
	doc := metadataDoc(t, f.fx)
	intro := strs(doc["introspection_endpoint_auth_methods_supported"])
	if !slices.Equal(intro, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "Bearer"}) {
		t.Errorf("introspection_endpoint_auth_methods_supported %v", intro)
	}
	rev := strs(doc["revocation_endpoint_auth_methods_supported"])
	if !slices.Equal(rev, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}) {
		t.Errorf("revocation_endpoint_auth_methods_supported %v", rev)
	}

	tk := f.login("alice", "read")
	for _, m := range intro {
		var kv, hdr []string
		switch m {
		case "client_secret_basic":
			hdr = clientBasic("svc+1", f.secrets["svc+1"])
		case "client_secret_post":
			kv = []string{"client_id", "svc+1", "client_secret", f.secrets["svc+1"]}
		case "private_key_jwt":
			kv = withAssertion(sign(t, f.k1, f.claimsFor("kjwt")))
		case "Bearer":
			hdr = bearer(f.login("bob", "introspect").AccessToken)
		default:
			t.Fatalf("introspection method %q advertised and not tried", m)
		}
		r := f.form("/introspect", append(kv, "token", tk.AccessToken), hdr...)
		if r.status != 200 || r.json(t)["active"] != true {
			t.Errorf("introspection with %s: %d %s", m, r.status, r.body)
		}
	}
	// What is not advertised does not work: a public client.
	expect(t, f.form("/introspect", []string{"token", tk.AccessToken, "client_id", "spa"}), 401, clientChallenge, bodyBadClient)

	// Revocation: each client revokes a token of its own.
	for _, m := range rev {
		var kv, hdr []string
		var tok string
		switch m {
		case "client_secret_basic", "client_secret_post":
			cred := clientBasic("svc+1", f.secrets["svc+1"])
			r := f.form("/token", []string{"grant_type", authkit.GrantClientCredentials}, cred...)
			if r.status != 200 {
				t.Fatalf("client_credentials: %d %s", r.status, r.body)
			}
			tok = r.json(t)["access_token"].(string)
			if m == "client_secret_basic" {
				hdr = cred
			} else {
				kv = []string{"client_id", "svc+1", "client_secret", f.secrets["svc+1"]}
			}
		case "private_key_jwt":
			r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt")))
			if r.status != 200 {
				t.Fatalf("client_credentials by kjwt: %d %s", r.status, r.body)
			}
			tok = r.json(t)["access_token"].(string)
			kv = withAssertion(sign(t, f.k1, f.claimsFor("kjwt")))
		case "none":
			// A public client names itself and revokes its own refresh
			// token (RFC 7009 §2.1).
			tok = f.loginAs(t, []string{"client_id", "spa", "scope", "read"}).RefreshToken
			kv = []string{"client_id", "spa"}
		default:
			t.Fatalf("revocation method %q advertised and not tried", m)
		}
		if r := f.form("/revoke", append(kv, "token", tok), hdr...); r.status != 200 {
			t.Errorf("revocation with %s: %d %s", m, r.status, r.body)
		}
		if m == "none" {
			if r := f.refreshWith(tok, []string{"client_id", "spa"}); r.status != 400 {
				t.Errorf("the public client's refresh token outlived its revocation: %d %s", r.status, r.body)
			}
		}
	}
}

// Without a client store: revocation needs no client authentication (the
// token is the proof), and introspection takes no client authentication
// method at all — its callers present a bearer credential the Auth
// accepts — so the list names the access token type alone, "Bearer" (RFC
// 8414 §2 allows it; found by review: an empty list said nothing worked).
func TestMetadataEndpointAuthMethodsWithoutClients(t *testing.T) {
	f := newFx(t, fxOptions{})
	doc := metadataDoc(t, f)
	if m := strs(doc["introspection_endpoint_auth_methods_supported"]); !slices.Equal(m, []string{"Bearer"}) {
		t.Errorf("introspection_endpoint_auth_methods_supported %v, want [Bearer]", m)
	}
	if m := strs(doc["revocation_endpoint_auth_methods_supported"]); !slices.Equal(m, []string{"none"}) {
		t.Errorf("revocation_endpoint_auth_methods_supported %v", m)
	}
	tk := f.login("alice", "read")
	if r := f.form("/revoke", []string{"token", tk.RefreshToken}); r.status != 200 {
		t.Errorf("revocation without client authentication: %d %s", r.status, r.body)
	}
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", tk.RefreshToken}); r.status != 400 {
		t.Errorf("the refresh token outlived its revocation: %d %s", r.status, r.body)
	}
	// No client method works at introspection; a bearer caller does.
	if r := f.form("/introspect", []string{"token", tk.AccessToken}, clientBasic("svc", "secret")...); r.status != 401 {
		t.Errorf("introspection with Basic client credentials: %d %s", r.status, r.body)
	}
	caller := f.login("bob", "introspect")
	if r := f.form("/introspect", []string{"token", tk.AccessToken}, bearer(caller.AccessToken)...); r.status != 200 {
		t.Errorf("introspection by a bearer caller: %d %s", r.status, r.body)
	}
}
