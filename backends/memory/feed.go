package memory

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
)

var _ authkit.RevocationFeed = (*Store)(nil)

// DefaultFeedRetention is how long, by default, the revocation feed's log
// keeps a change at least (see [WithFeedRetention]).
const DefaultFeedRetention = 10 * time.Minute

// DefaultFeedLogLimit is how many changes, by default, the revocation
// feed's log may hold before it drops the oldest, however young (see
// [WithFeedLogLimit]): 2^18, about 16 MiB of log.
const DefaultFeedLogLimit = 1 << 18

// minFeedRetention and minFeedLogLimit are the floors of the two options.
const (
	minFeedRetention = time.Minute
	minFeedLogLimit  = 1024
)

// WithFeedRetention sets how long the log of the Store's revocation feed
// keeps a change at least, so that a follower back from an outage that
// short catches up without a new snapshot (see the package doc). The
// default is [DefaultFeedRetention]; values below a minute are raised to a
// minute. The log limit ([WithFeedLogLimit]) takes precedence: memory
// stays bounded however fast revocations come.
func WithFeedRetention(d time.Duration) Option {
	return func(s *Store) { s.feed.retention = max(d, minFeedRetention) }
}

// WithFeedLogLimit sets how many changes the log of the Store's revocation
// feed may hold: beyond that it drops the oldest, even those younger than
// the retention, and a follower that had not read them yet gets
// authkit.ErrFeedPositionLost and takes a new snapshot. The default is
// [DefaultFeedLogLimit]; values below 1024 are raised to 1024. Each change
// the log holds costs 64 bytes, besides the strings it shares with the
// stored entry.
func WithFeedLogLimit(n int) Option {
	return func(s *Store) { s.feed.limit = uint64(max(n, minFeedLogLimit)) }
}

// blockLen is how many changes one block of the log holds: 128 changes of
// 64 bytes, one 8 KiB allocation.
const blockLen = 128

// change is one entry of the log: the arguments of one write, its times
// as seconds and nanoseconds so that they come back exactly as stored.
// subject and id are the strings of the stored entry, not copies.
type change struct {
	subject, id string
	untilSec    int64
	cutoffSec   int64
	untilNsec   int32
	cutoffNsec  int32
	kind        authkit.RevocationKind
}

// block is a run of blockLen changes of the log, with the time (by the
// log's clock) at which its first change was written.
type block struct {
	started time.Time
	c       *[blockLen]change
}

// feedLog is the ordered log of every revocation write, the state of the
// Store's RevocationFeed. Change k (from 0) is the k-th write since New;
// position p stands for "after the first p changes", the next to deliver
// being change p. The log keeps the changes from base (a multiple of
// blockLen) up to next, in blocks[head:] oldest first, and drops whole
// blocks from the front. Every field but armed is guarded by the Store's
// mutex.
type feedLog struct {
	// epoch starts every position of this log: random, so that positions
	// of another Store, or of this process before a restart, are refused.
	epoch string
	// blocks[head:] are the blocks kept; the slots before head are empty,
	// and are reclaimed by moving the kept ones down once they are half
	// the slice, so that the slice is reused rather than reallocated.
	blocks []block
	head   int
	spare  *[blockLen]change // a dropped block, cleared, for the next one
	base   uint64            // the oldest change kept
	next   uint64            // the change the next write makes

	retention time.Duration
	limit     uint64
	// clock times the blocks, for the retention: the wall clock by
	// default, not the times the Store is given, since it is about how
	// long a follower may have been away.
	clock func() time.Time

	// wake is closed, and replaced, by the first write after a follower
	// has gone to sleep on it (armed).
	wake  chan struct{}
	armed atomic.Bool
}

func newFeedLog() feedLog {
	return feedLog{
		epoch:     rand.Text()[:16] + ".",
		retention: DefaultFeedRetention,
		limit:     DefaultFeedLogLimit,
		clock:     time.Now,
		wake:      make(chan struct{}),
	}
}

// append adds c at the end of the log, drops what the log no longer
// keeps, and wakes the followers waiting for a change. The caller holds
// the Store's write lock, in the same critical section as the write c
// records, so that the log and the entries never disagree.
func (l *feedLog) append(c change) {
	off := l.next % blockLen
	if off == 0 {
		now := l.clock()
		arr := l.spare
		l.spare = nil
		if arr == nil {
			arr = new([blockLen]change)
		}
		l.blocks = append(l.blocks, block{started: now, c: arr})
		l.trim(now)
	}
	l.blocks[len(l.blocks)-1].c[off] = c
	l.next++
	if l.armed.Load() {
		l.armed.Store(false)
		close(l.wake)
		l.wake = make(chan struct{})
	}
}

