package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// ---- session encoding ----

// metaVersion starts the metadata blob, so that its layout can change.
const metaVersion = 1

// encodeMeta packs the fields of a session no script reads.
func encodeMeta(s authkit.Session) string {
	b := make([]byte, 0, 64+len(s.Claims)+len(s.UserAgent))
	b = append(b, metaVersion)
	b = appendStr(b, s.ClientID)
	b = appendStrList(b, s.Scopes)
	b = appendStrList(b, s.Audience)
	b = appendStr(b, string(s.Claims))
	b = appendStr(b, s.UserAgent)
	b = appendStr(b, s.IP)
	b = appendStr(b, s.Name)
	b = appendStr(b, fmtTime(s.CreatedAt))
	return string(b)
}

// decodeSession rebuilds a session from the values of sessionFields.
func decodeSession(id string, f []any) (authkit.Session, error) {
	if len(f) != len(sessionFields) {
		return authkit.Session{}, errCorrupt
	}
	s := authkit.Session{ID: id, Subject: str(f[0])}
	m := str(f[1])
	if m == "" || m[0] != metaVersion {
		return authkit.Session{}, errCorrupt
	}
	r := reader{b: []byte(m[1:])}
	s.ClientID = r.str()
	s.Scopes = r.strList()
	s.Audience = r.strList()
	s.Claims = r.bytes()
	s.UserAgent = r.str()
	s.IP = r.str()
	s.Name = r.str()
	created := r.str()
	if err := r.done(); err != nil {
		return authkit.Session{}, err
	}
	var err error
	for _, t := range []struct {
		dst *time.Time
		src string
	}{{&s.CreatedAt, created}, {&s.LastUsedAt, str(f[2])}, {&s.ExpiresAt, str(f[3])}, {&s.IdleExpiresAt, str(f[4])}, {&s.RevokedAt, str(f[5])}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return authkit.Session{}, err
		}
	}
	return s, nil
}

