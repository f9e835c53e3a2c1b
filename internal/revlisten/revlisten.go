// Package revlisten keeps the in-process listeners of a store's
// revocation writes, for the backends' authkit.RevocationListeners.
package revlisten

import (
	"sync"
	"sync/atomic"

	"github.com/authkit-go/authkit"
)

// Listeners is a set of listeners. The zero value is empty and ready to
// use; it must not be copied after first use. Notify costs one atomic
// load when the set is empty.
type Listeners struct {
	mu   sync.Mutex // serialises Add and stop, and stop with Notify's calls
	next uint64
	// list is the current set, replaced (never changed) under mu.
	list atomic.Pointer[[]entry]
	// calls is held for reading while Notify calls the listeners, so
	// that stop can wait until no call of a removed listener runs.
	calls sync.RWMutex
}

type entry struct {
	id uint64
	fn func(authkit.Revocation)
}

// Add adds fn and returns the function that removes it. After the
// returned function has returned, fn is not called again; calling it more
// than once is harmless; calling it from fn deadlocks. A nil fn is
// ignored.
func (l *Listeners) Add(fn func(authkit.Revocation)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	l.mu.Lock()
	l.next++
	id := l.next
	var cur []entry
	if p := l.list.Load(); p != nil {
		cur = *p
	}
	next := append(append(make([]entry, 0, len(cur)+1), cur...), entry{id: id, fn: fn})
	l.list.Store(&next)
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			var keep []entry
			if p := l.list.Load(); p != nil {
				for _, e := range *p {
					if e.id != id {
						keep = append(keep, e)
					}
				}
			}
			if len(keep) == 0 {
				l.list.Store(nil)
			} else {
				l.list.Store(&keep)
			}
			l.mu.Unlock()
			// Wait out any Notify still calling the old set: after
			// this, fn is never called again.
			l.calls.Lock()
			l.calls.Unlock()
		})
	}
}

// Notify calls every listener with r, in the order they were added.
func (l *Listeners) Notify(r authkit.Revocation) {
	if l.list.Load() == nil {
		return
	}
	l.calls.RLock()
	defer l.calls.RUnlock()
	if p := l.list.Load(); p != nil {
		for _, e := range *p {
			e.fn(r)
		}
	}
}
