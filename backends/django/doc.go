// Package django lets a Go service accept the API tokens a Django REST
// framework service already handed out, so that clients keep working while
// the API moves to authkit. It reads, and never writes, the tables two
// Django packages keep:
//
//   - NewAuthTokenStore: DRF's own token authentication
//     (rest_framework.authtoken, table authtoken_token: one 40-character
//     hexadecimal key per user, kept in clear, no expiry);
//   - NewKnoxStore: django-rest-knox (table knox_authtoken: only the
//     SHA-512 digest of each token is kept, with the first characters of the
//     token as an index, an optional expiry and any number of tokens per
//     user).
//
// Both are authkit.APITokenStore values that also implement
// authkit.ExternalAPITokens: give one to authkit.WithAPITokenStore and the
// verifier hands it every presented token of its form (a DRF key, a knox
// token) that is neither a JWT nor one of authkit's own API tokens, with
// either the "Authorization: Token <key>" scheme Django clients send or
// "Bearer". authkit's own API tokens live elsewhere: compose the stores
// with WithFallback, so that one verifier accepts authkit's new tokens and
// the old Django ones during the migration:
//
//	own := sqlstore.… // or memory.New(): authkit's own API tokens
//	drf, _ := django.NewAuthTokenStore(db, django.WithFallback(own))
//	knox, _ := django.NewKnoxStore(db, django.WithFallback(drf))
//	v, _ := verifier.New(authkit.WithKeys(set), authkit.WithAPITokenStore(knox))
//
// # What is checked
//
// Like DRF and knox themselves, a token authenticates only while its row
// exists and its user's is_active is true (see WithoutActiveCheck); a knox
// token past its expiry is reported expired. The subject of the principal is
// the user's primary key as text, or another column of the user table
// (WithSubjectColumn). Deleting a row — DRF's and knox's logout — is seen
// at the next request: nothing is cached.
//
// # Security
//
// Tokens are never logged, kept or put in an error. A token of the wrong
// length or alphabet is refused before any query. Every query honours its
// context; a database that cannot answer yields an error matching
// authkit.ErrStoreUnavailable (the request is refused, never let through),
// whose text is redacted of server identities. Secrets are compared in
// constant time after the indexed lookup (see the LookupExternalAPIToken
// methods for what that does and does not hide).
//
// # Versions and layouts
//
// The authtoken_token layout has not changed since DRF 3.0 (its later
// migrations change only model options), so every DRF 3.x release is
// supported. knox changed its table and its hashing several times; see
// KnoxFormat for the releases each format covers. The tables are used as
// Django's migrations create them, on PostgreSQL, MySQL/MariaDB and SQLite
// (the package's tests create them with the DDL Django emits for each,
// under testdata/, and run conformance.RunExternalAPITokens on every one).
// Django with USE_TZ =
// True writes DATETIMEs in UTC, as this package reads them by default (on
// MySQL, open the pool with the driver's default loc=UTC); with USE_TZ =
// False it writes its TIME_ZONE's local time to SQLite and MySQL: give that
// zone to WithTimeZone, or every knox expiry is off by its offset.
//
// A knox token_key brings back at most 32 candidate rows (knox itself
// reads them all): with a 10-character prefix, which leaves 5 random
// characters in the key, a table with more than 32 tokens under one key
// can refuse a valid token.
package django