// trim drops the oldest blocks while the log holds more than it must: a
// block goes when the block after it was started more than the retention
// before now (so that every change in it is older than that), or when the
// log still holds at least the limit without it. The newest block always
// stays. The caller holds the write lock.
func (l *feedLog) trim(now time.Time) {
	for len(l.blocks)-l.head > 1 {
		held := l.next - l.base
		if now.Sub(l.blocks[l.head+1].started) < l.retention && held-blockLen < l.limit {
			break
		}
		dropped := l.blocks[l.head].c
		clear(dropped[:]) // release the strings at once
		if l.spare == nil {
			l.spare = dropped
		}
		l.blocks[l.head] = block{}
		l.head++
		l.base += blockLen
	}
	if l.head > 0 && l.head >= len(l.blocks)/2 {
		n := copy(l.blocks, l.blocks[l.head:])
		clear(l.blocks[n:])
		l.blocks = l.blocks[:n]
		l.head = 0
	}
}

// at returns change k, which the log holds.
func (l *feedLog) at(k uint64) *change {
	return &l.blocks[l.head+int((k-l.base)/blockLen)].c[k%blockLen]
}

// read returns changes from up to next as Revocations, in order, or nil
// when there are none. The caller holds the read lock.
func (l *feedLog) read(from uint64) []authkit.Revocation {
	if from >= l.next {
		return nil
	}
	out := make([]authkit.Revocation, 0, l.next-from)
	for k := from; k < l.next; k++ {
		c := l.at(k)
		r := authkit.Revocation{
			Kind:    c.kind,
			Subject: c.subject,
			ID:      c.id,
			Until:   time.Unix(c.untilSec, int64(c.untilNsec)).UTC(),
		}
		if c.kind == authkit.RevokedBefore {
			r.Cutoff = time.Unix(c.cutoffSec, int64(c.cutoffNsec)).UTC()
		}
		out = append(out, r)
	}
	return out
}

// position returns the position after the first p changes.
func (l *feedLog) position(p uint64) authkit.FeedPosition {
	return authkit.FeedPosition(l.epoch + strconv.FormatUint(p, 10))
}

var (
	errForeign = fmt.Errorf("not a position of this store's log (another store's, malformed, or from before a restart): %w", authkit.ErrFeedPositionLost)
	errTrimmed = fmt.Errorf("the log no longer holds the changes after the position: %w", authkit.ErrFeedPositionLost)
)

