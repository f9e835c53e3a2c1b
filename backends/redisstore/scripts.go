package redisstore

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. Each touches keys of one hash slot only (the keys it is
// given, and keys it builds from a key prefix it is given, which carries
// the same hash tag), so each is one atomic step on a standalone server
// and on a cluster alike — except rotateOneScript, redeemCodeOneScript and
// lookupTokenOneScript, which are sent only to a single primary (see their
// comments). Times arrive as decimal microseconds; "" is the
// zero time, which us() turns into -inf. Scripts never turn a large
// number back into a string with tostring (Lua would write 1.9e+15); the
// values they store are the strings they were given.
//
// Every writing script is idempotent for its own retries: go-redis resends
// a command whose reply was lost, and the call's nonce lets the script
// recognise the effect of its first run.

const luaHelpers = `
local function us(v)
  local n = tonumber(v)
  if n == nil then return -1/0 end
  return n
end
local function set(v) return v ~= false and v ~= '' end
local function pxat(t, margin)
  if t == -1/0 then return '1' end
  local v = math.floor(t / 1000) + margin + 1
  if v < 1 then v = 1 end
  return string.format('%d', v)
end
`

// sessionFields are the fields of a session hash, in the order the
// scripts and HMGET return them.
var sessionFields = []any{"sub", "m", "lu", "ex", "ie", "rv"}

// claimScript claims a locator: KEYS[1] the locator, ARGV[1] its value
// (nonce + owner), ARGV[2] its native expiry ("" for none). It returns 1
// if the locator is now ours (or already was: a retry), 0 if another call
// holds it.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false then
  if ARGV[2] == '' then
    redis.call('SET', KEYS[1], ARGV[1])
  else
    redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
  end
  return 1
end
if v == ARGV[1] then return 1 end
return 0
`)

// releaseScript deletes KEYS[1] if its value is exactly ARGV[1]: it undoes
// a claim of this call and never another's.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// releaseOwnedScript deletes the locator KEYS[1] if it points at ARGV[1]
// (its value past the nonce): cleanup removes the locator of a record it
// deleted, whichever call wrote it.
var releaseOwnedScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v ~= false and string.sub(v, ` + nonceLenLua + ` + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

const nonceLenLua = "16" // nonceLen

// createSessionScript stores a session and its first record.
// KEYS: session, record, records set.
// ARGV: nonce, subject, metadata, lu, ex, ie, rv, session pxat,
// record ia, record ex, record us, record sc, record pxat, record hash ID.
// Returns 1 (stored, or already stored by this call) or 0 (conflict).
var createSessionScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'cn') == ARGV[1] then return 1 end
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'cn', ARGV[1], 'sub', ARGV[2], 'm', ARGV[3], 'lu', ARGV[4], 'ex', ARGV[5], 'ie', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'rv', ARGV[7]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
redis.call('HSET', KEYS[2], 'sub', ARGV[2], 'ia', ARGV[9], 'ex', ARGV[10])
if ARGV[11] ~= '' then redis.call('HSET', KEYS[2], 'us', ARGV[11], 'sc', ARGV[12]) end
redis.call('PEXPIREAT', KEYS[2], ARGV[13])
redis.call('SADD', KEYS[3], ARGV[14])
redis.call('PEXPIREAT', KEYS[3], ARGV[8])
return 1
`)

