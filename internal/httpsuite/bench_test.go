package httpsuite_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/chiauth"
	"github.com/authkit-go/authkit/adapters/echoauth"
	"github.com/authkit-go/authkit/adapters/ginauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// benchAuth returns the middleware and a realistic access token: HS256,
// two-part issuer and audience URLs, three scopes, a session, and the
// memory store's revocation check on every request.
func benchAuth(b *testing.B) (*httpauth.Auth, string) {
	b.Helper()
	key, err := keys.NewHMAC(keys.HS256, []byte("0123456789abcdef0123456789abcdef"), "bench")
	if err != nil {
		b.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		b.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
	iss, err := issuer.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		b.Fatal(err)
	}
	pair, err := iss.IssuePair(context.Background(), "alice", issuer.WithScopes("read", "write", "admin"))
	if err != nil {
		b.Fatal(err)
	}
	return auth, pair.AccessToken
}

// BenchmarkProtectedRoute serves GET /api/me end to end (router, middleware,
// handler; httptest.NewRecorder and ServeHTTP, no network) in each
// framework, with mw=none (the bare route) and mw=authkit (the route behind
// authkit's Require; HS256, the memory store's revocation check, the verify
// cache on as by default, so every request after the first is a hit).
// The via=tcp and via=tcp-parallel variants serve the same handler over
// loopback TCP to a wrk-like client (see benchTCP): the route's throughput
// as a server sees it, connection handling and request parsing included.
// Compare with
//
//	benchstat -col /mw bench.txt
//
// which prints, per framework and transport, authkit's cost as a ratio to
// the bare route.
func BenchmarkProtectedRoute(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	auth, token := benchAuth(b)
	const path = "/api/me"
	body := []byte(`{"ok":true}`)

	stdHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	ginHandler := func(c *gin.Context) { c.Data(http.StatusOK, "application/json", body) }
	echoHandler := func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", body) }

	nethttp := func(protect bool) http.Handler {
		mux := http.NewServeMux()
		if protect {
			mux.Handle("GET "+path, auth.Require(stdHandler))
		} else {
			mux.Handle("GET "+path, stdHandler)
		}
		return mux
	}
	chiRouter := func(protect bool) http.Handler {
		r := chi.NewRouter()
		if protect {
			r.Use(chiauth.Require(auth))
		}
		r.Get(path, stdHandler)
		return r
	}
	ginRouter := func(protect bool) http.Handler {
		r := gin.New()
		if protect {
			r.Use(ginauth.Require(auth))
		}
		r.GET(path, ginHandler)
		return r
	}
	echoRouter := func(protect bool) http.Handler {
		e := echo.New()
		if protect {
			e.Use(echoauth.Require(auth))
		}
		e.GET(path, echoHandler)
		return e
	}

	for _, fw := range []struct {
		name  string
		build func(protect bool) http.Handler
	}{
		{"nethttp", nethttp}, {"chi", chiRouter}, {"gin", ginRouter}, {"echo", echoRouter},
	} {
		for _, mw := range []string{"none", "authkit"} {
			h := fw.build(mw == "authkit")
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			b.Run("fw="+fw.name+"/mw="+mw, func(b *testing.B) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.String() != string(body) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
			b.Run("fw="+fw.name+"/mw="+mw+"/via=tcp", func(b *testing.B) { benchTCP(b, h, path, token, len(body), false) })
			b.Run("fw="+fw.name+"/mw="+mw+"/via=tcp-parallel", func(b *testing.B) { benchTCP(b, h, path, token, len(body), true) })
		}
	}
}

// benchTCP serves h with a real http.Server on a loopback port and asks
// for path over keep-alive connections with a small raw HTTP/1.1 client
// (one pre-formatted request, a response parser that does not allocate),
// as wrk does: so ns/op is a request's round trip through the server's
// connection handling, request parsing, the router, the middleware and
// the handler, with little of the client's own cost. via=tcp is one
// connection with one request in flight; via=tcp-parallel is one
// connection per goroutine (GOMAXPROCS of them), client and server
// sharing the cores. allocs/op counts the server's allocations (the client
// makes none per request).
func benchTCP(b *testing.B, h http.Handler, path, token string, bodyLen int, parallel bool) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	request := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: authkit-bench\r\nAccept: */*\r\nAuthorization: Bearer " + token + "\r\n\r\n")
	roundTrip := func(c net.Conn, br *bufio.Reader) error {
		if _, err := c.Write(request); err != nil {
			return err
		}
		return readResponse(br, bodyLen)
	}
	conn := func() (net.Conn, *bufio.Reader, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		br := bufio.NewReaderSize(c, 4096)
		if err := roundTrip(c, br); err != nil { // the first request, outside the loop
			_ = c.Close()
			return nil, nil, err
		}
		return c, br, nil
	}
	b.ReportAllocs()
	if !parallel {
		c, br, err := conn()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for b.Loop() {
			if err := roundTrip(c, br); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		c, br, err := conn()
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := roundTrip(c, br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// readResponse reads one HTTP/1.1 response from br: status 200, a
// Content-Length of bodyLen, and the body. It does not allocate.
func readResponse(br *bufio.Reader, bodyLen int) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", line)
	}
	n := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 { // the blank line ending the header
			break
		}
		const cl = "content-length:"
		if len(line) > len(cl) && strings.EqualFold(string(line[:len(cl)]), cl) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(cl):])))
			if err != nil {
				return fmt.Errorf("header %q", line)
			}
		}
	}
	if n != bodyLen {
		return fmt.Errorf("Content-Length %d, want %d", n, bodyLen)
	}
	_, err = br.Discard(n)
	return err
}
