package django

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
)

// AuthTokenKeyLen is the length of the keys Django REST framework's
// authtoken generates: 20 random bytes, hexadecimal, lower case.
const AuthTokenKeyLen = 40

// AuthTokenStore reads Django REST framework's authtoken_token table (see
// NewAuthTokenStore). It is safe for concurrent use.
type AuthTokenStore struct {
	base
	query string
}

var (
	_ authkit.APITokenStore     = (*AuthTokenStore)(nil)
	_ authkit.ExternalAPITokens = (*AuthTokenStore)(nil)
	_ authkit.Pinger            = (*AuthTokenStore)(nil)
)

// NewAuthTokenStore returns a store that accepts the keys of Django REST
// framework's TokenAuthentication, read from the table rest_framework.
// authtoken's migrations create:
//
//	authtoken_token(key varchar(40) PRIMARY KEY, created timestamp,
//	                user_id UNIQUE REFERENCES auth_user(id))
//
// The caller owns db (opened with the driver of its choice: pgx, lib/pq,
// modernc.org/sqlite…, under a driver name that tells the database:
// mysql…, pgx…, postgres… or sqlite…; sqlx.NewDb names a pool) and closes
// it after the store is no longer used. db
// needs only SELECT on the token and user tables. Options: WithTable,
// WithUserTable, WithSubjectColumn, WithUUIDSubject, WithoutActiveCheck,
// WithFallback.
// Errors match authkit.ErrInvalidConfig.
func NewAuthTokenStore(db *sqlx.DB, opts ...Option) (*AuthTokenStore, error) {
	c, err := build(forAuthToken, "authtoken_token", opts)
	if err != nil {
		return nil, err
	}
	b, err := newBase(db, c, "authtoken")
	if err != nil {
		return nil, err
	}
	d := dialectOf(db)
	cols, join, cond := userJoin(d, c)
	q := fmt.Sprintf("SELECT t.%s, t.%s, %s FROM %s t%s WHERE t.%s = ?%s",
		d.quote("key"), d.quote("created"), cols, d.name(c.table), join, d.quote("key"), cond)
	return &AuthTokenStore{base: b, query: rebind(db, q)}, nil
}

// OwnsToken reports whether token has the form of a key DRF generates:
// exactly AuthTokenKeyLen lower-case hexadecimal characters (DRF's
// Token.generate_key). Keys an administrator set by hand in another form
// are not accepted. Without this form, a token is handed to the fallback
// store's OwnsToken, if any.
func (s *AuthTokenStore) OwnsToken(token string) bool {
	return s.owns(token) || (s.external != nil && s.external.OwnsToken(token))
}

func (s *AuthTokenStore) owns(token string) bool {
	return len(token) == AuthTokenKeyLen && isLowerHex(token)
}

// LookupExternalAPIToken returns the record of the DRF key token, or
// authkit.ErrNotFound when no row has that key, its user is gone or
// inactive, or token is not of DRF's form (then without any query; a
// token the fallback store owns is looked up there). DRF keys never expire
// and have no revocation but deletion, so the record has neither. Its ID
// is "authtoken:<user id>" (DRF keeps one key per user) and its Subject
// the user's subject column as text.
//
// DRF keeps keys in clear, so the row is found by the key itself, through
// the primary key's index. The index's comparisons are not constant-time:
// that is DRF's own exposure and this lookup has it too (the database's
// B-tree walk and the timing of the network around it are outside Go's
// control). What the constant-time comparison of the stored key with the
// presented one after the lookup adds is that the answer never depends
// on how the database compared — a case-insensitive or space-padding
// collation matching a key that differs from the stored one is refused —
// and that no Go code branches on how much of a key matched. The way to
// end the exposure is to move clients to authkit's API tokens, which are
// looked up by a hash of the token (see docs/coming-from-django.md).
func (s *AuthTokenStore) LookupExternalAPIToken(ctx context.Context, token string) (authkit.APIToken, error) {
	if !s.owns(token) {
		if s.external != nil && s.external.OwnsToken(token) {
			return s.external.LookupExternalAPIToken(ctx, token)
		}
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	var (
		key, userID, subject sql.NullString
		created              = djangoTime{loc: s.loc}
	)
	err := s.db.QueryRowxContext(ctx, s.query, token).Scan(&key, &created, &userID, &subject)
	if errors.Is(err, sql.ErrNoRows) {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	if err != nil {
		return authkit.APIToken{}, s.unavailable("lookup", err)
	}
	if subtle.ConstantTimeCompare([]byte(key.String), []byte(token)) != 1 || !subject.Valid || subject.String == "" {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return authkit.APIToken{
		ID:        "authtoken:" + userID.String,
		Subject:   s.subject(subject.String),
		Name:      "Django REST framework token",
		CreatedAt: created.t,
	}, nil
}
