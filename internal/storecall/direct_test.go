package storecall

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// honouring is a store that says whether it ends its calls at their
// deadline (authkit.DeadlineStore).
type honouring bool

func (h honouring) HonorsDeadlines() bool { return bool(h) }

// onCallerStack reports whether the test function named fn is among the
// callers of the goroutine this runs on.
func onCallerStack(fn string) bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(1, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "."+fn) {
			return true
		}
		if !more {
			return false
		}
	}
}

func TestForChoosesTheCallingPath(t *testing.T) {
	dl := New(time.Second)
	for _, c := range []struct {
		name   string
		store  any
		direct bool
	}{
		{"a store that is not a DeadlineStore", struct{}{}, false},
		{"a DeadlineStore that does not honour deadlines", honouring(false), false},
		{"a DeadlineStore that honours them", honouring(true), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := dl.For(c.store)
			if got.direct != c.direct {
				t.Fatalf("For: direct = %v, want %v", got.direct, c.direct)
			}
			if !c.direct && got != dl {
				t.Fatal("For of a store that does not honour deadlines is not the Deadline itself (its abandoned-call budget must be shared)")
			}
			if got.Timeout() != time.Second {
				t.Fatalf("For: Timeout %v, want 1s", got.Timeout())
			}
			var onCaller bool
			if _, err := Call(t.Context(), got, func(ctx context.Context) (int, error) {
				onCaller = onCallerStack("TestForChoosesTheCallingPath.func1")
				return 1, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			if onCaller != c.direct {
				t.Fatalf("the store was called on the caller's goroutine: %v, want %v", onCaller, c.direct)
			}
		})
	}
}

func TestDirectCallCarriesTheDeadline(t *testing.T) {
	dl := New(50 * time.Millisecond).For(honouring(true))
	start := time.Now()
	var left time.Duration
	_, err := Call(t.Context(), dl, func(ctx context.Context) (int, error) {
		d, ok := ctx.Deadline()
		if !ok {
			t.Error("the store's context has no deadline")
		}
		left = time.Until(d)
		<-ctx.Done() // a store that honours it returns when it passes
		return 0, ctx.Err()
	}, nil)
	if left <= 0 || left > 50*time.Millisecond {
		t.Errorf("the store's deadline was %v away, want within the 50ms store timeout", left)
	}
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call ended by the store timeout: %v, want ErrStoreUnavailable and DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("returned after %v, before the deadline", took)
	}
	// A driver that reports its deadline as a cancellation is unavailable
	// too, not a caller that went away.
	_, err = Call(t.Context(), New(20*time.Millisecond).For(honouring(true)), func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, fmt.Errorf("driver: %w", context.Canceled)
	}, nil)
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("a call the store timeout ended, reported as cancelled by the driver: %v, want ErrStoreUnavailable", err)
	}

	// The caller's own earlier deadline wins, and its error is the
	// caller's, not the store timeout's.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	dl = New(time.Minute).For(honouring(true))
	_, err = Call(ctx, dl, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the caller's deadline: %v, want DeadlineExceeded", err)
	}

	// A cancelled caller is not sent to the store at all.
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	called := false
	if _, err := Call(cctx, dl, func(context.Context) (int, error) { called = true; return 0, nil }, nil); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("a cancelled caller: %v (store called: %v), want context.Canceled without a call", err, called)
	}
}

func TestDirectCallAnswers(t *testing.T) {
	dl := New(time.Second).For(honouring(true))
	v, err := Call(t.Context(), dl, func(context.Context) (string, error) { return "answer", nil }, nil)
	if err != nil || v != "answer" {
		t.Fatalf("Call = %q, %v", v, err)
	}
	// A store's own error passes through unchanged.
	_, err = Call(t.Context(), dl, func(context.Context) (string, error) { return "", authkit.ErrNotFound }, nil)
	if !errors.Is(err, authkit.ErrNotFound) || errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("a store's not-found: %v", err)
	}
	// A panic reaches the caller as it is.
	defer func() {
		if p := recover(); p != "store bug" {
			t.Fatalf("recovered %v, want the store's panic", p)
		}
	}()
	_, _ = Call(t.Context(), dl, func(context.Context) (string, error) { panic("store bug") }, nil)
	t.Fatal("the store's panic did not reach the caller")
}

