package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

// The revocation feed's defaults (WithFeedPollInterval, WithFeedRetention).
const (
	// DefaultFeedPollInterval is how often FollowRevocations polls the
	// revocation log unless WithFeedPollInterval or a shorter heartbeat
	// says otherwise. 50 ms keeps a revocation's way to every mirror under
	// the 100 ms the project aims at, for 20 primary-key reads of a one-row
	// table a second per following verifier.
	DefaultFeedPollInterval = 50 * time.Millisecond
	// DefaultFeedRetention is how long the revocation log keeps a change
	// unless WithFeedRetention says otherwise.
	DefaultFeedRetention = 15 * time.Minute
)

// feedBatch bounds the changes one read of the log returns. A backlog
// longer than that is read in several reads, one right after the other,
// and passed to the FollowRevocations callback in one call once read to
// its end (a call vouches for the whole log); a follower holds it meanwhile.
const feedBatch = 512

// minFeedPoll bounds how often a follower polls, whatever heartbeat it
// asks for.
const minFeedPoll = 5 * time.Millisecond

// minWakeGap bounds how often notifications make a follower poll
// (WithNotifications).
const minWakeGap = 2 * time.Millisecond

// The feed (authkit.RevocationFeed) reads the revocation log of the 0002
// migration. Every revocation write appends its change there in its own
// transaction, with an id taken from a counter row that the transaction
// keeps locked until it commits: ids are dense and commit in their order.
// So a reader at READ COMMITTED (or SQLite's WAL snapshot) that sees id n
// sees every id before it, "id > last ORDER BY id" never skips a change
// that commits late, and a gap after a position can only be a trimmed log.
// The price is that revocation writes to one database run one at a time
// (each holds the counter for its upsert and commit): revocations are rare
// next to reads, and a write costs a few round trips.
//
// A position is "<epoch>.<id>.<tag>": the feed row's epoch, random, made
// by the migration (a database created anew has another), the id of the
// last change before the position (0 before the first), and that change's
// written_at in microseconds (0 with id 0). The tag tells a log that lost
// its newest changes and took new ones under the same ids — a failover to
// a replica that missed them, a restore from a backup — from the log the
// position was read from: the epoch is the same (the migration made it),
// and once the new changes have caught up with the position's id, the ids
// alone look as if nothing happened, so a follower resuming there would
// skip the new changes for good (found by review). Every poll checks the
// change at its position: the feed row's newest change when nothing is
// new, else the first row of the read, which starts at the position.

// feedState is the feed row: the log's epoch, its newest id and that
// change's written_at (0 when there is none).
type feedState struct {
	epoch   string
	head    int64
	headTag int64
}

// errNoFeedRow reports a feed row that is missing: the migrations were not
// applied, or someone deleted it (a TRUNCATE of every table but the
// migrations'). The store cannot vouch for its log. A rowError, so that
// dbErr lets its text through (found by review: it reached the operator as
// "*errors.errorString (message withheld)", and running the migrations
// again does nothing while migration 0002 is listed as applied).
var errNoFeedRow error = &rowError{msg: "the revocation feed's counter row (k = 1) is missing: the migrations were not applied, or the row was deleted; " +
	"if migration 0002_revocation_feed is listed as applied, delete that version from the schema_migrations table and run the migrations again " +
	"(Open or CheckSchema say which migration is not in effect)"}

// readFeedState reads the feed row.
func (s *Store) readFeedState(ctx context.Context) (feedState, error) {
	var st feedState
	err := s.db.QueryRowContext(ctx, s.q.feedState).Scan(&st.epoch, &st.head, &st.headTag)
	if errors.Is(err, sql.ErrNoRows) {
		return st, errNoFeedRow
	}
	return st, err
}

// nextLogID takes the next log id in tx, locking the counter row until tx
// ends.
func (s *Store) nextLogID(ctx context.Context, tx txn) (int64, error) {
	var id int64
	if s.d.lastInsertID {
		res, err := tx.ExecContext(ctx, s.q.nextSeq)
		if err != nil {
			return 0, err
		}
		if id, err = res.LastInsertId(); err != nil {
			return 0, err
		}
	} else if err := tx.QueryRowContext(ctx, s.q.nextSeq).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, errNoFeedRow
		}
		return 0, err
	}
	if id <= 0 {
		return 0, errNoFeedRow
	}
	return id, nil
}

