package storecall

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// outages reports store calls that failed with authkit.ErrStoreUnavailable,
// at most one per interval.
type outages struct {
	every  time.Duration
	now    func() time.Time
	report func(context.Context, error)

	mu       sync.Mutex
	last     time.Time // of the last report
	reported bool      // a report was made
	missed   int       // failures not reported since the last report
}

// ReportOutages makes dl call report with the error of a store call that
// failed with authkit.ErrStoreUnavailable, at most once per every as told
// by now; the failures in between are counted, and the next report's
// error says how many there were. Call it before dl is used.
func (dl *Deadline) ReportOutages(every time.Duration, now func() time.Time, report func(context.Context, error)) {
	dl.outages = &outages{every: every, now: now, report: report}
}

// note reports err if it is an outage and one is due.
func (o *outages) note(ctx context.Context, err error) {
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		return
	}
	t := o.now()
	o.mu.Lock()
	if o.reported && t.Sub(o.last) < o.every {
		o.missed++
		o.mu.Unlock()
		return
	}
	missed := o.missed
	o.last, o.reported, o.missed = t, true, 0
	o.mu.Unlock()
	if missed > 0 {
		err = fmt.Errorf("%w (and %d more store failures since the last report)", err, missed)
	}
	o.report(ctx, err)
}
