package redact_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/authkit-go/authkit/internal/redact"
)

// leaky is a client error whose text names the server, as pgx's
// ConnectError and the MySQL driver's messages do.
type leaky struct{ cause error }

func (l *leaky) Error() string {
	return "failed to connect to `user=zed_user database=zed_db` at db.zed.internal:5432: " + fmt.Sprint(l.cause)
}
func (l *leaky) Unwrap() error { return l.cause }

type serverError struct{ code string }

func (e *serverError) Error() string {
	return "FATAL: role \"zed_user\" does not exist (SQLSTATE " + e.code + ")"
}

var identities = []string{"zed_user", "zed_db", "db.zed.internal", "10.9.8.7", "5432", "/srv/zed", "s3cret"}

func TestDescribe(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(10, 9, 8, 7), Port: 5432},
		Err:  &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	byCode := func(err error) (string, bool) {
		if e, ok := err.(*serverError); ok {
			return "server error " + e.code, true
		}
		return "", false
	}
	for _, c := range []struct {
		err   error
		known []redact.Describer
		want  string
	}{
		{refused, nil, "dial tcp: connect: connection refused"},
		{&leaky{refused}, nil, "dial tcp: connect: connection refused"},
		{fmt.Errorf("connecting to db.zed.internal: %w", &leaky{refused}), nil, "dial tcp: connect: connection refused"},
		{&leaky{&serverError{"28000"}}, []redact.Describer{byCode}, "server error 28000"},
		{&leaky{&serverError{"28000"}}, nil, "*redact_test.serverError (message withheld)"},
		{&net.DNSError{Err: "no such host", Name: "db.zed.internal", IsNotFound: true}, nil, "lookup: no such host"},
		{&os.PathError{Op: "open", Path: "/srv/zed/authkit.db", Err: syscall.ENOENT}, nil, "open: no such file or directory"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, nil, "read tcp: i/o timeout"},
		{errors.Join(&leaky{refused}, &leaky{context.DeadlineExceeded}), nil, "dial tcp: connect: connection refused; context deadline exceeded"},
		{errors.New("invalid connection"), []redact.Describer{redact.Fixed("invalid connection")}, "invalid connection"},
		{errors.New("host db.zed.internal is down"), []redact.Describer{redact.Fixed("invalid connection")}, "*errors.errorString (message withheld)"},
		{(*leaky)(nil), nil, "*redact_test.leaky(nil)"},
		// Standard library errors whose text carries the input: a URL
		// with its password, a host, an address, a number that was part
		// of a DSN, the certificate's names (found missing by mutation
		// testing: printing any of them whole passed).
		{&url.Error{Op: "parse", URL: "redis://zed_user:s3cret@db.zed.internal:5432/0", Err: errors.New("invalid port \":5432x\" after host")}, nil, "parse: *errors.errorString (message withheld)"},
		{&net.DNSError{Err: "server misbehaving", Name: "db.zed.internal", Server: "10.9.8.7:53"}, nil, "lookup failed"},
		{&net.AddrError{Err: "missing port in address", Addr: "10.9.8.7"}, nil, "address: missing port in address"},
		{&strconv.NumError{Func: "Atoi", Num: "5432s3cret", Err: strconv.ErrSyntax}, nil, "strconv.Atoi: invalid syntax"},
		{&tls.CertificateVerificationError{Err: x509.HostnameError{Host: "db.zed.internal"}}, nil, "TLS certificate verification: x509: the certificate does not name the server's host"},
	} {
		got := redact.Describe(c.err, c.known...)
		if got != c.want {
			t.Errorf("Describe(%q) = %q, want %q", c.err, got, c.want)
		}
		for _, id := range identities {
			if strings.Contains(got, id) {
				t.Errorf("Describe(%q) = %q names %s", c.err, got, id)
			}
		}
	}
}

func TestError(t *testing.T) {
	if redact.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	cause := &leaky{context.DeadlineExceeded}
	err := redact.Error(cause)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the redacted error does not match its cause's sentinel")
	}
	if l, ok := errors.AsType[*leaky](err); !ok || l != cause {
		t.Error("errors.As does not reach the client's error")
	}
	if got := fmt.Sprintf("store: %v", err); got != "store: context deadline exceeded" {
		t.Errorf("text = %q", got)
	}
	if redact.Error(err) != err {
		t.Error("redacting twice wraps twice")
	}
}

// A chain deeper than the limit, or a very long joined error, gives a
// bounded description.
func TestDescribeBounded(t *testing.T) {
	var err error = syscall.ECONNRESET
	for range 10_000 {
		err = &leaky{err}
	}
	if got := redact.Describe(err); got != "…" {
		t.Errorf("a 10,000-deep chain: %q", got)
	}
	many := make([]error, 1000)
	for i := range many {
		many[i] = &serverError{fmt.Sprintf("%05d", i)}
	}
	got := redact.Describe(errors.Join(many...), func(err error) (string, bool) {
		if e, ok := err.(*serverError); ok {
			return strings.Repeat("x", 300) + e.code, true
		}
		return "", false
	})
	if len(got) > 600 {
		t.Errorf("a 1,000-branch join gives %d bytes", len(got))
	}
	// A join of ten different errors names its first few and then "…".
	ten := []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH,
		syscall.ENETUNREACH, syscall.ECONNABORTED, syscall.EACCES, syscall.ENOENT, syscall.EADDRINUSE}
	got = redact.Describe(errors.Join(ten...))
	if parts := strings.Split(got, "; "); len(parts) > 5 || parts[len(parts)-1] != "…" {
		t.Errorf("a join of ten errors: %q, want at most four of them and then …", got)
	}
}

type plainErr string

func (e plainErr) Error() string { return string(e) }
func (plainErr) PlainText()      {}

// An error that marks its text as naming no server is printed as it is,
// also when wrapped by a driver's error (found by review: the LISTEN
// probe's advice behind PgBouncer was withheld).
func TestPlainIsPrinted(t *testing.T) {
	p := plainErr("pgxlisten: LISTEN is in effect but … use Dedicated")
	if got := redact.Describe(p); got != string(p) {
		t.Errorf("Describe(plain) = %q", got)
	}
	if got := redact.Describe(fmt.Errorf("listen on 10.0.0.7: %w", p)); got != string(p) {
		t.Errorf("Describe(wrapped plain) = %q, want the plain text without the wrapper's", got)
	}
}