func TestDirectCallSettlesAfterReturning(t *testing.T) {
	dl := New(time.Second).For(honouring(true))
	release := make(chan struct{})
	type settled struct {
		err       error
		abandoned bool
	}
	got := make(chan settled, 1)
	want := errors.New("refused")
	_, err := Call(t.Context(), dl, func(context.Context) (int, error) { return 0, want },
		func(err error, abandoned bool) {
			<-release // a slow undo must not hold the caller
			got <- settled{err, abandoned}
		})
	if !errors.Is(err, want) {
		t.Fatalf("Call: %v", err)
	}
	close(release)
	select {
	case s := <-got:
		if !errors.Is(s.err, want) || s.abandoned {
			t.Fatalf("settle(%v, %v), want the store's error, not abandoned", s.err, s.abandoned)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("settle never ran")
	}
}

func TestDirectCallReportsOutages(t *testing.T) {
	dl := New(time.Second)
	var reports atomic.Int32
	dl.ReportOutages(time.Hour, time.Now, func(context.Context, error) { reports.Add(1) })
	direct := dl.For(honouring(true))
	_, _ = Call(t.Context(), direct, func(context.Context) (int, error) { return 0, authkit.ErrStoreUnavailable }, nil)
	if reports.Load() != 1 {
		t.Fatalf("outage reports: %d, want 1", reports.Load())
	}
	// The budget of one interval is shared with the Deadline it came from.
	_, _ = Call(t.Context(), dl, func(context.Context) (int, error) { return 0, authkit.ErrStoreUnavailable }, nil)
	if reports.Load() != 1 {
		t.Fatalf("outage reports: %d, want still 1 within the interval", reports.Load())
	}
}

// BenchmarkCall compares the two paths around a store that answers at
// once: the goroutine the caller can abandon, and the direct call of a
// store that honours its deadline.
func BenchmarkCall(b *testing.B) {
	for _, c := range []struct {
		name  string
		store any
	}{{"goroutine", struct{}{}}, {"direct", honouring(true)}} {
		b.Run(c.name, func(b *testing.B) {
			dl := New(time.Second).For(c.store)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Call(ctx, dl, func(context.Context) (int, error) { return 1, nil }, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// What may have been carried out: a call cut short by either context
// error, or a store that failed mid-call; not a store's refusal.
func TestOutcomeUnknown(t *testing.T) {
	for _, c := range []struct {
		err              error
		cutShort, unsure bool
	}{
		{context.Canceled, true, true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true, true},
		{fmt.Errorf("%w: connection reset", authkit.ErrStoreUnavailable), false, true},
		{authkit.ErrConflict, false, false},
		{authkit.ErrNotFound, false, false},
	} {
		if got := CutShort(c.err); got != c.cutShort {
			t.Errorf("CutShort(%v) = %v", c.err, got)
		}
		if got := OutcomeUnknown(c.err); got != c.unsure {
			t.Errorf("OutcomeUnknown(%v) = %v", c.err, got)
		}
	}
}

// A store call that panics settles with an error: a write that may have
// been carried out before the panic is undone like one whose reply was
// lost (found missing by mutation testing).
func TestPanicSettlesWithError(t *testing.T) {
	got := make(chan error, 1)
	func() {
		defer func() { _ = recover() }()
		_, _ = Call(t.Context(), New(time.Second), func(context.Context) (int, error) { panic("store bug") },
			func(err error, _ bool) { got <- err })
	}()
	select {
	case err := <-got:
		if !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("a panicking call settled with %v, want ErrStoreUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a panicking call never settled")
	}
}

// The report after an interval counts the failures held back within it,
// one included.
func TestOutageReportCountsHeldBack(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	var reports []string
	dl := New(time.Second)
	dl.ReportOutages(time.Minute, func() time.Time { return now }, func(_ context.Context, err error) { reports = append(reports, err.Error()) })
	fail := func() {
		_, _ = Call(t.Context(), dl, func(context.Context) (int, error) { return 0, authkit.ErrStoreUnavailable }, nil)
	}
	fail() // reported
	fail() // held back
	now = now.Add(2 * time.Minute)
	fail() // reported, with the one held back
	if len(reports) != 2 || strings.Contains(reports[0], "more") || !strings.Contains(reports[1], "and 1 more store failures since the last report") {
		t.Errorf("reports %q, want two, the second saying one more failure was held back", reports)
	}
}