// trimLog deletes, in batches of at most limit rows, the log rows written
// more than the retention ago, oldest first, but only those whose next change is that old too,
// and never the newest: a follower at change n was current until n+1
// was written, and must still find n there to check its position (a
// position whose change is gone is lost, and its follower takes a
// snapshot). So a follower loses its position only by being away longer
// than the retention (found by review: a quiet log, then two revocations
// and a cleanup before the next poll, cost every follower a snapshot).
// Each candidate costs two primary-key probes (the next change the log
// holds, and its written_at), and a change stamped by a clock running
// ahead protects only the one before it. The newest change also keeps a
// gap visible.
func (s *Store) trimLog(ctx context.Context, limit int) error {
	st, err := s.readFeedState(ctx)
	if err != nil {
		return err
	}
	if st.head <= 1 {
		return nil
	}
	cutoff := time.Now().Add(-s.cfg.retention).UnixMicro()
	// Batch after batch until one is not full: a log that grows faster
	// than the revocations table (a key written again adds a log row but
	// no revocation row: every logout-all writes its cutoff twice) fell
	// behind for good at one batch per cleanup (found by review). Each
	// batch is bounded; ctx bounds them all.
	for {
		res, err := s.exec(ctx, s.q.trimLog, st.head, cutoff, cutoff, limit)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n < int64(limit) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func position(epoch string, id, tag int64) authkit.FeedPosition {
	return authkit.FeedPosition(epoch + "." + strconv.FormatInt(id, 10) + "." + strconv.FormatInt(tag, 10))
}

// parsePosition splits a position into its epoch, id and tag. A position
// of the earlier form "<epoch>.<id>" has no tag: it is not one of this
// store's (the follower takes a snapshot).
func parsePosition(p authkit.FeedPosition) (epoch string, id, tag int64, ok bool) {
	epoch, rest, ok := strings.Cut(string(p), ".")
	num, tagText, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || epoch == "" || len(epoch) > 64 {
		return "", 0, 0, false
	}
	for _, r := range epoch {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return "", 0, 0, false
		}
	}
	id, okID := decimal(num)
	tag, okTag := decimal(tagText)
	if !okID || !okTag {
		return "", 0, 0, false
	}
	return epoch, id, tag, true
}

// decimal parses a non-negative decimal without leading zeros: digits
// only (strconv.ParseInt alone took "+5" and "-0", so a position this store
// never wrote parsed; found by fuzzing).
func decimal(s string) (int64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

func lost(op, why string) error {
	return fmt.Errorf("sqlstore: %s: %w: %s", op, authkit.ErrFeedPositionLost, why)
}

// RevocationSnapshot implements authkit.RevocationFeed. It reads the
// position first (the feed row: every change committed before the call is
// at or before it), then the entries in force at now, in a second
// statement, which therefore reflect every change at or before the
// position (and perhaps later ones, which the contract allows). fn is
// called as the rows arrive, so the snapshot is never held in memory.
// The epoch marker is one of those rows (a RevokedBeforeEpoch entry); a
// snapshot that finds none starts a new epoch at now, as IsRevoked does,
// and includes it.
func (s *Store) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	const op = "revocation snapshot"
	if err := ctx.Err(); err != nil {
		return "", deadCtx(op, err)
	}
	st, err := s.readFeedState(ctx)
	if err != nil {
		return "", s.fail(ctx, op, err)
	}
	rows, err := s.db.QueryContext(ctx, s.q.snapshot, micros(now))
	if err != nil {
		return "", s.fail(ctx, op, err)
	}
	defer rows.Close()
	sawEpoch := false
	for rows.Next() {
		var (
			kind           int
			subject, ident string
			cutoff         sql.NullInt64
			until          int64
		)
		if err := rows.Scan(&kind, &subject, &ident, &cutoff, &until); err != nil {
			return "", s.fail(ctx, op, err)
		}
		r, err := revocationOf(kind, subject, ident, cutoff, until)
		if err != nil {
			return "", s.fail(ctx, op, err)
		}
		sawEpoch = sawEpoch || r.Kind == authkit.RevokedBeforeEpoch
		if err := fn(r); err != nil {
			return "", err
		}
	}
	if err := rows.Err(); err != nil {
		return "", s.fail(ctx, op, err)
	}
	if err := rows.Close(); err != nil {
		return "", s.fail(ctx, op, err)
	}
	if !sawEpoch {
		// The epoch marker is gone: the table lost its data. Start a new
		// epoch, as IsRevoked would, and include it. Its log row comes
		// after the position, so a follower from there gets it again as
		// a change, which changes nothing.
		since, err := s.startEpoch(ctx, op, micros(now))
		if err != nil {
			return "", err
		}
		if err := fn(authkit.Revocation{Kind: authkit.RevokedBeforeEpoch, Cutoff: timeOf(since)}); err != nil {
			return "", err
		}
	}
	return position(st.epoch, st.head, st.headTag), nil
}

// revocationOf makes a Revocation of a row of the revocations table or
// the log.
func revocationOf(kind int, subject, ident string, cutoff sql.NullInt64, until int64) (authkit.Revocation, error) {
	r := authkit.Revocation{Subject: subject, Until: timeOf(until)}
	switch kind {
	case kindJTI:
		r.Kind, r.ID = authkit.RevokedToken, ident
	case kindSID:
		r.Kind, r.ID = authkit.RevokedSession, ident
	case kindCutoff:
		if !cutoff.Valid {
			return r, errors.New("a stored cutoff has no time")
		}
		r.Kind, r.Cutoff = authkit.RevokedBefore, timeOf(cutoff.Int64)
	case kindEpoch:
		if !cutoff.Valid {
			return r, errEpochNoTime
		}
		// Until means nothing for an epoch: it lasts until the next.
		r = authkit.Revocation{Kind: authkit.RevokedBeforeEpoch, Cutoff: timeOf(cutoff.Int64)}
	default:
		// A kind a later version added: this one cannot tell what the row
		// revokes, so its snapshot and feed fail (a mirror then sends
		// every check to IsRevoked, which reads the kinds this version
		// knows).
		return r, &rowError{fmt.Sprintf("a stored revocation has kind %d, which this version does not know: a newer version's migrations or writes made it; upgrade this instance, or turn its revocation mirror off until then", kind)}
	}
	return r, nil
}

// FollowRevocations implements authkit.RevocationFeed by reading the
// revocation log, on every dialect. Each poll reads the feed row (one
// primary-key read: all it costs when nothing changed) and, when the log
// has grown, the changes after the last position, at most feedBatch of
// them, in one range read of the log's primary key (a longer backlog is
// read at once, in several such reads, before fn gets it whole). It polls every
// WithFeedPollInterval, or every half heartbeat if that is shorter, and
// calls fn when there are changes or when the heartbeat is due; it calls
// fn only with what a poll that began less than a heartbeat before read,
// so that every call vouches for the log.
//
// On PostgreSQL with WithNotifications, a notification (a revocation
// committed through any handle) makes it poll at once, and while the
// Store's LISTEN is in effect it polls otherwise only every half
// heartbeat: the notifications bring the changes, the polls vouch for the
// log and catch what a lost notification would have missed.
//
// A new epoch (see IsRevoked) is in the log as a RevokedBeforeEpoch
// change.
//
// It returns ErrFeedPositionLost for a position that is malformed, of
// another epoch (another store, or a database created anew), beyond the
// log's newest change, whose change is not the one it was read from (the
// database lost its newest changes and took new ones under the same ids:
// a failover, a restore), or whose own or next change was trimmed; and
// while following, when the feed row's epoch changes, its newest id falls
// behind the position, or the change at the position is replaced (the
// database was replaced under the store).
func (s *Store) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	const op = "follow revocations"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if heartbeat <= 0 {
		return fmt.Errorf("sqlstore: %s: %w: heartbeat %v must be positive", op, authkit.ErrInvalidRequest, heartbeat)
	}
	epoch, seq, seqTag, ok := parsePosition(after)
	if !ok {
		return lost(op, "the position is not one of this store's")
	}
	// Subscribed before the first poll: a change that the first poll does
	// not see commits after it began, and wakes this follower if the
	// LISTEN is in effect by then.
	sub := s.push.hub.subscribe()
	defer sub.leave()
	polling := max(min(s.cfg.pollInterval, heartbeat/2), minFeedPoll)
	pushed := max(heartbeat/2, minFeedPoll)
	var (
		period  time.Duration
		pending []authkit.Revocation // read, not yet passed to fn
		read    = seq                // the id of the last change read
		readTag = seqTag             // and its written_at
	)
	lastCall := time.Now()
	var lastPoll time.Time
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return deadCtx(op, ctx.Err())
		case <-wait.C:
		case <-sub.woken():
			// A notification, or the LISTEN came up or went down. Polls
			// that notifications start are minWakeGap apart at least, so
			// that a storm of revocations costs a follower a bounded
			// number of reads.
			if gap := minWakeGap - time.Since(lastPoll); gap > 0 && !sleep(ctx, gap) {
				return deadCtx(op, ctx.Err())
			}
		}
		// Poll every WithFeedPollInterval, or only every half heartbeat
		// while the LISTEN is in effect: notifications then bring the
		// changes, and the polls vouch for the log.
		period = polling
		if sub.listening() {
			period = pushed
		}
		began := time.Now()
		lastPoll = began
		st, err := s.readFeedState(ctx)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if st.epoch != epoch {
			return lost(op, "the position is of another epoch of the revocation log (another store, or a database created anew)")
		}
		if st.head < read {
			return lost(op, "the position is beyond the revocation log's newest change")
		}
		if st.head == read && st.headTag != readTag {
			return lost(op, replaced)
		}
		// A fresh slice for every call: fn may keep the one it is given.
		// While reads come back full, the changes gather in pending and
		// fn is not called: a call vouches for the whole log, and a full
		// read has not reached its end (a backlog arrives whole).
		n := len(pending)
		next, nextTag := read, readTag
		if st.head > read {
			if pending, next, nextTag, err = s.readLog(ctx, read, readTag, pending); err != nil {
				if errors.Is(err, authkit.ErrFeedPositionLost) {
					return fmt.Errorf("sqlstore: %s: %w", op, err)
				}
				return s.fail(ctx, op, err)
			}
		}
		read, readTag = next, nextTag
		full := len(pending)-n == feedBatch
		if full {
			wait.Reset(0)
			continue
		}
		if len(pending) > 0 || time.Since(lastCall)+period >= heartbeat {
			if time.Since(began) < heartbeat {
				if err := fn(pending, position(epoch, read, readTag)); err != nil {
					return err
				}
				pending, lastCall = nil, time.Now()
			} else {
				// The poll took a heartbeat or more: what it read no longer
				// vouches for the log. Poll again at once.
				full = true
			}
		}
		if full {
			wait.Reset(0)
		} else {
			wait.Reset(period)
		}
	}
}

