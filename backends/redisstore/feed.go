package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

var _ authkit.RevocationFeed = (*Store)(nil)

// The revocation feed.
//
// Every revocation write is one Lua script on the slot of its subject's
// bucket ({r<b>}, b = FNV-1a(subject) mod 16): it merges the entry, appends
// the change to the bucket's stream (XADD), trims the stream to the feed
// length (recording the last ID it trimmed), and indexes the entry by its
// until. State and log therefore never disagree, on a cluster as on one
// server, and a subject's changes are in one stream, in write order.
//
// Each bucket's meta hash holds a random epoch, made when the log is first
// used; a log found without it is started over under a new one. A position
// is
//
//	r1.<digest of the 16 epochs>.<last ID of bucket 0>,…,<last ID of bucket 15>
//
// so a position from another store, or from a log that was lost (FLUSHALL,
// a restart without persistence, a node that lost its data), never
// matches, and one whose bucket was trimmed past its ID is refused.
//
// Following reads the streams with XREAD BLOCK: one read of all 16 streams
// on a standalone (or Sentinel) server, one read per stream on a cluster
// (a multi-key XREAD must stay in one slot). In each read's pipeline, on
// the same connection, the reader checks the bucket's epoch and trim mark,
// and that the log still holds the change at its cursor (same ID, same
// nonce), so a log restarted, trimmed past what it has read, or replaced
// by a replica's that lacks it is noticed. A read that returned less than
// a full batch for a stream vouches for that stream up to the time the
// read began.

// positionVersion starts every position this store makes: "r2" carries
// each bucket's last change's nonce beside its ID. An "r1" position (IDs
// alone, from a version before 2026-12-06) is still read.
const (
	positionVersion   = "r2"
	positionVersionV1 = "r1"
)

// feedBatch is how many changes one XREAD returns per stream.
const feedBatch = 512

// newEpoch returns a random epoch candidate for a log that has none.
func newEpoch() string { return rand.Text()[:16] }

// feedNonce returns the random nonce a revocation's change carries in the
// log, so that a resent script recognises its own earlier run among the
// last 8 entries of its bucket's stream and does not log it again.
func feedNonce() string { return rand.Text()[:12] }

// streamID is a Redis stream ID.
type streamID struct{ ms, seq uint64 }

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// parseStreamID reads "<ms>-<seq>", decimal without leading zeros.
func parseStreamID(s string) (streamID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	ms, ok1 := parseDecimal(a)
	seq, ok2 := parseDecimal(b)
	return streamID{ms, seq}, ok1 && ok2
}

func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// feedPos is a decoded position: per bucket, the ID of the last change
// and its nonce ("" when unknown: an empty log, an r1 position, or a
// change logged without one). The nonce tells a log that holds another
// change under the same ID (a failover to a replica that missed the
// change, its clock behind) from the log the position was read from.
type feedPos struct {
	digest string
	ids    [feedShards]streamID
	nonces [feedShards]string
}

func (p feedPos) encode() authkit.FeedPosition {
	var b strings.Builder
	b.WriteString(positionVersion + "." + p.digest + ".")
	for i, id := range p.ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id.String())
		if p.nonces[i] != "" {
			b.WriteByte('~')
			b.WriteString(p.nonces[i])
		}
	}
	return authkit.FeedPosition(b.String())
}

func decodePos(p authkit.FeedPosition) (feedPos, bool) {
	parts := strings.Split(string(p), ".")
	if len(parts) != 3 || (parts[0] != positionVersion && parts[0] != positionVersionV1) || len(parts[1]) != digestLen {
		return feedPos{}, false
	}
	ids := strings.Split(parts[2], ",")
	if len(ids) != feedShards {
		return feedPos{}, false
	}
	out := feedPos{digest: parts[1]}
	for i, s := range ids {
		s, n, tagged := strings.Cut(s, "~")
		if tagged && (parts[0] == positionVersionV1 || !validNonce(n)) {
			return feedPos{}, false
		}
		id, ok := parseStreamID(s)
		if !ok {
			return feedPos{}, false
		}
		out.ids[i], out.nonces[i] = id, n
	}
	return out, true
}