// rotateCore is the body of RotateRefresh on one session's keys: the
// contract's checks in order, then the writes. rotate's arguments: the
// keys of the session (sk), the presented record (ok), its successor
// (nk) and the session's record set (rk); now, the successor's expiry,
// the sealed successor and the successor's hash ID; the successor's pxat
// and the margin (ms); the call's nonce; and claim, called last, once
// every check has passed, which takes the successor's locator (or reports
// that the rotation's first step took it) and returns false if another
// record holds it. It returns the reply — {"ok", session fields…},
// {"nf"}, {"rv"}, {"ex"}, {"cf"} or {"ru", subject, usedAt, successor} —,
// whether this run wrote (false for every refusal, and for the resent run
// of a rotation that already took effect, which the old record's "rn"
// recognises), and the session's idle expiry before the rotation.
//
// The session's field "px" is the native expiry its key was last given
// here (absent on sessions no rotation has touched since it was added),
// so that the PEXPIREAT is sent only when that moves: while the session's
// absolute expiry is the later one, which is most of its life, it does
// not. The record set's is always sent: the set may have been emptied
// (and so deleted) by cleanup and made again by SADD.
const rotateCore = `
local function rotate(sk, ok, nk, rk, nowv, nextEx, succ, nextID, nextPx, margin, nonce, claim)
  local rec = redis.call('HMGET', ok, 'sub', 'ex', 'us', 'sc', 'rn')
  if rec[1] == false then return {'nf'}, false end
  local s = redis.call('HMGET', sk, 'sub', 'rv', 'ex', 'ie', 'm', 'px')
  if s[1] == false then return {'nf'}, false end
  if set(s[2]) then return {'rv'}, false end
  if set(rec[3]) then
    if rec[5] == nonce then
      return {'ok', unpack(redis.call('HMGET', sk, 'sub', 'm', 'lu', 'ex', 'ie', 'rv'))}, false
    end
    return {'ru', rec[1], rec[3], rec[4] or ''}, false
  end
  local now = us(nowv)
  if now >= us(rec[2]) or now >= us(s[3]) or now >= us(s[4]) then return {'ex'}, false end
  if redis.call('EXISTS', nk) == 1 or not claim() then return {'cf'}, false end
  redis.call('HSET', ok, 'us', nowv, 'sc', succ, 'rn', nonce)
  redis.call('HSET', nk, 'sub', rec[1], 'ia', nowv, 'ex', nextEx)
  redis.call('PEXPIREAT', nk, nextPx)
  redis.call('SADD', rk, nextID)
  local px = pxat(math.max(us(s[3]), us(nextEx)), tonumber(margin))
  redis.call('HSET', sk, 'lu', nowv, 'ie', nextEx, 'px', px)
  if s[6] ~= px then redis.call('PEXPIREAT', sk, px) end
  redis.call('PEXPIREAT', rk, px)
  -- The session's fields as HMGET would return them now (rv is unset).
  return {'ok', s[1], s[5], nowv, s[3], nextEx, s[2]}, true, s[4]
end
`

// rotateScript is RotateRefresh's last step where a rotation takes
// several (a cluster, a ring): the session's slot only, after the
// successor's locator was claimed (or found taken: the conflict flag). KEYS: session, old record, next
// record, records set. ARGV: now, next expiry, successor, next hash ID,
// conflict flag ("1": the successor's locator belongs to another record),
// next pxat, margin (ms), nonce. Returns rotate's reply.
var rotateScript = redis.NewScript(luaHelpers + rotateCore + `
return (rotate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6], ARGV[7], ARGV[8],
  function() return ARGV[5] ~= '1' end))
`)

