package revmirror

import (
	"time"

	"github.com/authkit-go/authkit"
)

// SetCloseWait sets how long Close waits for the follower, until the test
// ends.
func SetCloseWait(t interface{ Cleanup(func()) }, d time.Duration) {
	old := closeWait
	closeWait = d
	t.Cleanup(func() { closeWait = old })
}

// Sweep removes the expired entries now, as the follower does, compacting
// the copy when it may.
func (m *Mirror) Sweep() { m.sweep() }

// Held reports how many entries the copy holds, and the most it held
// since its maps were made.
func (m *Mirror) Held() (n, peak int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.len(), m.st.peak
}

// AfterCompactCopy sets a function that runs between the build of a
// compacted copy and its replacing the copy.
func (m *Mirror) AfterCompactCopy(f func()) { m.afterCompactCopy.Store(&f) }

// CopyDead answers q at now from the copy alone, as IsRevoked does while
// the copy is fresh.
func (m *Mirror) CopyDead(q authkit.RevocationQuery, now time.Time) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.dead(q, now)
}
