package django

import (
	"context"
	"crypto/sha512"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
)

// KnoxFormat names the token format and table layout of a range of
// django-rest-knox releases. knox changed both three times, and each
// change made the tokens issued before it invalid in knox itself, so a
// table holds the tokens of one format: the one of the knox release that
// wrote them.
type KnoxFormat int

const (
	// Knox5 is django-rest-knox 5.0.0 and later (checked up to 5.0.x): the
	// token is TOKEN_PREFIX (0 to 10 characters) followed by
	// AUTH_TOKEN_CHARACTER_LENGTH (64) lower-case hexadecimal characters;
	// digest is the hexadecimal SHA-512 of the token's characters, prefix
	// included; token_key (varchar(25), indexed) is the token's first 15
	// characters; expiry may be NULL. The default.
	Knox5 KnoxFormat = iota
	// Knox42 is django-rest-knox 4.2.x: no prefix; digest is the SHA-512 of
	// the bytes the hexadecimal token encodes; token_key is its first 8
	// characters.
	Knox42
	// Knox40 is django-rest-knox 4.0.x and 4.1.x: as Knox42, but salted —
	// digest is the SHA-512 of the token's bytes followed by those of the
	// row's salt column (16 hexadecimal characters).
	Knox40
	// Knox3 is django-rest-knox 3.x: as Knox40, with the expiry column
	// still named expires (renamed expiry in 4.0.0).
	Knox3
)

// String returns the format's name, as in "Knox5".
func (f KnoxFormat) String() string {
	switch f {
	case Knox5:
		return "Knox5"
	case Knox42:
		return "Knox42"
	case Knox40:
		return "Knox40"
	case Knox3:
		return "Knox3"
	}
	return fmt.Sprintf("KnoxFormat(%d)", int(f))
}

// Limits of the knox settings this package reads.
const (
	// DefaultKnoxTokenChars is knox's default AUTH_TOKEN_CHARACTER_LENGTH.
	DefaultKnoxTokenChars = 64
	// MaxKnoxPrefixLen is knox's CONSTANTS.MAXIMUM_TOKEN_PREFIX_LENGTH.
	MaxKnoxPrefixLen = 10
	// MaxKnoxTokenChars bounds WithKnoxTokenChars.
	MaxKnoxTokenChars = 256
	// maxKnoxCandidates bounds the rows one token_key may bring back:
	// knox's keys are random, so more is an attack or a corrupt table.
	maxKnoxCandidates = 32
)

// knoxKeyLen is the token_key length (knox's CONSTANTS.TOKEN_KEY_LENGTH).
func (f KnoxFormat) keyLen() int {
	if f == Knox5 {
		return 15
	}
	return 8
}

// WithKnoxFormat sets the knox release range whose tokens the table holds
// (see KnoxFormat). Default Knox5. NewKnoxStore only.
func WithKnoxFormat(f KnoxFormat) Option {
	return func(c *config) error {
		if f < Knox5 || f > Knox3 {
			return invalid("WithKnoxFormat(%d): unknown format", int(f))
		}
		c.format = f
		c.limit("WithKnoxFormat", forKnox)
		return nil
	}
}

// WithKnoxPrefix sets knox's TOKEN_PREFIX setting: every token starts with
// it. Default none. 1 to MaxKnoxPrefixLen characters among letters,
// digits, "_" and "-" (knox allows others, which an Authorization header
// may not carry unquoted). Knox5 only. NewKnoxStore only.
//
// The store owns only tokens of this form, but knox does not check its
// setting when it authenticates: tokens issued before TOKEN_PREFIX (or
// AUTH_TOKEN_CHARACTER_LENGTH) was changed still work in Django. To
// accept them too, give this store a WithFallback store of the old form
// (a KnoxStore without the prefix, itself falling back to authkit's).
func WithKnoxPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" || len(prefix) > MaxKnoxPrefixLen || strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return invalid("WithKnoxPrefix(%q): 1 to %d letters, digits, '_' or '-'", prefix, MaxKnoxPrefixLen)
		}
		c.prefix = prefix
		c.limit("WithKnoxPrefix", forKnox)
		return nil
	}
}