// encHelper is enc inside a script, for the scripts sent only to a single
// primary, which build key names from what a locator holds.
// encNibbles(s, hs, hr) returns the raw-URL base64 of s and the states hs
// and hr taken through each of its characters by two GC shard nibble
// computations at once (see sessionNames): a caller that wants the
// encoding alone passes 0, 0 and ignores them. Both states are packed in
// one number, so that each character costs one bit.bxor. The bytes are
// read, and the characters made, in blocks, since string.byte and unpack
// put them on Lua's stack, which several thousand would overflow (a
// locator's value is not bounded as the identities it should hold are).
const encHelper = `
local function encNibbles(s, hs, hr)
  local out, n, div = {}, 0, {262144, 4096, 64, 1}
  for base = 1, #s, 3072 do
    local bytes = {string.byte(s, base, base + 3071)}
    for i = 1, #bytes, 3 do
      local b, c = bytes[i + 1], bytes[i + 2]
      local v = bytes[i] * 65536 + (b or 0) * 256 + (c or 0)
      local k = 2
      if c then k = 4 elseif b then k = 3 end
      for j = 1, k do
        local q = div[j]
        local d = ((v - v % q) / q) % 64
        local ch
        if d < 26 then ch = d + 65 elseif d < 52 then ch = d + 71 elseif d < 62 then ch = d - 4 elseif d == 62 then ch = 45 else ch = 95 end
        n = n + 1
        out[n] = ch
        local x = bit.bxor(hs * 16 + hr, (ch % 16) * 17)
        hr = x % 16
        hs = ((x - hr) / 16 * 3) % 16
        hr = (hr * 3) % 16
      end
    end
  end
  if n <= 4096 then return string.char(unpack(out)), hs, hr end
  local parts = {}
  for i = 1, n, 4096 do parts[#parts + 1] = string.char(unpack(out, i, math.min(n, i + 4095))) end
  return table.concat(parts), hs, hr
end
`

// oneCallHelpers compute, inside a script, the names the Go side builds
// with enc and keyspace.gcKey. sessionNames(sid, perm) returns enc(sid)
// and the GC index shards of the session's two members, "s" + enc(sid)
// and "r" + enc(sid) + ":" + the successor's hash ID. A shard is FNV-1a
// 32 of "sess" + member, mod 16; its low four bits depend only on the low
// four bits of the state and of each byte (the prime is 3 mod 16), so the
// script tracks four bits per member, exactly (a 32-bit product would not
// be exact in Lua's doubles). The states after "sesss" and "sessr" come
// from Go (gcStateSess, gcStateRec); perm, from Go too (gcSuffixPerm), is
// where ":" + the hash ID takes each state: 16 bytes, 'a' + the state.
// Both members are followed in one pass over the encoding as it is made
// (encNibbles).
var oneCallHelpers = encHelper + `
local function sessionNames(sid, perm)
  local esid, hs, hr = encNibbles(sid, ` + strconv.Itoa(gcStateSess) + `, ` + strconv.Itoa(gcStateRec) + `)
  return esid, hs, string.byte(perm, hr + 1) - 97
end
`

