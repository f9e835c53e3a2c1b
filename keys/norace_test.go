//go:build !race

package keys_test

// raceEnabled is true under the race detector, where sync.Pool drops
// entries at random and allocation counts are not meaningful.
const raceEnabled = false
