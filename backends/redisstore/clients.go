package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

var (
	_ authkit.ClientStore          = (*Store)(nil)
	_ authkit.ClientAssertionStore = (*Store)(nil)
)

// OAuth 2.0 clients and authorization codes (authkit.ClientStore).
//
//	P cl:{c<id>}                HASH   a client: cn (its incarnation, a random nonce), m (metadata), ca, sh, sr
//	P code:{c<id>}:<hash>       HASH   an authorization code of client id, in the client's slot
//	P codel:<hash>              STRING locator: nonce + client ID
//	P cls                       ZSET   the client IDs, by CreatedAt
//	P gc:code:{N}               ZSET   GC index of the codes, by ExpiresAt
//	P ca:{c<id>}:<hash>         STRING a client assertion client id used: nonce + expiresAt (µs); native TTL
//
// A code lives in its client's slot, so that one script checks that the
// client still exists and redeems the code atomically. The code keeps the
// incarnation (cn) of the client it was made for, and redeems only while
// the client hash carries the same one: DeleteClient deletes the client
// hash alone, and neither the client's old codes nor a client created
// again under the same ID brings them back. The locator, keyed by the
// code's hash alone, makes the hash unique store-wide and leads from a
// presented code to its client: a redemption is the locator, then the
// script (two round trips; one on a single primary, where one script
// reads the locator too).
//
// The registry index (cls) is one key: ListClients reads it and then each
// client it names. CreateClient adds the ID before the client is stored
// and again after, and whoever removes an ID (DeleteClient, or ListClients
// dropping an ID whose client is gone) looks for the client afterwards
// and puts the ID back if it exists, so that no stored client is left out
// of the index by a concurrent delete and create of the same ID.

func clientTag(id string) string { return "{c" + enc(id) + "}" }

func (k keyspace) client(id string) string { return k.p + "cl:" + clientTag(id) }

func (k keyspace) clientIndex() string { return k.p + "cls" }

func (k keyspace) codePrefix(clientID string) string {
	return k.p + "code:" + clientTag(clientID) + ":"
}

func (k keyspace) code(clientID, hid string) string { return k.codePrefix(clientID) + hid }

func (k keyspace) codeLocator(hid string) string { return k.p + "codel:" + hid }

func (k keyspace) clientAssertion(clientID, hid string) string {
	return k.p + "ca:" + clientTag(clientID) + ":" + hid
}

// gcCode is the GC index kind of authorization codes.
const gcCode = "code"

// gcCodeMember names a code in the GC index: "c" + its client's encoded
// ID + ":" + its hash ID.
func gcCodeMember(clientID, hid string) string { return "c" + enc(clientID) + ":" + hid }

// clientMetaVersion starts a client's metadata blob.
const clientMetaVersion = 1

// codeMetaVersion starts a code's metadata blob: version 2 adds the
// code's SessionTTL and AccessTTL; a version 1 blob (written before them)
// reads with both zero.
const (
	codeMetaVersion1 = 1
	codeMetaVersion  = 2
)

// ---- validation ----

