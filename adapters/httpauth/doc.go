// Package httpauth is authkit's net/http layer: middleware that
// authenticates requests through a verifier.Verifier, the single place
// where an authentication error becomes an HTTP response, and a handler
// serving the token, revocation, introspection, JWKS, session and API-token
// endpoints. The chi, gin and echo adapters wrap it without adding logic.
//
//	auth, err := httpauth.New(ver)
//	mux.Handle("GET /orders", auth.Require(orders))
//	mux.Handle("POST /orders", auth.Require(auth.RequireScopes("orders:write")(create)))
//	h, err := httpauth.NewHandler(iss, auth, httpauth.WithPasswordGrant(checkPassword))
//	mux.Handle("/", h) // or mount each of h.Routes()
//
// A handler behind [Auth.Require] finds the caller with
// authkit.PrincipalFrom(r.Context()). [Auth.Optional] lets anonymous
// requests through but never a bad credential (an access cookie whose
// token has expired counts as none: see [WithCookies]); [Auth.RequireScopes]
// and [Auth.RequireAnyScope] check scopes.
//
// # Errors
//
// [Auth.Deny] classifies an error with one table, first match by
// [errors.Is], and answers with Cache-Control: no-store and the JSON body
// {"error": code, "error_description": text}. The description is fixed
// text, never the error's message.
//
// A 401 or 400 carries one challenge for each scheme the verifier accepts
// (verifier.Verifier.Schemes, by default Bearer and then Token, Django
// REST framework's scheme), each in its own WWW-Authenticate field, in the
// verifier's order (RFC 9110 §11.6.1). The RFC 6750 §3 error attributes
// (error, error_description, scope) go on the challenge of the scheme the
// request's credential came under; the others are bare. A credential from
// the access cookie, under a profile's HeaderTypes word (which are not
// challenged), or in two Authorization headers puts them on the first of
// Bearer and Token; a Basic credential puts them nowhere, since RFC 7617
// defines none. A 403 carries the presented scheme's challenge alone. A
// "Basic" challenge (realm and charset) goes with 401 only, and only when
// Basic is the verifier's first scheme: a browser answers it with a
// password prompt and then sends the password by itself (see Security).
// With the default verifier and no credential:
//
//	WWW-Authenticate: Bearer realm="authkit"
//	WWW-Authenticate: Token realm="authkit"
//
// and with a bad "Authorization: Token …":
//
//	WWW-Authenticate: Bearer realm="authkit"
//	WWW-Authenticate: Token realm="authkit", error="invalid_token", error_description="token invalid"
//
// The table shows the challenge of the presented scheme:
//
//	error                              status  WWW-Authenticate                                   body "error"
//	authkit.ErrStoreUnavailable,       503     none; Retry-After (WithRetryAfter)                 temporarily_unavailable
//	  context.DeadlineExceeded/Canceled
//	ErrCSRF                            403     none                                               csrf_failed
//	authkit.ErrNoCredentials           401     Bearer realm="…" (no error attribute, §3.1)        unauthorized
//	authkit.ErrInvalidRequest          400     Bearer realm="…", error="invalid_request", …       invalid_request
//	ErrAPITokenNotAllowed              403     … error="insufficient_scope", …                    insufficient_scope
//	ErrClientTokenNotAllowed           403     … error="insufficient_scope", …                    insufficient_scope
//	authkit.ErrInsufficientScope       403     … error="insufficient_scope", …, scope="a b"       insufficient_scope
//	authkit.ErrTokenExpired            401     … error="invalid_token", error_description="token expired"
//	authkit.ErrTokenRevoked, …Reused   401     … error="invalid_token", error_description="token revoked"
//	authkit.ErrInvalidToken, any other 401     … error="invalid_token", error_description="token invalid"
//
// An error that matches no row is denied as an invalid token: an unknown
// error never lets a request through, and a store that cannot answer is a
// 503, never a 200 and never "your token is invalid" (which would make
// clients discard good tokens). Such refusals are logged at Warn, at most
// one line per second for the middleware and one for the endpoints (an
// outage refuses every request), each with refused_unlogged, the count of
// refusals since the line before.
//
// The endpoints answer their own errors with the RFC 6749 §5.2 body:
// invalid_request (400: a missing, repeated or malformed parameter, a
// Content-Type other than form or JSON, a credential or API-token parameter
// in the URL, an unknown API-token parameter),
// invalid_grant (400: bad username or password, or a refresh token that is
// invalid, expired, revoked or reused — one message for all),
// unsupported_grant_type, invalid_scope, unsupported_token_type (RFC 7009:
// an access token with no revocation store), slow_down (429 with
// Retry-After: password attempts throttled), temporarily_unavailable (503),
// server_error (500), not_found (404), method_not_allowed (405 with Allow),
// limit_exceeded (409: WithAPITokenLimit), and 413 for a body over
// WithMaxBodyBytes; with [WithClientStore] also invalid_client (401, with a
// Basic challenge: client authentication failed) and unauthorized_client
// (400: a grant the client is not registered for, or a token of another
// client on /revoke; 403 at /introspect for a client that may not
// introspect). Caller authentication failures on the endpoints go
// through Deny like the middleware's.
//
// # Endpoints
//
// With the default [Paths]:
//
//   - POST /token (RFC 6749 §5): grant_type=password (only with
//     [WithPasswordGrant] or [WithPasswordLogin], and not with
//     [WithoutPasswordGrant]; throttled, see [WithThrottlePolicy]; scopes per
//     [WithScopePolicy]) and grant_type=refresh_token (optional scope narrows
//     the new access token, RFC 6749 §6); with [WithClientStore] also
//     grant_type=client_credentials, and with [WithAuthorizationCode]
//     grant_type=authorization_code. Bodies are form-encoded or, as an
//     extension, a JSON object of strings. Without WithClientStore, client
//     credentials, if sent, are ignored: the clients are public first-party
//     clients, and an unauthenticated client_id is never written into a
//     token (see Client authentication below).
//   - GET and POST /authorize (RFC 6749 §4.1, only with
//     [WithAuthorizationCode]): see Authorization code below.
//   - POST /revoke (RFC 7009): any token kind; 200 for unknown tokens.
//     With [WithCORSOrigins], /token and /revoke answer the listed
//     browser origins' CORS requests and preflights (a single-page app on
//     another origin); no other endpoint does.
//     With [WithCookies] and no token parameter it is a browser's logout
//     (CSRF-checked): it ends the session of the refresh cookie or, since
//     the browser sends that cookie to the token endpoint's path only, of
//     the access cookie (even one that no longer verifies, if the issuer
//     signed it: Issuer.RevokeAccessTokenSession), and clears the cookies.
//   - POST /introspect (RFC 7662): the caller must pass
//     [WithIntrospectionRule] (default: scope "introspect"); any inactive
//     token is exactly {"active":false}. Active answers carry token_type
//     "Bearer" for tokens used as bearer credentials (RFC 7662 refers to
//     the RFC 6749 §7.1 types) and the extension member
//     "authkit_token_kind": "access_token", "refresh_token" or "api_token".
//   - GET /.well-known/jwks.json: application/jwk-set+json, Cache-Control
//     public with [WithJWKSMaxAge], ETag and 304.
//   - POST /logout-all (204); GET /sessions ({"sessions":[…]}, the caller's
//     own marked "current"); GET /sessions/{id} (one element of that list,
//     404); DELETE /sessions/{id} (204, 404); GET /api-tokens
//     ({"api_tokens":[…]}); POST /api-tokens (201 with the secret, shown
//     once; body below); GET /api-tokens/{id} (one element of that list,
//     never the secret, 404); DELETE /api-tokens/{id} (204, 404). An item
//     another subject owns is 404, as an unknown one.
//     These act on the caller's own subject only and need a first-party
//     session (a JWT of the Handler's issuer whose client_id is empty or
//     the issuer's own) or a Basic principal: an API token gets [ErrAPITokenNotAllowed], so a
//     leaked API token can neither mint another nor log its owner out, and
//     a token issued to an OAuth client (authorization code,
//     client_credentials) or by another issuer the verifier trusts gets
//     [ErrClientTokenNotAllowed], so a delegated or machine token can mint
//     no API token that outlives it, nor read or end the user's sessions
//     ([WithAccountClients] lets in users' sessions through named clients).
//     A client registered under the issuer's own client_id cannot
//     authenticate at all.
//
// POST /api-tokens takes the same three fields in either encoding:
//
//	application/json                      application/x-www-form-urlencoded
//	{"name": "ci",                        name=ci
//	 "scopes": ["read", "write"],         &scope=read+write
//	 "expires_in": 86400}                 &expires_in=86400
//
// The fields:
//
//   - name (required): 1 to 256 bytes of UTF-8 without control characters
//     (C1 included), bidirectional controls or line separators.
//   - scopes, or scope in a form (space-separated, as in RFC 6749 §3.3):
//     at most 64 scope tokens of 1 to 128 bytes (invalid_scope otherwise),
//     each held by the caller: a token never grants more than its creator
//     holds (403 insufficient_scope, naming the missing scopes). Left out:
//     a token without scopes.
//   - expires_in: the lifetime in whole seconds, 60 to 316,224,000 (ten
//     years of 366 days), a JSON integer or decimal digits in a form. Left
//     out: the token does not expire.
//
// The body is read like the token endpoint's: at most [WithMaxBodyBytes]
// (413), a Content-Type of either kind (else invalid_request), each
// parameter once (a repeated one is invalid_request), an empty form
// parameter counts as absent. Unlike the token endpoint, an unknown
// parameter or JSON member is refused (invalid_request "invalid API token
// request"), so a misspelt expires_in never creates a token that does not
// expire, and a request naming one of these parameters (or a credential
// parameter) in the URL is refused (invalid_request). The answer
// is 201 with the record and the secret, shown this once: {"token":
// "ak_…", "id", "subject", "name", "scopes", "created_at", "expires_at"};
// 409 limit_exceeded when the caller already holds the most live tokens
// authkit.WithAPITokenLimit allows.
//
// # Client authentication
//
// [WithClientStore] registers OAuth 2.0 clients (authkit.Client) with the
// Handler. A request to /token, /revoke or /introspect may then present a
// client: client_secret_basic (an Authorization: Basic header whose
// client_id and secret were each form-urlencoded, RFC 6749 §2.3.1),
// client_secret_post (client_id and client_secret in the body), or, for a
// public client, client_id alone. More than one method, or a client_id in
// the body that differs from the Basic one, is invalid_request; a
// client_secret without client_id too. A confidential client (one with a
// secret) must authenticate; a public client cannot (a secret sent for it
// fails). Every failure — unknown or deleted client, wrong or missing
// secret, malformed Basic credentials, a client_id that is not 1 to
// authkit.MaxClientIDLen bytes of visible ASCII — is the same 401
// invalid_client with WWW-Authenticate: Basic realm="…", charset="UTF-8"
// (a challenge goes with every 401, RFC 9110 §15.5.2). A ClientStore that
// cannot answer is 503. Attempts with a secret are throttled like
// passwords, keyed by (client_id, client address) and the address
// ([ThrottlePolicy]; 429 slow_down), but with no ceiling per client_id: a
// client secret (256 random bits) or a signed assertion cannot be
// guessed, and such a ceiling would let failures from other addresses
// lock the real client out. Failures are reported
// as authkit.EventLoginFailed with Method [MethodClientSecret] and the
// client_id as Subject. With a client store, Basic credentials on these
// three endpoints are always a client's, never a user's.
//
//   - client_credentials (RFC 6749 §4.4): an authenticated client whose
//     GrantTypes hold it gets an access token whose sub and client_id are
//     its ID, with the requested scopes (each must be among the client's
//     Scopes: invalid_scope otherwise) or, when none are requested, all of
//     the client's Scopes; no refresh token; it lives the client's
//     AccessTTL when that is shorter than the issuer's access TTL. The
//     event hook sees authkit.EventIssued with Method "client_credentials".
//     A request without an authenticated client is invalid_client; a client
//     not registered for the grant, unauthorized_client.
//   - password: a request that presents a client needs GrantPassword among
//     its GrantTypes (unauthorized_client), is granted only scopes among
//     the client's, and the session's client_id is the client's. Without a
//     client it works as before (first-party login).
//   - refresh_token: a request that presents a client needs
//     GrantRefreshToken. The refresh token must have been issued to the
//     client presented (RFC 6749 §6): a session of client X refreshes only
//     when X is presented (authenticated when X is confidential) and was
//     registered before the session started, so a deleted client's
//     sessions refresh for no one, even under a new registration of its ID; a first-party session
//     (no client_id, or the issuer's own, authkit.WithClientID) only when
//     no client is presented. Otherwise invalid_grant, and the token is not
//     spent.
//   - /revoke (RFC 7009 §2.1): a client may revoke only tokens issued to
//     it (another's is 400 unauthorized_client, and nothing is revoked); a
//     token issued to a registered confidential client needs that client,
//     authenticated (401 invalid_client); tokens of public clients and
//     first-party tokens are revoked by possession, as before. An invalid
//     token is still 200 (§2.2).
//   - /introspect (RFC 7662 §2.1): a resource server may authenticate as a
//     confidential client instead of presenting a token; it is then held to
//     [WithIntrospectionRule] as a principal with its ID as subject and
//     client_id, its registered Scopes and Method [MethodClientSecret] (by
//     default it needs the scope "introspect"). A public client cannot
//     introspect (invalid_client). With no client credentials the caller
//     authenticates as before.
//
// A client registered with a key set (authkit.Client.JWKS: public RSA,
// ECDSA or Ed25519 keys) authenticates with private_key_jwt (RFC 7523 §2.2
// and §3, as OpenID Connect Core §9 uses it): client_assertion_type
// [ClientAssertionTypeJWT] and a client_assertion JWT of at most
// [MaxClientAssertionLen] bytes that it signed, with iss and sub its
// client_id (a client_id parameter, if sent, must match), aud the issuer
// identifier alone (or, with [WithEndpointAssertionAudiences], the token
// endpoint's URL or the URL of the endpoint called; a single value either
// way), exp at most [MaxClientAssertionLifetime] ahead, and a jti. The signature
// is checked against the client's own keys only, the algorithm bound to
// the key (never HS* or none); kid picks the key and may be left out only
// when one key has the header's algorithm. iat, if present, may be at most
// MaxClientAssertionLifetime old; exp, nbf and iat allow
// [ClientAssertionLeeway] of clock skew. Each assertion is accepted once:
// its jti is recorded through authkit.ClientAssertionStore until it
// expires, so private_key_jwt needs a client store implementing it (the
// memory, SQL and Redis stores do) and is refused otherwise, with one
// error logged. Failures are invalid_client like wrong secrets, reported
// as authkit.EventLoginFailed with Method [MethodPrivateKeyJWT], and
// throttled per (client_id, address) the same way. Client-store calls run
// under the issuer's store deadline (authkit.WithStoreTimeout).
//
// # Authorization code
//
// [WithAuthorizationCode] adds the authorization-code grant with PKCE
// (RFC 6749 §4.1, RFC 7636, as RFC 9700 §2.1.1 requires it) for clients
// whose GrantTypes hold authkit.GrantAuthorizationCode, public or
// confidential. GET /authorize checks, in this order: client_id names a
// registered client and redirect_uri is byte for byte one of its
// RedirectURIs (otherwise 400 invalid_request and no redirect, RFC 6749
// §4.1.2.1); then state (required, 1 to 1024 printable ASCII characters),
// response_type=code, the client's grant, code_challenge (43 to 128
// characters) with code_challenge_method=S256 (plain and a missing method
// are refused), and scope (each among the client's) — any of these fails
// with a redirect to the client carrying error, error_description, state
// and iss. A valid request reaches the application's login-and-consent
// handler with an [AuthorizationRequest] in its context; the handler
// renders its page (its form posts back to the same URL, whose query is
// validated again) and ends with [AuthorizationRequest.Approve] — a code
// redirected to the client with state and iss (RFC 9207) — or
// [AuthorizationRequest.Deny] (access_denied). A parameter given twice,
// or a query over 8 KiB, is 400. Every answer carries no-store,
// Referrer-Policy no-referrer and frame-ancestors 'none'.
//
// At the token endpoint, grant_type=authorization_code takes code,
// redirect_uri and code_verifier (all required) and the client: a public
// client's client_id, a confidential client's authentication. The code is
// redeemed once, atomically, and only then compared with the request: a
// client, redirect URI or verifier (SHA-256, compared in constant time)
// other than the authorization request's is invalid_grant and burns the
// code. The
// tokens carry the scopes, claims and lifetimes of the Login given to
// Approve (the client's AccessTTL and RefreshTTL shorten them further); a
// client not allowed GrantRefreshToken gets no refresh token. A second
// redemption is invalid_grant; when it holds what the code's client holds
// (the same client and redirect URI, and a matching verifier) it also
// revokes the session the first one started, access tokens included,
// reported as authkit.EventReuseDetected with Method
// [MethodAuthorizationCode]; a replay by anyone else revokes nothing. A
// request without a code, redirect URI or verifier, or with a malformed
// verifier, is invalid_request and leaves the code unredeemed. The
// response sets no cookie.
//
// # Security
//
//   - Tokens are read from the Authorization header and, with [WithCookies],
//     the access cookie — never from the URL (RFC 9700 §4.3.2). The token,
//     revocation and introspection endpoints refuse a request that puts a
//     credential parameter in the query string, and read parameters from
//     the body only.
//   - Cookie transport: the access and refresh cookies are HttpOnly, Secure
//     and SameSite (Lax by default); the refresh cookie is scoped to the
//     token endpoint's path. Every unsafe request that authenticates by
//     cookie must echo the CSRF cookie in the CSRF header (double submit,
//     compared with crypto/subtle); a header-authenticated request needs no
//     CSRF token, because browsers never add an Authorization header on
//     their own — except HTTP Basic after a Basic challenge, which [Auth]
//     sends only when Basic is the verifier's first scheme: do not make
//     Basic the first scheme for routes a browser visits. Prefer "__Host-"
//     cookie names; two cookies of one name are refused (cookie tossing).
//   - Inputs are bounded: bodies (413), parameters (count, length, UTF-8,
//     no repeats), scopes (RFC 6749 §3.3 syntax), IDs, and the
//     Authorization header (by the verifier). Malformed input is a 4xx,
//     never a panic.
//   - Every password check — the password grant, Basic credentials on
//     protected routes and on the account endpoints (POST /api-tokens) — is
//     throttled per (user, client address), per client address (IPv6 by
//     /64) and per user, with waits that double with each failure beyond a
//     free allowance ([ThrottlePolicy]): an attacker at one address never
//     locks the owner out of another, and a distributed attack meets a
//     per-user ceiling, which does not hold the addresses the user logged
//     in from in the last 30 days. The counters live in an authkit.ThrottleStore
//     (the verifier's store when it is one, as the SQL and Redis stores
//     are, shared between replicas; else in memory, per process; or
//     [WithThrottleStore]'s). A throttled attempt is
//     refused unchecked (429 slow_down, Retry-After), the same whether or
//     not the user exists; a throttle store that cannot answer refuses the
//     attempt (503). Forwarding headers are read only from the proxies
//     named with [WithTrustedProxies]. Failed and throttled attempts reach
//     [WithEventHook].
//   - Responses that carry or describe tokens are Cache-Control: no-store
//     (and Pragma: no-cache on /token). Logs and error bodies never hold a
//     token, password or cookie value; the token responses are the only
//     bodies that carry secrets. Denials are logged at Debug, store outages
//     and unclassified errors at Warn, endpoint failures at Error.
//   - A successful response is not marked uncacheable by the middleware:
//     shared caches do not store responses to requests with an
//     Authorization header, but with cookie authentication set
//     Cache-Control on private responses yourself.
//
// # Concurrency
//
// [Auth] and [Handler] are immutable after construction and safe for
// concurrent use; the throttle keeps its counters in its ThrottleStore.
package httpauth