// rotateOneScript is all of RotateRefresh in one call, for a client of a
// single primary (standalone or Sentinel) only. KEYS: the old token's
// locator, the successor's locator (prefix + "rtl:" + hash ID). ARGV: key
// prefix, now, next expiry (also the successor's GC index score), sealed
// successor, next pxat, margin (ms), nonce, gcSuffixPerm of the next hash
// ID.
//
// It reads the old token's locator, builds the session's key names from
// the session ID the locator holds (the hash tags the Go side would
// build), and runs rotate, which claims the successor's locator (SET NX)
// as its last check; when it wrote, it indexes the successor for cleanup:
// one atomic step. Those derived keys are in other hash slots than KEYS,
// which is legal, and atomic, only on a server that holds every slot: the
// Store never sends this script to a *redis.ClusterClient or *redis.Ring
// (Store.oneCall). Returns {"nf"} when there is no locator, {"bad"} for a
// locator that does not decode, else rotate's reply with the session ID
// inserted second.
//
// Its claim first reads (EXISTS) the two GC index shards it may write
// after the rotation. On a server that holds every slot that changes
// nothing; but a client wrongly aimed at one node of a Redis Cluster has
// the node stop the script at the first key of another node's slot, and
// the script's writes before that stay. The session's keys (one slot)
// are read before any write, and the shards before the claim, the first
// write: on such a node the script writes nothing or all it would.
var rotateOneScript = redis.NewScript(luaHelpers + rotateCore + oneCallHelpers + `
local loc = redis.call('GET', KEYS[1])
if loc == false then return {'nf'} end
if #loc <= ` + nonceLenLua + ` then return {'bad'} end
local sid = string.sub(loc, ` + nonceLenLua + ` + 1)
local esid, ss, rs = sessionNames(sid, ARGV[8])
local p = ARGV[1]
local oldID, nextID = string.sub(KEYS[1], #p + 5), string.sub(KEYS[2], #p + 5)
local tag = '{s' .. esid .. '}'
local rp = p .. 'rt:' .. tag .. ':'
local gcr, gcs = p .. 'gc:sess:{' .. rs .. '}', p .. 'gc:sess:{' .. ss .. '}'
local reply, wrote, ie = rotate(p .. 'sess:' .. tag, rp .. oldID, rp .. nextID, p .. 'rts:' .. tag,
  ARGV[2], ARGV[3], ARGV[4], nextID, ARGV[5], ARGV[6], ARGV[7],
  function()
    redis.call('EXISTS', gcr)
    redis.call('EXISTS', gcs)
    return redis.call('SET', KEYS[2], ARGV[7] .. sid, 'NX', 'PXAT', ARGV[5]) ~= false
  end)
if wrote then
  local score = ARGV[3]
  if score == '' then score = '-inf' end
  redis.call('ZADD', gcr, 'NX', score, 'r' .. esid .. ':' .. nextID)
  -- The session's entry scores no later than its garbage time, the
  -- earlier of its expiry and its idle expiry; a rotation that moves
  -- the idle expiry earlier moves the entry too (LT: never later, since
  -- cleanup re-scores entries that are early).
  if us(ARGV[3]) < us(ie) then
    redis.call('ZADD', gcs, 'LT', score, 's' .. esid)
  end
end
table.insert(reply, 2, sid)
return reply
`)

// revokeSessionScript marks a session revoked unless it already is.
// KEYS: session. ARGV: now, nonce, subject, "1" to require that subject.
// Returns {"rv"} (revoked by this call), {"al"} (already revoked), {"nf"},
// or {"ot"} (another subject's).
var revokeSessionScript = redis.NewScript(luaHelpers + `
local s = redis.call('HMGET', KEYS[1], 'sub', 'rv', 'rn')
if s[1] == false then return {'nf'} end
if ARGV[4] == '1' and s[1] ~= ARGV[3] then return {'ot'} end
if set(s[2]) then
  if s[3] == ARGV[2] then return {'rv'} end
  return {'al'}
end
redis.call('HSET', KEYS[1], 'rv', ARGV[1], 'rn', ARGV[2])
return {'rv'}
`)

// gcRecordScript deletes a refresh record if it has expired.
// KEYS: record, records set. ARGV: now, hash ID.
// Returns {"del"}, {"gone"} or {"later", ex}.
var gcRecordScript = redis.NewScript(luaHelpers + `
local ex = redis.call('HGET', KEYS[1], 'ex')
if ex == false then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {'gone'}
end
if us(ARGV[1]) >= us(ex) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return {'del'}
end
return {'later', ex}
`)

// gcSessionScript deletes up to a budget of a garbage session's records
// and then the session. KEYS: session, records set. ARGV: now, budget,
// record key prefix. Returns {"later", ex, ie} for a session that is not
// garbage, else {"done"|"more", deleted count, subject, hash IDs of the
// deleted records…}; "done" means the session is gone.
var gcSessionScript = redis.NewScript(luaHelpers + `
local s = redis.call('HMGET', KEYS[1], 'sub', 'rv', 'ex', 'ie')
local now = us(ARGV[1])
if s[1] ~= false and not set(s[2]) and now < us(s[3]) and now < us(s[4]) then
  return {'later', s[3] or '', s[4] or ''}
end
local budget = tonumber(ARGV[2])
local n = 0
local out = {}
local members = redis.call('SRANDMEMBER', KEYS[2], budget)
for _, m in ipairs(members) do
  local d = redis.call('DEL', ARGV[3] .. m)
  redis.call('SREM', KEYS[2], m)
  if d == 1 then
    n = n + 1
    out[#out + 1] = m
  end
end
if #members < budget and redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2])
  if s[1] ~= false then
    redis.call('DEL', KEYS[1])
    n = n + 1
  end
  return {'done', n, s[1] or '', unpack(out)}
end
return {'more', n, s[1] or '', unpack(out)}
`)

