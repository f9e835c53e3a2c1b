// Package redact describes the errors of database and network clients
// without their own text, which those clients fill with the server's host
// and port, the database user and the database name ("failed to connect to
// `user=app database=prod`: 10.0.0.7:5432 …", "Access denied for user
// 'app'@'10.0.0.9'", "dial tcp 10.0.0.8:6379: connect: connection
// refused").
//
// The SQL and Redis stores wrap every client error they return with
// [Error]: errors.Is and errors.As still reach the client's error through
// Unwrap, so classification and an application's own inspection work as
// before, but Error() prints only what this package, or a [Describer] the
// store passes, knows to carry no identity: the kind of a network failure
// ("dial tcp: connect: connection refused", "read tcp: i/o timeout"), a
// server's error code, a few fixed driver messages, and otherwise the Go
// type of an error whose text is withheld. A wrapper the package does not
// know is looked through: its cause is described instead of its text.
package redact

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// Describer names an error of a kind its caller knows (a driver's server
// error, a driver's fixed sentinel), with text free of identities: ok is
// false for any other error. Describers see each error of a chain in turn,
// outermost first, and must not unwrap it themselves.
type Describer func(err error) (text string, ok bool)

// Limits on a description: how deep a chain is followed, how many
// branches of a joined error are described, and its length in bytes.
const (
	maxDepth    = 16
	maxBranches = 4
	maxLen      = 512
)

// Plain is implemented by an error whose text names no host, port, user,
// database or file by construction (made of constants and its maker's own
// words): Describe prints its text as it is. authkit's own errors about a
// database or server implement it, so that a log that describes errors
// with Describe does not withhold their advice (found by review: a
// PostgreSQL LISTEN behind PgBouncer was logged as "*errors.errorString
// (message withheld)" where the error said what to do).
type Plain interface {
	error
	PlainText()
}

// redacted is an error whose text has been replaced by its description.
type redacted struct {
	err  error
	text string
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

// Error returns err with its text replaced by Describe(err, known...); its
// Unwrap returns err. It returns nil for nil, and an error it made itself
// as it is.
func Error(err error, known ...Describer) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*redacted); ok {
		return err
	}
	return &redacted{err: err, text: Describe(err, known...)}
}

// Describe returns a description of err that carries no host, port, user,
// database name or file path: see the package documentation.
func Describe(err error, known ...Describer) string {
	s := describe(err, known, 0)
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// fixed are errors whose text is a constant of the standard library.
var fixed = []error{
	context.Canceled, context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe,
	os.ErrDeadlineExceeded, os.ErrNotExist, os.ErrPermission, os.ErrClosed, net.ErrClosed,
	driver.ErrBadConn, sql.ErrConnDone, sql.ErrTxDone, sql.ErrNoRows,
	strconv.ErrSyntax, strconv.ErrRange,
}

func describe(err error, known []Describer, depth int) string {
	if err == nil {
		return "<nil>"
	}
	if depth > maxDepth {
		return "…"
	}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Sprintf("%T(nil)", err)
	}
	for _, d := range known {
		if s, ok := d(err); ok {
			return s
		}
	}
	for _, f := range fixed {
		if err == f {
			return err.Error()
		}
	}
	if _, ok := err.(Plain); ok {
		return err.Error()
	}
	next := func(e error) string { return describe(e, known, depth+1) }
	switch e := err.(type) {
	case *redacted:
		return e.text
	case syscall.Errno:
		return e.Error()
	case *net.OpError:
		// "dial tcp 10.0.0.7:5432: connect: …" without the addresses.
		s := e.Op
		if e.Net != "" {
			s += " " + e.Net
		}
		return s + ": " + next(e.Err)
	case *os.SyscallError:
		return e.Syscall + ": " + next(e.Err)
	case *os.PathError:
		return e.Op + ": " + next(e.Err) // the path is a database file's name
	case *os.LinkError:
		return e.Op + ": " + next(e.Err)
	case *net.DNSError:
		switch {
		case e.IsNotFound:
			return "lookup: no such host"
		case e.IsTimeout:
			return "lookup: i/o timeout"
		}
		return "lookup failed"
	case *net.AddrError:
		return "address: " + e.Err // e.Err is a fixed phrase; e.Addr is withheld
	case *net.ParseError:
		return "invalid " + e.Type
	case *strconv.NumError:
		return "strconv." + e.Func + ": " + next(e.Err) // e.Num, the input, is withheld
	case *url.Error:
		return e.Op + ": " + next(e.Err)
	case tls.RecordHeaderError:
		return e.Msg
	case tls.AlertError:
		return e.Error()
	case *tls.CertificateVerificationError:
		return "TLS certificate verification: " + next(e.Err)
	case x509.HostnameError:
		return "x509: the certificate does not name the server's host"
	case x509.UnknownAuthorityError:
		return "x509: certificate signed by unknown authority"
	case x509.CertificateInvalidError:
		return "x509: invalid certificate"
	case interface{ Unwrap() []error }:
		var parts []string
		for _, inner := range e.Unwrap() {
			if inner == nil {
				continue
			}
			if len(parts) == maxBranches {
				parts = append(parts, "…")
				break
			}
			if s := next(inner); !contains(parts, s) {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			return next(inner)
		}
	}
	return fmt.Sprintf("%T (message withheld)", err)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Fixed returns a Describer that prints, as they are, errors whose text is
// one of texts: the constant messages of a driver's sentinel errors
// ("invalid connection", "conn closed"), recognised by their text because
// their type (*errors.errorString) says nothing.
func Fixed(texts ...string) Describer {
	set := make(map[string]bool, len(texts))
	for _, t := range texts {
		set[t] = true
	}
	return func(err error) (string, bool) {
		if _, wraps := err.(interface{ Unwrap() error }); wraps {
			return "", false
		}
		if s := err.Error(); set[s] {
			return s, true
		}
		return "", false
	}
}
