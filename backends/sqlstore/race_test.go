//go:build race

package sqlstore_test

// raceEnabled is true under the race detector, which makes the pure-Go
// SQLite driver many times slower (its whole engine is instrumented).
const raceEnabled = true