// feedHelpers are the Lua helpers of the revocation log: each bucket's
// stream, its meta hash (epoch e, last trimmed ID t) and its index of
// revocations share the bucket's hash tag with the bucket's entries.
const feedHelpers = `
local function ensureEpoch(meta, stream, cand)
  local e = redis.call('HGET', meta, 'e')
  if e then return e end
  -- A log without its epoch cannot be trusted to continue any position:
  -- start it over, under a new epoch.
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'e', cand, 't', '0-0')
  return cand
end
local function lastID(stream)
  local r = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #r == 0 then return '0-0' end
  return r[1][1]
end
-- lastEntry returns the last change's ID and its nonce ('' if none).
local function lastEntry(stream)
  local r = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #r == 0 then return '0-0', '' end
  local f = r[1][2]
  for i = 1, #f - 1, 2 do
    if f[i] == 'n' then return r[1][1], f[i + 1] end
  end
  return r[1][1], ''
end
-- logged reports whether one of the last entries of stream was logged by
-- the call whose nonce is given: go-redis resends a script whose reply was
-- lost, and the resent run must not log its change twice.
local function logged(stream, nonce)
  for _, e in ipairs(redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 8)) do
    local f = e[2]
    for i = 1, #f - 1, 2 do
      if f[i] == 'n' and f[i + 1] == nonce then return true end
    end
  end
  return false
end
-- feedAppend logs one change, keeps the stream at most maxlen long
-- (recording the last ID it trimmed), indexes the entry under its until,
-- and drops index members whose until is before prune (the caller's now
-- less the expiry margin: their entries' native TTL has passed).
local function feedAppend(meta, stream, index, cand, maxlen, prune, member, untilUs, fields)
  ensureEpoch(meta, stream, cand)
  redis.call('XADD', stream, '*', unpack(fields))
  local n = redis.call('XLEN', stream)
  if n > maxlen then
    local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', n - maxlen)
    redis.call('XTRIM', stream, 'MAXLEN', maxlen)
    redis.call('HSET', meta, 't', old[#old][1])
  end
  redis.call('ZADD', index, 'GT', untilUs, member)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. prune)
end
`

// revokeMaxScript records a revoked jti or sid, keeping the later until,
// and logs the change. KEYS: the entry, the bucket's meta, stream and
// index. ARGV: until, pxat, kind ("j" or "s"), subject, ID, index member,
// epoch candidate, log length, prune (µs: now less the expiry margin),
// nonce.
var revokeMaxScript = redis.NewScript(luaHelpers + feedHelpers + `
if logged(KEYS[3], ARGV[10]) then return 1 end
local v = redis.call('GET', KEYS[1])
if v == false or us(v) < us(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
feedAppend(KEYS[2], KEYS[3], KEYS[4], ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[6], ARGV[1],
  {'k', ARGV[3], 's', ARGV[4], 'i', ARGV[5], 't', ARGV[1], 'n', ARGV[10]})
return 1
`)