// validNonce reports whether n has the form of feedNonce's.
func validNonce(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, c := range []byte(n) {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// changeNonce is the nonce a change carries in the log, "" if none or
// not of feedNonce's form.
func changeNonce(m redis.XMessage) string {
	n, _ := m.Values["n"].(string)
	if !validNonce(n) {
		return ""
	}
	return n
}

const digestLen = 16

// epochDigest names the 16 epochs together.
func epochDigest(epochs *[feedShards]string) string {
	h := sha256.New()
	for _, e := range epochs {
		h.Write([]byte(e))
		h.Write([]byte{0})
	}
	return base32.StdEncoding.EncodeToString(h.Sum(nil))[:digestLen]
}

// head is where one bucket's log stands.
type head struct {
	epoch string
	last  streamID
	trim  streamID // the last ID trimmed ("0-0": none)
}

func parseHead(l []any) (head, error) {
	if len(l) < 3 {
		return head{}, errCorrupt
	}
	last, ok1 := parseStreamID(str(l[1]))
	trim, ok2 := parseStreamID(str(l[2]))
	if str(l[0]) == "" || !ok1 || !ok2 {
		return head{}, errCorrupt
	}
	return head{epoch: str(l[0]), last: last, trim: trim}, nil
}

func lost(op, why string) error {
	return fmt.Errorf("redisstore: %s: %w: %s", op, authkit.ErrFeedPositionLost, why)
}

// snapshotPageSize is how many index entries one script of a snapshot
// reads per bucket: a snapshot of the whole index in one script per bucket
// (one pipeline) held the server for 1.6 s at 222,000 revocations, every
// other client waiting (found by review). Measured at 120,000 (a PING
// every 2 ms during the snapshot, 2026-12-06): the longest PING took
// 350-480 ms with one script per bucket, 82-96 ms with pages of 1024 (a
// pipeline of 16 pages runs back to back), 17-19 ms with pages of 128, the
// snapshot 0.6-0.8 s, 0.7 s and 0.9 s.
const snapshotPageSize = 128

// RevocationSnapshot implements authkit.RevocationFeed. One script per
// bucket (one pipeline: a round trip per node) reads the bucket's log
// position, its data-loss epoch marker (writing it at now if it is
// missing) and the first page of the entries of its index whose until is
// after now, in one atomic step; further pages follow, a pipeline of one
// script per bucket with more each, until every bucket is read. An entry
// written after the position may be read too, as the contract allows; one
// changed after it (a later until or cutoff) may be read at either value,
// and the change after the position brings the later. Entries kept under
// the layout before the feed are added by a SCAN unless
// WithoutLegacyRevocationKeys. The first entry it hands fn is the store's
// epoch: one RevokedBeforeEpoch whose Cutoff is the latest start of any
// bucket's epoch.
func (s *Store) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	const op = "RevocationSnapshot"
	if err := ctx.Err(); err != nil {
		return "", deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	size := s.snapshotPage
	if size <= 0 {
		size = snapshotPageSize
	}
	var calls [feedShards]*scriptCall
	nowArg := fmtMicros(micros(now))
	sinceArg := fmtMicros(lossSince(now))
	err := s.exec(ctx, func(b *batch) {
		for i := range feedShards {
			calls[i] = b.script(feedSnapshotScript, []string{s.k.feedMeta(i), s.k.feed(i), s.k.revIndex(i), s.markers[i]},
				newEpoch(), newEpoch(), nowArg, s.k.p+revBase(i), sinceArg, size)
		}
	})
	if err != nil {
		return "", s.fail(ctx, op, err)
	}
	var (
		epochs [feedShards]string
		pos    feedPos
		since  int64 // the latest start of any bucket's data-loss epoch
		out    = []authkit.Revocation{{Kind: authkit.RevokedBeforeEpoch}}
		pages  [feedShards]snapshotCursor
	)
	for i, c := range calls {
		l, err := replyList(c.cmd.Val())
		if err != nil {
			return "", corrupt(op, err)
		}
		h, err := parseHead(l)
		if err != nil || len(l) < 8 {
			return "", corrupt(op, errCorrupt)
		}
		epochs[i], pos.ids[i] = h.epoch, h.last
		if n := str(l[4]); validNonce(n) {
			pos.nonces[i] = n
		}
		us, err := parseSince(str(l[3]))
		if err != nil {
			return "", corrupt(op, err)
		}
		since = max(since, us)
		if out, err = pages[i].read(l[5:], out); err != nil {
			return "", corrupt(op, err)
		}
	}
	for {
		var next [feedShards]*scriptCall
		err := s.exec(ctx, func(b *batch) {
			for i := range feedShards {
				if p := &pages[i]; p.more {
					next[i] = b.script(feedPageScript, []string{s.k.revIndex(i)}, nowArg, s.k.p+revBase(i), p.member, p.score, size)
				}
			}
		})
		if err != nil {
			return "", s.fail(ctx, op, err)
		}
		more := false
		for i, c := range next {
			if c == nil {
				continue
			}
			l, err := replyList(c.cmd.Val())
			if err != nil {
				return "", corrupt(op, err)
			}
			if out, err = pages[i].read(l, out); err != nil {
				return "", corrupt(op, err)
			}
			more = more || pages[i].more
		}
		if !more {
			break
		}
		if s.betweenPages != nil {
			s.betweenPages(pages[:])
		}
	}
	// One epoch for the whole snapshot, the latest of the buckets': a
	// mirror holds one, and the latest refuses every token any bucket
	// refuses (and, after a loss on one shard of a cluster, the tokens of
	// the other shards' subjects issued before it too: conservative).
	out[0].Cutoff = time.UnixMicro(since).UTC()
	pos.digest = epochDigest(&epochs)
	if !s.cfg.noLegacy {
		if out, err = s.legacyEntries(ctx, now, out); err != nil {
			if errors.Is(err, errCorrupt) {
				return "", corrupt(op, err)
			}
			return "", s.fail(ctx, op, err)
		}
	}
	for _, r := range out {
		if err := fn(r); err != nil {
			return "", err
		}
	}
	return pos.encode(), nil
}

// snapshotCursor is where a snapshot stands in one bucket's index: the
// last member it read and that member's score, whether more may follow,
// and where in the snapshot each member read so far is.
type snapshotCursor struct {
	member, score string
	more          bool
	at            map[string]int
}

// read appends to out the entries of a page reply (feedPageScript's, or
// the tail of feedSnapshotScript's: last member, last score, more, then
// member, value pairs) and moves the cursor. A member read before (a page
// that started again at its cursor's score, or an entry whose until moved
// past the cursor between pages) is merged into its first reading, the
// latest until and cutoff of the two, so that each key comes once.
func (c *snapshotCursor) read(l []any, out []authkit.Revocation) ([]authkit.Revocation, error) {
	if len(l) < 3 || (len(l)-3)%2 != 0 {
		return out, errCorrupt
	}
	if c.at == nil {
		c.at = make(map[string]int, (len(l)-3)/2)
	}
	for j := 3; j < len(l); j += 2 {
		member := str(l[j])
		r, err := decodeEntry(member, str(l[j+1]))
		if err != nil {
			return out, err
		}
		if i, ok := c.at[member]; ok {
			if r.Until.After(out[i].Until) {
				out[i].Until = r.Until
			}
			if r.Cutoff.After(out[i].Cutoff) {
				out[i].Cutoff = r.Cutoff
			}
			continue
		}
		c.at[member] = len(out)
		out = append(out, r)
	}
	member, score := str(l[0]), str(l[1])
	c.more = str(l[2]) == "1" && (member != c.member || score != c.score)
	c.member, c.score = member, score
	return out, nil
}

// decodeEntry decodes an index member (or a legacy key past its prefix
// and tag, rewritten as a member) and its entry's value.
func decodeEntry(member, v string) (authkit.Revocation, error) {
	es, rest, ok := strings.Cut(member, ":")
	if !ok {
		return authkit.Revocation{}, errCorrupt
	}
	subject, err := dec(es)
	if err != nil {
		return authkit.Revocation{}, err
	}
	r := authkit.Revocation{Subject: subject}
	switch {
	case rest == "c":
		r.Kind = authkit.RevokedBefore
		us, cs, ok := strings.Cut(v, ":")
		u, err1 := strconv.ParseInt(us, 10, 64)
		c, err2 := strconv.ParseInt(cs, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return authkit.Revocation{}, errCorrupt
		}
		r.Until, r.Cutoff = time.UnixMicro(u).UTC(), time.UnixMicro(c).UTC()
		return r, nil
	case strings.HasPrefix(rest, "j:"):
		r.Kind = authkit.RevokedToken
	case strings.HasPrefix(rest, "s:"):
		r.Kind = authkit.RevokedSession
	default:
		return authkit.Revocation{}, errCorrupt
	}
	if r.ID, err = dec(rest[2:]); err != nil {
		return authkit.Revocation{}, err
	}
	u, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return authkit.Revocation{}, errCorrupt
	}
	r.Until = time.UnixMicro(u).UTC()
	return r, nil
}

// decodeChange decodes one stream entry.
func decodeChange(m redis.XMessage) (authkit.Revocation, error) {
	field := func(k string) string { v, _ := m.Values[k].(string); return v }
	var r authkit.Revocation
	switch field("k") {
	case "j":
		r.Kind = authkit.RevokedToken
	case "s":
		r.Kind = authkit.RevokedSession
	case "c":
		r.Kind = authkit.RevokedBefore
		c, err := strconv.ParseInt(field("c"), 10, 64)
		if err != nil {
			return r, errCorrupt
		}
		r.Cutoff = time.UnixMicro(c).UTC()
	default:
		return r, errCorrupt
	}
	u, err := strconv.ParseInt(field("t"), 10, 64)
	if err != nil {
		return r, errCorrupt
	}
	r.Subject, r.ID, r.Until = field("s"), field("i"), time.UnixMicro(u).UTC()
	return r, nil
}

// heads reads where every bucket's log stands (one pipeline).
func (s *Store) heads(ctx context.Context) (*[feedShards]head, error) {
	var calls [feedShards]*scriptCall
	err := s.exec(ctx, func(b *batch) {
		for i := range feedShards {
			calls[i] = b.script(feedHeadScript, []string{s.k.feedMeta(i), s.k.feed(i)}, newEpoch())
		}
	})
	if err != nil {
		return nil, err
	}
	var hs [feedShards]head
	for i, c := range calls {
		l, err := replyList(c.cmd.Val())
		if err != nil {
			return nil, err
		}
		if hs[i], err = parseHead(l); err != nil {
			return nil, err
		}
	}
	return &hs, nil
}

// FollowRevocations implements authkit.RevocationFeed with blocking
// stream reads: see the comment at the top of this file. It holds one
// connection per bucket on a cluster, one in all on a single server,
// blocked in XREAD for up to a heartbeat (100ms to a second) at a time,
// and returns within about that long once ctx ends or fn fails.
func (s *Store) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	const op = "FollowRevocations"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if heartbeat <= 0 {
		return fmt.Errorf("redisstore: %s: %w: heartbeat %v must be positive", op, authkit.ErrInvalidRequest, heartbeat)
	}
	pos, ok := decodePos(after)
	if !ok {
		return lost(op, "not a position of this store")
	}
	hctx, hcancel := s.callCtx(ctx) // the call timeout bounds this step, not the following
	hs, err := s.heads(hctx)
	if err != nil {
		defer hcancel()
		if errors.Is(err, errCorrupt) {
			return corrupt(op, err)
		}
		return s.fail(hctx, op, err)
	}
	hcancel()
	var epochs [feedShards]string
	for i, h := range hs {
		epochs[i] = h.epoch
	}
	if epochDigest(&epochs) != pos.digest {
		return lost(op, "the position is from another store, or from a log that was lost")
	}
	for i, h := range hs {
		if h.last.less(pos.ids[i]) {
			return lost(op, "the position is past the end of the log")
		}
		if pos.ids[i].less(h.trim) {
			return lost(op, "the log was trimmed past the position")
		}
	}
	f := &follow{s: s, op: op, epochs: epochs, pos: pos, heartbeat: heartbeat, fn: fn}
	return f.run(ctx)
}

