package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
)

var (
	_ authkit.ClientStore          = (*Store)(nil)
	_ authkit.ClientAssertionStore = (*Store)(nil)
)

// OAuth 2.0 clients and authorization codes (authkit.ClientStore) are the
// rows of the two tables migration 0006 creates: {p}clients, one row per
// client keyed by its ID, and {p}authorization_codes, one row per code
// keyed by its hash, with indexes on client_id and on expires_at (for the
// cleanup). A client's secret is kept only as the hash the caller gives
// (NULL for none) and a code only as its hash. Grant types, scopes and
// redirect URIs are JSON arrays of strings, as the sessions' scopes are:
// JSON keeps any string exactly, spaces and newlines included, where a
// separator-joined column would have to refuse the separator; a string
// that is not valid UTF-8 (which JSON would silently alter) is refused
// with authkit.ErrInvalidRequest instead.
//
// RedeemAuthorizationCode is one conditional UPDATE (used_at IS NULL AND
// expires_at > now) by the primary key: the row lock it takes makes
// exactly one of any number of concurrent redemptions change the row. On
// PostgreSQL and SQLite it returns the row (RETURNING): one round trip.
// MySQL and MariaDB have no UPDATE … RETURNING, so there the UPDATE runs
// alone (autocommit) and a SELECT by the primary key reads the row back:
// two round trips, where a transaction would take five (isolation level,
// BEGIN, the two statements, COMMIT). When the UPDATE changes no row, one
// SELECT tells a code already redeemed (an *authkit.ReuseError, which
// matches authkit.ErrTokenReused, with the stored record) from one that
// is missing or expired at now, redeemed or not (authkit.ErrNotFound).
//
// Deleting a client deletes its codes: on PostgreSQL and MySQL through the
// foreign key's ON DELETE CASCADE, in the DELETE of the client; on SQLite,
// whose connections enforce foreign keys only with PRAGMA foreign_keys =
// ON, with a DELETE of the codes in the same transaction. A code is
// inserted only while its client exists: on PostgreSQL and MySQL the
// foreign key's check (which locks the client's row until the insert
// commits) refuses it otherwise; on SQLite it is an INSERT … SELECT from
// the client's row, under the database's one write lock.
//
// Migration 0009 adds the codes' user_agent and ip
// (AuthorizationCode.UserAgent and IP, '' when unknown).
//
// Migration 0007 adds the codes' session_ttl_us and access_ttl_us
// (AuthorizationCode.SessionTTL and AccessTTL, in microseconds, 0 for the
// server's) and the table {p}client_assertions (authkit.
// ClientAssertionStore): one row per client assertion used, keyed by its
// hash, with the client's ID (a foreign key, as the codes') and the
// assertion's expiry, indexed for the cleanup. UseClientAssertion is one
// statement in the common case:
//
//   - PostgreSQL: INSERT … ON CONFLICT (hash) DO UPDATE … WHERE the
//     existing row has expired, RETURNING a row: a row back is a first
//     use (or the reuse of an expired record, which it refreshes); none
//     is a live record, authkit.ErrTokenReused. The conflict check waits
//     for a concurrent insert of the same hash to commit, so exactly one
//     of concurrent uses gets a row. A client that is not there fails the
//     foreign key: authkit.ErrNotFound.
//   - SQLite: the same upsert over an INSERT … SELECT from the client's
//     row (as the codes' insert), under the database's one write lock;
//     no row back is then a live record or a missing client, which one
//     more read of the client tells apart.
//   - MySQL and MariaDB: a plain INSERT (no RETURNING, and the affected
//     rows of ON DUPLICATE KEY UPDATE depend on the connection's
//     clientFoundRows). A duplicate key means a record exists: a DELETE of
//     that record if it has expired, and the INSERT once more, whose
//     duplicate key is then a live record (authkit.ErrTokenReused). Each
//     statement commits alone; of concurrent uses, exactly one INSERT
//     succeeds. The foreign key refuses a missing client (ErrNotFound).
//
// Migration 0008 keeps a client's assertion records when the client is
// deleted (its foreign key sets client_id NULL instead of cascading; on
// SQLite DeleteClient does so itself): a record still refuses its
// assertion to a client registered again under the same ID, whose iat
// may be ahead of the new registration by the clock skew allowed.
//
// DeleteExpiredAuthorizationCodes deletes expired codes first, then, with
// what is left of its limit, expired assertion records, and returns the
// sum: at most limit rows in all, so a caller that repeats it while it
// returns limit empties both.