// setCutoffScript keeps the later cutoff and the later until, each on its
// own, and logs the change. KEYS: the cutoff entry, the bucket's meta,
// stream and index. ARGV: until, cutoff, pxat of until, subject, index
// member, epoch candidate, log length, prune (µs), nonce.
var setCutoffScript = redis.NewScript(luaHelpers + feedHelpers + `
if logged(KEYS[3], ARGV[9]) then return 1 end
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PXAT', ARGV[3])
else
  local u, c = string.match(v, '^(-?%d+):(-?%d+)$')
  if u == nil then return redis.error_reply('corrupt cutoff entry') end
  local nu, nc = u, c
  if us(ARGV[2]) > us(c) then nc = ARGV[2] end
  if us(ARGV[1]) > us(u) then
    nu = ARGV[1]
    redis.call('SET', KEYS[1], nu .. ':' .. nc, 'PXAT', ARGV[3])
  elseif nc ~= c then
    redis.call('SET', KEYS[1], nu .. ':' .. nc, 'KEEPTTL')
  end
end
feedAppend(KEYS[2], KEYS[3], KEYS[4], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[5], ARGV[1],
  {'k', 'c', 's', ARGV[4], 'c', ARGV[2], 't', ARGV[1], 'n', ARGV[9]})
return 1
`)

// feedHeadScript returns where a bucket's log stands: {epoch, last ID,
// last trimmed ID}, making the epoch if the log has none. KEYS: the
// bucket's meta and stream. ARGV: epoch candidate.
var feedHeadScript = redis.NewScript(feedHelpers + `
local e = ensureEpoch(KEYS[1], KEYS[2], ARGV[1])
return {e, lastID(KEYS[2]), redis.call('HGET', KEYS[1], 't') or '0-0'}
`)

// snapshotPageHelper reads one page of a bucket's revocation index for a
// snapshot: up to size entries whose until is after now, in the index's
// order (until, then member), from just after the member after (from the
// first entry in force when after is empty). When after has left its place
// since (a cleanup removed it, or a later revocation moved its until on),
// the page starts at the first entry of its old score instead, and may
// repeat entries, which the caller merges. It
// returns the entries as member, value pairs (an entry whose key is gone
// is left out), the last member and score it read, and whether more may
// follow.
const snapshotPageHelper = `
local function snapshotPage(index, base, now, after, afterScore, size)
  local floor = redis.call('ZCOUNT', index, '-inf', now)
  local start = floor
  if after ~= '' then
    local r = redis.call('ZRANK', index, after)
    if r and redis.call('ZSCORE', index, after) == afterScore then
      start = r + 1
    else
      start = redis.call('ZCOUNT', index, '-inf', '(' .. afterScore)
    end
    if start < floor then start = floor end
  end
  local items = redis.call('ZRANGE', index, start, start + size - 1, 'WITHSCORES')
  local out = {}
  local lastM, lastS = after, afterScore
  for i = 1, #items, 2 do
    lastM, lastS = items[i], items[i + 1]
    local v = redis.call('GET', base .. lastM)
    if v then
      out[#out + 1] = lastM
      out[#out + 1] = v
    end
  end
  local more = '0'
  if #items == 2 * size then more = '1' end
  return out, lastM, lastS, more
end
`

// feedSnapshotScript returns a bucket's head, as feedHeadScript, the
// start of its data-loss epoch (starting one if the marker is missing, as
// epochScript does: see epoch.go), the nonce of its last change (empty if
// none), then the first page of its index as snapshotPage reads it: the
// last member and score read, whether more may follow, and the entries as
// member, value pairs. KEYS: the bucket's meta, stream, index and epoch
// marker. ARGV: log epoch candidates (two), now, entry key base (prefix +
// revBase), the data-loss epoch start to write if the marker is missing
// (µs), the page size.
var feedSnapshotScript = redis.NewScript(feedHelpers + epochHelpers + snapshotPageHelper + `
local since = startEpoch(KEYS[4], KEYS[1], KEYS[2], ARGV[5], ARGV[2])
local e = ensureEpoch(KEYS[1], KEYS[2], ARGV[1])
local last, nonce = lastEntry(KEYS[2])
local page, lastM, lastS, more = snapshotPage(KEYS[3], ARGV[4], ARGV[3], '', '', tonumber(ARGV[6]))
local out = {e, last, redis.call('HGET', KEYS[1], 't') or '0-0', since, nonce, lastM, lastS, more}
for i = 1, #page do out[#out + 1] = page[i] end
return out
`)

