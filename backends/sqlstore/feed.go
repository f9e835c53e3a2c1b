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
// A position is "<epoch>.<id>": the feed row's epoch, random, made by the
// migration (a database created anew has another), and the id of the last
// change before the position (0 before the first).

// feedState is the feed row: the log's epoch and its newest id.
type feedState struct {
	epoch string
	head  int64
}

// errNoFeedRow reports a feed row that is missing: the migrations were not
// applied, or someone deleted it. The store cannot vouch for its log.
var errNoFeedRow = errors.New("the revocation feed's row is missing (apply the migrations)")

// readFeedState reads the feed row.
func (s *Store) readFeedState(ctx context.Context) (feedState, error) {
	var st feedState
	err := s.db.QueryRowContext(ctx, s.q.feedState).Scan(&st.epoch, &st.head)
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

// trimLog deletes at most limit log rows written more than the retention
// ago, oldest first, never the newest.
func (s *Store) trimLog(ctx context.Context, limit int) error {
	st, err := s.readFeedState(ctx)
	if err != nil {
		return err
	}
	if st.head <= 1 {
		return nil
	}
	_, err = s.exec(ctx, s.q.trimLog, st.head, time.Now().Add(-s.cfg.retention).UnixMicro(), limit)
	return err
}

func position(epoch string, id int64) authkit.FeedPosition {
	return authkit.FeedPosition(epoch + "." + strconv.FormatInt(id, 10))
}

// parsePosition splits a position into its epoch and id.
func parsePosition(p authkit.FeedPosition) (string, int64, bool) {
	epoch, num, ok := strings.Cut(string(p), ".")
	if !ok || epoch == "" || len(epoch) > 64 || num == "" || (len(num) > 1 && num[0] == '0') {
		return "", 0, false
	}
	for _, r := range epoch {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return "", 0, false
		}
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 {
		return "", 0, false
	}
	return epoch, id, true
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
	return position(st.epoch, st.head), nil
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
		return r, fmt.Errorf("a stored revocation has kind %d", kind)
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
// log's newest change, or whose next change was trimmed; and while
// following, when the feed row's epoch changes or its newest id falls
// behind the position (the database was replaced under the store).
func (s *Store) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	const op = "follow revocations"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if heartbeat <= 0 {
		return fmt.Errorf("sqlstore: %s: %w: heartbeat %v must be positive", op, authkit.ErrInvalidRequest, heartbeat)
	}
	epoch, seq, ok := parsePosition(after)
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
		// A fresh slice for every call: fn may keep the one it is given.
		// While reads come back full, the changes gather in pending and
		// fn is not called: a call vouches for the whole log, and a full
		// read has not reached its end (a backlog arrives whole).
		n := len(pending)
		next := read
		if st.head > read {
			if pending, next, err = s.readLog(ctx, read, pending); err != nil {
				if errors.Is(err, authkit.ErrFeedPositionLost) {
					return fmt.Errorf("sqlstore: %s: %w", op, err)
				}
				return s.fail(ctx, op, err)
			}
		}
		read = next
		full := len(pending)-n == feedBatch
		if full {
			wait.Reset(0)
			continue
		}
		if len(pending) > 0 || time.Since(lastCall)+period >= heartbeat {
			if time.Since(began) < heartbeat {
				if err := fn(pending, position(epoch, read)); err != nil {
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

// readLog appends to batch the changes after seq, at most feedBatch, and
// returns the id of the last. The ids are dense: the first must be
// seq+1, and each the one after the one before; a gap means the log was
// trimmed (the caller knows the log holds changes after seq).
func (s *Store) readLog(ctx context.Context, seq int64, batch []authkit.Revocation) ([]authkit.Revocation, int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q.readLog, seq, feedBatch)
	if err != nil {
		return batch, seq, err
	}
	defer rows.Close()
	next := seq
	for rows.Next() {
		var (
			id, until      int64
			kind           int
			subject, ident string
			cutoff         sql.NullInt64
		)
		if err := rows.Scan(&id, &kind, &subject, &ident, &cutoff, &until); err != nil {
			return batch, seq, err
		}
		if id != next+1 {
			return batch, seq, fmt.Errorf("%w: the revocation log no longer holds the change after %d (trimmed)", authkit.ErrFeedPositionLost, next)
		}
		r, err := revocationOf(kind, subject, ident, cutoff, until)
		if err != nil {
			return batch, seq, err
		}
		batch = append(batch, r)
		next = id
	}
	if err := rows.Err(); err != nil {
		return batch, seq, err
	}
	if next == seq {
		return batch, seq, fmt.Errorf("%w: the revocation log no longer holds the change after %d (trimmed)", authkit.ErrFeedPositionLost, seq)
	}
	return batch, next, rows.Close()
}