// clientCols and codeCols are the column lists scanClient and scanCode
// read, in their order.
const (
	clientCols = "id, name, secret_hash, jwks, grant_types, scopes, redirect_uris, access_ttl_us, refresh_ttl_us, created_at, secret_rotated_at"
	codeCols   = "hash, client_id, redirect_uri, subject, scopes, challenge, claims, session_ttl_us, access_ttl_us, user_agent, ip, created_at, expires_at, used_at, session_id"
)

// clientQueries are the ClientStore's statements, with the table prefix
// and the bind style applied (see buildClientQueries).
type clientQueries struct {
	insertClient string
	getClient    string
	listClients  string
	setSecret    string
	clientExists string
	deleteClient string
	// deleteCodes deletes a client's codes and orphanAssertions empties
	// the client_id of its assertion records (which stay until they
	// expire): SQLite only, where the foreign keys' actions are off
	// unless the connection turned them on.
	deleteCodes      string
	orphanAssertions string
	// insertCode inserts a code; on SQLite it is an INSERT … SELECT from
	// the client's row, with the client ID as one more, last argument, and
	// inserts nothing when there is no such client.
	insertCode string
	// redeem marks a code used (arguments: now, hash, now); with
	// redeemReturns it returns the row (codeCols).
	redeem        string
	redeemReturns bool
	getCode       string
	setSession    string
	codeExists    string
	gcCodes       string
	// useAssertion records a client assertion (arguments: hash, client
	// ID, expires_at, then now on PostgreSQL; on SQLite hash, client ID,
	// expires_at, client ID, now); with useReturns it returns a row when
	// it recorded one. On MySQL it is a plain INSERT (hash, client ID,
	// expires_at), and dropExpiredAssertion (hash, now) deletes a record
	// that has expired.
	useAssertion         string
	useReturns           bool
	dropExpiredAssertion string
	gcAssertions         string
}