// feedPageScript returns the next page of a bucket's index for a
// snapshot, as snapshotPage reads it: the last member and score read,
// whether more may follow, then the entries as member, value pairs. KEYS:
// the bucket's index. ARGV: now, entry key base, the last member and score
// of the page before, the page size.
var feedPageScript = redis.NewScript(snapshotPageHelper + `
local page, lastM, lastS, more = snapshotPage(KEYS[1], ARGV[2], ARGV[1], ARGV[3], ARGV[4], tonumber(ARGV[5]))
local out = {lastM, lastS, more}
for i = 1, #page do out[#out + 1] = page[i] end
return out
`)

// gcRevocationScript deletes a revocation entry whose until has passed.
// KEYS: the entry. ARGV: now. Returns {"del"}, {"gone"} or {"later", until}.
var gcRevocationScript = redis.NewScript(luaHelpers + `
local v = redis.call('GET', KEYS[1])
if v == false then return {'gone'} end
local u = string.match(v, '^(-?%d+)')
if us(ARGV[1]) >= us(u) then
  redis.call('DEL', KEYS[1])
  return {'del'}
end
return {'later', u}
`)

// tokenFields are the fields of an API token hash, in the order the
// scripts and HMGET return them.
var tokenFields = []any{"h", "sub", "nm", "sc", "ca", "ex", "lu", "rv"}

// createTokenScript stores an API token, counting the subject's live
// tokens against the limit in the same step. KEYS: token, subject index.
// ARGV: nonce, limit, now, token key prefix, ID (encoded), CreatedAt
// score, then h, sub, nm, sc, ca, ex, lu, rv, pxat ("" for none), the
// expiry margin (µs).
// Returns "ok", "cf" (conflict) or "lim".
var createTokenScript = redis.NewScript(luaHelpers + `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'cn') == ARGV[1] then return 'ok' end
  return 'cf'
end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local now = us(ARGV[3])
  local live = 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local t = redis.call('HMGET', ARGV[4] .. m, 'sub', 'rv', 'ex')
    if t[1] == false then
      redis.call('ZREM', KEYS[2], m)
    elseif set(t[2]) or (set(t[3]) and now >= us(t[3]) + us(ARGV[16])) then
      -- Revoked, or expired longer ago than the expiry margin: out of the
      -- index, so that no later count or listing reads it again (cleanup
      -- deletes the token). The margin keeps a caller whose clock runs
      -- ahead from hiding a token others still accept from a logout-all.
      redis.call('ZREM', KEYS[2], m)
    elseif not set(t[3]) or now < us(t[3]) then
      live = live + 1
      if live >= limit then return 'lim' end
    end
  end
end
redis.call('HSET', KEYS[1], 'cn', ARGV[1], 'h', ARGV[7], 'sub', ARGV[8], 'nm', ARGV[9], 'sc', ARGV[10], 'ca', ARGV[11], 'ex', ARGV[12], 'lu', ARGV[13], 'rv', ARGV[14])
if ARGV[15] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[15]) end
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
return 'ok'
`)

// revokeTokenScript revokes an API token unless it already is, and takes
// it out of its subject's index (a revoked token is never counted or
// listed again; cleanup deletes it through the GC index). KEYS: token,
// subject index. ARGV: now, encoded ID. Returns "rv" (revoked by this
// call), "al" (already revoked) or "nf".
var revokeTokenScript = redis.NewScript(luaHelpers + `
local t = redis.call('HMGET', KEYS[1], 'sub', 'rv')
if t[1] == false then return 'nf' end
redis.call('ZREM', KEYS[2], ARGV[2])
if set(t[2]) then return 'al' end
redis.call('HSET', KEYS[1], 'rv', ARGV[1])
return 'rv'
`)