// sessionGCScore is where a session sits in the GC index: its earlier
// expiry, or -inf once revoked (garbage at any time).
func sessionGCScore(s authkit.Session) float64 {
	if !s.RevokedAt.IsZero() {
		return math.Inf(-1)
	}
	return float64(micros(earlier(s.ExpiresAt, s.IdleExpiresAt)))
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func score(t time.Time) float64 { return float64(micros(t)) }

// ---- RefreshStore ----

// CreateSession implements authkit.RefreshStore. first must belong to sess
// (same SessionID and Subject).
//
// It claims the first token's locator and writes the subject index first,
// then stores the session and the record in one script on the session's
// slot: two round trips.
func (s *Store) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	const op = "CreateSession"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "session ID", sess.ID, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen(op, "subject", sess.Subject, MaxKeyLen); err != nil {
		return err
	}
	if first.SessionID != sess.ID || first.Subject != sess.Subject {
		return outcome(op, errMismatch)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()

	nonce := newNonce()
	hid := hashID(first.Hash)
	loc := s.k.refreshLocatorID(hid)
	locVal := nonce + sess.ID
	sessMember, recMember := gcSessionMember(sess.ID), gcRecordMember(sess.ID, hid)
	subjKey := s.k.subjectSessions(sess.Subject)
	var (
		claim                  *scriptCall
		inSubj, inGCs, inGCRec *redis.IntCmd
	)
	err := s.exec(ctx, func(b *batch) {
		claim = b.script(claimScript, []string{loc}, locVal, pxat(first.ExpiresAt, s.cfg.margin))
		// The subject index is written before the session exists, so
		// that no session can escape ListSessions and logout-all.
		inSubj = b.pipe.ZAddNX(ctx, subjKey, redis.Z{Score: score(sess.CreatedAt), Member: enc(sess.ID)})
		inGCs = b.pipe.ZAddNX(ctx, s.k.gcKey(gcSess, sessMember), redis.Z{Score: sessionGCScore(sess), Member: sessMember})
		inGCRec = b.pipe.ZAddNX(ctx, s.k.gcKey(gcSess, recMember), redis.Z{Score: score(first.ExpiresAt), Member: recMember})
	})
	if err != nil {
		return s.fail(ctx, op, err)
	}
	undo := func(claimed bool) {
		_ = s.exec(ctx, func(b *batch) {
			if claimed {
				b.script(releaseScript, []string{loc}, locVal)
			}
			if inGCs.Val() == 1 {
				b.pipe.ZRem(ctx, s.k.gcKey(gcSess, sessMember), sessMember)
			}
			if inGCRec.Val() == 1 {
				b.pipe.ZRem(ctx, s.k.gcKey(gcSess, recMember), recMember)
			}
		})
		if inSubj.Val() == 1 {
			// Ours, unless a session with this ID and subject exists (a
			// concurrent create of the same ID that won).
			owner, err := s.rdb.HGet(ctx, s.k.session(sess.ID), "sub").Result()
			if errors.Is(err, redis.Nil) || (err == nil && owner != sess.Subject) {
				_ = s.rdb.ZRem(ctx, subjKey, enc(sess.ID)).Err()
			}
		}
	}
	if n, _ := claim.cmd.Int64(); n != 1 {
		undo(false)
		return outcome(op, errDuplicateHash)
	}
	sessPX := pxat(later(later(sess.ExpiresAt, sess.IdleExpiresAt), first.ExpiresAt), s.cfg.margin)
	var succ string
	if !first.UsedAt.IsZero() {
		succ = string(first.Successor)
	}
	res, err := s.run(ctx, createSessionScript,
		[]string{s.k.session(sess.ID), s.k.recordPrefix(sess.ID) + hid, s.k.records(sess.ID)},
		nonce, sess.Subject, encodeMeta(sess), fmtTime(sess.LastUsedAt), fmtTime(sess.ExpiresAt), fmtTime(sess.IdleExpiresAt), fmtTime(sess.RevokedAt), sessPX,
		fmtTime(first.IssuedAt), fmtTime(first.ExpiresAt), fmtTime(first.UsedAt), succ, pxat(first.ExpiresAt, s.cfg.margin), hid)
	if err != nil {
		// The outcome is unknown: what was claimed stays (a locator
		// without a record reads as not found).
		return s.fail(ctx, op, err)
	}
	if n, _ := res.(int64); n != 1 {
		undo(true)
		return outcome(op, errDuplicateID)
	}
	// The subject index entry once more, now that the session exists: a
	// logout-all between the two round trips above found no session for
	// it and, when the entry's CreatedAt is older than subjectIndexGrace
	// at its now (an old CreatedAt, or clocks apart), removed it. The
	// session would then escape every later logout-all and listing
	// (found by review). A failure here refuses the login: the first
	// token never reaches anyone.
	if err := s.rdb.ZAdd(ctx, subjKey, redis.Z{Score: score(sess.CreatedAt), Member: enc(sess.ID)}).Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

var (
	errMismatch      = fmt.Errorf("%w: the first token's SessionID and Subject must be the session's", authkit.ErrInvalidRequest)
	errDuplicateHash = fmt.Errorf("%w: token hash already stored", authkit.ErrConflict)
	errDuplicateID   = fmt.Errorf("%w: session ID already stored", authkit.ErrConflict)
)

// locate returns the session ID a refresh token hash belongs to, or
// ErrNotFound.
func (s *Store) locate(ctx context.Context, op string, h authkit.TokenHash) (string, error) {
	v, err := s.rdb.Get(ctx, s.k.refreshLocator(h)).Result()
	if errors.Is(err, redis.Nil) {
		return "", outcome(op, authkit.ErrNotFound)
	}
	if err != nil {
		return "", s.fail(ctx, op, err)
	}
	if len(v) <= nonceLen {
		return "", corrupt(op, errCorrupt)
	}
	return v[nonceLen:], nil
}

// RotateRefresh implements authkit.RefreshStore. The contract's checks,
// in its order, and the writes are one Lua script, atomic on the server:
// of N concurrent rotations of one token, on any number of clients, the
// script of exactly one finds the token unused, and a refused rotation
// writes nothing.
//
// With a client of a single primary (a *redis.Client: standalone, or
// Sentinel through redis.NewFailoverClient) a rotation is that one
// script call, one round trip: it reads the old token's locator, finds
// the session's keys from it, checks, claims the successor's locator,
// writes, and indexes the successor for cleanup.
//
// On a cluster (or a ring) the locators and the session live in different
// hash slots, which one script may not touch together. A rotation that
// names its session (r.SessionID: the issuer's tokens name theirs) is
// still one round trip: the script runs on the session's slot, which
// holds every record of the session, while the successor's locator is
// claimed and its cleanup entries written on their own nodes in the same
// pipeline, concurrently (rotateNamed). A rotation that names no session
// takes three: it finds the session of r.Old (its locator), claims the
// successor's locator (so that a crash after the rotation cannot lose
// it), and then runs the script on the session's slot. Either way a
// refused rotation releases the claim in one more.
func (s *Store) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	const op = "RotateRefresh"
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	switch {
	case s.oneCall:
		return s.rotateOneCall(ctx, op, r)
	case r.SessionID != "" && len(r.SessionID) <= MaxIDLen:
		return s.rotateNamed(ctx, op, r)
	}
	return s.rotateSteps(ctx, op, r)
}

// rotateOneCall is RotateRefresh on a single primary: rotateOneScript.
// Its arguments are built for few allocations (a rotation is the most
// frequent write): the prefix and margin were boxed once by New, the
// hash IDs travel only inside the locator keys.
func (s *Store) rotateOneCall(ctx context.Context, op string, r authkit.Rotation) (authkit.Session, error) {
	oldKey, nextKey := s.k.refreshLocator(r.Old), s.k.refreshLocator(r.Next)
	res, err := s.run(ctx, rotateOneScript, []string{oldKey, nextKey},
		s.argPrefix, timeArg(r.Now), timeArg(r.NextExpiresAt), r.Successor,
		pxat(r.NextExpiresAt, s.cfg.margin), s.argMargin, newNonce(), gcSuffixPerm(nextKey[len(nextKey)-hashIDLen:]))
	if err != nil {
		return authkit.Session{}, s.fail(ctx, op, err)
	}
	l, err := replyList(res)
	if err != nil {
		return authkit.Session{}, corrupt(op, err)
	}
	switch str(l[0]) {
	case "nf":
		return authkit.Session{}, outcome(op, authkit.ErrNotFound)
	case "bad":
		return authkit.Session{}, corrupt(op, errCorrupt)
	}
	if len(l) < 2 {
		return authkit.Session{}, corrupt(op, errCorrupt)
	}
	// The reply is rotateScript's with the session ID second.
	sid := str(l[1])
	l[1] = l[0]
	return rotateResult(op, sid, l[1:])
}

// rotateNamed is RotateRefresh on a cluster or a ring for a rotation
// that names its session: rotateScript on the session's slot (r.Old's
// record is found there by session and hash; outside the session it is
// not found) and the successor's claim and cleanup entries, in one
// pipeline, which a cluster client sends to each node concurrently.
//
// The script checks that no record of the session holds r.Next, as
// authkit.Rotation allows: the hashes of tokens naming different
// sessions cannot collide. Should the claim still find the successor's
// locator held by another record (only a caller breaking that promise
// could make it so), the rotation stands and the locator keeps pointing
// at the other record.
func (s *Store) rotateNamed(ctx context.Context, op string, r authkit.Rotation) (authkit.Session, error) {
	return s.rotateIn(ctx, op, r, r.SessionID, true)
}

// rotateSteps is RotateRefresh on a cluster or a ring for a rotation
// that names no session: the locator, the claim, then rotateScript on
// the session's slot.
func (s *Store) rotateSteps(ctx context.Context, op string, r authkit.Rotation) (authkit.Session, error) {
	sid, err := s.locate(ctx, op, r.Old)
	if err != nil {
		return authkit.Session{}, err
	}
	return s.rotateIn(ctx, op, r, sid, false)
}

// rotateIn rotates r in session sid: the successor's claim and cleanup
// entries, and rotateScript, in one pipeline if together, else the
// script after the claim, told whether the claim found the locator
// taken.
func (s *Store) rotateIn(ctx context.Context, op string, r authkit.Rotation, sid string, together bool) (authkit.Session, error) {
	nonce := newNonce()
	oldID, nextID := hashID(r.Old), hashID(r.Next)
	loc := s.k.refreshLocatorID(nextID)
	locVal := nonce + sid
	sessMember, recMember := gcSessionMember(sid), gcRecordMember(sid, nextID)
	var (
		claim, rot *scriptCall
		inGCRc     *redis.IntCmd
	)
	keys := []string{s.k.session(sid), s.k.recordPrefix(sid) + oldID, s.k.recordPrefix(sid) + nextID, s.k.records(sid)}
	args := func(conflict string) []any {
		return []any{fmtTime(r.Now), fmtTime(r.NextExpiresAt), r.Successor, nextID, conflict,
			pxat(r.NextExpiresAt, s.cfg.margin), s.cfg.margin.Milliseconds(), nonce}
	}
	err := s.exec(ctx, func(b *batch) {
		if together {
			rot = b.script(rotateScript, keys, args("0")...)
		}
		claim = b.script(claimScript, []string{loc}, locVal, pxat(r.NextExpiresAt, s.cfg.margin))
		inGCRc = b.pipe.ZAddNX(ctx, s.k.gcKey(gcSess, recMember), redis.Z{Score: score(r.NextExpiresAt), Member: recMember})
		// LT: the index may only move a session's entry earlier, never
		// past its true expiry (cleanup re-scores entries that are early).
		// Together, also XX: the session was not found first, and a
		// rotation naming a session that does not exist (anyone can make
		// such a token) must not add an entry (found by review: each
		// refused request left one for the refresh TTL); CreateSession
		// wrote the entry of every real session.
		z := redis.ZAddArgs{LT: true, XX: together, Members: []redis.Z{{Score: score(r.NextExpiresAt), Member: sessMember}}}
		b.pipe.ZAddArgs(ctx, s.k.gcKey(gcSess, sessMember), z)
	})
	var res any
	if together {
		// The script's answer decides, whatever else failed beside it on
		// other nodes: a refusal releases what was claimed; a rotation
		// whose claim did not answer claims again (the cleanup entries
		// are not needed for that: native expiry backs them).
		var rerr error
		if res, rerr = rot.cmd.Result(); rerr == nil && res == nil {
			// Not run: a connection that could not be made leaves the
			// pipeline's commands without an error of their own.
			rerr = err
		}
		if rerr != nil {
			return authkit.Session{}, s.fail(ctx, op, rerr)
		}
	} else if err != nil {
		return authkit.Session{}, s.fail(ctx, op, err)
	}
	n, claimErr := claim.cmd.Int64()
	claimed := claimErr == nil && n == 1
	if !together {
		conflict := "0"
		if !claimed {
			conflict = "1"
		}
		if res, err = s.run(ctx, rotateScript, keys, args(conflict)...); err != nil {
			return authkit.Session{}, s.fail(ctx, op, err)
		}
	}
	l, err := replyList(res)
	if err != nil {
		return authkit.Session{}, corrupt(op, err)
	}
	if str(l[0]) == "ok" && claimErr != nil {
		// The rotation took effect (only a named one gets here) and the
		// successor's locator is not known to be written: try once more.
		// Failing that (its node is down), the rotation still succeeds:
		// the successor names its session, and is found and rotated
		// there (LookupRefreshInSession, rotateNamed), which is how the
		// issuer finds it; only LookupRefresh by hash alone misses it.
		// Failing the call instead would spend the client's token and
		// hand it nothing: its retry would be reuse (found by review).
		_, _ = s.run(ctx, claimScript, []string{loc}, locVal, pxat(r.NextExpiresAt, s.cfg.margin))
	}
	if str(l[0]) != "ok" {
		// Refused: undo the claim.
		_ = s.exec(ctx, func(b *batch) {
			if claimed {
				b.script(releaseScript, []string{loc}, locVal)
			}
			if inGCRc.Val() == 1 {
				b.pipe.ZRem(ctx, s.k.gcKey(gcSess, recMember), recMember)
			}
		})
	}
	return rotateResult(op, sid, l)
}

// rotateResult turns rotateScript's reply l, for session sid, into
// RotateRefresh's result.
func rotateResult(op, sid string, l []any) (authkit.Session, error) {
	switch str(l[0]) {
	case "ok":
		sess, err := decodeSession(sid, l[1:])
		if err != nil {
			return authkit.Session{}, corrupt(op, err)
		}
		return sess, nil
	case "nf":
		return authkit.Session{}, outcome(op, authkit.ErrNotFound)
	case "rv":
		return authkit.Session{}, outcome(op, authkit.ErrTokenRevoked)
	case "ex":
		return authkit.Session{}, outcome(op, authkit.ErrTokenExpired)
	case "cf":
		return authkit.Session{}, outcome(op, errDuplicateHash)
	case "ru":
		if len(l) != 4 {
			return authkit.Session{}, corrupt(op, errCorrupt)
		}
		usedAt, err := parseTime(str(l[2]))
		if err != nil {
			return authkit.Session{}, corrupt(op, err)
		}
		var succ []byte
		if v := str(l[3]); v != "" {
			succ = []byte(v)
		}
		return authkit.Session{}, &authkit.ReuseError{SessionID: sid, Subject: str(l[1]), UsedAt: usedAt, Successor: succ}
	}
	return authkit.Session{}, corrupt(op, errCorrupt)
}

// recordFields are the fields of a refresh record hash LookupRefresh reads.
var recordFields = []string{"sub", "ia", "ex", "us", "sc"}

// LookupRefresh implements authkit.RefreshStore: the locator, then the
// record (two round trips).
func (s *Store) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	const op = "LookupRefresh"
	if err := ctx.Err(); err != nil {
		return authkit.RefreshRecord{}, deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	sid, err := s.locate(ctx, op, h)
	if err != nil {
		return authkit.RefreshRecord{}, err
	}
	return s.readRecord(ctx, op, sid, h)
}

// LookupRefreshInSession implements authkit.RefreshSessionLookup in one
// round trip, on the session's slot: a record is stored there by its
// session and hash, whatever became of its locator (a named rotation on a
// cluster whose claim could not be written still answers here).
func (s *Store) LookupRefreshInSession(ctx context.Context, sessionID string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	const op = "LookupRefreshInSession"
	if err := ctx.Err(); err != nil {
		return authkit.RefreshRecord{}, deadCtx(op, err)
	}
	if sessionID == "" || len(sessionID) > MaxIDLen {
		return authkit.RefreshRecord{}, outcome(op, authkit.ErrNotFound)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	return s.readRecord(ctx, op, sessionID, h)
}

// readRecord reads the record with hash h of session sid.
func (s *Store) readRecord(ctx context.Context, op, sid string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	f, err := s.rdb.HMGet(ctx, s.k.record(sid, h), recordFields...).Result()
	if err != nil {
		return authkit.RefreshRecord{}, s.fail(ctx, op, err)
	}
	if len(f) != len(recordFields) || f[0] == nil {
		// A locator whose record is gone (collected, or a claim whose
		// rotation never ran) reads as not found.
		return authkit.RefreshRecord{}, outcome(op, authkit.ErrNotFound)
	}
	rec := authkit.RefreshRecord{Hash: h, SessionID: sid, Subject: str(f[0])}
	for _, t := range []struct {
		dst *time.Time
		src string
	}{{&rec.IssuedAt, str(f[1])}, {&rec.ExpiresAt, str(f[2])}, {&rec.UsedAt, str(f[3])}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return authkit.RefreshRecord{}, corrupt(op, err)
		}
	}
	if v := str(f[4]); v != "" {
		rec.Successor = []byte(v)
	}
	return rec, nil
}

// Session implements authkit.RefreshStore in one round trip.
func (s *Store) Session(ctx context.Context, id string) (authkit.Session, error) {
	const op = "Session"
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, deadCtx(op, err)
	}
	if len(id) == 0 || len(id) > MaxIDLen {
		return authkit.Session{}, outcome(op, authkit.ErrNotFound) // never stored
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	f, err := s.rdb.HMGet(ctx, s.k.session(id), sessionFieldNames...).Result()
	if err != nil {
		return authkit.Session{}, s.fail(ctx, op, err)
	}
	if len(f) == 0 || f[0] == nil {
		return authkit.Session{}, outcome(op, authkit.ErrNotFound)
	}
	sess, err := decodeSession(id, f)
	if err != nil {
		return authkit.Session{}, corrupt(op, err)
	}
	return sess, nil
}

var sessionFieldNames = func() []string {
	out := make([]string, len(sessionFields))
	for i, f := range sessionFields {
		out[i] = f.(string)
	}
	return out
}()

// subjectSessions returns the sessions the subject's index names, read in
// one pipeline (fanned out per node on a cluster), and the IDs of index
// entries whose session is gone. Sessions of another subject (an index
// entry left by a refused create) are skipped.
func (s *Store) subjectSessions(ctx context.Context, op, subject string) ([]authkit.Session, []string, error) {
	members, err := s.rdb.ZRange(ctx, s.k.subjectSessions(subject), 0, -1).Result()
	if err != nil {
		return nil, nil, s.fail(ctx, op, err)
	}
	if len(members) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(members))
	cmds := make([]*redis.SliceCmd, len(members))
	err = s.exec(ctx, func(b *batch) {
		for i, m := range members {
			id, derr := dec(m)
			if derr != nil {
				continue
			}
			ids[i] = id
			cmds[i] = b.pipe.HMGet(ctx, s.k.session(id), sessionFieldNames...)
		}
	})
	if err != nil {
		return nil, nil, s.fail(ctx, op, err)
	}
	var (
		out  []authkit.Session
		gone []string
	)
	for i, c := range cmds {
		if c == nil {
			continue
		}
		f := c.Val()
		if len(f) == 0 || f[0] == nil {
			gone = append(gone, members[i])
			continue
		}
		if str(f[0]) != subject {
			continue
		}
		sess, err := decodeSession(ids[i], f)
		if err != nil {
			return nil, nil, corrupt(op, err)
		}
		out = append(out, sess)
	}
	return out, gone, nil
}

