package redisstore

import (
	"hash/fnv"
	"strconv"

	"github.com/authkit-go/authkit"
)

// Key layout (P is the prefix, "authkit:" by default; <x> is the raw-URL
// base64 of x, whose alphabet has no ':', '{' or '}'). The text between
// braces is the Redis Cluster hash tag: keys with the same tag live in the
// same slot, so a Lua script or MGET over them is legal on a cluster.
//
//	P sess:{s<sid>}               HASH   a session
//	P rt:{s<sid>}:<hash>          HASH   a refresh record, in its session's slot
//	P rts:{s<sid>}                SET    <hash> of each record of the session
//	P rtl:<hash>                  STRING locator: nonce + sid
//	P subj:{u<subject>}           ZSET   <sid> of the subject's sessions, by CreatedAt
//	P rev:{r<b>}:<subject>:j:<jti> STRING until (µs); {r<b>} is bucketTag(b)
//	P rev:{r<b>}:<subject>:s:<sid> STRING until (µs)
//	P rev:{r<b>}:<subject>:c      STRING until:cutoff (µs)
//	P revi:{r<b>}                 ZSET   <subject>:j:<jti> … of the bucket's revocations, by until
//	P feed:{r<b>}                 STREAM the bucket's log of changes (RevocationFeed)
//	P feedm:{r<b>}                HASH   the log's epoch (e) and the last ID trimmed from it (t)
//	P epoch:{r<b>}                STRING the bucket's data-loss epoch marker: its start (µs), no TTL
//	P rev:{u<subject>}:j:<jti>, …:s:<sid>, …:c  the layout before the feed, read only
//	P tok:{u<subject>}:<id>       HASH   an API token, in its subject's slot
//	P toks:{u<subject>}           ZSET   <id> of the subject's tokens, by CreatedAt
//	P tokh:<hash>                 STRING locator: nonce + subject and ID
//	P toki:<id>                   STRING locator: nonce + subject
//	P cl:{c<id>}                  HASH   an OAuth client: cn (its incarnation), m, ca, sh, sr (clients.go)
//	P cls                         ZSET   <id> of every client (raw: visible ASCII), by CreatedAt
//	P code:{c<id>}:<hash>         HASH   an authorization code, in its client's slot, with the client's cn
//	P codel:<hash>                STRING locator: nonce + <id> of the code's client
//	P gc:sess:{N}, gc:rev:{N}, gc:tok:{N}, gc:code:{N}  ZSET garbage-collection indexes, N = 0…15
type keyspace struct {
	p string
}

func sessTag(sid string) string    { return "{s" + enc(sid) + "}" }
func subjectTag(sub string) string { return "{u" + enc(sub) + "}" }
func hashID(h authkit.TokenHash) string {
	var b [hashIDLen]byte
	b64.Encode(b[:], h[:])
	return string(b[:])
}

// hashIDLen is the length of a hash ID: a SHA-256 in unpadded base64url.
const hashIDLen = 43

func (k keyspace) session(sid string) string { return k.p + "sess:" + sessTag(sid) }

// recordPrefix is the start of the key of every record of session sid;
// the record key is recordPrefix + hashID.
func (k keyspace) recordPrefix(sid string) string { return k.p + "rt:" + sessTag(sid) + ":" }

func (k keyspace) record(sid string, h authkit.TokenHash) string {
	return k.recordPrefix(sid) + hashID(h)
}

func (k keyspace) records(sid string) string { return k.p + "rts:" + sessTag(sid) }

func (k keyspace) refreshLocator(h authkit.TokenHash) string {
	var b [hashIDLen]byte
	b64.Encode(b[:], h[:])
	return k.p + "rtl:" + string(b[:])
}

func (k keyspace) refreshLocatorID(hid string) string { return k.p + "rtl:" + hid }

func (k keyspace) subjectSessions(sub string) string { return k.p + "subj:" + subjectTag(sub) }

// feedShards is how many buckets the revocations are spread over: b is
// 0…feedShards-1. A subject's revocations, and the log their changes go
// to, live under the hash tag {r<b>} of the subject's bucket, so that one
// script writes an entry and its log record atomically on a cluster too.
// It is part of the key layout: changing it strands entries.
const feedShards = 16

// bucket is the feed bucket of subject.
func bucket(sub string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(sub))
	return int(h.Sum32() % feedShards)
}

// bucketTag is the hash tag of bucket b. The tags are chosen so that
// bucket b's slot is in the b-th sixteenth of the 16384 slots: on a
// cluster whose slots are split evenly, the buckets spread over the
// primaries as evenly as they can (5, 6 and 5 on three).
func bucketTag(b int) string {
	return [feedShards]string{
		"{r0.63}", "{r1.68}", "{r2.43}", "{r3.48}", "{r4.13}", "{r5.18}", "{r6.9}", "{r7.38}",
		"{r8.43}", "{r9.8}", "{r10.13}", "{r11.18}", "{r12.21}", "{r13.39}", "{r14.3}", "{r15.0}",
	}[b]
}