// buildClientQueries returns d's statements; q applies the prefix and the
// bind style.
func buildClientQueries(d *dialect, q func(string) string) clientQueries {
	c := clientQueries{
		insertClient: q(`INSERT INTO {p}clients (` + clientCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		getClient:    q(`SELECT ` + clientCols + ` FROM {p}clients WHERE id = ?`),
		// Every client: the registry is administered, not written by
		// requests. Ordered in Go, by bytes (a PostgreSQL collation would
		// not order IDs byte for byte).
		listClients:  q(`SELECT ` + clientCols + ` FROM {p}clients`),
		setSecret:    q(`UPDATE {p}clients SET secret_hash = ?, secret_rotated_at = ? WHERE id = ?`),
		clientExists: q(`SELECT 1 FROM {p}clients WHERE id = ?`),
		deleteClient: q(`DELETE FROM {p}clients WHERE id = ?`),
		insertCode: q(`INSERT INTO {p}authorization_codes (hash, client_id, redirect_uri, subject, scopes, challenge, claims, session_ttl_us, access_ttl_us, user_agent, ip, created_at, expires_at, session_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`),
		redeem:        q(`UPDATE {p}authorization_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at + 0 > ? RETURNING ` + codeCols),
		redeemReturns: true,
		getCode:       q(`SELECT ` + codeCols + ` FROM {p}authorization_codes WHERE hash = ?`),
		setSession:    q(`UPDATE {p}authorization_codes SET session_id = ? WHERE hash = ?`),
		codeExists:    q(`SELECT 1 FROM {p}authorization_codes WHERE hash = ?`),
		gcCodes:       q(d.deleteBatch("{p}authorization_codes", "hash", `{t}expires_at <= ?`, `{t}expires_at`)),
		useAssertion: q(`INSERT INTO {p}client_assertions AS a (hash, client_id, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET client_id = excluded.client_id, expires_at = excluded.expires_at
			WHERE a.expires_at <= ? RETURNING 1`),
		useReturns:   true,
		gcAssertions: q(d.deleteBatch("{p}client_assertions", "hash", `{t}expires_at <= ?`, `{t}expires_at`)),
	}
	// redeem reads expires_at as "expires_at + 0", which no index
	// serves: the planner then always probes the primary key, where a
	// plain "expires_at > ?" lets it walk the expires_at index over every
	// live code when its statistics say few are live.
	switch d.name {
	case "mysql":
		c.redeem = q(`UPDATE {p}authorization_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at + 0 > ?`)
		c.redeemReturns = false
		c.useAssertion = q(`INSERT INTO {p}client_assertions (hash, client_id, expires_at) VALUES (?, ?, ?)`)
		c.useReturns = false
		c.dropExpiredAssertion = q(`DELETE FROM {p}client_assertions WHERE hash = ? AND expires_at <= ?`)
	case "sqlite":
		c.orphanAssertions = q(`UPDATE {p}client_assertions SET client_id = NULL WHERE client_id = ?`)
		// The SELECT's WHERE also settles SQLite's parse of an upsert
		// over an INSERT … SELECT.
		c.useAssertion = q(`INSERT INTO {p}client_assertions AS a (hash, client_id, expires_at)
			SELECT ?, ?, ? FROM {p}clients WHERE id = ?
			ON CONFLICT (hash) DO UPDATE SET client_id = excluded.client_id, expires_at = excluded.expires_at
			WHERE a.expires_at <= ? RETURNING 1`)
		c.deleteCodes = q(`DELETE FROM {p}authorization_codes WHERE client_id = ?`)
		c.insertCode = q(`INSERT INTO {p}authorization_codes (hash, client_id, redirect_uri, subject, scopes, challenge, claims, session_ttl_us, access_ttl_us, user_agent, ip, created_at, expires_at, session_id)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '' FROM {p}clients WHERE id = ?`)
	}
	return c
}

// ---- input checks: before any query ----

// lookupID checks the client ID of a read, an update or a delete: one
// that no client could have (authkit.ValidClientID) is
// authkit.ErrNotFound, without a query.
func lookupID(op, id string) error {
	if !authkit.ValidClientID(id) {
		return fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	}
	return nil
}

// checkUTF8 refuses a list item the store would keep as JSON but that is
// not valid UTF-8 (JSON would replace its invalid bytes): stored, it would
// not read back byte for byte.
func checkUTF8(op, what string, l []string) error {
	for i, v := range l {
		if !utf8.ValidString(v) {
			return fmt.Errorf("sqlstore: %s: %w: %s[%d] is not valid UTF-8", op, authkit.ErrInvalidRequest, what, i)
		}
	}
	return nil
}

// checkClient checks c with authkit.ValidateClient, and that its lists
// are valid UTF-8 (checkUTF8).
func checkClient(op string, c authkit.Client) error {
	if err := authkit.ValidateClient(c); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if err := checkUTF8(op, "grant types", c.GrantTypes); err != nil {
		return err
	}
	if err := checkUTF8(op, "scopes", c.Scopes); err != nil {
		return err
	}
	return checkUTF8(op, "redirect URIs", c.RedirectURIs)
}

// checkCode checks c with authkit.ValidateAuthorizationCode, and beyond
// it that its subject is 1 to MaxKeyLen bytes (as every subject the store
// keeps) and its scopes valid UTF-8 (checkUTF8).
func checkCode(op string, c authkit.AuthorizationCode) error {
	if err := authkit.ValidateAuthorizationCode(c); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if err := checkLen(op, "subject", c.Subject, MaxKeyLen); err != nil {
		return err
	}
	return checkUTF8(op, "scopes", c.Scopes)
}

// ---- rows ----

// hashOrNil is a hash as a column value, NULL for the zero hash.
func hashOrNil(h authkit.TokenHash) any {
	if h == (authkit.TokenHash{}) {
		return nil
	}
	return h[:]
}

func clientArgs(c authkit.Client) ([]any, error) {
	grants, err := encodeList(c.GrantTypes)
	if err != nil {
		return nil, err
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return nil, err
	}
	uris, err := encodeList(c.RedirectURIs)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.Name, hashOrNil(c.SecretHash), bytesOrNil(c.JWKS), grants, scopes, uris,
		c.AccessTTL.Microseconds(), c.RefreshTTL.Microseconds(), micros(c.CreatedAt), nullMicros(c.SecretRotatedAt)}, nil
}