// parse returns the number of changes before p, or an error matching
// authkit.ErrFeedPositionLost if the log cannot continue from p: p is not
// one of its positions, in canonical form, or is before what the log keeps
// or past its end. The caller holds the read lock.
func (l *feedLog) parse(p authkit.FeedPosition) (uint64, error) {
	num, ok := strings.CutPrefix(string(p), l.epoch)
	if !ok || num == "" || len(num) > 1 && num[0] == '0' {
		return 0, errForeign
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > l.next {
		return 0, errForeign
	}
	if n < l.base {
		return 0, errTrimmed
	}
	return n, nil
}

// record appends the change a successful write made. The caller holds the
// write lock.
func (s *Store) record(kind authkit.RevocationKind, subject, id string, cutoff, until time.Time) {
	s.feed.append(change{
		subject:    subject,
		id:         id,
		untilSec:   until.Unix(),
		untilNsec:  int32(until.Nanosecond()),
		cutoffSec:  cutoff.Unix(),
		cutoffNsec: int32(cutoff.Nanosecond()),
		kind:       kind,
	})
}

// RevocationSnapshot implements authkit.RevocationFeed. It copies the
// entries in force at now and reads the position under one hold of the
// read lock, and calls fn after releasing it, so fn may call the Store.
// The copy costs 88 bytes per entry in force, for the duration of the
// call.
func (s *Store) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memory: RevocationSnapshot: %w", err)
	}
	s.observe(now)
	s.mu.RLock()
	in := make([]authkit.Revocation, 0, len(s.jti)+len(s.sid)+len(s.cutoffs)+1)
	if s.hasEpoch {
		in = append(in, authkit.Revocation{Kind: authkit.RevokedBeforeEpoch, Cutoff: s.epoch})
	}
	// A stored revocation is merged with one of its key a sweep removed
	// while the clock was ahead (the later until and cutoff), as IsRevoked
	// answers from both.
	for _, m := range [...]struct {
		entries map[revKey]*revocation
		kind    authkit.RevocationKind
		dkind   droppedKind
	}{{s.jti, authkit.RevokedToken, droppedJTI}, {s.sid, authkit.RevokedSession, droppedSID}} {
		for _, r := range m.entries {
			until := r.exp.at
			if d, ok := s.dropped.get(droppedKey{m.dkind, r.key}, now); ok && d.exp.at.After(until) {
				until = d.exp.at
			}
			if now.Before(until) {
				in = append(in, authkit.Revocation{Kind: m.kind, Subject: r.key.subject, ID: r.key.id, Until: until})
			}
		}
	}
	for _, c := range s.cutoffs {
		cut, until := c.cutoff, c.exp.at
		if d, ok := s.dropped.get(droppedKey{droppedCutoff, revKey{c.subject, ""}}, now); ok {
			if d.exp.at.After(until) {
				until = d.exp.at
			}
			if d.cutoff.After(cut) {
				cut = d.cutoff
			}
		}
		if now.Before(until) {
			in = append(in, authkit.Revocation{Kind: authkit.RevokedBefore, Subject: c.subject, Cutoff: cut, Until: until})
		}
	}
	// Revocations a sweep removed that are in force at now (the clock
	// stepped back), as IsRevoked answers: a mirror's snapshot then holds
	// them too.
	in = s.dropped.appendInForce(in, now, func(k droppedKey) bool {
		switch k.kind {
		case droppedJTI:
			return s.jti[k.key] != nil
		case droppedSID:
			return s.sid[k.key] != nil
		}
		return s.cutoffs[k.key.subject] != nil
	})
	pos := s.feed.position(s.feed.next)
	s.mu.RUnlock()
	for i, r := range in {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("memory: RevocationSnapshot: %w", err)
			}
		}
		if err := fn(r); err != nil {
			return "", err
		}
	}
	return pos, nil
}

// FollowRevocations implements authkit.RevocationFeed. It is pushed, not
// polled: a write wakes every follower waiting for one, which reads what
// the log holds after its position, under the read lock, and passes all
// of it to fn in one batch at once, so each call vouches for the moment
// of that read. When nothing is written it calls fn with an empty batch
// every heartbeat. It starts no goroutine: it runs in the caller's until
// ctx ends, fn fails, or the log drops changes the follower has not read
// (it holds at most the log limit, see [WithFeedLogLimit]); then it
// returns an error matching authkit.ErrFeedPositionLost.
func (s *Store) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: FollowRevocations: %w", err)
	}
	if heartbeat <= 0 {
		return fmt.Errorf("memory: FollowRevocations: heartbeat %v: must be positive", heartbeat)
	}
	s.mu.RLock()
	pos, err := s.feed.parse(after)
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("memory: FollowRevocations: %w", err)
	}
	beat := time.NewTimer(heartbeat)
	defer beat.Stop()
	due := false
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memory: FollowRevocations: %w", err)
		}
		s.mu.RLock()
		if pos < s.feed.base {
			s.mu.RUnlock()
			return fmt.Errorf("memory: FollowRevocations: %w", errTrimmed)
		}
		batch := s.feed.read(pos)
		var wake <-chan struct{}
		if len(batch) == 0 {
			// Arm under the read lock: a write, which takes the write
			// lock, cannot come between this read and the arming.
			wake = s.feed.wake
			s.feed.armed.Store(true)
		}
		s.mu.RUnlock()

		if len(batch) > 0 || due {
			pos += uint64(len(batch))
			if err := fn(batch, s.feed.position(pos)); err != nil {
				return err
			}
			due = false
			beat.Reset(heartbeat)
			if len(batch) > 0 {
				continue // more may have come meanwhile
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("memory: FollowRevocations: %w", ctx.Err())
		case <-wake:
		case <-beat.C:
			due = true
		}
	}
}

// feedStats returns the first change the log keeps, the change the next
// write makes, and how many blocks the log holds, for tests.
func (s *Store) feedStats() (base, next uint64, blocks int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.feed.base, s.feed.next, len(s.feed.blocks) - s.feed.head
}