// revBase is the start, relative to the prefix, of the key of every
// revocation entry in bucket b; the entry key is revBase + its member.
func revBase(b int) string { return "rev:" + bucketTag(b) + ":" }

// Members of a bucket's revocation index: the entry key past revBase.
func memberJTI(sub, jti string) string { return enc(sub) + ":j:" + enc(jti) }
func memberSID(sub, sid string) string { return enc(sub) + ":s:" + enc(sid) }
func memberCutoff(sub string) string   { return enc(sub) + ":c" }

// Revocation keys are written relative to the prefix, because the
// revocation GC index stores them that way.
func revJTI(sub, jti string) string { return revBase(bucket(sub)) + memberJTI(sub, jti) }
func revSID(sub, sid string) string { return revBase(bucket(sub)) + memberSID(sub, sid) }
func revCutoff(sub string) string   { return revBase(bucket(sub)) + memberCutoff(sub) }

// The keys of the layout before the feed, under the subject's tag: read
// by IsRevoked (unless WithoutLegacyRevocationKeys) and by the snapshot,
// never written.
func legacyJTI(sub, jti string) string { return "rev:" + subjectTag(sub) + ":j:" + enc(jti) }
func legacySID(sub, sid string) string { return "rev:" + subjectTag(sub) + ":s:" + enc(sid) }
func legacyCutoff(sub string) string   { return "rev:" + subjectTag(sub) + ":c" }

func (k keyspace) revIndex(b int) string { return k.p + "revi:" + bucketTag(b) }
func (k keyspace) feed(b int) string     { return k.p + "feed:" + bucketTag(b) }
func (k keyspace) feedMeta(b int) string { return k.p + "feedm:" + bucketTag(b) }

// epochMarker is the key of bucket b's data-loss epoch marker (see
// epoch.go): in the bucket's slot, so that IsRevoked reads it in the MGET
// of the subject's entries, and so that the shard that holds a bucket's
// revocations holds its marker too and loses both together. It is never
// written with a TTL, never indexed for garbage collection, and never
// matched by the legacy SCAN ("rev:{u…").
func (k keyspace) epochMarker(b int) string { return k.p + "epoch:" + bucketTag(b) }

// tokenPrefix is the start of the key of every API token of subject; the
// token key is tokenPrefix + enc(id).
func (k keyspace) tokenPrefix(sub string) string { return k.p + "tok:" + subjectTag(sub) + ":" }

func (k keyspace) token(sub, id string) string { return k.tokenPrefix(sub) + enc(id) }

func (k keyspace) tokens(sub string) string { return k.p + "toks:" + subjectTag(sub) }

func (k keyspace) tokenByHash(h authkit.TokenHash) string { return k.p + "tokh:" + hashID(h) }

func (k keyspace) tokenByID(id string) string { return k.p + "toki:" + enc(id) }

// gcShards is how many keys each garbage-collection index is spread over,
// so that on a cluster the index writes of busy stores land on several
// nodes. It is part of the key layout: changing it strands entries.
const gcShards = 16

// GC index kinds.
const (
	gcSess = "sess"
	gcRev  = "rev"
	gcTok  = "tok"
)

func (k keyspace) gc(kind string, shard int) string {
	return k.p + "gc:" + kind + ":{" + strconv.Itoa(shard) + "}"
}

// gcKey is the shard key that holds member.
func (k keyspace) gcKey(kind, member string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(kind))
	_, _ = h.Write([]byte(member))
	return k.gc(kind, int(h.Sum32()%gcShards))
}

// GC members of the session index: "s" + <sid> for a session, "r" +
// <sid> + ":" + <hash> for a refresh record.
func gcSessionMember(sid string) string { return "s" + enc(sid) }

func gcRecordMember(sid string, hid string) string { return "r" + enc(sid) + ":" + hid }

// The GC index shard of a member, computed four bits at a time, for
// rotateOneScript, which derives the members of a session it finds
// inside the script: gcKey's shard is FNV-1a 32 of kind + member, mod 16,
// and those four low bits depend only on the four low bits of the state
// and of each byte (the FNV prime is 3 mod 16, its offset basis 5).
func gcNibble(h byte, s string) byte {
	for i := 0; i < len(s); i++ {
		h = ((h ^ s[i]) * 3) & 15
	}
	return h
}

// The shard state after "sess" + "s" (a session member's start) and
// after "sess" + "r" (a record member's).
var (
	gcStateSess = int(gcNibble(2166136261&15, gcSess+"s"))
	gcStateRec  = int(gcNibble(2166136261&15, gcSess+"r"))
)

// gcSuffixPerm returns where ":" + hid, the end of a record member, takes
// each shard state: 16 bytes, 'a' + the state it ends in.
func gcSuffixPerm(hid string) string {
	var p [16]byte
	for h := range p {
		p[h] = 'a' + gcNibble(gcNibble(byte(h), ":"), hid)
	}
	return string(p[:])
}