// follow is one FollowRevocations call.
type follow struct {
	s         *Store
	op        string
	epochs    [feedShards]string
	pos       feedPos // delivered
	heartbeat time.Duration
	fn        func([]authkit.Revocation, authkit.FeedPosition) error
}

// readResult is what one reader's XREAD brought.
type readResult struct {
	start   time.Time
	buckets []int
	full    map[int]bool // buckets whose read was a full batch
	changes []change
	err     error
}

type change struct {
	b     int
	id    streamID
	nonce string
	r     authkit.Revocation
}

// block is how long one XREAD waits: a heartbeat, between 100ms (Redis
// times blocked reads out only as often as its event loop wakes, every
// 100ms at the default hz, so the heartbeat does not rely on it: see
// probe) and a second, and well within the client's read timeout. It also
// bounds how long FollowRevocations takes to return once ctx ends or fn
// fails, since it waits for its readers.
func (f *follow) block() time.Duration {
	d := min(max(f.heartbeat, 100*time.Millisecond), time.Second)
	var rt time.Duration
	switch c := f.s.rdb.(type) {
	case *redis.Client:
		rt = c.Options().ReadTimeout
	case *redis.ClusterClient:
		rt = c.Options().ReadTimeout
	case *redis.Ring:
		rt = c.Options().ReadTimeout
	}
	if rt > 0 {
		d = min(d, rt/2)
	}
	return max(d, 10*time.Millisecond)
}