func scanClient(sc scanner) (authkit.Client, error) {
	var (
		c                       authkit.Client
		secret, jwks            []byte
		grants, scopes, uris    sql.NullString
		access, refresh, create int64
		rotated                 sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.Name, &secret, &jwks, &grants, &scopes, &uris, &access, &refresh, &create, &rotated); err != nil {
		return authkit.Client{}, err
	}
	var err error
	if secret != nil {
		if c.SecretHash, err = hashOf(secret); err != nil {
			return authkit.Client{}, err
		}
	}
	if len(jwks) > 0 {
		c.JWKS = jwks // Scan copied it
	}
	if c.GrantTypes, err = decodeList(grants); err != nil {
		return authkit.Client{}, err
	}
	if c.Scopes, err = decodeList(scopes); err != nil {
		return authkit.Client{}, err
	}
	if c.RedirectURIs, err = decodeList(uris); err != nil {
		return authkit.Client{}, err
	}
	c.AccessTTL, c.RefreshTTL = time.Duration(access)*time.Microsecond, time.Duration(refresh)*time.Microsecond
	c.CreatedAt, c.SecretRotatedAt = timeOf(create), nullTime(rotated)
	return c, nil
}

func scanCode(sc scanner) (authkit.AuthorizationCode, error) {
	var (
		c                authkit.AuthorizationCode
		hash, claims     []byte
		scopes           sql.NullString
		created, expires int64
		sessTTL, accTTL  int64
		used             sql.NullInt64
	)
	if err := sc.Scan(&hash, &c.ClientID, &c.RedirectURI, &c.Subject, &scopes, &c.Challenge, &claims,
		&sessTTL, &accTTL, &c.UserAgent, &c.IP, &created, &expires, &used, &c.SessionID); err != nil {
		return authkit.AuthorizationCode{}, err
	}
	var err error
	if c.Hash, err = hashOf(hash); err != nil {
		return authkit.AuthorizationCode{}, err
	}
	if c.Scopes, err = decodeList(scopes); err != nil {
		return authkit.AuthorizationCode{}, err
	}
	if len(claims) > 0 {
		c.Claims = claims // Scan copied it
	}
	if sessTTL < 0 || accTTL < 0 {
		return authkit.AuthorizationCode{}, errors.New("negative lifetime stored")
	}
	c.SessionTTL, c.AccessTTL = time.Duration(sessTTL)*time.Microsecond, time.Duration(accTTL)*time.Microsecond
	c.CreatedAt, c.ExpiresAt, c.UsedAt = timeOf(created), timeOf(expires), nullTime(used)
	return c, nil
}

// ---- clients ----

// CreateClient implements authkit.ClientStore: one INSERT. A taken ID is
// authkit.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c authkit.Client) error {
	const op = "create client"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkClient(op, c); err != nil {
		return err
	}
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, authkit.ErrInvalidRequest, err)
	}
	if _, err := s.exec(ctx, s.q.clients.insertClient, args...); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlstore: %s: client ID: %w", op, authkit.ErrConflict)
		}
		return s.fail(ctx, op, err)
	}
	return nil
}

// GetClient implements authkit.ClientStore: one primary-key read.
func (s *Store) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	const op = "get client"
	if err := ctx.Err(); err != nil {
		return authkit.Client{}, deadCtx(op, err)
	}
	if err := lookupID(op, id); err != nil {
		return authkit.Client{}, err
	}
	c, err := scanClient(s.db.QueryRowContext(ctx, s.q.clients.getClient, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return authkit.Client{}, fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	case err != nil:
		return authkit.Client{}, s.fail(ctx, op, err)
	}
	return c, nil
}

// ListClients implements authkit.ClientStore: one SELECT of the whole
// table, ordered by CreatedAt then by ID, byte for byte.
func (s *Store) ListClients(ctx context.Context) ([]authkit.Client, error) {
	out, err := queryAll(ctx, s, "list clients", s.q.clients.listClients, scanClient)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b authkit.Client) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// SetClientSecret implements authkit.ClientStore: one UPDATE of the hash
// and SecretRotatedAt together (the zero hash is stored as NULL: no
// secret).
func (s *Store) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	const op = "set client secret"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := lookupID(op, id); err != nil {
		return err
	}
	q := s.q.clients
	return s.updateOrExists(ctx, op, q.setSecret, []any{hashOrNil(h), nullMicros(at), id}, q.clientExists, id)
}

// DeleteClient implements authkit.ClientStore. The client's authorization
// codes go with it; its assertion records stay until they expire, with
// their client_id emptied, so that an assertion it used cannot be used
// again by a client registered later under the same ID. Both through the
// foreign keys' actions on PostgreSQL and MySQL (one DELETE), in the same
// transaction on SQLite.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	const op = "delete client"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := lookupID(op, id); err != nil {
		return err
	}
	q := s.q.clients
	notFound := fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	if q.deleteCodes == "" {
		res, err := s.exec(ctx, q.deleteClient, id)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.fail(ctx, op, err)
		} else if n == 0 {
			return notFound
		}
		return nil
	}
	return s.inTx(ctx, op, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, q.deleteCodes, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q.orphanAssertions, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q.deleteClient, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return outcome{notFound}
		}
		return nil
	})
}