func badField(op, format string, args ...any) error {
	return fmt.Errorf("redisstore: %s: %w: %s", op, authkit.ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// checkClient enforces authkit.ValidateClient.
func checkClient(op string, c authkit.Client) error {
	if err := authkit.ValidateClient(c); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return nil
}

// checkCode enforces authkit.ValidateAuthorizationCode and, on top, the
// store's own bounds of the subject (MaxKeyLen) and the session ID
// (MaxIDLen).
func checkCode(op string, code authkit.AuthorizationCode) error {
	if err := authkit.ValidateAuthorizationCode(code); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if len(code.Subject) > MaxKeyLen {
		return badField(op, "subject is %d bytes, over the limit of %d", len(code.Subject), MaxKeyLen)
	}
	if len(code.SessionID) > MaxIDLen {
		return badField(op, "session ID is %d bytes, over the limit of %d", len(code.SessionID), MaxIDLen)
	}
	return nil
}

// ---- encoding ----

// encodeClientMeta packs the fields of a client no script reads.
func encodeClientMeta(c authkit.Client) string {
	b := make([]byte, 0, 64+len(c.Name)+len(c.JWKS))
	b = append(b, clientMetaVersion)
	b = appendStr(b, c.Name)
	b = appendStr(b, string(c.JWKS))
	b = appendStrList(b, c.GrantTypes)
	b = appendStrList(b, c.Scopes)
	b = appendStrList(b, c.RedirectURIs)
	b = appendStr(b, strconv.FormatInt(int64(c.AccessTTL), 10))
	b = appendStr(b, strconv.FormatInt(int64(c.RefreshTTL), 10))
	return string(b)
}

// clientFields are the fields of a client hash GetClient reads.
var clientFields = []string{"cn", "m", "ca", "sh", "sr"}

// decodeClient rebuilds a client from the values of clientFields.
func decodeClient(id string, f []any) (authkit.Client, error) {
	if len(f) != len(clientFields) {
		return authkit.Client{}, errCorrupt
	}
	c := authkit.Client{ID: id}
	m := str(f[1])
	if m == "" || m[0] != clientMetaVersion {
		return authkit.Client{}, errCorrupt
	}
	r := reader{b: []byte(m[1:])}
	c.Name = r.str()
	c.JWKS = r.bytes()
	c.GrantTypes = r.strList()
	c.Scopes = r.strList()
	c.RedirectURIs = r.strList()
	access, refresh := r.str(), r.str()
	if err := r.done(); err != nil {
		return authkit.Client{}, err
	}
	a, err1 := strconv.ParseInt(access, 10, 64)
	rf, err2 := strconv.ParseInt(refresh, 10, 64)
	if err1 != nil || err2 != nil {
		return authkit.Client{}, errCorrupt
	}
	c.AccessTTL, c.RefreshTTL = time.Duration(a), time.Duration(rf)
	switch h := str(f[3]); len(h) {
	case 0:
	case len(c.SecretHash):
		copy(c.SecretHash[:], h)
	default:
		return authkit.Client{}, errCorrupt
	}
	var err error
	if c.CreatedAt, err = parseTime(str(f[2])); err != nil {
		return authkit.Client{}, err
	}
	if c.SecretRotatedAt, err = parseTime(str(f[4])); err != nil {
		return authkit.Client{}, err
	}
	return c, nil
}

func secretArg(h authkit.TokenHash) string {
	if h == (authkit.TokenHash{}) {
		return ""
	}
	return string(h[:])
}

func encodeCodeMeta(code authkit.AuthorizationCode) string {
	b := make([]byte, 0, 64+len(code.Challenge)+len(code.Claims))
	b = append(b, codeMetaVersion)
	b = appendStrList(b, code.Scopes)
	b = appendStr(b, code.Challenge)
	b = appendStr(b, string(code.Claims))
	b = appendStr(b, strconv.FormatInt(int64(code.SessionTTL), 10))
	b = appendStr(b, strconv.FormatInt(int64(code.AccessTTL), 10))
	return string(b)
}

// codeFields are the fields of a code hash the redeeming scripts return,
// in order. A code's UserAgent and IP are fields of their own ("ua",
// "ip"), outside the versioned metadata blob, so that a replica of an
// earlier version redeems, during a rolling upgrade, a code a later one
// stored (it reads the fields it knows); a code stored without them
// reads them as empty.
var codeFields = []string{"ru", "sub", "m", "ca", "ex", "us", "sid", "ua", "ip"}

// decodeCode rebuilds a code from the values of codeFields.
func decodeCode(h authkit.TokenHash, clientID string, f []any) (authkit.AuthorizationCode, error) {
	if len(f) != len(codeFields) {
		return authkit.AuthorizationCode{}, errCorrupt
	}
	c := authkit.AuthorizationCode{Hash: h, ClientID: clientID, RedirectURI: str(f[0]), Subject: str(f[1]), SessionID: str(f[6]),
		UserAgent: str(f[7]), IP: str(f[8])}
	m := str(f[2])
	if m == "" || (m[0] != codeMetaVersion && m[0] != codeMetaVersion1) {
		return authkit.AuthorizationCode{}, errCorrupt
	}
	r := reader{b: []byte(m[1:])}
	c.Scopes = r.strList()
	c.Challenge = r.str()
	c.Claims = r.bytes()
	var sessionTTL, accessTTL string
	if m[0] == codeMetaVersion {
		sessionTTL, accessTTL = r.str(), r.str()
	}
	if err := r.done(); err != nil {
		return authkit.AuthorizationCode{}, err
	}
	if m[0] == codeMetaVersion {
		st, err1 := strconv.ParseInt(sessionTTL, 10, 64)
		at, err2 := strconv.ParseInt(accessTTL, 10, 64)
		if err1 != nil || err2 != nil || st < 0 || at < 0 {
			return authkit.AuthorizationCode{}, errCorrupt
		}
		c.SessionTTL, c.AccessTTL = time.Duration(st), time.Duration(at)
	}
	var err error
	for _, t := range []struct {
		dst *time.Time
		src string
	}{{&c.CreatedAt, str(f[3])}, {&c.ExpiresAt, str(f[4])}, {&c.UsedAt, str(f[5])}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return authkit.AuthorizationCode{}, err
		}
	}
	return c, nil
}

// ---- scripts ----

// createClientScript stores a client. KEYS[1] the client. ARGV: nonce
// (the client's incarnation), metadata, ca, sh, sr. Returns 1 (stored, or
// already stored by this call) or 0 (the ID is taken). A client hash
// without cn is a deletion's tombstone, which a create replaces.
var createClientScript = redis.NewScript(`
local cn = redis.call('HGET', KEYS[1], 'cn')
if cn ~= false then
  if cn == ARGV[1] then return 1 end
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'cn', ARGV[1], 'm', ARGV[2], 'ca', ARGV[3], 'sh', ARGV[4], 'sr', ARGV[5])
return 1
`)

// setClientSecretScript replaces a client's secret hash and rotation
// time. KEYS[1] the client; ARGV: sh, sr. Returns 1, or 0 if there is no
// such client.
var setClientSecretScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'cn') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'sh', ARGV[1], 'sr', ARGV[2])
return 1
`)

// deleteClientScript deletes a client. KEYS[1] the client; ARGV[1] the
// call's nonce. It leaves a tombstone in its place, {dn: nonce} for a
// minute, so that the call's own resend after a lost reply reports the
// deletion it made rather than a missing client. Returns 1, or 0 if there
// is no such client.
var deleteClientScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'cn') == 0 then
  if redis.call('HGET', KEYS[1], 'dn') == ARGV[1] then return 1 end
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'dn', ARGV[1])
redis.call('PEXPIRE', KEYS[1], 60000)
return 1
`)