// probe reads every bucket's head (one pipeline) and vouches, at the time
// the probe began, for each bucket whose last ID the readers have already
// received: every write that returned before then is in hand.
func (f *follow) probe(ctx context.Context, received *[feedShards]streamID, vouched *[feedShards]time.Time) error {
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, max(f.heartbeat, time.Second))
	defer cancel()
	hs, err := f.s.heads(pctx)
	if err != nil {
		if ctx.Err() != nil {
			return deadCtx(f.op, context.Cause(ctx))
		}
		if errors.Is(err, errCorrupt) {
			return corrupt(f.op, err)
		}
		return f.s.fail(ctx, f.op, err)
	}
	for b, h := range hs {
		if h.epoch != f.epochs[b] {
			return lost(f.op, "the log was lost and started over")
		}
		if received[b].less(h.trim) {
			return lost(f.op, "the log was trimmed past the last position passed to fn")
		}
		if h.last.less(received[b]) {
			// The log lost changes fn already has (a failover to a
			// replica that had not received them, or a primary whose
			// clock ran ahead): its next IDs may fall below what the
			// readers wait after, and they would read nothing new and
			// vouch for ever (found by review).
			return lost(f.op, "the log is behind the last position passed to fn")
		}
		if !received[b].less(h.last) {
			vouched[b] = start
		}
	}
	return nil
}

