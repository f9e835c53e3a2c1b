package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

var (
	_ authkit.ClientStore          = (*Store)(nil)
	_ authkit.ClientAssertionStore = (*Store)(nil)
)

// client is a stored registration and the codes issued to it, so that
// DeleteClient removes them with it.
type client struct {
	c     authkit.Client
	codes map[authkit.TokenHash]*authCode
}

// assertionKey names a used client assertion: its client and hash.
type assertionKey struct {
	clientID string
	h        authkit.TokenHash
}

// assertion records a used client assertion until its expiry, whether or
// not its client is still registered; exp places it in codeExp beside the
// codes, so that the same cleanup removes both.
type assertion struct {
	key assertionKey
	exp expiry
}

// authCode is a stored authorization code; exp places it in codeExp.
type authCode struct {
	c   authkit.AuthorizationCode
	exp expiry
}

// clientTime is the form a client or code time is kept in: UTC, whole
// microseconds rounded down (an expiry comes at most a microsecond early,
// never late), the zero time kept zero.
func clientTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func copyClient(in authkit.Client) authkit.Client {
	out := in
	out.JWKS = bytes.Clone(in.JWKS)
	out.GrantTypes = slices.Clone(in.GrantTypes)
	out.Scopes = slices.Clone(in.Scopes)
	out.RedirectURIs = slices.Clone(in.RedirectURIs)
	return out
}

func copyCode(in authkit.AuthorizationCode) authkit.AuthorizationCode {
	out := in
	out.Scopes = slices.Clone(in.Scopes)
	out.Claims = bytes.Clone(in.Claims)
	return out
}

// checkClient enforces the limits of authkit.ClientStore on c
// (authkit.ValidateClient).
func checkClient(op string, c authkit.Client) error {
	if err := authkit.ValidateClient(c); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// checkCode enforces the limits of authkit.ClientStore on c
// (authkit.ValidateAuthorizationCode).
func checkCode(op string, c authkit.AuthorizationCode) error {
	if err := authkit.ValidateAuthorizationCode(c); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// CreateClient implements authkit.ClientStore. The Store keeps a copy of c
// (only its secret's hash: a Client never carries the secret). Besides the
// Max… limits, an ID that is not visible ASCII (bytes 0x21 to 0x7E)
// yields an error matching authkit.ErrInvalidRequest.
func (s *Store) CreateClient(ctx context.Context, c authkit.Client) error {
	const op = "CreateClient"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	if err := checkClient(op, c); err != nil {
		return err
	}
	stored := copyClient(c)
	stored.CreatedAt = clientTime(c.CreatedAt)
	stored.SecretRotatedAt = clientTime(c.SecretRotatedAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("memory: %s: client %q: %w", op, c.ID, authkit.ErrConflict)
	}
	s.clients[c.ID] = &client{c: stored, codes: map[authkit.TokenHash]*authCode{}}
	return nil
}

// GetClient implements authkit.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	const op = "GetClient"
	if err := ctx.Err(); err != nil {
		return authkit.Client{}, fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return authkit.Client{}, fmt.Errorf("memory: %s: %w", op, authkit.ErrNotFound)
	}
	return copyClient(c.c), nil
}

// ListClients implements authkit.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]authkit.Client, error) {
	const op = "ListClients"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.RLock()
	out := make([]authkit.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, copyClient(c.c))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b authkit.Client) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// SetClientSecret implements authkit.ClientStore.
func (s *Store) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	const op = "SetClientSecret"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("memory: %s: %w", op, authkit.ErrNotFound)
	}
	c.c.SecretHash, c.c.SecretRotatedAt = h, clientTime(at)
	return nil
}

// DeleteClient implements authkit.ClientStore. The client's codes go with
// it; the records of the assertions it used stay until they expire, so a
// client registered again under the same ID (with the same keys, say)
// cannot have them replayed.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	const op = "DeleteClient"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("memory: %s: %w", op, authkit.ErrNotFound)
	}
	for _, code := range c.codes {
		delete(s.codes, code.c.Hash)
		s.codeExp.remove(&code.exp)
	}
	delete(s.clients, id)
	return nil
}

// CreateAuthorizationCode implements authkit.ClientStore. Like every
// write, it first removes up to the sweep budget of codes that have
// expired (see the package doc).
func (s *Store) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	const op = "CreateAuthorizationCode"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	if err := checkCode(op, code); err != nil {
		return err
	}
	stored := &authCode{c: copyCode(code), exp: expiry{index: -1}}
	stored.c.CreatedAt = clientTime(code.CreatedAt)
	stored.c.ExpiresAt = clientTime(code.ExpiresAt)
	stored.c.UsedAt, stored.c.SessionID = time.Time{}, ""
	stored.exp.at, stored.exp.owner = stored.c.ExpiresAt, stored
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(code.CreatedAt)
	s.collectCodes(s.sweepTime(code.CreatedAt), s.budget)
	if _, ok := s.codes[code.Hash]; ok {
		return fmt.Errorf("memory: %s: %w", op, authkit.ErrConflict)
	}
	c, ok := s.clients[code.ClientID]
	if !ok {
		return fmt.Errorf("memory: %s: client %q: %w", op, code.ClientID, authkit.ErrNotFound)
	}
	s.codes[code.Hash] = stored
	c.codes[code.Hash] = stored
	s.codeExp.push(&stored.exp)
	return nil
}