// restoreClientIndexScript puts a client's ID back into the registry
// index (KEYS[1]) — used after an ID was removed, if the client turned out
// to exist. ARGV: the ID, its score.
var restoreClientIndexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
`)

// createCodeScript stores a code in its client's slot. KEYS: the client,
// the code. ARGV: nonce, ru, sub, metadata, ca, ex, pxat, ua, ip. Returns "ok"
// (stored, or already stored by this call), "nf" (no such client) or "cf"
// (a code with this hash is stored).
var createCodeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('HGET', KEYS[2], 'cn') == ARGV[1] then return 'ok' end
  return 'cf'
end
local inc = redis.call('HGET', KEYS[1], 'cn')
if inc == false then return 'nf' end
redis.call('HSET', KEYS[2], 'cn', ARGV[1], 'ci', inc, 'ru', ARGV[2], 'sub', ARGV[3], 'm', ARGV[4], 'ca', ARGV[5], 'ex', ARGV[6], 'ua', ARGV[8], 'ip', ARGV[9])
redis.call('PEXPIREAT', KEYS[2], ARGV[7])
return 'ok'
`)

// redeemCore redeems the code ck of the client whose key is clk at nowv,
// with the call's nonce: {"nf"}, or {"ok"|"ru", codeFields…}. A code whose
// client is gone, or was deleted and created again (another incarnation),
// is not found; a redeemed code is reused (the redeeming call's own
// resend, which its nonce recognises, is "ok"); an expired one is not
// found.
const redeemCore = `
local function redeem(clk, ck, nowv, nonce)
  local c = redis.call('HMGET', ck, 'ci', 'ex', 'us', 'rn')
  if c[1] == false then return {'nf'} end
  if redis.call('HGET', clk, 'cn') ~= c[1] then return {'nf'} end
  local status = 'ok'
  if set(c[3]) then
    if c[4] ~= nonce then status = 'ru' end
  else
    if us(nowv) >= us(c[2]) then return {'nf'} end
    redis.call('HSET', ck, 'us', nowv, 'rn', nonce)
  end
  local f = redis.call('HMGET', ck, 'ru', 'sub', 'm', 'ca', 'ex', 'us', 'sid', 'ua', 'ip')
  local out = {status}
  for i = 1, 9 do out[i + 1] = f[i] or '' end
  return out
end
`

