package conformance_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

const feedCutEnv = "AUTHKIT_CONFORMANCE_FEED_CUT"

// TestFeedConnectionCut: the reference feed, reached over a connection
// the suite cuts, passes "Follow/ConnectionCut" by ending with
// ErrStoreUnavailable; push feeds that resume past what they missed, or
// vouch for their copy while cut, fail it (found by reviews: they passed
// every other check, and the revocations written while they were cut
// never reached the mirrors behind them, or reached them late while the
// mirrors counted as current).
func TestFeedConnectionCut(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode cutMode
		want []string
	}{
		{cutReference, nil},
		{cutResumesPastGap, []string{"while its connection was cut", "never resume past changes it missed"}},
		{cutGapThenError, []string{"did not come with or before a change written once it was back"}},
		{cutVouchesWhileCut, []string{"vouched for a copy that lacks them"}},
	} {
		name := string(c.mode)
		t.Run(name, func(t *testing.T) {
			if c.mode == cutReference || os.Getenv(feedCutEnv) == name {
				h := feedHarness(nil)
				h.Severable = func(t *testing.T, s authkit.RevocationStore) (authkit.RevocationStore, conformance.Link) {
					px := conformance.NewProxy(t, conformance.EchoServer(t))
					return &linkedFeed{Store: s.(*feedtest.Store).Peer(), addr: px.Addr(), mode: c.mode}, px
				}
				conformance.RunRevocationFeed(t, h)
				return
			}
			expectSuiteFails(t, feedCutEnv, "TestFeedConnectionCut", name, "RevocationFeed/Follow/ConnectionCut", "feed",
				append([]string{"Follow/ConnectionCut"}, c.want...))
		})
	}
}

// cutMode is how a linkedFeed's follower meets a dropped connection.
type cutMode string

const (
	// cutReference ends with ErrStoreUnavailable.
	cutReference cutMode = "Reference"
	// cutResumesPastGap drops what it cannot read and goes on calling
	// fn, past it: a push feed whose subscription came back without
	// reading its log.
	cutResumesPastGap cutMode = "ResumesPastGap"
	// cutGapThenError does the same, delivers the first changes after
	// the connection is back, and only then ends with an error.
	cutGapThenError cutMode = "GapThenError"
	// cutVouchesWhileCut holds back what it cannot deliver and calls fn
	// with empty batches meanwhile (heartbeats from a local timer), then
	// delivers everything once the connection is back.
	cutVouchesWhileCut cutMode = "VouchesWhileCut"
)

// linkedFeed is a feedtest store whose follower hears of changes over a
// connection to addr, checked before each batch; mode says what it does
// while the connection is down.
type linkedFeed struct {
	*feedtest.Store
	addr string
	mode cutMode
}

func (l *linkedFeed) up() bool {
	c, err := net.DialTimeout("tcp", l.addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return false
	}
	var b [1]byte
	if _, err := c.Write([]byte{'?'}); err != nil {
		return false
	}
	_, err = io.ReadFull(c, b[:])
	return err == nil
}

func (l *linkedFeed) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	var (
		held    []authkit.Revocation
		dropped bool
	)
	return l.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if !l.up() {
			switch l.mode {
			case cutResumesPastGap, cutGapThenError:
				dropped = true
				return fn(nil, p)
			case cutVouchesWhileCut:
				held = append(held, rs...)
				return fn(nil, p)
			}
			return fmt.Errorf("linkedFeed: %w: the connection dropped", authkit.ErrStoreUnavailable)
		}
		switch {
		case l.mode == cutVouchesWhileCut && len(held) > 0:
			rs, held = append(held, rs...), nil
		case l.mode == cutGapThenError && dropped && len(rs) > 0:
			if err := fn(rs, p); err != nil {
				return err
			}
			return fmt.Errorf("linkedFeed: %w: the connection dropped again", authkit.ErrStoreUnavailable)
		}
		return fn(rs, p)
	})
}
