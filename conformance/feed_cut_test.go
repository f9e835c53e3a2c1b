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
// ErrStoreUnavailable; a push feed that resumes past what it missed (its
// heartbeats local timers) fails it (found by review: it passed every
// other check, and the revocations written while it was cut never reached
// the mirrors behind it).
func TestFeedConnectionCut(t *testing.T) {
	t.Parallel()
	for _, gap := range []bool{false, true} {
		name := map[bool]string{false: "Reference", true: "ResumesPastGap"}[gap]
		t.Run(name, func(t *testing.T) {
			child := os.Getenv(feedCutEnv) == name
			if !gap || child {
				h := feedHarness(nil)
				h.Severable = func(t *testing.T, s authkit.RevocationStore) (authkit.RevocationStore, conformance.Link) {
					px := conformance.NewProxy(t, echoServer(t))
					return &linkedFeed{Store: s.(*feedtest.Store).Peer(), addr: px.Addr(), gap: gap}, px
				}
				conformance.RunRevocationFeed(t, h)
				return
			}
			expectSuiteFails(t, feedCutEnv, "TestFeedConnectionCut", name, "RevocationFeed/Follow/ConnectionCut", "feed",
				[]string{"Follow/ConnectionCut", "while its connection was cut", "never resume past changes it missed"})
		})
	}
}

// echoServer listens on loopback and echoes every connection's bytes: the
// backend a linkedFeed's connection reaches.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// linkedFeed is a feedtest store whose follower hears of changes over a
// connection to addr, checked before each batch. When the connection is
// down, the follower ends with ErrStoreUnavailable; with gap, it drops the
// batch and goes on calling fn, past what it missed, as a push feed
// whose subscription dropped and came back without reading its log does.
type linkedFeed struct {
	*feedtest.Store
	addr string
	gap  bool
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
	return l.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if !l.up() {
			if l.gap {
				return fn(nil, p)
			}
			return fmt.Errorf("linkedFeed: %w: the connection dropped", authkit.ErrStoreUnavailable)
		}
		return fn(rs, p)
	})
}
