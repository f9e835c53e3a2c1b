package verifier

// CacheLen reports how many tokens v's verify cache holds (0 when it has
// none), so that the external tests can assert its bounds.
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
