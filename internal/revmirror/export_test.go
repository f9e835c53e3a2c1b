package revmirror

import "time"

// SetCloseWait sets how long Close waits for the follower, until the test
// ends.
func SetCloseWait(t interface{ Cleanup(func()) }, d time.Duration) {
	old := closeWait
	closeWait = d
	t.Cleanup(func() { closeWait = old })
}
