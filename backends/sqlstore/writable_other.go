//go:build !unix

package sqlstore

// writable is not checked where there is no access(2): the driver reports
// a file it cannot write at the first write.
func writable(string) error { return nil }