// WithKnoxTokenChars sets knox's AUTH_TOKEN_CHARACTER_LENGTH setting: how
// many hexadecimal characters follow the prefix. Default
// DefaultKnoxTokenChars (64); an even number from 16 to MaxKnoxTokenChars.
// NewKnoxStore only.
func WithKnoxTokenChars(n int) Option {
	return func(c *config) error {
		if n < 16 || n > MaxKnoxTokenChars || n%2 != 0 {
			return invalid("WithKnoxTokenChars(%d): an even number from 16 to %d", n, MaxKnoxTokenChars)
		}
		c.tokenChars = n
		c.limit("WithKnoxTokenChars", forKnox)
		return nil
	}
}

// KnoxStore reads django-rest-knox's knox_authtoken table (see
// NewKnoxStore). It is safe for concurrent use.
type KnoxStore struct {
	base
	format     KnoxFormat
	prefix     string
	tokenChars int
	query      string
}

var (
	_ authkit.APITokenStore     = (*KnoxStore)(nil)
	_ authkit.ExternalAPITokens = (*KnoxStore)(nil)
	_ authkit.Pinger            = (*KnoxStore)(nil)
)

// NewKnoxStore returns a store that accepts django-rest-knox tokens, read
// from the table knox's migrations create; for Knox5 (knox 5.0 and later):
//
//	knox_authtoken(digest varchar(128) PRIMARY KEY, created timestamp,
//	               user_id REFERENCES auth_user(id), expiry timestamp NULL,
//	               token_key varchar(25) INDEXED)
//
// and for the older formats the same with a varchar(8) token_key, a salt
// column (Knox40, Knox3) and expires for expiry (Knox3). The caller owns db
// and closes it after the store is no longer used; db needs only SELECT
// on the token and user tables. Options: WithKnoxFormat, WithKnoxPrefix,
// WithKnoxTokenChars (knox's settings), WithTable, WithUserTable,
// WithSubjectColumn, WithUUIDSubject, WithoutActiveCheck, WithFallback. knox's
// SECURE_HASH_ALGORITHM must be its default, SHA-512. Errors match
// authkit.ErrInvalidConfig.
func NewKnoxStore(db *sqlx.DB, opts ...Option) (*KnoxStore, error) {
	c, err := build(forKnox, "knox_authtoken", opts)
	if err != nil {
		return nil, err
	}
	if c.prefix != "" && c.format != Knox5 {
		return nil, invalid("WithKnoxPrefix: knox supports TOKEN_PREFIX from 5.0 (Knox5) only, not %v", c.format)
	}
	b, err := newBase(db, c, "knox")
	if err != nil {
		return nil, err
	}
	d := dialectOf(db)
	cols, join, cond := userJoin(d, c)
	expiry, salt := "expiry", "NULL"
	if c.format == Knox3 {
		expiry = "expires"
	}
	if c.format == Knox40 || c.format == Knox3 {
		salt = "t." + d.quote("salt")
	}
	q := fmt.Sprintf("SELECT t.%s, %s, t.%s, t.%s, %s FROM %s t%s WHERE t.%s = ?%s ORDER BY t.%s LIMIT %d",
		d.quote("digest"), salt, d.quote("created"), d.quote(expiry), cols,
		d.name(c.table), join, d.quote("token_key"), cond, d.quote("digest"), maxKnoxCandidates)
	return &KnoxStore{base: b, format: c.format, prefix: c.prefix, tokenChars: c.tokenChars, query: rebind(db, q)}, nil
}

// OwnsToken reports whether token has the form of the knox tokens this
// store reads: the configured prefix, then exactly the configured number
// of lower-case hexadecimal characters. Without that form, a token is
// handed to the fallback store's OwnsToken, if any.
func (s *KnoxStore) OwnsToken(token string) bool {
	return s.owns(token) || (s.external != nil && s.external.OwnsToken(token))
}