func (f *follow) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// Readers: all buckets on one connection on a single server, a
	// reader per bucket elsewhere (cluster, ring).
	var groups [][]int
	if _, single := f.s.rdb.(*redis.Client); single {
		g := make([]int, feedShards)
		for i := range g {
			g[i] = i
		}
		groups = [][]int{g}
	} else {
		for i := range feedShards {
			groups = append(groups, []int{i})
		}
	}
	results := make(chan readResult)
	block := f.block()
	for _, g := range groups {
		cursor := make(map[int]streamID, len(g))
		nonce := make(map[int]string, len(g))
		for _, b := range g {
			cursor[b], nonce[b] = f.pos.ids[b], f.pos.nonces[b]
		}
		wg.Go(func() { f.read(ctx, g, cursor, nonce, block, results) })
	}

	var (
		vouched   [feedShards]time.Time // zero until a bucket's first vouch
		received  = f.pos.ids           // the last ID the readers brought
		pending   []change
		lastCall  = time.Now()
		lastProbe time.Time
	)
	every := max(f.heartbeat/4, time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return deadCtx(f.op, context.Cause(ctx))
		case r := <-results:
			if r.err != nil {
				return r.err
			}
			pending = append(pending, r.changes...)
			for _, c := range r.changes {
				received[c.b] = c.id
			}
			for _, b := range r.buckets {
				if !r.full[b] && r.start.After(vouched[b]) {
					vouched[b] = r.start
				}
			}
		case <-tick.C:
		}
		if time.Since(lastProbe) >= every {
			lastProbe = time.Now()
			if err := f.probe(ctx, &received, &vouched); err != nil {
				return err
			}
		}
		// Every call of fn vouches for the log: each bucket was read to
		// its end by a read that began less than a heartbeat ago.
		now := time.Now()
		fresh := true
		for _, v := range vouched {
			if v.IsZero() || now.Sub(v) >= f.heartbeat {
				fresh = false
				break
			}
		}
		if !fresh {
			continue
		}
		if len(pending) == 0 {
			if now.Sub(lastCall) >= f.heartbeat/2 {
				if err := f.fn(nil, f.pos.encode()); err != nil {
					return err
				}
				lastCall = now
			}
			continue
		}
		// Everything received goes in one call, so that its position
		// covers every bucket's vouched end (a backlog arrives whole: a
		// bucket is not vouched for while its reads come back full).
		batch := make([]authkit.Revocation, len(pending))
		for i, c := range pending {
			batch[i] = c.r
			f.pos.ids[c.b], f.pos.nonces[c.b] = c.id, c.nonce
		}
		pending = nil
		if err := f.fn(batch, f.pos.encode()); err != nil {
			return err
		}
		lastCall = time.Now()
	}
}