// touchTokenScript moves LastUsedAt forward. KEYS: token. ARGV: at.
// Returns 0 if there is no such token, else 1.
var touchTokenScript = redis.NewScript(luaHelpers + `
local t = redis.call('HMGET', KEYS[1], 'sub', 'lu')
if t[1] == false then return 0 end
if us(ARGV[1]) > us(t[2]) then redis.call('HSET', KEYS[1], 'lu', ARGV[1]) end
return 1
`)

// listTokensScript returns every token of a subject that is not revoked:
// ID and fields, nine values per token. KEYS: subject index. ARGV: token
// key prefix. Index entries whose token is gone or revoked (one revoked
// before revocations left the index) are removed.
var listTokensScript = redis.NewScript(luaHelpers + `
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local t = redis.call('HMGET', ARGV[1] .. m, 'h', 'sub', 'nm', 'sc', 'ca', 'ex', 'lu', 'rv')
  if t[2] == false or set(t[8]) then
    redis.call('ZREM', KEYS[1], m)
  else
    out[#out + 1] = m
    for i = 1, 8 do out[#out + 1] = t[i] or '' end
  end
end
return out
`)

// lookupTokenOneScript is LookupAPIToken in one call, for a client of a
// single primary (a *redis.Client) only, like rotateOneScript: KEYS[1]
// is the hash locator, ARGV[1] the key prefix. It reads the locator,
// splits its value past the nonce as parseTokenOwner does (a uvarint
// length, the subject, the ID: binary.Uvarint's rules, overflow
// included), builds the token's key name as keyspace.token does, and
// reads the token's fields. The token's key is in another hash slot than
// the locator, which is legal only on a server holding every slot.
// Returns {"nf"} when there is no locator or no token (no "sub"), {"bad"}
// for a locator value that does not split, else {"ok", ID, the values of
// tokenFields ("" for an absent field)}; the Go side makes every other
// check.
var lookupTokenOneScript = redis.NewScript(encHelper + `
local loc = redis.call('GET', KEYS[1])
if loc == false then return {'nf'} end
local i, n, mul, j = ` + nonceLenLua + ` + 1, 0, 1, nil
for k = 0, 9 do
  local b = string.byte(loc, i + k)
  if b == nil then break end
  if b < 128 then
    if k < 9 or b <= 1 then
      n = n + b * mul
      j = i + k + 1
    end
    break
  end
  n = n + (b - 128) * mul
  mul = mul * 128
end
if j == nil or n > #loc - j + 1 then return {'bad'} end
local id = string.sub(loc, j + n)
local t = redis.call('HMGET', ARGV[1] .. 'tok:{u' .. encNibbles(string.sub(loc, j, j + n - 1), 0, 0) .. '}:' .. encNibbles(id, 0, 0),
  ` + luaStrings(tokenFields) + `)
if t[2] == false then return {'nf'} end
local out = {'ok', id}
for k = 1, #t do out[k + 2] = t[k] or '' end
return out
`)

// luaStrings writes names as a Lua argument list: 'a', 'b', … (names of
// fields, which need no escaping).
func luaStrings(names []any) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += "'" + n.(string) + "'"
	}
	return out
}

// gcTokenScript deletes an API token that is revoked or expired.
// KEYS: token, subject index. ARGV: now, ID (encoded).
// Returns {"del", hash, subject}, {"gone"}, {"never"} (not garbage and no
// expiry: drop it from the index) or {"later", ex}.
var gcTokenScript = redis.NewScript(luaHelpers + `
local t = redis.call('HMGET', KEYS[1], 'sub', 'rv', 'ex', 'h')
if t[1] == false then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {'gone'}
end
if set(t[2]) or (set(t[3]) and us(ARGV[1]) >= us(t[3])) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {'del', t[4], t[1]}
end
if set(t[3]) then return {'later', t[3]} end
return {'never'}
`)
