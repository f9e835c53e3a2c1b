package django

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/redact"
	"github.com/authkit-go/authkit/internal/sqlerr"
)

// dialect is what differs between the databases Django runs on, for the
// queries here: how identifiers are quoted and what text is cast to.
type dialect struct {
	quote    func(string) string
	textType string
}

func dialectOf(db *sqlx.DB) dialect {
	name := db.DriverName()
	if name == "mysql" || strings.HasPrefix(name, "mysql") {
		return dialect{quote: func(s string) string { return "`" + s + "`" }, textType: "CHAR"}
	}
	// PostgreSQL (pgx, lib/pq), SQLite and the ANSI default.
	return dialect{quote: func(s string) string { return `"` + s + `"` }, textType: "TEXT"}
}

// name quotes a possibly schema-qualified identifier checked by ident.
func (d dialect) name(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = d.quote(p)
	}
	return strings.Join(parts, ".")
}

// base is what both stores share: the database, the fallback for
// authkit's own API tokens, and the user join.
type base struct {
	db       *sqlx.DB
	fallback authkit.APITokenStore
	external authkit.ExternalAPITokens // fallback's, if it has one
	what     string                    // "authtoken" or "knox", for error texts
	// loc is the zone of naive DateTimeField values (WithTimeZone, else
	// UTC); nil on PostgreSQL, whose timestamptz values are instants.
	loc *time.Location
	// uuidSubject: subjects are UUIDs, hyphenated (WithUUIDSubject).
	uuidSubject bool
}

// subject is the Subject of a token whose user's subject column reads
// as col.
func (b *base) subject(col string) string {
	if !b.uuidSubject || len(col) != 32 {
		return col
	}
	u, err := uuid.Parse(col) // 32 hex digits, either case
	if err != nil {
		return col
	}
	return u.String()
}

func newBase(db *sqlx.DB, c *config, what string) (base, error) {
	if db == nil {
		return base{}, invalid("%s: nil *sqlx.DB", what)
	}
	// The SQL is written for the dialect the driver name tells
	// (dialectOf, rebind): a name it does not know was taken for
	// SQLite's, and every lookup of a MySQL or PostgreSQL pool under a
	// wrapper's name (nrmysql, an otelsql name) failed with a syntax
	// error, a 503 (found by review).
	if n := db.DriverName(); !knownDriver(n) {
		return base{}, invalid("%s: driver name %q: want one that names the database (mysql…, pgx…, postgres…, sqlite…); a pool opened with an instrumented driver registered under another name is named so with sqlx.NewDb(db, \"mysql\")", what, n)
	}
	b := base{db: db, fallback: c.fallback, what: what, loc: c.loc, uuidSubject: c.uuidSubject}
	switch {
	case postgresDriver(db.DriverName()):
		b.loc = nil
	case b.loc == nil:
		// USE_TZ = True: Django wrote UTC wall clocks. A MySQL pool
		// opened with loc=Local returned them read in the process's zone,
		// and an expired knox token was accepted for the zone's offset
		// behind UTC (found by an adoption test): read the wall clock as
		// UTC whatever zone the driver was told.
		b.loc = time.UTC
	}
	if ext, ok := c.fallback.(authkit.ExternalAPITokens); ok {
		b.external = ext
	}
	return b, nil
}

// userJoin returns the select expressions for the user id and subject (as
// text) and the join and condition that bring in the user table, for a
// token table aliased t.
func userJoin(d dialect, c *config) (cols, join, cond string) {
	cols = fmt.Sprintf("CAST(t.%s AS %s), CAST(u.%s AS %s)", d.quote("user_id"), d.textType, d.quote(c.subjectColumn), d.textType)
	join = fmt.Sprintf(" JOIN %s u ON u.%s = t.%s", d.name(c.userTable), d.quote(c.userKey), d.quote("user_id"))
	if c.activeCheck {
		cond = fmt.Sprintf(" AND u.%s = %s", d.quote("is_active"), trueLiteral(d))
	}
	return cols, join, cond
}

// trueLiteral is a boolean true every supported database compares a
// Django BooleanField with: PostgreSQL's boolean, SQLite's and MySQL's
// integer 1.
func trueLiteral(d dialect) string {
	if d.textType == "CHAR" {
		return "1"
	}
	// PostgreSQL accepts TRUE for boolean; SQLite (3.23+) reads TRUE as 1.
	return "TRUE"
}

// unavailable classes a database error as authkit.ErrStoreUnavailable,
// keeping the cause (so context.Canceled and the driver's error stay
// reachable with errors.Is and errors.As) but not its text, which drivers
// fill with server addresses and database names.
func (b *base) unavailable(op string, err error) error {
	return fmt.Errorf("django: %s %s: %w: %w", b.what, op, authkit.ErrStoreUnavailable, redact.Error(err, sqlerr.Describe))
}