// ---- authorization codes ----

// CreateAuthorizationCode implements authkit.ClientStore: one INSERT of
// the code, unused (code.UsedAt and code.SessionID are not stored). A
// taken hash is authkit.ErrConflict; a ClientID that names no client is
// authkit.ErrNotFound.
func (s *Store) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	const op = "create authorization code"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkCode(op, code); err != nil {
		return err
	}
	scopes, err := encodeList(code.Scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, authkit.ErrInvalidRequest, err)
	}
	q := s.q.clients
	args := []any{code.Hash[:], code.ClientID, code.RedirectURI, code.Subject, scopes, code.Challenge,
		bytesOrNil(code.Claims), code.SessionTTL.Microseconds(), code.AccessTTL.Microseconds(),
		code.UserAgent, code.IP, micros(code.CreatedAt), micros(code.ExpiresAt)}
	if q.deleteCodes != "" { // SQLite: INSERT … SELECT … WHERE id = ?
		args = append(args, code.ClientID)
	}
	notFound := fmt.Errorf("sqlstore: %s: client %q: %w", op, code.ClientID, authkit.ErrNotFound)
	res, err := s.exec(ctx, q.insertCode, args...)
	switch {
	case err != nil && isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: code hash: %w", op, authkit.ErrConflict)
	case err != nil && isForeignKeyViolation(err):
		return notFound
	case err != nil:
		return s.fail(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(ctx, op, err)
	} else if n == 0 {
		return notFound
	}
	return nil
}

// RedeemAuthorizationCode implements authkit.ClientStore: see the comment
// at the top of this file for its statements and round trips.
func (s *Store) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	const op = "redeem authorization code"
	if err := ctx.Err(); err != nil {
		return authkit.AuthorizationCode{}, deadCtx(op, err)
	}
	q := s.q.clients
	us := micros(now)
	var (
		code authkit.AuthorizationCode
		won  bool
	)
	err := s.retry(ctx, op, func() error {
		return s.write(ctx, func() error {
			if q.redeemReturns {
				var err error
				code, err = scanCode(s.db.QueryRowContext(ctx, q.redeem, us, h[:], us))
				if errors.Is(err, sql.ErrNoRows) {
					return nil
				}
				won = err == nil
				return err
			}
			res, err := s.db.ExecContext(ctx, q.redeem, us, h[:], us)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			won = err == nil && n > 0
			return err
		})
	})
	if err != nil {
		return authkit.AuthorizationCode{}, err // classified by retry
	}
	if won && q.redeemReturns {
		return code, nil
	}
	// MySQL's winner reads its row back; anyone else finds out why the
	// UPDATE changed nothing. The UPDATE has committed, so this SELECT
	// sees the redemption that beat it.
	code, err = scanCode(s.db.QueryRowContext(ctx, q.getCode, h[:]))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Never stored, expired and cleaned up, or its client deleted
		// (also between MySQL's two statements).
		return authkit.AuthorizationCode{}, fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	case err != nil:
		return authkit.AuthorizationCode{}, s.fail(ctx, op, err)
	case won:
		return code, nil
	case !code.ExpiresAt.After(now) || code.UsedAt.IsZero():
		// Expired at now, redeemed or not (as the memory store answers:
		// an expired code is not found, whatever became of it), or unused
		// and so not redeemable at now: expired as well.
		return authkit.AuthorizationCode{}, fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	}
	// A second redemption: the record, and the session the first one
	// recorded, for the caller to revoke (RFC 6749 §4.1.2).
	return code, fmt.Errorf("sqlstore: %s: code already redeemed: %w", op,
		&authkit.ReuseError{SessionID: code.SessionID, Subject: code.Subject, UsedAt: code.UsedAt})
}

// SetAuthorizationCodeSession implements authkit.ClientStore: one UPDATE
// by the primary key.
func (s *Store) SetAuthorizationCodeSession(ctx context.Context, h authkit.TokenHash, sessionID string) error {
	const op = "set authorization code session"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "session ID", sessionID, MaxIDLen); err != nil {
		return err
	}
	q := s.q.clients
	return s.updateOrExists(ctx, op, q.setSession, []any{sessionID, h[:]}, q.codeExists, h[:])
}