// read runs one reader: XREAD BLOCK over its buckets from its cursor,
// each read followed, on the same connection, by a check of the buckets'
// epochs and trim marks. It sends what it reads to out until ctx ends or
// a read fails.
func (f *follow) read(ctx context.Context, buckets []int, cursor map[int]streamID, nonce map[int]string, block time.Duration, out chan<- readResult) {
	send := func(r readResult) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	streams := make([]string, 2*len(buckets))
	grace := max(f.heartbeat, time.Second)
	for {
		for i, b := range buckets {
			streams[i] = f.s.k.feed(b)
			streams[len(buckets)+i] = cursor[b].String()
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, block+grace)
		pipe := f.s.rdb.Pipeline()
		xr := pipe.XRead(rctx, &redis.XReadArgs{Streams: streams, Count: feedBatch, Block: block})
		// Each cursor's own entry must still be in its log (unless
		// trimmed, which the meta read after says): a failover to a
		// replica that had not received it, with a clock behind, gives
		// the new primary entries below the cursor and above it, and
		// the XREAD alone would skip those below (found by review: a
		// mirror lost a revocation that way, its head checks passing).
		from := make([]streamID, len(buckets))
		held := make([]*redis.XMessageSliceCmd, len(buckets))
		for i, b := range buckets {
			from[i] = cursor[b]
			if from[i] != (streamID{}) {
				held[i] = pipe.XRangeN(rctx, f.s.k.feed(b), from[i].String(), from[i].String(), 1)
			}
		}
		// The epochs and trim marks are read after the XREAD, on the same
		// connection: a trim past the cursor made by another client just
		// before the XREAD ran (between the two, if they came the other
		// way round) is then seen, and judged against the cursor the
		// XREAD started from.
		metas := make([]*redis.SliceCmd, len(buckets))
		for i, b := range buckets {
			metas[i] = pipe.HMGet(rctx, f.s.k.feedMeta(b), "e", "t")
		}
		_, err := pipe.Exec(rctx)
		cancel()
		// Exec reports only the first failed command, and an XREAD that
		// timed out with nothing new fails with redis.Nil: every
		// command's own error is checked, so that a later one that failed
		// (a connection lost between the replies, a meta key of the wrong
		// type) is never read as an empty reply.
		if err == nil || errors.Is(err, redis.Nil) {
			err = pipeErr(xr, metas, held)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			send(readResult{err: f.s.fail(ctx, f.op, err)})
			return
		}
		res := readResult{start: start, buckets: buckets, full: map[int]bool{}}
		for i, b := range buckets {
			v := metas[i].Val()
			if len(v) != 2 {
				send(readResult{err: corrupt(f.op, errCorrupt)})
				return
			}
			e, _ := v[0].(string)
			t, _ := v[1].(string)
			trim, ok := parseStreamID(t)
			if e != f.epochs[b] || !ok {
				send(readResult{err: lost(f.op, "the log was lost and started over")})
				return
			}
			if cursor[b].less(trim) {
				send(readResult{err: lost(f.op, "the log was trimmed past the last position passed to fn")})
				return
			}
			if held[i] != nil && trim.less(from[i]) {
				at := held[i].Val()
				if len(at) == 0 {
					send(readResult{err: lost(f.op, "the log no longer holds the last change passed to fn (a failover to a replica that had not received it)")})
					return
				}
				// Another change under the same ID: the old primary
				// logged two in one millisecond, the replica got the
				// first, and the new primary's clock gave the next
				// change the second's ID (found by review).
				if n := nonce[b]; n != "" && changeNonce(at[0]) != n {
					send(readResult{err: lost(f.op, "the log holds another change than the last one passed to fn under its ID (a failover to a replica that had not received it)")})
					return
				}
			}
		}
		idx := map[string]int{}
		for _, b := range buckets {
			idx[f.s.k.feed(b)] = b
		}
		for _, st := range xr.Val() {
			b, ok := idx[st.Stream]
			if !ok {
				send(readResult{err: corrupt(f.op, errCorrupt)})
				return
			}
			for _, m := range st.Messages {
				id, ok := parseStreamID(m.ID)
				r, err := decodeChange(m)
				if !ok || err != nil || !cursor[b].less(id) {
					send(readResult{err: corrupt(f.op, errCorrupt)})
					return
				}
				cursor[b], nonce[b] = id, changeNonce(m)
				res.changes = append(res.changes, change{b: b, id: id, nonce: nonce[b], r: r})
			}
			if len(st.Messages) >= feedBatch {
				res.full[b] = true
			}
		}
		if !send(res) {
			return
		}
	}
}