// redeemCodeScript is RedeemAuthorizationCode's last step where it takes
// two (a cluster, a ring): the client's slot. KEYS: the client, the code.
// ARGV: now, nonce.
var redeemCodeScript = redis.NewScript(luaHelpers + redeemCore + `
return redeem(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
`)

// redeemCodeOneScript is RedeemAuthorizationCode in one call, sent only
// to a single primary (a *redis.Client), which holds every slot: it reads
// the code's locator (KEYS[1]) and builds the client's and the code's
// keys from it. ARGV: prefix, hash ID, now, nonce. It declares only the
// locator; a single server runs it whatever keys it touches. Its reply is
// redeem's with the locator's owner (the encoded client ID) second.
var redeemCodeOneScript = redis.NewScript(luaHelpers + redeemCore + `
local v = redis.call('GET', KEYS[1])
if v == false or string.len(v) <= ` + nonceLenLua + ` then return {'nf'} end
local owner = string.sub(v, ` + nonceLenLua + ` + 1)
local tag = '{c' .. owner .. '}'
local r = redeem(ARGV[1] .. 'cl:' .. tag, ARGV[1] .. 'code:' .. tag .. ':' .. ARGV[2], ARGV[3], ARGV[4])
if r[1] ~= 'nf' then table.insert(r, 2, owner) end
return r
`)

// setCodeSessionScript records the session of a redeemed code. KEYS: the
// client, the code; ARGV[1] the session ID. Returns 1, or 0 if there is no
// such code (or its client is gone, as for redeem).
var setCodeSessionScript = redis.NewScript(`
local ci = redis.call('HGET', KEYS[2], 'ci')
if ci == false or redis.call('HGET', KEYS[1], 'cn') ~= ci then return 0 end
redis.call('HSET', KEYS[2], 'sid', ARGV[1])
return 1
`)

// gcCodeScript deletes the code KEYS[1] if it expired at ARGV[1]:
// {"del"}, {"later", ex} or {"gone"}.
var gcCodeScript = redis.NewScript(luaHelpers + `
local ex = redis.call('HGET', KEYS[1], 'ex')
if ex == false then return {'gone'} end
if us(ARGV[1]) >= us(ex) then
  redis.call('DEL', KEYS[1])
  return {'del'}
end
return {'later', ex}
`)

// useAssertionScript records a used client assertion. KEYS: the client,
// the assertion record (one slot: the client's tag). ARGV: nonce,
// now, expiresAt (µs), pxat. Returns "ok" (recorded, or recorded already
// by this call: a resend), "ru" (a record live at now) or "nf" (no such
// client). A record whose expiresAt is at or before now is absent, and is
// replaced.
var useAssertionScript = redis.NewScript(luaHelpers + `
if redis.call('HEXISTS', KEYS[1], 'cn') == 0 then return 'nf' end
local v = redis.call('GET', KEYS[2])
if v ~= false then
  if string.sub(v, 1, ` + nonceLenLua + `) == ARGV[1] then return 'ok' end
  if us(ARGV[2]) < us(string.sub(v, ` + nonceLenLua + ` + 1)) then return 'ru' end
end
redis.call('SET', KEYS[2], ARGV[1] .. ARGV[3], 'PXAT', ARGV[4])
return 'ok'
`)

// ---- clients ----

var errDuplicateClient = fmt.Errorf("%w: client ID already stored", authkit.ErrConflict)

