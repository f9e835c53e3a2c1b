package verifier

import "time"

// MirrorStats describes a verifier's revocation mirror
// (authkit.WithRevocationMirror), for monitoring: a mirror that is not
// Fresh sends every revocation check to the store (StoreChecks grows), as
// a verifier without a mirror does, so on many replicas it is the first
// thing to watch when the store's load rises.
type MirrorStats struct {
	// Fresh reports whether revocation checks are answered from the copy
	// now: the mirror heard from the feed (changes or a heartbeat) less
	// than maxLag ago. False while it starts, and while its feed is down,
	// silent or behind.
	Fresh bool
	// Entries is how many revocations the copy holds (those in force, and
	// those expired less than a minute ago).
	Entries int
	// LastHeard is when the mirror last took a snapshot or heard from the
	// feed; zero if never.
	LastHeard time.Time
	// StoreChecks counts the revocation checks the store answered because
	// the copy was not fresh.
	StoreChecks uint64
	// Snapshots counts the snapshots of the store's revocations the
	// mirror took (one at the start, one each time its feed position was
	// lost); Reconnects counts the times it followed the feed again after
	// the feed failed or stayed silent.
	Snapshots, Reconnects uint64
}

// MirrorStats returns the state of v's revocation mirror, and false when
// v has none (no authkit.WithRevocationMirror). It takes a read lock for
// a moment: call it from a metrics scrape, not on every request. After
// Close the mirror is no longer Fresh.
func (v *Verifier) MirrorStats() (MirrorStats, bool) {
	if v == nil || v.mirror == nil {
		return MirrorStats{}, false
	}
	s := v.mirror.Stats()
	return MirrorStats{
		Fresh:       s.Fresh,
		Entries:     s.Entries,
		LastHeard:   s.LastHeard,
		StoreChecks: s.Fallbacks,
		Snapshots:   s.Snapshots,
		Reconnects:  s.Reconnects,
	}, true
}