// ListSessions implements authkit.RefreshStore. It reads the subject's
// index (one slot) and then every session it names: on a cluster those
// live in many slots, so this is one pipeline per node, O(sessions of the
// subject). Sessions created at the same instant are ordered by ID.
func (s *Store) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	const op = "ListSessions"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	if len(subject) > MaxKeyLen {
		return nil, nil // never stored
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	all, _, err := s.subjectSessions(ctx, op, subject)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, sess := range all {
		if sess.Live(now) {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b authkit.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// RevokeSession implements authkit.RefreshStore: one script on the
// session's slot.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	const op = "RevokeSession"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if len(id) == 0 || len(id) > MaxIDLen {
		return outcome(op, authkit.ErrNotFound)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, revokeSessionScript, []string{s.k.session(id)}, fmtTime(now), newNonce(), "", "0")
	if err != nil {
		return s.fail(ctx, op, err)
	}
	l, err := replyList(res)
	if err != nil {
		return corrupt(op, err)
	}
	switch str(l[0]) {
	case "nf":
		return outcome(op, authkit.ErrNotFound)
	case "rv", "al":
		s.markGarbage(ctx, []string{id})
		return s.confirm(ctx, op, revokedCheck(s.k.session(id)))
	}
	return corrupt(op, errCorrupt)
}

// markGarbage moves revoked sessions to the front of the GC index. It is a
// hint: if it fails, cleanup finds the sessions at their expiry instead.
func (s *Store) markGarbage(ctx context.Context, ids []string) {
	_ = s.exec(ctx, func(b *batch) {
		for _, id := range ids {
			m := gcSessionMember(id)
			b.pipe.ZAdd(ctx, s.k.gcKey(gcSess, m), redis.Z{Score: math.Inf(-1), Member: m})
		}
	})
}

// subjectIndexGrace is how old (by its CreatedAt) a subject index entry
// whose session does not exist must be before RevokeSubjectSessions
// removes it: far longer than a CreateSession takes between writing the
// entry and the session (both within one store call timeout).
const subjectIndexGrace = 10 * time.Minute

// RevokeSubjectSessions implements authkit.RefreshStore. A subject's
// sessions live in many slots on a cluster: it reads the subject's index
// and runs the revocation script of each session, in one pipeline (one
// round trip per node), O(sessions of the subject). Each session's
// revocation is atomic in its slot; a session whose create had not
// reached the index when the index was read is not revoked (it was made
// after the logout), and one whose entry was there but not yet its
// session keeps its entry, so that the next logout-all finds it. Access tokens are the issuer's cutoff's job, which
// covers every one of them at once. The IDs come back sorted. Under
// WithReplicaAcks it waits on the subject's slot too, sessions or none
// (see subjectSlotCheck).
func (s *Store) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	const op = "RevokeSubjectSessions"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	if len(subject) > MaxKeyLen {
		return nil, nil
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	subjKey := s.k.subjectSessions(subject)
	zs, err := s.rdb.ZRangeWithScores(ctx, subjKey, 0, -1).Result()
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(zs) == 0 {
		return nil, s.confirm(ctx, op, subjectSlotCheck(subjKey))
	}
	members := make([]string, len(zs))
	for i, z := range zs {
		members[i], _ = z.Member.(string)
	}
	// An entry without a session is pruned only once it is old: a young
	// one may be a CreateSession between its two round trips (the index
	// is written first), whose session would otherwise be written after
	// its entry was pruned and escape every later ListSessions and
	// logout-all.
	pruneBefore := score(now.Add(-subjectIndexGrace))
	nonce, at := newNonce(), fmtTime(now)
	ids := make([]string, len(members))
	calls := make([]*scriptCall, len(members))
	err = s.exec(ctx, func(b *batch) {
		for i, m := range members {
			id, derr := dec(m)
			if derr != nil {
				continue
			}
			ids[i] = id
			calls[i] = b.script(revokeSessionScript, []string{s.k.session(id)}, at, nonce, subject, "1")
		}
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	var (
		revoked []string
		// Every revoked session, this call's and those revoked before:
		// under WithReplicaAcks a retry of a call that failed waiting for
		// the replicas waits again, as RevokeSession's does (found by
		// review: it returned nil, the sessions it found revoked
		// unchecked, so a failover could bring them back).
		confirmIDs []string
		gone       []redis.Z // entries without a session, old enough to prune
	)
	for i, c := range calls {
		if c == nil {
			continue
		}
		l, err := replyList(c.cmd.Val())
		if err != nil {
			return nil, corrupt(op, err)
		}
		switch str(l[0]) {
		case "rv":
			revoked = append(revoked, ids[i])
			confirmIDs = append(confirmIDs, ids[i])
		case "al":
			confirmIDs = append(confirmIDs, ids[i])
		case "nf":
			if zs[i].Score <= pruneBefore {
				gone = append(gone, zs[i])
			}
		}
	}
	if len(revoked) > 0 {
		s.markGarbage(ctx, revoked)
	}
	if len(gone) > 0 {
		// Detached from the caller, with a deadline of its own: a caller
		// gone between the prune and the put-back would leave a racing
		// create's entry pruned (found by review). The put-back runs
		// whatever the prune answered (its outcome may be unknown).
		pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), pruneTimeout)
		members := make([]any, len(gone))
		for i, z := range gone {
			members[i] = z.Member
		}
		_ = s.rdb.ZRem(pctx, subjKey, members...).Err()
		s.keepCreated(pctx, subjKey, subject, gone)
		pcancel()
	}
	slices.Sort(revoked)
	if s.cfg.acks > 0 {
		checks := make([]ackCheck, len(confirmIDs), len(confirmIDs)+1)
		for i, id := range confirmIDs {
			checks[i] = revokedCheck(s.k.session(id))
		}
		checks = append(checks, subjectSlotCheck(subjKey))
		if err := s.confirm(ctx, op, checks...); err != nil {
			return nil, err
		}
	}
	return revoked, nil
}

// pruneTimeout bounds a logout-all's prune of its subject index and the
// put-back after it, which run detached from the caller.
const pruneTimeout = 5 * time.Second

// keepCreated puts back the subject index entries just pruned whose
// session exists now: a CreateSession whose session and second index
// write both came between the revocation above and the prune (found by
// review). Either the session is seen here, or its second write comes
// after the prune. When the sessions cannot be read, every entry goes
// back: an entry without a session only waits for the next prune.
func (s *Store) keepCreated(ctx context.Context, subjKey, subject string, pruned []redis.Z) {
	subs := make([]*redis.StringCmd, len(pruned))
	err := s.exec(ctx, func(b *batch) {
		for i, z := range pruned {
			m, _ := z.Member.(string)
			if id, err := dec(m); err == nil {
				subs[i] = b.pipe.HGet(ctx, s.k.session(id), "sub")
			}
		}
	})
	var back []redis.Z
	for i, z := range pruned {
		c := subs[i]
		switch {
		case c == nil:
		case err != nil && !errors.Is(c.Err(), redis.Nil), c.Err() == nil && c.Val() == subject:
			back = append(back, z)
		}
	}
	if len(back) > 0 {
		_ = s.rdb.ZAdd(ctx, subjKey, back...).Err()
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}
