//go:build race

package jws

// raceEnabled is true under -race, where sync.Pool drops items at random on
// purpose, so package keys' pooled HMAC state is sometimes re-allocated and
// allocation counts are not meaningful.
const raceEnabled = true
