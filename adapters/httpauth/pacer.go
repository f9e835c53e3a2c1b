package httpauth

import (
	"sync"
	"time"
)

// outageLogInterval is the least time between two warnings that requests
// were refused because a store (or a password checker) could not answer.
// During an outage every request is refused, and a line each would flood
// the log, and slow the server, at the request rate: one line per interval
// says how many it stands for.
const outageLogInterval = time.Second

// warnPacer lets one warning through per interval and counts the others.
// The zero value is not ready: see newWarnPacer.
type warnPacer struct {
	every time.Duration

	mu      sync.Mutex
	last    time.Time // of the last warning let through
	started bool      // a warning was let through
	held    int       // warnings held back since
}

func newWarnPacer(every time.Duration) *warnPacer { return &warnPacer{every: every} }

// allow reports whether a warning is due at now and, if so, how many were
// held back since the last one. A clock that goes back lets one through.
func (p *warnPacer) allow(now time.Time) (ok bool, held int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := now.Sub(p.last); p.started && d >= 0 && d < p.every {
		p.held++
		return false, 0
	}
	held = p.held
	p.last, p.started, p.held = now, true, 0
	return true, held
}