// CreateClient implements authkit.ClientStore in three round trips: it
// adds the ID to the registry index, stores the client with one script
// on the client's slot (which refuses a taken ID), and adds the ID to the
// index again (see the key layout: a concurrent DeleteClient of the same
// ID may have removed it in between).
func (s *Store) CreateClient(ctx context.Context, c authkit.Client) error {
	const op = "CreateClient"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkClient(op, c); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	idx := s.k.clientIndex()
	z := redis.Z{Score: score(c.CreatedAt), Member: c.ID}
	// Before the client exists, so that no client escapes ListClients
	// even if this call ends here; an ID without a client is skipped by
	// ListClients and dropped.
	if err := s.rdb.ZAddNX(ctx, idx, z).Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	res, err := s.run(ctx, createClientScript, []string{s.k.client(c.ID)},
		newNonce(), encodeClientMeta(c), fmtTime(c.CreatedAt), secretArg(c.SecretHash), fmtTime(c.SecretRotatedAt))
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n, _ := res.(int64); n != 1 {
		// The ID's client exists, so its index entry stays.
		return outcome(op, errDuplicateClient)
	}
	if err := s.rdb.ZAdd(ctx, idx, z).Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// GetClient implements authkit.ClientStore: one HMGET.
func (s *Store) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	const op = "GetClient"
	if err := ctx.Err(); err != nil {
		return authkit.Client{}, deadCtx(op, err)
	}
	if !authkit.ValidClientID(id) {
		return authkit.Client{}, outcome(op, authkit.ErrNotFound) // never stored
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	f, err := s.rdb.HMGet(ctx, s.k.client(id), clientFields...).Result()
	if err != nil {
		return authkit.Client{}, s.fail(ctx, op, err)
	}
	if len(f) == 0 || f[0] == nil {
		return authkit.Client{}, outcome(op, authkit.ErrNotFound)
	}
	c, err := decodeClient(id, f)
	if err != nil {
		return authkit.Client{}, corrupt(op, err)
	}
	return c, nil
}

// ListClients implements authkit.ClientStore: it reads the registry index
// (one key) and then every client it names, in one pipeline (one round
// trip per node on a cluster): two round trips, O(clients). IDs whose
// client is gone are dropped from the index, and put back if the client
// turns out to exist after all (a concurrent create).
func (s *Store) ListClients(ctx context.Context) ([]authkit.Client, error) {
	const op = "ListClients"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	idx := s.k.clientIndex()
	ids, err := s.rdb.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	err = s.exec(ctx, func(b *batch) {
		for i, id := range ids {
			if authkit.ValidClientID(id) {
				cmds[i] = b.pipe.HMGet(ctx, s.k.client(id), clientFields...)
			}
		}
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	var (
		out  []authkit.Client
		gone []string
	)
	for i, c := range cmds {
		if c == nil {
			gone = append(gone, ids[i])
			continue
		}
		f := c.Val()
		if len(f) == 0 || f[0] == nil {
			gone = append(gone, ids[i])
			continue
		}
		cl, err := decodeClient(ids[i], f)
		if err != nil {
			return nil, corrupt(op, err)
		}
		out = append(out, cl)
	}
	if len(gone) > 0 {
		s.unindexClients(ctx, gone)
	}
	slices.SortFunc(out, func(a, b authkit.Client) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// unindexClients removes ids from the registry index, then puts back any
// whose client exists (created since it was found missing). Errors are
// ignored: a stale index entry is skipped by ListClients, and one left out
// is put back by its create's last step.
func (s *Store) unindexClients(ctx context.Context, ids []string) {
	idx := s.k.clientIndex()
	if err := s.rdb.ZRem(ctx, idx, toAny(ids)...).Err(); err != nil {
		return
	}
	created := make([]*redis.StringCmd, len(ids))
	_ = s.exec(ctx, func(b *batch) {
		for i, id := range ids {
			if authkit.ValidClientID(id) {
				created[i] = b.pipe.HGet(ctx, s.k.client(id), "ca")
			}
		}
	})
	_ = s.exec(ctx, func(b *batch) {
		for i, c := range created {
			if c == nil || c.Err() != nil {
				continue
			}
			sc := score(time.Time{})
			if t, err := parseTime(c.Val()); err == nil && !t.IsZero() {
				sc = score(t)
			}
			b.script(restoreClientIndexScript, []string{idx}, ids[i], sc)
		}
	})
}

// SetClientSecret implements authkit.ClientStore: one script on the
// client's slot.
func (s *Store) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	const op = "SetClientSecret"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if !authkit.ValidClientID(id) {
		return outcome(op, authkit.ErrNotFound)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, setClientSecretScript, []string{s.k.client(id)}, secretArg(h), fmtTime(at))
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n, _ := res.(int64); n != 1 {
		return outcome(op, authkit.ErrNotFound)
	}
	// The old secret ends here: under WithReplicaAcks, as a revocation.
	return s.confirm(ctx, op, secretCheck(s.k.client(id), secretArg(h)))
}

// DeleteClient implements authkit.ClientStore: one script deletes the
// client hash, which ends its codes (they redeem only while the client
// incarnation that made them exists; cleanup or their native TTL removes
// them), then the registry index entry is removed (two more round trips:
// see unindexClients).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	const op = "DeleteClient"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if !authkit.ValidClientID(id) {
		return outcome(op, authkit.ErrNotFound)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, deleteClientScript, []string{s.k.client(id)}, newNonce())
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n, _ := res.(int64); n != 1 {
		// Under WithReplicaAcks, a retry of a delete that failed waiting
		// for the replicas waits again before it says the client is gone
		// (found by review: it answered ErrNotFound at once, and a
		// failover could bring the client and its secret back).
		if err := s.confirm(ctx, op, goneCheck(s.k.client(id))); err != nil {
			return err
		}
		return outcome(op, authkit.ErrNotFound)
	}
	s.unindexClients(ctx, []string{id})
	// The client's credentials end here: under WithReplicaAcks, as a
	// revocation.
	return s.confirm(ctx, op, goneCheck(s.k.client(id)))
}

// ---- authorization codes ----

var errDuplicateCode = fmt.Errorf("%w: authorization code hash already stored", authkit.ErrConflict)

// CreateAuthorizationCode implements authkit.ClientStore in two round
// trips: it claims the code's locator (and indexes the code for cleanup),
// then one script on the client's slot checks that the client exists and
// stores the code. A refused code releases the claim in a third.
func (s *Store) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	const op = "CreateAuthorizationCode"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkCode(op, code); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	nonce := newNonce()
	hid := hashID(code.Hash)
	loc, locVal := s.k.codeLocator(hid), nonce+enc(code.ClientID)
	px := pxat(code.ExpiresAt, s.cfg.margin)
	member := gcCodeMember(code.ClientID, hid)
	gcKey := s.k.gcKey(gcCode, member)
	var (
		claim *scriptCall
		inGC  *redis.IntCmd
	)
	err := s.exec(ctx, func(b *batch) {
		claim = b.script(claimScript, []string{loc}, locVal, px)
		inGC = b.pipe.ZAddNX(ctx, gcKey, redis.Z{Score: score(code.ExpiresAt), Member: member})
	})
	if err != nil {
		return s.fail(ctx, op, err)
	}
	undo := func(claimed bool) {
		_ = s.exec(ctx, func(b *batch) {
			if claimed {
				b.script(releaseScript, []string{loc}, locVal)
			}
			if inGC.Val() == 1 {
				b.pipe.ZRem(ctx, gcKey, member)
			}
		})
	}
	if n, _ := claim.cmd.Int64(); n != 1 {
		undo(false)
		return outcome(op, errDuplicateCode)
	}
	// The code is stored unused whatever its UsedAt and SessionID say.
	res, err := s.run(ctx, createCodeScript, []string{s.k.client(code.ClientID), s.k.code(code.ClientID, hid)},
		nonce, code.RedirectURI, code.Subject, encodeCodeMeta(code), fmtTime(code.CreatedAt), fmtTime(code.ExpiresAt), px, code.UserAgent, code.IP)
	if err != nil {
		// The outcome is unknown: the claim stays (a locator without a
		// code reads as not found, and expires with the code's TTL).
		return s.fail(ctx, op, err)
	}
	switch res {
	case "ok":
		return nil
	case "nf":
		undo(true)
		return outcome(op, authkit.ErrNotFound)
	case "cf":
		undo(true)
		return outcome(op, errDuplicateCode)
	}
	return corrupt(op, errCorrupt)
}

// codeLocate returns the client ID of the code whose hash ID is hid, or
// ErrNotFound. A locator holds a nonce and the encoded client ID, the
// content of the client's hash tag.
func (s *Store) codeLocate(ctx context.Context, op, hid string) (string, error) {
	v, err := s.rdb.Get(ctx, s.k.codeLocator(hid)).Result()
	if errors.Is(err, redis.Nil) {
		return "", outcome(op, authkit.ErrNotFound)
	}
	if err != nil {
		return "", s.fail(ctx, op, err)
	}
	if len(v) <= nonceLen {
		return "", corrupt(op, errCorrupt)
	}
	id, err := dec(v[nonceLen:])
	if err != nil {
		return "", corrupt(op, err)
	}
	return id, nil
}

// RedeemAuthorizationCode implements authkit.ClientStore. The checks and
// the write are one script on the client's slot, atomic on the server: of
// any number of concurrent redemptions, through any handles, the script
// of exactly one finds the code unused. On a single primary that script
// also reads the code's locator (one round trip); on a cluster or a ring
// the locator comes first (two).
func (s *Store) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	const op = "RedeemAuthorizationCode"
	if err := ctx.Err(); err != nil {
		return authkit.AuthorizationCode{}, deadCtx(op, err)
	}
	if now.IsZero() {
		// It would be stored as "not used": refuse it rather than let the
		// code redeem twice.
		return authkit.AuthorizationCode{}, badField(op, "now is the zero time")
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	hid := hashID(h)
	var (
		clientID string
		res      any
		err      error
	)
	if s.oneCall {
		res, err = s.run(ctx, redeemCodeOneScript, []string{s.k.codeLocator(hid)}, s.argPrefix, hid, fmtTime(now), newNonce())
		if err != nil {
			return authkit.AuthorizationCode{}, s.fail(ctx, op, err)
		}
	} else {
		clientID, err = s.codeLocate(ctx, op, hid)
		if err != nil {
			return authkit.AuthorizationCode{}, err
		}
		res, err = s.run(ctx, redeemCodeScript, []string{s.k.client(clientID), s.k.code(clientID, hid)}, fmtTime(now), newNonce())
		if err != nil {
			return authkit.AuthorizationCode{}, s.fail(ctx, op, err)
		}
	}
	l, err := replyList(res)
	if err != nil {
		return authkit.AuthorizationCode{}, corrupt(op, err)
	}
	status := str(l[0])
	if status == "nf" {
		return authkit.AuthorizationCode{}, outcome(op, authkit.ErrNotFound)
	}
	if s.oneCall && len(l) > 1 {
		id, derr := dec(str(l[1]))
		if derr != nil {
			return authkit.AuthorizationCode{}, corrupt(op, derr)
		}
		clientID, l = id, l[1:]
	}
	if (status != "ok" && status != "ru") || len(l) != 1+len(codeFields) {
		return authkit.AuthorizationCode{}, corrupt(op, errCorrupt)
	}
	code, err := decodeCode(h, clientID, l[1:])
	if err != nil {
		return authkit.AuthorizationCode{}, corrupt(op, err)
	}
	if status == "ru" {
		return code, outcome(op, authkit.ErrTokenReused)
	}
	return code, nil
}

// SetAuthorizationCodeSession implements authkit.ClientStore: the code's
// locator, then one script on the client's slot (two round trips).
func (s *Store) SetAuthorizationCodeSession(ctx context.Context, h authkit.TokenHash, sessionID string) error {
	const op = "SetAuthorizationCodeSession"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if len(sessionID) > MaxIDLen {
		return badField(op, "session ID is %d bytes, over the limit of %d", len(sessionID), MaxIDLen)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	hid := hashID(h)
	clientID, err := s.codeLocate(ctx, op, hid)
	if err != nil {
		return err
	}
	res, err := s.run(ctx, setCodeSessionScript, []string{s.k.client(clientID), s.k.code(clientID, hid)}, sessionID)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n, _ := res.(int64); n != 1 {
		return outcome(op, authkit.ErrNotFound)
	}
	return nil
}

// DeleteExpiredAuthorizationCodes implements authkit.ClientStore from the
// code GC index, which holds every code by its ExpiresAt. Native TTLs
// remove codes the expiry margin after their expiry in any case.
func (s *Store) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredAuthorizationCodes"
	at := fmtTime(now)
	n, err := s.collect(ctx, op, gcCode, now, limit, func(cands []candidate, _ int, b *batch) gcFinish {
		type job struct {
			c             candidate
			call          *scriptCall
			clientID, hid string
		}
		jobs := make([]job, len(cands))
		for i, c := range cands {
			jobs[i].c = c
			if len(c.member) < 2 || c.member[0] != 'c' {
				continue
			}
			encID, hid, ok := cutLast(c.member[1:])
			clientID, err := dec(encID)
			if !ok || err != nil || len(hid) != hashIDLen {
				continue
			}
			jobs[i].clientID, jobs[i].hid = clientID, hid
			jobs[i].call = b.script(gcCodeScript, []string{s.k.code(clientID, hid)}, at)
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
					n++
					fu = append(fu, s.gcDrop(ctx, j.c), s.releaseCodeLocator(j.clientID, j.hid))
				case "later":
					if len(l) != 2 {
						return n, fu, errCorrupt
					}
					t, ok := parseScore(str(l[1]))
					if !ok {
						return n, fu, errCorrupt
					}
					fu = append(fu, s.gcRescore(ctx, j.c, t))
				case "gone":
					fu = append(fu, s.gcDrop(ctx, j.c), s.releaseCodeLocator(j.clientID, j.hid))
				default:
					return n, fu, errCorrupt
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

// releaseCodeLocator deletes the locator of client clientID's code hid,
// whichever call wrote it (and not a locator another client's code holds).
func (s *Store) releaseCodeLocator(clientID, hid string) func(*batch) {
	loc, owner := s.k.codeLocator(hid), enc(clientID)
	return func(b *batch) { b.script(releaseOwnedScript, []string{loc}, owner) }
}

// cutLast splits s around its last ':'.
func cutLast(s string) (before, after string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// ---- client assertions ----

// UseClientAssertion implements authkit.ClientAssertionStore: one script
// on the client's slot (standalone, Cluster or ring alike) checks that the
// client exists and, unless a record live at now is there, records the
// assertion with a native expiry at expiresAt plus the expiry margin, as
// one atomic step; a resend of the same call after a lost reply is
// recognised by its nonce and answers nil again. Records are not indexed:
// their TTL removes them, so DeleteExpiredAuthorizationCodes has nothing
// to do for them. A record outlives DeleteClient until its expiry (a
// client registered again under the same ID cannot replay the old
// client's assertions). A client ID that is not valid
// (authkit.ValidClientID) names no client: ErrNotFound. An expiresAt at or
// before now is refused with an error matching authkit.ErrInvalidRequest
// and records nothing: the assertion has expired, and a store that
// answered nil would let it pass.
func (s *Store) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	const op = "UseClientAssertion"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if !authkit.ValidClientID(clientID) {
		return outcome(op, authkit.ErrNotFound) // never stored
	}
	if micros(expiresAt) <= micros(now) {
		return badField(op, "the assertion expires at %s, not after now (%s)",
			expiresAt.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	res, err := s.run(ctx, useAssertionScript, []string{s.k.client(clientID), s.k.clientAssertion(clientID, hashID(h))},
		newNonce(), fmtTime(now), fmtTime(expiresAt), pxat(expiresAt, s.cfg.margin))
	if err != nil {
		return s.fail(ctx, op, err)
	}
	switch res {
	case "ok":
		return nil
	case "ru":
		return outcome(op, fmt.Errorf("%w: client assertion already used", authkit.ErrTokenReused))
	case "nf":
		return outcome(op, authkit.ErrNotFound)
	}
	return corrupt(op, errCorrupt)
}