// Ping checks that the database answers and, when the fallback store can
// be pinged (authkit.Pinger), that it answers too. Errors match
// authkit.ErrStoreUnavailable.
func (b *base) Ping(ctx context.Context) error {
	if err := b.db.PingContext(ctx); err != nil {
		return b.unavailable("ping", err)
	}
	if p, ok := b.fallback.(authkit.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (b *base) readOnly(op string) error {
	return fmt.Errorf("%w: %s %s needs WithFallback, a store for authkit's own API tokens (%w)", ErrReadOnly, b.what, op, authkit.ErrInvalidConfig)
}

// CreateAPIToken stores an authkit API token in the fallback store, or
// fails with ErrReadOnly without one.
func (b *base) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if b.fallback == nil {
		return b.readOnly("CreateAPIToken")
	}
	return b.fallback.CreateAPIToken(ctx, t, limit, now)
}

// LookupAPIToken finds an authkit API token by hash in the fallback store.
// The Django tables hold no authkit tokens: without a fallback it returns
// authkit.ErrNotFound.
func (b *base) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	if b.fallback == nil {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return b.fallback.LookupAPIToken(ctx, h)
}

// ListAPITokens lists subject's live authkit API tokens from the fallback
// store; without one the list is empty. Django's tokens are not listed.
func (b *base) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	if b.fallback == nil {
		return nil, nil
	}
	return b.fallback.ListAPITokens(ctx, subject, now)
}

// RevokeAPIToken revokes an authkit API token in the fallback store, or
// fails with ErrReadOnly without one. A Django token is revoked in Django
// (logout, or deleting its row).
func (b *base) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	if b.fallback == nil {
		return b.readOnly("RevokeAPIToken")
	}
	return b.fallback.RevokeAPIToken(ctx, subject, id, now)
}

// TouchAPIToken records the use of an authkit API token in the fallback
// store, or fails with ErrReadOnly without one. The verifier never touches
// a Django token: its tables are only read.
func (b *base) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if b.fallback == nil {
		return b.readOnly("TouchAPIToken")
	}
	return b.fallback.TouchAPIToken(ctx, id, at)
}

// DeleteExpiredAPITokens deletes expired authkit API tokens in the
// fallback store; without one there is nothing of authkit's to delete and
// it returns 0. Expired knox rows are left to knox (or to your own
// DELETE): this package never writes Django's tables.
func (b *base) DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error) {
	if b.fallback == nil {
		return 0, nil
	}
	return b.fallback.DeleteExpiredAPITokens(ctx, now, limit)
}

// djangoTime scans a DateTimeField: a time.Time from PostgreSQL and MySQL
// (parseTime=true), and from SQLite either that or the text Django writes
// there ("2006-01-02 15:04:05.999999", UTC when USE_TZ is on, as it is by
// default; an offset is honoured when present). NULL is the zero time.
type djangoTime struct {
	t time.Time
	// loc is the zone of a value written without one (WithTimeZone, else
	// UTC); nil for PostgreSQL, whose driver returns instants.
	loc *time.Location
}

var djangoLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
}

// Scan implements sql.Scanner.
func (d *djangoTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		d.t = time.Time{}
		return nil
	case time.Time:
		// A DATETIME the driver read in its default zone (SQLite's UTC,
		// MySQL's loc=UTC or Local) holds the naive text's wall clock:
		// read it in the zone Django wrote it in. A zone the driver was
		// given otherwise (a MySQL DSN's loc=) is taken as meant.
		if d.loc != nil && (x.Location() == time.UTC || x.Location() == time.Local) {
			x = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), d.loc)
		}
		d.t = x
		return nil
	case []byte:
		return d.parse(string(x))
	case string:
		return d.parse(x)
	}
	return fmt.Errorf("django: a DateTimeField of unexpected type %T", v)
}

func (d *djangoTime) parse(s string) error {
	if len(s) > 64 {
		return fmt.Errorf("django: a DateTimeField of %d bytes", len(s))
	}
	loc := d.loc
	if loc == nil {
		loc = time.UTC
	}
	for _, l := range djangoLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			d.t = t
			return nil
		}
	}
	return fmt.Errorf("django: a DateTimeField that does not parse")
}

// isLowerHex reports whether s is made of 0-9 and a-f only.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// rebind writes q's ? placeholders in db's driver's style. sqlx knows the
// style by driver name, and not every name a PostgreSQL driver registers
// ("pgx/v5" beside "pgx"): left as ?, every lookup failed with a syntax
// error (found by review).
func rebind(db *sqlx.DB, q string) string {
	if n := db.DriverName(); sqlx.BindType(n) == sqlx.UNKNOWN && postgresDriver(n) {
		return sqlx.Rebind(sqlx.DOLLAR, q)
	}
	return db.Rebind(q)
}

// knownDriver reports whether name tells a dialect the queries are
// written for: MySQL/MariaDB, PostgreSQL or SQLite.
func knownDriver(name string) bool {
	return strings.HasPrefix(name, "mysql") || postgresDriver(name) || strings.HasPrefix(name, "sqlite")
}

// postgresDriver reports whether a driver name is one a PostgreSQL driver
// registers (pgx's "pgx" and "pgx/v5", lib/pq's "postgres").
func postgresDriver(name string) bool {
	return strings.HasPrefix(name, "pgx") || strings.HasPrefix(name, "postgres")
}