func (s *KnoxStore) owns(token string) bool {
	return len(token) == len(s.prefix)+s.tokenChars && strings.HasPrefix(token, s.prefix) && isLowerHex(token[len(s.prefix):])
}

// LookupExternalAPIToken returns the record of the knox token token, live
// or expired (its ExpiresAt tells the verifier), or authkit.ErrNotFound
// when no row matches, its user is gone or inactive, or token is not of
// the store's form (then without any query). A token the fallback store
// owns is looked up there when it is not of this store's form, or when it
// is but no row matches (knox's form can be DRF's). The record's ID is "knox:" and the first 16
// characters of the row's digest (public: the digest is a hash), its
// Subject the user's subject column as text.
//
// As knox does, it reads the rows whose token_key is the token's first
// characters (an index lookup on a part of the token, as in knox) and
// compares the digest of the token with each one's in constant time, so
// no Go code branches on how much of a digest matched; a digest is a
// SHA-512, so even a leak there would reveal nothing of the token. Rows
// whose digest or salt is malformed never match.
func (s *KnoxStore) LookupExternalAPIToken(ctx context.Context, token string) (authkit.APIToken, error) {
	if !s.owns(token) {
		if s.external != nil && s.external.OwnsToken(token) {
			return s.external.LookupExternalAPIToken(ctx, token)
		}
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	rows, err := s.db.QueryxContext(ctx, s.query, token[:s.format.keyLen()])
	if err != nil {
		return authkit.APIToken{}, s.unavailable("lookup", err)
	}
	defer rows.Close()
	var (
		found bool
		rec   authkit.APIToken
		raw   []byte // the bytes the hexadecimal token encodes (pre-5.0 formats)
	)
	if s.format != Knox5 {
		raw, _ = hex.DecodeString(token) // owns checked the alphabet and the even length
	}
	for rows.Next() {
		var (
			digest, salt, userID, subject sql.NullString
			created, expiry               = djangoTime{loc: s.loc}, djangoTime{loc: s.loc}
		)
		if err := rows.Scan(&digest, &salt, &created, &expiry, &userID, &subject); err != nil {
			return authkit.APIToken{}, s.unavailable("lookup", err)
		}
		want := s.digest(token, raw, salt)
		if want == "" || !digest.Valid {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(digest.String)) == 1 && !found {
			found = true
			id := digest.String
			if len(id) > 16 {
				id = id[:16]
			}
			rec = authkit.APIToken{
				ID:        "knox:" + id,
				Subject:   s.subject(subject.String),
				Name:      "django-rest-knox token",
				CreatedAt: created.t,
				ExpiresAt: expiry.t,
			}
		}
	}
	if err := rows.Err(); err != nil {
		return authkit.APIToken{}, s.unavailable("lookup", err)
	}
	if !found && s.external != nil && s.external.OwnsToken(token) {
		// No knox row has it, and the fallback's form is the same (DRF's
		// 40 hexadecimal characters, with knox at 40 and no prefix): it
		// may be the fallback's token.
		return s.external.LookupExternalAPIToken(ctx, token)
	}
	if !found || rec.Subject == "" {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return rec, nil
}

// digest returns what knox stores as the digest of token (raw is its
// decoded bytes for the pre-5.0 formats), or "" if salt is needed and
// malformed.
func (s *KnoxStore) digest(token string, raw []byte, salt sql.NullString) string {
	h := sha512.New()
	switch s.format {
	case Knox5:
		h.Write([]byte(token))
	case Knox42:
		h.Write(raw)
	default:
		if !salt.Valid || len(salt.String)%2 != 0 || len(salt.String) > 64 {
			return ""
		}
		sb, err := hex.DecodeString(salt.String)
		if err != nil {
			return ""
		}
		h.Write(raw)
		h.Write(sb)
	}
	return hex.EncodeToString(h.Sum(nil))
}
