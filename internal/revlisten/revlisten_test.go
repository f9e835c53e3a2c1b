package revlisten

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

func TestListeners(t *testing.T) {
	var l Listeners
	l.Notify(authkit.Revocation{ID: "nobody listens"})
	var a, b []string
	stopA := l.Add(func(r authkit.Revocation) { a = append(a, r.ID) })
	stopB := l.Add(func(r authkit.Revocation) { b = append(b, r.ID) })
	l.Add(nil)()
	l.Notify(authkit.Revocation{ID: "1"})
	stopA()
	stopA()
	l.Notify(authkit.Revocation{ID: "2"})
	stopB()
	l.Notify(authkit.Revocation{ID: "3"})
	if len(a) != 1 || a[0] != "1" || len(b) != 2 || b[0] != "1" || b[1] != "2" {
		t.Errorf("a got %v, want [1]; b got %v, want [1 2]", a, b)
	}
	if l.list.Load() != nil {
		t.Error("the set is not empty after every listener stopped")
	}
}

// After stop returns, the listener is never called again, even by a
// Notify that began before.
func TestStopWaitsForCalls(t *testing.T) {
	var l Listeners
	var stopped atomic.Bool
	var late atomic.Int64
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	stop := l.Add(func(authkit.Revocation) {
		if stopped.Load() {
			late.Add(1)
		}
		select {
		case entered <- struct{}{}:
			<-release
		default:
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Notify(authkit.Revocation{}) })
	<-entered
	done := make(chan struct{})
	go func() { stop(); stopped.Store(true); close(done) }()
	select {
	case <-done:
		t.Fatal("stop returned while a call of its listener was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	wg.Wait()
	for range 100 {
		l.Notify(authkit.Revocation{})
	}
	if n := late.Load(); n != 0 {
		t.Errorf("the listener was called %d times after stop returned", n)
	}
}

func TestConcurrent(t *testing.T) {
	var l Listeners
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				stop := l.Add(func(authkit.Revocation) { n.Add(1) })
				l.Notify(authkit.Revocation{})
				stop()
			}
		})
	}
	wg.Wait()
	if n.Load() < 800 {
		t.Errorf("%d calls, want at least one per Notify made while its own listener was in (800)", n.Load())
	}
}

func BenchmarkNotifyNone(b *testing.B) {
	var l Listeners
	r := authkit.Revocation{ID: "x"}
	for b.Loop() {
		l.Notify(r)
	}
}