// DeleteExpiredAuthorizationCodes implements authkit.ClientStore: one
// bounded DELETE of expired codes over the expires_at index, oldest first,
// then, when it deleted fewer than limit, one bounded DELETE of expired
// client assertion records (authkit.ClientAssertionStore) with the rest of
// limit. It returns the sum, at most limit.
func (s *Store) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "delete expired authorization codes"
	n, err := s.deleteBatch(ctx, op, s.q.clients.gcCodes, now, limit)
	if err != nil || n >= limit {
		return n, err
	}
	m, err := s.deleteBatch(ctx, op, s.q.clients.gcAssertions, now, limit-n)
	return n + m, err
}

// ---- client assertions ----

// UseClientAssertion implements authkit.ClientAssertionStore: see the
// comment at the top of this file for its statements. An expiresAt not
// after now (to the microsecond) is authkit.ErrInvalidRequest, as the
// memory store answers: such a record would count as absent at once.
func (s *Store) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	const op = "use client assertion"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := lookupID(op, clientID); err != nil {
		return err
	}
	q := s.q.clients
	exp, us := micros(expiresAt), micros(now)
	if exp <= us {
		// Its record would count as absent at once: the caller must have
		// refused the expired assertion itself.
		return fmt.Errorf("sqlstore: %s: %w: the assertion expires at %s, not after now (%s)", op, authkit.ErrInvalidRequest,
			timeOf(exp).Format(time.RFC3339Nano), timeOf(us).Format(time.RFC3339Nano))
	}
	notFound := fmt.Errorf("sqlstore: %s: client %q: %w", op, clientID, authkit.ErrNotFound)
	reused := fmt.Errorf("sqlstore: %s: assertion already used: %w", op, authkit.ErrTokenReused)
	if !q.useReturns { // MySQL
		return s.useAssertionMySQL(ctx, op, clientID, h, exp, us, notFound, reused)
	}
	args := []any{h[:], clientID, exp, us}
	if q.orphanAssertions != "" { // SQLite: INSERT … SELECT … WHERE id = ?
		args = []any{h[:], clientID, exp, clientID, us}
	}
	var won bool
	err := s.retry(ctx, op, func() error {
		return s.write(ctx, func() error {
			var one int
			err := s.db.QueryRowContext(ctx, q.useAssertion, args...).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				won = false
				return nil
			}
			if err != nil && isForeignKeyViolation(err) {
				return outcome{notFound}
			}
			won = err == nil
			return err
		})
	})
	switch {
	case err != nil:
		return err // classified by retry
	case won:
		return nil
	case q.orphanAssertions == "": // PostgreSQL: the foreign key checked the client
		return reused
	}
	// SQLite: a live record, or no such client.
	var one int
	err = s.db.QueryRowContext(ctx, q.clientExists, clientID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound
	case err != nil:
		return s.fail(ctx, op, err)
	}
	return reused
}

// useAssertionMySQL is UseClientAssertion on MySQL and MariaDB: an INSERT;
// on a duplicate key, a DELETE of the record if it has expired and the
// INSERT once more. A deadlock (not expected of these single-statement
// transactions) runs the statement again, as retry does.
func (s *Store) useAssertionMySQL(ctx context.Context, op, clientID string, h authkit.TokenHash, exp, now int64, notFound, reused error) error {
	q := s.q.clients
	insert := func() (dup bool, err error) {
		err = s.retry(ctx, op, func() error {
			_, err := s.exec(ctx, q.useAssertion, h[:], clientID, exp)
			switch {
			case err != nil && isForeignKeyViolation(err):
				return outcome{notFound}
			case err != nil && isUniqueViolation(err):
				dup = true
				return nil
			}
			return err
		})
		return dup, err
	}
	dup, err := insert()
	if err != nil || !dup {
		return err
	}
	if err := s.retry(ctx, op, func() error {
		_, err := s.exec(ctx, q.dropExpiredAssertion, h[:], now)
		return err
	}); err != nil {
		return err
	}
	// Whether or not the DELETE found an expired record (a cleanup or
	// another use may have removed it first), the second INSERT decides:
	// a duplicate key now is a record that is live, or one another use
	// just wrote.
	if dup, err = insert(); err != nil {
		return err
	} else if dup {
		return reused
	}
	return nil
}