// pipeErr is the first error, other than an XREAD's redis.Nil (nothing
// new), among the replies of a reader's pipeline.
func pipeErr(xr *redis.XStreamSliceCmd, metas []*redis.SliceCmd, held []*redis.XMessageSliceCmd) error {
	if err := xr.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for _, h := range held {
		if h != nil && h.Err() != nil {
			return h.Err()
		}
	}
	for _, m := range metas {
		if err := m.Err(); err != nil {
			return err
		}
	}
	return nil
}

// legacyValue is the reply of a snapshot's GET of a legacy entry: ok is
// false for a key gone since the SCAN (redis.Nil). Any other failure is an
// error, even when the pipeline's Exec reported none: Exec reports only
// the first failed command, which may have been an earlier key's
// redis.Nil, and a read that failed must never pass for an entry that is
// gone (the snapshot would leave out a revocation in force).
func legacyValue(get *redis.StringCmd) (v string, ok bool, err error) {
	v, err = get.Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return v, err == nil, err
}

// legacyScanCount is the COUNT hint of the SCAN for entries under the
// layout before the feed.
const legacyScanCount = 1000

// legacyEntries adds to out the entries in force at now that are kept
// under the layout before the feed ("rev:{u<subject>}:…"), found by a SCAN
// of every primary, merged with out's entries of the same key.
func (s *Store) legacyEntries(ctx context.Context, now time.Time, out []authkit.Revocation) ([]authkit.Revocation, error) {
	type key struct {
		kind        authkit.RevocationKind
		subject, id string
	}
	at := map[key]int{}
	for i, r := range out {
		at[key{r.Kind, r.Subject, r.ID}] = i
	}
	base := s.k.p + "rev:{u"
	pattern := globEscape(base) + "*"
	var mu sync.Mutex
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, legacyScanCount).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				pipe := c.Pipeline()
				gets := make([]*redis.StringCmd, len(keys))
				for i, k := range keys {
					gets[i] = pipe.Get(ctx, k)
				}
				if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				mu.Lock()
				for i, k := range keys {
					v, ok, err := legacyValue(gets[i])
					if err != nil {
						mu.Unlock()
						return err
					}
					if !ok {
						continue // gone since the SCAN
					}
					es, rest, ok := strings.Cut(k[len(base):], "}")
					if !ok {
						mu.Unlock()
						return errCorrupt
					}
					r, err := decodeEntry(es+rest, v)
					if err != nil {
						mu.Unlock()
						return err
					}
					if !now.Before(r.Until) {
						continue
					}
					kk := key{r.Kind, r.Subject, r.ID}
					if j, ok := at[kk]; ok {
						o := &out[j]
						if r.Until.After(o.Until) {
							o.Until = r.Until
						}
						if r.Cutoff.After(o.Cutoff) {
							o.Cutoff = r.Cutoff
						}
						continue
					}
					at[kk] = len(out)
					out = append(out, r)
				}
				mu.Unlock()
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	default:
		err = scan(ctx, s.rdb)
	}
	return out, err
}

// globEscape quotes the characters SCAN's MATCH pattern treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
