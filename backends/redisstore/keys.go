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
//	P rev:{u<subject>}:j:<jti>    STRING until (µs)
//	P rev:{u<subject>}:s:<sid>    STRING until (µs)
//	P rev:{u<subject>}:c          STRING until:cutoff (µs)
//	P tok:{u<subject>}:<id>       HASH   an API token, in its subject's slot
//	P toks:{u<subject>}           ZSET   <id> of the subject's tokens, by CreatedAt
//	P tokh:<hash>                 STRING locator: nonce + subject and ID
//	P toki:<id>                   STRING locator: nonce + subject
//	P gc:sess:{N}, gc:rev:{N}, gc:tok:{N}  ZSET garbage-collection indexes, N = 0…15
type keyspace struct {
	p string
}

func sessTag(sid string) string    { return "{s" + enc(sid) + "}" }
func subjectTag(sub string) string { return "{u" + enc(sub) + "}" }
func hashID(h authkit.TokenHash) string {
	return encBytes(h[:])
}

func (k keyspace) session(sid string) string { return k.p + "sess:" + sessTag(sid) }

// recordPrefix is the start of the key of every record of session sid;
// the record key is recordPrefix + hashID.
func (k keyspace) recordPrefix(sid string) string { return k.p + "rt:" + sessTag(sid) + ":" }

func (k keyspace) record(sid string, h authkit.TokenHash) string {
	return k.recordPrefix(sid) + hashID(h)
}

func (k keyspace) records(sid string) string { return k.p + "rts:" + sessTag(sid) }

func (k keyspace) refreshLocator(h authkit.TokenHash) string { return k.p + "rtl:" + hashID(h) }

func (k keyspace) refreshLocatorID(hid string) string { return k.p + "rtl:" + hid }

func (k keyspace) subjectSessions(sub string) string { return k.p + "subj:" + subjectTag(sub) }

// Revocation keys are written relative to the prefix, because the
// revocation GC index stores them that way.
func revJTI(sub, jti string) string { return "rev:" + subjectTag(sub) + ":j:" + enc(jti) }
func revSID(sub, sid string) string { return "rev:" + subjectTag(sub) + ":s:" + enc(sid) }
func revCutoff(sub string) string   { return "rev:" + subjectTag(sub) + ":c" }

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
