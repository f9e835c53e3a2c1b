package django

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/nilness"
)

// ErrReadOnly is returned by the methods that would write authkit's own API
// tokens (CreateAPIToken, RevokeAPIToken, TouchAPIToken) on a store built
// without WithFallback: the Django tables are only read. The error also
// matches authkit.ErrInvalidConfig, since the fix is a fallback store.
var ErrReadOnly = errors.New("django: read-only store")

// Option configures NewAuthTokenStore or NewKnoxStore. An option that does
// not apply to the store being built is refused by its constructor.
type Option func(*config) error

// store kinds an option may be limited to.
const (
	forBoth = iota
	forAuthToken
	forKnox
)

type config struct {
	table, userTable, subjectColumn string
	userKey                         string // the user table's primary key column
	activeCheck                     bool
	uuidSubject                     bool // WithUUIDSubject
	fallback                        authkit.APITokenStore
	loc                             *time.Location // WithTimeZone's; nil: none given
	// knox only
	format     KnoxFormat
	prefix     string
	tokenChars int
	// misplaced records the options limited to the other kind of store,
	// for the constructor to refuse; kind is the store being built.
	misplaced []string
	kind      int
}

func (c *config) limit(name string, kind int) {
	if kind != forBoth && kind != c.kind {
		c.misplaced = append(c.misplaced, name)
	}
}

func build(kind int, table string, opts []Option) (*config, error) {
	c := &config{
		kind:          kind,
		table:         table,
		userTable:     "auth_user",
		subjectColumn: "id",
		userKey:       "id",
		activeCheck:   true,
		format:        Knox5,
		tokenChars:    DefaultKnoxTokenChars,
	}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil Option")
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if len(c.misplaced) > 0 {
		other := "NewKnoxStore"
		if kind == forKnox {
			other = "NewAuthTokenStore"
		}
		return nil, invalid("%s applies to %s only", c.misplaced[0], other)
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("django: %w: "+format, append([]any{authkit.ErrInvalidConfig}, args...)...)
}

// ident is a plain SQL identifier, optionally schema-qualified; it is
// quoted when used, and never holds anything but these characters.
var (
	ident      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)
	columnName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

// WithTable names the token table, when it is not the default
// (authtoken_token for NewAuthTokenStore, knox_authtoken for NewKnoxStore):
// a schema-qualified name ("legacy.authtoken_token"), or the table of a
// knox TOKEN_MODEL of your own that keeps AbstractAuthToken's columns.
// Letters, digits and underscores, with at most one dot.
func WithTable(name string) Option {
	return func(c *config) error {
		if !ident.MatchString(name) {
			return invalid("WithTable(%q): letters, digits and underscores, optionally schema.table", name)
		}
		c.table = name
		return nil
	}
}

// WithUserTable names the table of Django's AUTH_USER_MODEL, whose primary
// key the token rows' user_id refers to. Default "auth_user"; a custom user
// model lives in "<app>_<model>". Letters, digits and underscores, with at
// most one dot.
func WithUserTable(name string) Option {
	return func(c *config) error {
		if !ident.MatchString(name) {
			return invalid("WithUserTable(%q): letters, digits and underscores, optionally schema.table", name)
		}
		c.userTable = name
		return nil
	}
}

// WithUserKeyColumn names the primary key column of the user table, which
// the token rows' user_id refers to. Default "id", Django's automatic
// primary key; a custom user model that declares its own primary key
// field (primary_key=True) has that field's column.
func WithUserKeyColumn(column string) Option {
	return func(c *config) error {
		if !columnName.MatchString(column) {
			return invalid("WithUserKeyColumn(%q): a plain column name", column)
		}
		c.userKey = column
		return nil
	}
}

// WithSubjectColumn sets the column of the user table whose value, as text,
// becomes the principal's Subject. Default "id" (the user's primary key, so
// user 42 is subject "42"); "username" if the rest of the Go service names
// users that way. The column must be unique (a UNIQUE constraint), and
// never writable by a user in a way that could copy another's value: two
// users sharing a value are one principal. Django's default user model
// does not make "email" unique (nor verified), so a user who registers
// with a victim's address would become the victim here; use it only if
// your model makes it unique and verified. It should be what authkit's
// own tokens use as subject, so that a user is the same principal
// whichever token they present. A user whose column is NULL or empty is
// refused.
func WithSubjectColumn(column string) Option {
	return func(c *config) error {
		if !columnName.MatchString(column) {
			return invalid("WithSubjectColumn(%q): a plain column name", column)
		}
		c.subjectColumn = column
		return nil
	}
}

// WithUUIDSubject declares that the subject column (the primary key by
// default, see WithSubjectColumn) is a Django UUIDField, and writes each
// subject as Python's str(uuid) does, lower-case with hyphens
// ("550e8400-e29b-41d4-a716-446655440000"). On MySQL/MariaDB and SQLite
// Django stores a UUIDField as its 32 hexadecimal digits without hyphens,
// which is how the column reads as text; simplejwt's user_id claim and
// Django's str(user.pk) carry the hyphens, so without this option one
// user is two principals. On PostgreSQL, whose uuid type already reads
// with hyphens, it changes nothing. A subject that is not 32 hexadecimal
// digits is kept as it is.
func WithUUIDSubject() Option {
	return func(c *config) error {
		c.uuidSubject = true
		return nil
	}
}

// WithoutActiveCheck stops refusing the tokens of users whose is_active is
// false. Only use it when the user model has no is_active column (a model
// built on AbstractBaseUser alone, whose users are all active): DRF and
// knox both refuse an inactive user's token, and so does this package by
// default.
func WithoutActiveCheck() Option {
	return func(c *config) error {
		c.activeCheck = false
		return nil
	}
}

// WithTimeZone sets the time zone of DateTimeField values stored without
// one: Django's TIME_ZONE setting when it runs with USE_TZ = False (or the
// database's TIME_ZONE in DATABASES), where it writes naive local times to
// SQLite and MySQL. Wrong, every knox expiry is off by the zone's offset:
// a token stays valid hours after knox has expired it, or is refused
// early. With it, a value the driver returns in its default zone
// (SQLite's UTC; MySQL's loc=UTC or loc=Local) is read as that zone's wall
// clock, and text is parsed in it; values are taken as naive, as Django
// writes them there. Without it (USE_TZ = True) they are read the same way
// in UTC. Open a MySQL pool without loc= or with loc=UTC: loc=Local reads
// the same except a time in the local zone's spring-forward hour, which
// the driver has moved by then, and a loc= naming another zone is taken
// as meant. PostgreSQL stores instants (timestamptz) and ignores it.
func WithTimeZone(loc *time.Location) Option {
	return func(c *config) error {
		if loc == nil {
			return invalid("WithTimeZone(nil)")
		}
		c.loc = loc
		return nil
	}
}

// WithFallback sets the store of authkit's own API tokens. Every
// authkit.APITokenStore method of the Django store then goes to it, and
// the tokens the Django store does not own are handed on to it when it
// implements authkit.ExternalAPITokens too (so a knox store can fall back
// to a DRF store that falls back to authkit's). Without a fallback, lookups
// by hash find nothing, listings are empty, cleanup deletes nothing and
// writes fail with ErrReadOnly.
func WithFallback(s authkit.APITokenStore) Option {
	return func(c *config) error {
		if nilness.Is(s) {
			return invalid("WithFallback: the store is nil (%T)", s)
		}
		c.fallback = s
		return nil
	}
}
