package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/redact"
)

// sqliteLifetime is how long a SQLite connection of a pool Open made is
// used before it is closed and another is opened: the bound on how long
// the store keeps answering from a database file that was removed or
// replaced at its path (fileWatch). Opening one costs well under a
// millisecond.
var sqliteLifetime = 10 * time.Second // a var for the tests

// errFileReplaced is the store's error once the SQLite database file at the
// DSN's path is no longer the one it opened (the store's own words, which
// dbErr lets through; fail makes it ErrStoreUnavailable).
var errFileReplaced error = &rowError{msg: "the SQLite database file was removed or replaced since the store opened it; other processes use the file now at that path: restart this one"}

// fileWatch is the SQLite database file a pool Open made was opened on
// (found by review: a file removed and migrated again, or a backup moved
// over it, left a running server answering from the old one — its
// revocations unseen by every other process — and saying it was healthy).
// Each new connection of the pool checks that the path still leads to
// that file, and is refused otherwise; with connections recycled every
// sqliteLifetime, and Ping checking too, the store fails closed within
// that time. Links are followed: a link pointed elsewhere is a replacement
// too.
type fileWatch struct {
	path string
	at   os.FileInfo
}

// watchFile returns the watch of the file at path, nil if there is none
// to watch (the driver will say why).
func watchFile(path string) *fileWatch {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return &fileWatch{path: path, at: fi}
}

// check returns errFileReplaced unless path still leads to the file.
func (w *fileWatch) check() error {
	fi, err := os.Stat(w.path)
	if err != nil || !os.SameFile(fi, w.at) {
		return errFileReplaced
	}
	return nil
}

// watchedConnector opens the driver's connections on the watched file.
type watchedConnector struct {
	drv   driver.Driver
	dsn   string
	watch *fileWatch
}

func (c *watchedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := c.watch.check(); err != nil {
		return nil, err
	}
	var (
		conn driver.Conn
		err  error
	)
	if dc, ok := c.drv.(driver.DriverContext); ok {
		var k driver.Connector
		if k, err = dc.OpenConnector(c.dsn); err == nil {
			conn, err = k.Connect(ctx)
		}
	} else {
		conn, err = c.drv.Open(c.dsn)
	}
	if err != nil {
		return nil, err
	}
	// Replaced while it opened: this connection may be on the new file.
	if err := c.watch.check(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c *watchedConnector) Driver() driver.Driver { return c.drv }

// sqlitePath is the file name of a DSN in sqliteDSN's form.
func sqlitePath(dsn string) string {
	p, _, _ := strings.Cut(dsn, "?")
	return p
}

// isReplaced reports whether err is, or comes from, errFileReplaced.
func isReplaced(err error) bool { return errors.Is(err, errFileReplaced) }

// checkWritable refuses a SQLite database file this process cannot write
// (found by review: serve started on one, answered every login 503 with
// SQLITE_READONLY in its log, and its health check said ok). A file that
// is not there yet is left to the driver. It asks the kernel (access(2),
// writable), never opening the file: closing any descriptor of a SQLite
// file drops every POSIX lock the process holds on it, those of a pool
// already open on it included (found by the review of the first version,
// which opened it: another process then checkpointed the WAL away and
// missed this one's writes).
func checkWritable(path string) error {
	return notWritable(writable(path))
}

// notWritable is checkWritable's answer to writable's error.
func notWritable(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("sqlstore: %w: the SQLite database file cannot be written by this process (%s): the store writes on every login and revocation", authkit.ErrInvalidConfig, redact.Describe(err))
	}
	return nil
}
