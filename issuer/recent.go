package issuer

import (
	"sync"
	"time"
)

// recentWindow is how long a revocation this issuer wrote makes a repeat
// of it write nothing; recentMax bounds how many it remembers.
const (
	recentWindow = 10 * time.Second
	recentMax    = 4096
)

// recentRevocations remembers the revocations (of a session, or of an
// access token by its jti) this issuer wrote in the last recentWindow, so
// that a repeat — a client sending /revoke again and again with a token
// already revoked — writes nothing, reports no event and sends the
// replicas' mirrors no change (found by review: every repeat wrote the
// entry again, 1,450 feed changes a second from one client). It asks the
// store nothing: an earlier version skipped a write when IsRevoked
// already answered revoked, which made a revocation depend on how a
// store answers queries no token makes (found by review: a store passing
// the conformance suite could then leave a token unrevoked), and skipped
// the repeat that renews a session's entry after a lowered access TTL.
// A repeat after the window writes again, so a revocation the store lost
// in between is restored by the next one.
type recentRevocations struct {
	mu sync.Mutex
	at map[string]time.Time
}

// recentKey is the key of the revocation of kind ('s' for a session, 't'
// for a jti) of id, under subject.
func recentKey(kind byte, subject, id string) string {
	return string(kind) + "\x00" + subject + "\x00" + id
}

// seen reports whether key was noted within recentWindow before now (not
// after it: a clock that went back sees nothing).
func (r *recentRevocations) seen(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[key]
	return ok && !now.Before(t) && now.Sub(t) < recentWindow
}

// note records that key was written at now. When recentMax are held it
// forgets those out of the window first, and everything if that is not
// enough: forgetting only costs a write.
func (r *recentRevocations) note(key string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = make(map[string]time.Time)
	}
	if len(r.at) >= recentMax {
		for k, t := range r.at {
			if now.Before(t) || now.Sub(t) >= recentWindow {
				delete(r.at, k)
			}
		}
		if len(r.at) >= recentMax {
			clear(r.at)
		}
	}
	r.at[key] = now
}
