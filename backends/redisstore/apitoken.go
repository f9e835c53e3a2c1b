package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// API tokens live in their subject's slot, beside the subject's index of
// them, so that CreateAPIToken counts the live ones and inserts in one
// script. Two locators, each in its own slot, make the ID and the hash
// unique and lead from them to the subject: LookupAPIToken is the hash
// locator, then the token (one script on a single primary, two round
// trips elsewhere).

var (
	errDuplicateTokenID   = fmt.Errorf("%w: token ID already stored", authkit.ErrConflict)
	errDuplicateTokenHash = fmt.Errorf("%w: token hash already stored", authkit.ErrConflict)
)

// tokenOwner is the part of a hash locator's value after the nonce: the
// token's subject and ID.
func tokenOwner(subject, id string) string {
	return string(appendStr(nil, subject)) + id
}

func parseTokenOwner(v string) (subject, id string, err error) {
	r := reader{b: []byte(v)}
	subject = r.str()
	if r.err != nil {
		return "", "", errCorrupt
	}
	return subject, string(r.b), nil
}

// gcTokenMember names a token in the GC index: its subject's hash-tag
// content and its encoded ID.
func gcTokenMember(subject, id string) string { return "u" + enc(subject) + ":" + enc(id) }

// CreateAPIToken implements authkit.APITokenStore in two round trips: it
// claims the ID and hash locators, then one script on the subject's slot
// counts the subject's live tokens against limit and stores t.
func (s *Store) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	const op = "CreateAPIToken"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "token ID", t.ID, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen(op, "subject", t.Subject, MaxKeyLen); err != nil {
		return err
	}
	limit = max(limit, 0)
	ctx, cancel := s.callCtx(ctx)
	defer cancel()

	nonce := newNonce()
	idKey, hashKey := s.k.tokenByID(t.ID), s.k.tokenByHash(t.Hash)
	idVal, hashVal := nonce+t.Subject, nonce+tokenOwner(t.Subject, t.ID)
	px := ""
	if !t.ExpiresAt.IsZero() {
		px = fmt.Sprint(pxat(t.ExpiresAt, s.cfg.margin))
	}
	member := gcTokenMember(t.Subject, t.ID)
	gcKey := s.k.gcKey(gcTok, member)
	var (
		claimID, claimHash *scriptCall
		inGC               *redis.IntCmd
	)
	err := s.exec(ctx, func(b *batch) {
		claimID = b.script(claimScript, []string{idKey}, idVal, px)
		claimHash = b.script(claimScript, []string{hashKey}, hashVal, px)
		switch {
		case !t.RevokedAt.IsZero():
			inGC = b.pipe.ZAddNX(ctx, gcKey, redis.Z{Score: math.Inf(-1), Member: member})
		case !t.ExpiresAt.IsZero():
			inGC = b.pipe.ZAddNX(ctx, gcKey, redis.Z{Score: score(t.ExpiresAt), Member: member})
		}
	})
	if err != nil {
		return s.fail(ctx, op, err)
	}
	gotID, _ := claimID.cmd.Int64()
	gotHash, _ := claimHash.cmd.Int64()
	// undo releases the claims, past ctx's end (within the call timeout):
	// a caller hanging up must not leave them (found by review: lookup
	// keys without expiry, outside every index, stayed for good).
	undo := func() {
		uctx, cancel := s.detachedCtx(ctx)
		defer cancel()
		_ = s.exec(uctx, func(b *batch) {
			if gotID == 1 {
				b.script(releaseScript, []string{idKey}, idVal)
			}
			if gotHash == 1 {
				b.script(releaseScript, []string{hashKey}, hashVal)
			}
			if inGC != nil && inGC.Val() == 1 {
				b.pipe.ZRem(uctx, gcKey, member)
			}
		})
	}
	if gotID != 1 || gotHash != 1 {
		undo()
		if gotID != 1 {
			return outcome(op, errDuplicateTokenID)
		}
		return outcome(op, errDuplicateTokenHash)
	}
	res, err := s.run(ctx, createTokenScript,
		[]string{s.k.token(t.Subject, t.ID), s.k.tokens(t.Subject)},
		nonce, limit, fmtTime(now), s.k.tokenPrefix(t.Subject), enc(t.ID), fmtTime(t.CreatedAt),
		string(t.Hash[:]), t.Subject, t.Name, string(appendStrList(nil, t.Scopes)),
		fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt), fmtTime(t.LastUsedAt), fmtTime(t.RevokedAt), px, fmtMicros(s.cfg.margin.Microseconds()))
	if err != nil {
		// The script may have run: release the claims unless the token
		// stands with this call's nonce (the issuer revokes it then: an
		// ErrStoreUnavailable leaves the outcome unknown).
		// Were the script to run only after this check, the token would
		// stand without its lookup keys: refused by every lookup, listed
		// until revoked.
		uctx, cancel := s.detachedCtx(ctx)
		cn, herr := s.rdb.HGet(uctx, s.k.token(t.Subject, t.ID), "cn").Result()
		cancel()
		if herr == nil && cn != nonce || errors.Is(herr, redis.Nil) {
			undo()
		}
		return s.fail(ctx, op, err)
	}
	switch res {
	case "ok":
		return nil
	case "lim":
		undo()
		return outcome(op, authkit.ErrLimitExceeded)
	case "cf":
		undo()
		return outcome(op, errDuplicateTokenID)
	}
	return corrupt(op, errCorrupt)
}

