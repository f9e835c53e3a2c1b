package sqlstore

import (
	"math"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Column lists, in the order the scan helpers read them.
const (
	sessionCols = "id, subject, client_id, scopes, audience, claims, user_agent, ip, name, created_at, last_used_at, expires_at, idle_expires_at, revoked_at"
	refreshCols = "hash, session_id, subject, issued_at, expires_at, used_at, successor"
	tokenCols   = "id, hash, subject, name, scopes, created_at, expires_at, last_used_at, revoked_at"
)

// Revocation kinds, the kind column of the revocations table.
const (
	kindJTI    = 1
	kindSID    = 2
	kindCutoff = 3
	// kindEpoch is the epoch marker (migration 0005, see epoch.go): one
	// row, subject and ident empty, cutoff_at the start of the store's
	// epoch, expires_at epochExpires. In the log, a new epoch.
	kindEpoch = 4
)

// epochExpires is the expires_at of the epoch marker: the largest value
// the column holds, so that no cleanup ever deletes it (each deletes rows
// whose expires_at is at or before a now).
const epochExpires = math.MaxInt64

// queries holds every statement the store runs, with the table prefix
// substituted and the placeholders rebound for the dialect once, at New.
type queries struct {
	// refresh
	insertSession    string
	insertRefresh    string
	rotateCall       string // the whole rotation in one statement (migration 0003); "" on SQLite
	rotateSelect     string // the presented record and its session, locked
	rotateMarkUsed   string
	rotateSession    string
	lookupRefresh    string
	getSession       string
	listSessions     string
	revokeSession    string
	sessionExists    string
	subjectSessions  string // locked
	revokeSessionIDs string // + " (?, ?, …)"
	gcSessionRecords string
	gcExpiredRecords string
	gcSessions       string

	// revocation
	upsertRevocation string
	isRevoked        string // also returns the epoch marker's cutoff_at, NULL when it is missing
	gcRevocations    string
	readEpoch        string // the epoch marker's cutoff_at
	insertEpoch      string // the epoch marker, unless there is one

	// revocation feed
	revokeLogged string // PostgreSQL: the id, the log row and the upsert in one statement; "" elsewhere
	nextSeq      string // the next log id, the counter row locked to the commit
	appendLog    string
	feedState    string // epoch, the newest log id and its written_at
	readLog      string
	snapshot     string
	trimLog      string

	// API tokens
	insertToken    string
	lockSubject    string
	lockSubjectRow string
	countLive      string
	lookupToken    string
	listTokens     string
	revokeToken    string
	tokenOwned     string
	touchToken     string
	tokenExists    string
	gcTokens       string

	// OAuth 2.0 clients and authorization codes (clients.go)
	clients clientQueries
}

// tableNames are the store's tables without their prefix.
var tableNames = []string{"sessions", "refresh_tokens", "revocations", "api_tokens", "api_token_subjects", "revocation_feed", "revocation_log", "throttle", "clients", "authorization_codes", "client_assertions"}

func buildQueries(d *dialect, prefix string) queries {
	q := func(s string) string {
		s = strings.ReplaceAll(s, "{p}", prefix)
		s = strings.ReplaceAll(s, "{lock}", d.forUpdate)
		return sqlx.Rebind(d.bind, s)
	}
	return queries{
		insertSession: q(`INSERT INTO {p}sessions (` + sessionCols + `, gc_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		insertRefresh: q(`INSERT INTO {p}refresh_tokens (` + refreshCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		rotateSelect: q(`SELECT r.expires_at, r.used_at, r.successor, ` + prefixed("s.", sessionCols) + `
			FROM {p}refresh_tokens r JOIN {p}sessions s ON s.id = r.session_id
			WHERE r.hash = ?{lock}`),
		rotateCall:     q(d.rotateCall),
		rotateMarkUsed: q(`UPDATE {p}refresh_tokens SET used_at = ?, successor = ? WHERE hash = ? AND used_at IS NULL`),
		rotateSession:  q(`UPDATE {p}sessions SET last_used_at = ?, idle_expires_at = ?, gc_at = ? WHERE id = ? AND revoked_at IS NULL`),
		lookupRefresh:  q(`SELECT ` + refreshCols + ` FROM {p}refresh_tokens WHERE hash = ?`),
		getSession:     q(`SELECT ` + sessionCols + ` FROM {p}sessions WHERE id = ?`),
		listSessions: q(`SELECT ` + sessionCols + ` FROM {p}sessions
			WHERE subject = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
			ORDER BY created_at DESC, id DESC`),
		revokeSession:    q(`UPDATE {p}sessions SET revoked_at = ?, gc_at = ? WHERE id = ? AND revoked_at IS NULL`),
		sessionExists:    q(`SELECT 1 FROM {p}sessions WHERE id = ?`),
		subjectSessions:  q(`SELECT id FROM {p}sessions WHERE subject = ? AND revoked_at IS NULL{lock}`),
		revokeSessionIDs: q(`UPDATE {p}sessions SET revoked_at = ?, gc_at = ? WHERE revoked_at IS NULL AND id IN`),
		// Cleanup, in bounded batches (see deleteBatch and
		// deleteBatchFrom). Each batch takes the oldest garbage first, in
		// the order of the index that finds it (on MySQL then of the
		// primary key: a total order), so the planner walks that index and
		// stops at the limit.
		//
		// The records of garbage sessions: those of the oldest "?"
		// garbage sessions (the first limit: ordered by the gc_at index,
		// which on InnoDB ends with id), at most "?" of them, by session
		// then (on MySQL) by hash. (One join ordered by s.gc_at, s.id, t.hash would
		// make MySQL and MariaDB sort the records of every garbage session
		// for each batch, t.hash being the second table's; here they sort
		// those of one batch of sessions.) Its parameters: now, the limit,
		// the limit again. A total below the limit still means nothing was
		// left: when this deletes fewer records than the limit, every
		// session of its batch is left without records, and the third
		// DELETE (gcSessions) has those to fill the rest of the limit.
		gcSessionRecords: q(d.deleteBatchFrom("{p}refresh_tokens", "hash",
			`FROM (SELECT s.id, s.gc_at FROM {p}sessions s WHERE s.gc_at <= ? ORDER BY `+d.tieBreak("s.gc_at", "s.id")+` LIMIT ?) s
			JOIN {p}refresh_tokens t ON t.session_id = s.id ORDER BY `+d.tieBreak("s.gc_at", "s.id, t.hash"))),
		gcExpiredRecords: q(d.deleteBatch("{p}refresh_tokens", "hash", `{t}expires_at <= ?`, `{t}expires_at`)),
		gcSessions: q(d.deleteBatch("{p}sessions", "id",
			`{t}gc_at <= ? AND NOT EXISTS (SELECT 1 FROM {p}refresh_tokens r WHERE r.session_id = {t}id)`, `{t}gc_at`)),

		upsertRevocation: q(d.upsertMax("{p}revocations", "subject, kind, ident, expires_at, cutoff_at", "subject, kind, ident", "expires_at", "cutoff_at")),
		// One statement, one round trip: three primary-key probes, all
		// under the token's subject, and a fourth, of the epoch marker.
		isRevoked: q(`SELECT
			EXISTS (SELECT 1 FROM {p}revocations WHERE subject = ? AND kind = 1 AND ident = ? AND expires_at > ?)
			OR EXISTS (SELECT 1 FROM {p}revocations WHERE subject = ? AND kind = 2 AND ident = ? AND expires_at > ?)
			OR EXISTS (SELECT 1 FROM {p}revocations WHERE subject = ? AND kind = 3 AND ident = '' AND expires_at > ? AND cutoff_at >= ?),
			(SELECT cutoff_at FROM {p}revocations WHERE subject = '' AND kind = 4 AND ident = '')`),
		gcRevocations: q(d.deleteBatch("{p}revocations", "subject, kind, ident", `{t}expires_at <= ?`, `{t}expires_at`)),
		readEpoch:     q(`SELECT cutoff_at FROM {p}revocations WHERE subject = '' AND kind = 4 AND ident = ''`),
		insertEpoch: q(`INSERT INTO {p}revocations (subject, kind, ident, expires_at, cutoff_at)
			VALUES ('', 4, '', ` + strconv.FormatInt(epochExpires, 10) + `, ?)` + d.keepExisting("subject, kind, ident", "cutoff_at")),

		revokeLogged: q(d.revokeLogged),
		nextSeq:      q(d.nextSeq("{p}revocation_feed")),
		appendLog:    q(`INSERT INTO {p}revocation_log (id, kind, subject, ident, cutoff_at, expires_at, written_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		// The newest change's written_at with it: the position's tag.
		feedState: q(`SELECT epoch, seq, COALESCE((SELECT l.written_at FROM {p}revocation_log l WHERE l.id = {p}revocation_feed.seq), 0)
			FROM {p}revocation_feed WHERE k = 1`),
		// The follower's poll: a range of the primary key, read in order
		// and stopped at the limit.
		// From the position's own change (its written_at must be the
		// position's tag), then the ones after it.
		readLog:  q(`SELECT id, kind, subject, ident, cutoff_at, expires_at, written_at FROM {p}revocation_log WHERE id >= ? ORDER BY id LIMIT ?`),
		snapshot: q(`SELECT kind, subject, ident, cutoff_at, expires_at FROM {p}revocations WHERE expires_at > ?`),
		// The oldest rows first, below the newest (which is never
		// trimmed: a follower tells a trimmed log by the gap before it).
		// A change goes once both it and the change after it are old: a
		// follower at change n was current until n+1 was written, and
		// checks its position against n. The newest change, with none
		// after it, stays (it keeps a gap visible).
		// The next change's written_at is a scalar subquery, one probe of
		// the primary key per candidate (a join would let PostgreSQL hash
		// both sides of the whole log); the next change the log holds, so
		// that a change whose successor was trimmed before it (a clock
		// running ahead protected it) is not kept for ever.
		trimLog: q(d.deleteBatchFrom("{p}revocation_log", "id", `FROM {p}revocation_log t
			WHERE t.id < ? AND t.written_at <= ? AND (SELECT n.written_at FROM {p}revocation_log n
				WHERE n.id = (SELECT MIN(m.id) FROM {p}revocation_log m WHERE m.id > t.id)) <= ? ORDER BY t.id`)),

		insertToken:    q(`INSERT INTO {p}api_tokens (` + tokenCols + `, gc_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		lockSubject:    q(d.insertIfAbsent("{p}api_token_subjects", "subject")),
		lockSubjectRow: q(`SELECT subject FROM {p}api_token_subjects WHERE subject = ?{lock}`),
		countLive: q(`SELECT COUNT(*) FROM {p}api_tokens
			WHERE subject = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`),
		lookupToken: q(`SELECT ` + tokenCols + ` FROM {p}api_tokens WHERE hash = ?`),
		listTokens: q(`SELECT ` + tokenCols + ` FROM {p}api_tokens
			WHERE subject = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
			ORDER BY created_at DESC, id DESC`),
		revokeToken: q(`UPDATE {p}api_tokens SET revoked_at = ?, gc_at = ? WHERE id = ? AND subject = ? AND revoked_at IS NULL`),
		tokenOwned:  q(`SELECT 1 FROM {p}api_tokens WHERE id = ? AND subject = ?`),
		touchToken:  q(`UPDATE {p}api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`),
		tokenExists: q(`SELECT 1 FROM {p}api_tokens WHERE id = ?`),
		gcTokens:    q(d.deleteBatch("{p}api_tokens", "id", `{t}gc_at <= ?`, `{t}gc_at`)),

		clients: buildClientQueries(d, q),
	}
}

// prefixed qualifies each column of a list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
