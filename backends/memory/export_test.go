package memory

// FeedWaiting reports whether a follower of s has found nothing new in
// the log and waits (or is about to) for the next write to wake it: a
// write made now reaches it only if writes push.
func FeedWaiting(s *Store) bool { return s.feed.armed.Load() }
