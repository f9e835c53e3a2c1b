// Package pace lets one report through per interval and counts the others,
// so that a failure every request sees (a store outage, a flood of refused
// logins) reaches logs and event hooks as one line per interval saying how
// many it stands for, not one per request.
package pace

import (
	"sync"
	"time"
)

// Pacer lets one report through per interval. It is safe for concurrent
// use; make one with New.
type Pacer struct {
	every time.Duration

	mu      sync.Mutex
	last    time.Time // of the last report let through
	started bool      // a report was let through
	held    int       // reports held back since
}

// New returns a Pacer that lets one report through per every.
func New(every time.Duration) *Pacer { return &Pacer{every: every} }

// Allow reports whether a report is due at now and, if so, how many were
// held back since the last one. A clock that goes back lets one through.
func (p *Pacer) Allow(now time.Time) (ok bool, held int) {
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