// decodeToken rebuilds a token from the values of tokenFields.
func decodeToken(id string, f []any) (authkit.APIToken, error) {
	if len(f) != len(tokenFields) {
		return authkit.APIToken{}, errCorrupt
	}
	t := authkit.APIToken{ID: id, Subject: str(f[1]), Name: str(f[2])}
	h := str(f[0])
	if len(h) != len(t.Hash) {
		return authkit.APIToken{}, errCorrupt
	}
	copy(t.Hash[:], h)
	r := reader{b: []byte(str(f[3]))}
	t.Scopes = r.strList()
	if err := r.done(); err != nil {
		return authkit.APIToken{}, err
	}
	var err error
	for _, x := range []struct {
		dst *time.Time
		src string
	}{{&t.CreatedAt, str(f[4])}, {&t.ExpiresAt, str(f[5])}, {&t.LastUsedAt, str(f[6])}, {&t.RevokedAt, str(f[7])}} {
		if *x.dst, err = parseTime(x.src); err != nil {
			return authkit.APIToken{}, err
		}
	}
	return t, nil
}

var tokenFieldNames = func() []string {
	out := make([]string, len(tokenFields))
	for i, f := range tokenFields {
		out[i] = f.(string)
	}
	return out
}()

// LookupAPIToken implements authkit.APITokenStore: the hash locator, then
// the token. On a single primary that is one script (one round trip),
// elsewhere two round trips. Nothing is cached: a revocation is seen by
// the next lookup.
func (s *Store) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	const op = "LookupAPIToken"
	if err := ctx.Err(); err != nil {
		return authkit.APIToken{}, deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	if s.oneCall {
		return s.lookupTokenOneCall(ctx, op, h)
	}
	return s.lookupTokenSteps(ctx, op, h)
}

// lookupTokenOneCall is LookupAPIToken on a single primary:
// lookupTokenOneScript, which reads the locator and the token it names.
// A reply of any other shape than the script's is corrupt, never a token.
func (s *Store) lookupTokenOneCall(ctx context.Context, op string, h authkit.TokenHash) (authkit.APIToken, error) {
	res, err := s.run(ctx, lookupTokenOneScript, []string{s.k.tokenByHash(h)}, s.argPrefix)
	if err != nil {
		return authkit.APIToken{}, s.fail(ctx, op, err)
	}
	return lookupTokenReply(op, h, res)
}

