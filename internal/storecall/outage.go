package storecall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/pace"
)

// outages reports store calls that failed with authkit.ErrStoreUnavailable,
// at most one per interval.
type outages struct {
	now    func() time.Time
	report func(context.Context, error)
	pacer  *pace.Pacer
}

// ReportOutages makes dl call report with the error of a store call that
// failed with authkit.ErrStoreUnavailable, at most once per every as told
// by now; the failures in between are counted, and the next report's
// error says how many there were. Call it before dl is used.
func (dl *Deadline) ReportOutages(every time.Duration, now func() time.Time, report func(context.Context, error)) {
	dl.outages = &outages{now: now, report: report, pacer: pace.New(every)}
}

// note reports err if it is an outage and one is due.
func (o *outages) note(ctx context.Context, err error) {
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		return
	}
	ok, missed := o.pacer.Allow(o.now())
	if !ok {
		return
	}
	if missed > 0 {
		err = fmt.Errorf("%w (and %d more store failures since the last report)", err, missed)
	}
	o.report(ctx, err)
}