// RedeemAuthorizationCode implements authkit.ClientStore. It holds the
// Store's lock for its whole check-and-mark, which is what makes it
// atomic. A second redemption's error is an *authkit.ReuseError carrying
// the session the first one recorded.
func (s *Store) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	const op = "RedeemAuthorizationCode"
	if err := ctx.Err(); err != nil {
		return authkit.AuthorizationCode{}, fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	code, ok := s.codes[h]
	if !ok || !code.c.ExpiresAt.After(now) {
		return authkit.AuthorizationCode{}, fmt.Errorf("memory: %s: %w", op, authkit.ErrNotFound)
	}
	if !code.c.UsedAt.IsZero() {
		return copyCode(code.c), fmt.Errorf("memory: %s: code already redeemed: %w", op,
			&authkit.ReuseError{SessionID: code.c.SessionID, Subject: code.c.Subject, UsedAt: code.c.UsedAt})
	}
	code.c.UsedAt = clientTime(now)
	return copyCode(code.c), nil
}

// SetAuthorizationCodeSession implements authkit.ClientStore.
func (s *Store) SetAuthorizationCodeSession(ctx context.Context, h authkit.TokenHash, sessionID string) error {
	const op = "SetAuthorizationCodeSession"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	code, ok := s.codes[h]
	if !ok {
		return fmt.Errorf("memory: %s: %w", op, authkit.ErrNotFound)
	}
	code.c.SessionID = sessionID
	return nil
}

// DeleteExpiredAuthorizationCodes implements authkit.ClientStore and, for
// authkit.ClientAssertionStore, deletes the expired assertion records too:
// up to limit codes and records together, and it returns how many of both
// it deleted, so that calling it until it returns less than limit empties
// both. It costs O(limit·log n): both are kept in expiry order.
func (s *Store) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredAuthorizationCodes"
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: %s: %w", op, err)
	}
	if limit <= 0 {
		return 0, errLimit(op, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	return s.collectCodes(now, limit), nil
}

// collectCodes removes up to budget codes and assertion records whose
// expiry is at or before now and returns how many. The caller holds s.mu.
func (s *Store) collectCodes(now time.Time, budget int) int {
	n := 0
	for n < budget {
		e := s.codeExp.min()
		if e == nil || e.at.After(now) {
			break
		}
		s.codeExp.remove(e)
		switch x := e.owner.(type) {
		case *authCode:
			delete(s.codes, x.c.Hash)
			if c, ok := s.clients[x.c.ClientID]; ok {
				delete(c.codes, x.c.Hash)
			}
		case *assertion:
			if s.assertions[x.key] == x {
				delete(s.assertions, x.key)
			}
		}
		n++
	}
	return n
}

// UseClientAssertion implements authkit.ClientAssertionStore. It holds the
// Store's lock for its whole check-and-record, which is what makes it
// atomic; a record is kept until expiresAt (to the microsecond, rounded
// down) and removed by DeleteExpiredAuthorizationCodes or by the sweep of
// later writes, never by DeleteClient. A client ID that is
// not valid (authkit.ValidClientID) names no client: ErrNotFound. An
// expiresAt at or before now is refused with an error matching
// authkit.ErrInvalidRequest and records nothing: the assertion has
// expired, and a store that answered nil would let it pass.
func (s *Store) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	const op = "UseClientAssertion"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	if !authkit.ValidClientID(clientID) {
		return fmt.Errorf("memory: %s: %w", op, authkit.ErrNotFound)
	}
	exp := clientTime(expiresAt)
	if !exp.After(now) {
		return fmt.Errorf("memory: %s: %w: the assertion expires at %s, not after now (%s)", op, authkit.ErrInvalidRequest,
			exp.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	s.collectCodes(s.sweepTime(now), s.budget)
	if _, ok := s.clients[clientID]; !ok {
		return fmt.Errorf("memory: %s: client %q: %w", op, clientID, authkit.ErrNotFound)
	}
	key := assertionKey{clientID, h}
	if a, ok := s.assertions[key]; ok {
		if a.exp.at.After(now) {
			return fmt.Errorf("memory: %s: assertion already used: %w", op, authkit.ErrTokenReused)
		}
		// Expired at now: absent. Reuse its entry.
		a.exp.at = exp
		s.codeExp.fix(&a.exp)
		return nil
	}
	a := &assertion{key: key, exp: expiry{at: exp, index: -1}}
	a.exp.owner = a
	s.assertions[key] = a
	s.codeExp.push(&a.exp)
	return nil
}