// lookupTokenReply decodes lookupTokenOneScript's reply for h.
func lookupTokenReply(op string, h authkit.TokenHash, res any) (authkit.APIToken, error) {
	l, err := replyList(res)
	if err != nil {
		return authkit.APIToken{}, corrupt(op, err)
	}
	switch str(l[0]) {
	case "nf":
		if len(l) == 1 {
			return authkit.APIToken{}, outcome(op, authkit.ErrNotFound)
		}
	case "ok":
		if len(l) != 2+len(tokenFields) {
			break
		}
		for _, v := range l[1:] {
			if _, ok := v.(string); !ok {
				return authkit.APIToken{}, corrupt(op, errCorrupt)
			}
		}
		return foundToken(op, h, l[1].(string), l[2:])
	}
	return authkit.APIToken{}, corrupt(op, errCorrupt)
}

// lookupTokenSteps is LookupAPIToken on a cluster or a ring, where the
// locator and the token are in different slots: a GET of the locator,
// then an HMGET of the token.
func (s *Store) lookupTokenSteps(ctx context.Context, op string, h authkit.TokenHash) (authkit.APIToken, error) {
	v, err := s.rdb.Get(ctx, s.k.tokenByHash(h)).Result()
	if errors.Is(err, redis.Nil) {
		return authkit.APIToken{}, outcome(op, authkit.ErrNotFound)
	}
	if err != nil {
		return authkit.APIToken{}, s.fail(ctx, op, err)
	}
	if len(v) < nonceLen {
		return authkit.APIToken{}, corrupt(op, errCorrupt)
	}
	subject, id, err := parseTokenOwner(v[nonceLen:])
	if err != nil {
		return authkit.APIToken{}, corrupt(op, err)
	}
	f, err := s.rdb.HMGet(ctx, s.k.token(subject, id), tokenFieldNames...).Result()
	if err != nil {
		return authkit.APIToken{}, s.fail(ctx, op, err)
	}
	return foundToken(op, h, id, f)
}

// foundToken is the end of both lookups: f, the values of tokenFields of
// the token with ID id that h's locator names, is the token if it is
// there and has hash h.
func foundToken(op string, h authkit.TokenHash, id string, f []any) (authkit.APIToken, error) {
	if len(f) == 0 || f[1] == nil {
		// A claimed locator whose create never ran, or a collected token.
		return authkit.APIToken{}, outcome(op, authkit.ErrNotFound)
	}
	t, err := decodeToken(id, f)
	if err != nil {
		return authkit.APIToken{}, corrupt(op, err)
	}
	if t.Hash != h {
		return authkit.APIToken{}, outcome(op, authkit.ErrNotFound)
	}
	return t, nil
}

// ListAPITokens implements authkit.APITokenStore: one script reads every
// token of the subject (one slot, one round trip). Tokens created at the
// same instant are ordered by ID.
func (s *Store) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	const op = "ListAPITokens"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	if len(subject) > MaxKeyLen {
		return nil, nil // never stored
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, listTokensScript, []string{s.k.tokens(subject)}, s.k.tokenPrefix(subject))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	l, ok := res.([]any)
	if !ok || len(l)%(1+len(tokenFields)) != 0 {
		return nil, corrupt(op, errCorrupt)
	}
	var out []authkit.APIToken
	for i := 0; i < len(l); i += 1 + len(tokenFields) {
		id, err := dec(str(l[i]))
		if err != nil {
			return nil, corrupt(op, err)
		}
		t, err := decodeToken(id, l[i+1:i+1+len(tokenFields)])
		if err != nil {
			return nil, corrupt(op, err)
		}
		if t.Live(now) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b authkit.APIToken) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeAPIToken implements authkit.APITokenStore: one script on the
