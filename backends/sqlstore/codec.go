package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/authkit-go/authkit"
)

// Times are stored as BIGINT microseconds since the Unix epoch, in every
// dialect: exact to the microsecond the contract asks for, free of time
// zones and of each driver's idea of a timestamp, and compared as plain
// integers. Below the microsecond a time is truncated, except a cutoff,
// which is rounded up so that a logout-all never misses a token issued in
// the same microsecond. A zero time.Time is NULL.

func micros(t time.Time) int64 { return t.UnixMicro() }

// microsCeil rounds t up to the microsecond.
func microsCeil(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

// nullMicros is micros, or NULL for the zero time.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func timeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return timeOf(v.Int64)
}

// gcRevoked is the gc_at of a revoked session or API token: garbage at any
// time, and first in the gc_at index.
const gcRevoked = math.MinInt64

// sessionGC is when a live session becomes garbage.
func sessionGC(expiresAt, idleExpiresAt int64) int64 { return min(expiresAt, idleExpiresAt) }

// Scopes and audiences are stored as a JSON array of strings (an audience
// may hold spaces), or NULL when empty; a nil and an empty list are the
// same to the contract.

func encodeList(l []string) (any, error) {
	if len(l) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func decodeList(v sql.NullString) ([]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(v.String), &l); err != nil {
		return nil, fmt.Errorf("sqlstore: a stored list is not a JSON array of strings: %w", err)
	}
	return l, nil
}

// bytesOrNil passes b through, with an empty slice as NULL.
func bytesOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func hashOf(b []byte) (authkit.TokenHash, error) {
	var h authkit.TokenHash
	if len(b) != len(h) {
		return h, fmt.Errorf("sqlstore: a stored hash is %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanSession reads sessionCols, after the destinations in head.
func scanSession(sc scanner, head ...any) (authkit.Session, error) {
	var (
		s                   authkit.Session
		scopes, aud         sql.NullString
		created, used       int64
		expires, idle       int64
		revoked             sql.NullInt64
		clientID, ua, ip, n string
	)
	dest := append(head, &s.ID, &s.Subject, &clientID, &scopes, &aud, &s.Claims, &ua, &ip, &n,
		&created, &used, &expires, &idle, &revoked)
	if err := sc.Scan(dest...); err != nil {
		return authkit.Session{}, err
	}
	var err error
	if s.Scopes, err = decodeList(scopes); err != nil {
		return authkit.Session{}, err
	}
	if s.Audience, err = decodeList(aud); err != nil {
		return authkit.Session{}, err
	}
	s.ClientID, s.UserAgent, s.IP, s.Name = clientID, ua, ip, n
	s.CreatedAt, s.LastUsedAt = timeOf(created), timeOf(used)
	s.ExpiresAt, s.IdleExpiresAt = timeOf(expires), timeOf(idle)
	s.RevokedAt = nullTime(revoked)
	return s, nil
}

// sessionArgs are the values of sessionCols and gc_at for an INSERT.
func sessionArgs(s authkit.Session) ([]any, error) {
	scopes, err := encodeList(s.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := encodeList(s.Audience)
	if err != nil {
		return nil, err
	}
	exp, idle := micros(s.ExpiresAt), micros(s.IdleExpiresAt)
	gc := sessionGC(exp, idle)
	if !s.RevokedAt.IsZero() {
		gc = gcRevoked
	}
	return []any{s.ID, s.Subject, s.ClientID, scopes, aud, bytesOrNil(s.Claims), s.UserAgent, s.IP, s.Name,
		micros(s.CreatedAt), micros(s.LastUsedAt), exp, idle, nullMicros(s.RevokedAt), gc}, nil
}

func scanRecord(sc scanner) (authkit.RefreshRecord, error) {
	var (
		r               authkit.RefreshRecord
		hash            []byte
		issued, expires int64
		used            sql.NullInt64
	)
	if err := sc.Scan(&hash, &r.SessionID, &r.Subject, &issued, &expires, &used, &r.Successor); err != nil {
		return authkit.RefreshRecord{}, err
	}
	h, err := hashOf(hash)
	if err != nil {
		return authkit.RefreshRecord{}, err
	}
	r.Hash = h
	r.IssuedAt, r.ExpiresAt, r.UsedAt = timeOf(issued), timeOf(expires), nullTime(used)
	return r, nil
}

func scanToken(sc scanner) (authkit.APIToken, error) {
	var (
		t                         authkit.APIToken
		hash                      []byte
		scopes                    sql.NullString
		created                   int64
		expires, lastUsed, revoke sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &hash, &t.Subject, &t.Name, &scopes, &created, &expires, &lastUsed, &revoke); err != nil {
		return authkit.APIToken{}, err
	}
	h, err := hashOf(hash)
	if err != nil {
		return authkit.APIToken{}, err
	}
	t.Hash = h
	if t.Scopes, err = decodeList(scopes); err != nil {
		return authkit.APIToken{}, err
	}
	t.CreatedAt = timeOf(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = nullTime(expires), nullTime(lastUsed), nullTime(revoke)
	return t, nil
}
