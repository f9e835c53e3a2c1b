// Package eventlog records what an event hook (authkit.WithEventHook,
// httpauth.WithEventHook) is told, for tests that assert events.
package eventlog

import (
	"context"
	"sync"

	"github.com/authkit-go/authkit"
)

// Log records events; its zero value is ready. Safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	events []authkit.Event
}

// Hook is the event hook: pass l.Hook to WithEventHook.
func (l *Log) Hook(_ context.Context, e authkit.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// Take returns the events recorded since the last Take, oldest first.
func (l *Log) Take() []authkit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}