// subject's slot, where only subject's own tokens are.
func (s *Store) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	const op = "RevokeAPIToken"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if len(subject) == 0 || len(subject) > MaxKeyLen || len(id) == 0 || len(id) > MaxIDLen {
		return outcome(op, authkit.ErrNotFound) // never stored
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, revokeTokenScript, []string{s.k.token(subject, id), s.k.tokens(subject)}, fmtTime(now), enc(id))
	if err != nil {
		return s.fail(ctx, op, err)
	}
	switch res {
	case "nf":
		return outcome(op, authkit.ErrNotFound)
	case "rv", "al":
		// A hint for cleanup: the token is garbage from now on.
		m := gcTokenMember(subject, id)
		_ = s.rdb.ZAdd(ctx, s.k.gcKey(gcTok, m), redis.Z{Score: math.Inf(-1), Member: m}).Err()
		return s.confirm(ctx, op, revokedCheck(s.k.token(subject, id)))
	}
	return corrupt(op, errCorrupt)
}

// TouchAPIToken implements authkit.APITokenStore: the ID locator, then a
// script that only moves LastUsedAt forward.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	const op = "TouchAPIToken"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if len(id) == 0 || len(id) > MaxIDLen {
		return outcome(op, authkit.ErrNotFound)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	v, err := s.rdb.Get(ctx, s.k.tokenByID(id)).Result()
	if errors.Is(err, redis.Nil) {
		return outcome(op, authkit.ErrNotFound)
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if len(v) < nonceLen {
		return corrupt(op, errCorrupt)
	}
	res, err := s.run(ctx, touchTokenScript, []string{s.k.token(v[nonceLen:], id)}, fmtTime(at))
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n, _ := res.(int64); n != 1 {
		return outcome(op, authkit.ErrNotFound)
	}
	return nil
}

// DeleteExpiredAPITokens implements authkit.APITokenStore from the token
// GC index, which holds every token that expires or was revoked.
func (s *Store) DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredAPITokens"
	at := fmtTime(now)
	n, err := s.collect(ctx, op, gcTok, now, limit, func(cands []candidate, _ int, b *batch) gcFinish {
		type job struct {
			c    candidate
			call *scriptCall
			id   string
		}
		jobs := make([]job, len(cands))
		for i, c := range cands {
			jobs[i].c = c
			tag, encID, ok := strings.Cut(c.member, ":")
			id, err := dec(encID)
			if !ok || err != nil || !strings.HasPrefix(tag, "u") {
				continue
			}
			jobs[i].id = id
			jobs[i].call = b.script(gcTokenScript,
				[]string{s.k.p + "tok:{" + tag + "}:" + encID, s.k.p + "toks:{" + tag + "}"}, at, encID)
		}
		return func() (int, []func(*batch), error) {
			n := 0
			var fu []func(*batch)
			for _, j := range jobs {
				if j.call == nil {
					fu = append(fu, s.gcDrop(ctx, j.c))
					continue
				}
				l, err := replyList(j.call.cmd.Val())
				if err != nil {
					return n, fu, err
				}
				switch str(l[0]) {
				case "del":
					if len(l) != 3 || len(str(l[1])) != len(authkit.TokenHash{}) {
						return n, fu, errCorrupt
					}
					n++
					var h authkit.TokenHash
					copy(h[:], str(l[1]))
					subject, id := str(l[2]), j.id
					fu = append(fu, s.gcDrop(ctx, j.c), func(b *batch) {
						b.script(releaseOwnedScript, []string{s.k.tokenByHash(h)}, tokenOwner(subject, id))
						b.script(releaseOwnedScript, []string{s.k.tokenByID(id)}, subject)
					})
				case "later":
					t, ok := parseScore(str(l[1]))
					if !ok {
						return n, fu, errCorrupt
					}
					fu = append(fu, s.gcRescore(ctx, j.c, t))
				default: // gone, never
					fu = append(fu, s.gcDrop(ctx, j.c))
				}
			}
			return n, fu, nil
		}
	})
	if err != nil {
		if errors.Is(err, errCorrupt) {
			return n, corrupt(op, err)
		}
		return n, s.fail(ctx, op, err)
	}
	return n, nil
}