// replaced says why a position whose change is not the log's is lost.
const replaced = "the revocation log's change at the position is not the one the position was read from: the database lost its newest changes and took new ones under the same ids (a failover to a replica that missed them, or a restore)"

// readLog appends to batch the changes after seq, at most feedBatch, and
// returns the id and the written_at of the last. It reads from seq's own
// change, which must have written_at tag (the position's; not read at seq
// 0, before the first change): else the log is not the one the position
// was read from. The ids are dense: the first after seq must be seq+1,
// and each the one after the one before; a gap means the log was trimmed
// (the caller knows the log holds changes after seq).
func (s *Store) readLog(ctx context.Context, seq, tag int64, batch []authkit.Revocation) ([]authkit.Revocation, int64, int64, error) {
	from, limit := seq, feedBatch+1
	if seq == 0 {
		from, limit = 1, feedBatch
	}
	rows, err := s.db.QueryContext(ctx, s.q.readLog, from, limit)
	if err != nil {
		return batch, seq, tag, err
	}
	defer rows.Close()
	next, nextTag := seq, tag
	atSeq := seq == 0 // seq's change checked (none at 0)
	for rows.Next() {
		var (
			id, until, written int64
			kind               int
			subject, ident     string
			cutoff             sql.NullInt64
		)
		if err := rows.Scan(&id, &kind, &subject, &ident, &cutoff, &until, &written); err != nil {
			return batch, seq, tag, err
		}
		if !atSeq {
			if id != seq {
				return batch, seq, tag, fmt.Errorf("%w: the revocation log no longer holds the change at %d (trimmed)", authkit.ErrFeedPositionLost, seq)
			}
			if written != tag {
				return batch, seq, tag, fmt.Errorf("%w: %s", authkit.ErrFeedPositionLost, replaced)
			}
			atSeq = true
			continue
		}
		if id != next+1 {
			return batch, seq, tag, fmt.Errorf("%w: the revocation log no longer holds the change after %d (trimmed)", authkit.ErrFeedPositionLost, next)
		}
		r, err := revocationOf(kind, subject, ident, cutoff, until)
		if err != nil {
			return batch, seq, tag, err
		}
		batch = append(batch, r)
		next, nextTag = id, written
	}
	if err := rows.Err(); err != nil {
		return batch, seq, tag, err
	}
	if !atSeq {
		return batch, seq, tag, fmt.Errorf("%w: the revocation log no longer holds the change at %d (trimmed)", authkit.ErrFeedPositionLost, seq)
	}
	if next == seq {
		return batch, seq, tag, fmt.Errorf("%w: the revocation log no longer holds the change after %d (trimmed)", authkit.ErrFeedPositionLost, seq)
	}
	return batch, next, nextTag, rows.Close()
}
