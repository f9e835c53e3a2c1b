package testservers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PrivateRedis starts a standalone redis-server of t's own from the
// machine's binary (found on PATH), on a free loopback port with a
// t.TempDir() as its working directory, and returns its host:port. args
// are appended to the server's command line, after the port, bind and
// directory options, so a test sets the configuration it needs:
//
//	addr := testservers.PrivateRedis(t, "--appendonly", "no", "--save", "")
//
// Nothing else is set: what args leave out is redis-server's default. The
// server is stopped when t ends. Without a redis-server on PATH it skips
// t, or fails it under AUTHKIT_REQUIRE_BACKENDS=1; a server that does not
// start (a bad argument, say) always fails t, with the server's log.
func PrivateRedis(t testing.TB, args ...string) string {
	t.Helper()
	return startPrivate(t, privateBinary(t), nil, args)
}

// PrivateSentinel starts a Redis Sentinel of t's own, as PrivateRedis
// starts a server, that monitors the server at primary (from
// PrivateRedis) under the name master, and returns the Sentinel's
// host:port. A client made with redis.NewFailoverClient and
// MasterName master then reaches primary.
func PrivateSentinel(t testing.TB, master, primary string) string {
	t.Helper()
	bin := privateBinary(t)
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatalf("PrivateSentinel: %v", err)
	}
	conf := filepath.Join(t.TempDir(), "sentinel.conf") // Sentinel rewrites it
	text := fmt.Sprintf("sentinel monitor %s %s %s 1\n", master, host, port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startPrivate(t, bin, []string{conf}, []string{"--sentinel"})
}

// RedisProcess is a private redis-server that a test can restart on the
// same port, as an operator's restart would: what the server keeps on
// disk (by its args) survives, the rest is lost.
type RedisProcess struct {
	bin, dir, port string
	args           []string
	stop           func()
}

// RestartableRedis starts a private redis-server as PrivateRedis does
// and returns it; t.Cleanup stops it (whichever process is current).
func RestartableRedis(t testing.TB, args ...string) *RedisProcess {
	t.Helper()
	p := &RedisProcess{bin: privateBinary(t), dir: t.TempDir(), args: args}
	var lastErr error
	for range 3 {
		addr, stop, err := startPrivateRedis(p.bin, p.dir, "", nil, args)
		if err == nil {
			_, p.port, _ = net.SplitHostPort(addr)
			p.stop = stop
			t.Cleanup(func() { p.stop() })
			return p
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server %q: %v", args, lastErr)
	return nil
}

// Addr returns the server's host:port; it stays the same across restarts.
func (p *RedisProcess) Addr() string { return "127.0.0.1:" + p.port }

// Restart kills the server (SIGKILL: no save on the way out) and starts it
// again on the same port and directory with the same args.
func (p *RedisProcess) Restart(t testing.TB) {
	t.Helper()
	p.stop()
	var lastErr error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // the port may linger a moment
		_, stop, err := startPrivateRedis(p.bin, p.dir, p.port, nil, p.args)
		if err == nil {
			p.stop = stop
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	p.stop = func() {}
	t.Fatalf("restarting redis-server on port %s: %v", p.port, lastErr)
}

// privateBinary returns the path of redis-server, or skips t (fails it
// under AUTHKIT_REQUIRE_BACKENDS=1).
func privateBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin
	}
	msg := fmt.Sprintf("no redis-server on PATH (%v) to start a private Redis from; install Redis (6.2 or later)", err)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: a missing server is a failure)", msg, RequireEnv)
	}
	noteSkip("a private redis-server", "PATH")
	t.Skipf("%s (set AUTHKIT_REQUIRE_BACKENDS=1 to make this a failure)", msg)
	return ""
}

// startPrivate starts bin with first (a config file) before, and args
// after, the port, bind and directory options; t.Cleanup stops it.
func startPrivate(t testing.TB, bin string, first, args []string) string {
	t.Helper()
	var lastErr error
	for range 3 { // a port taken between picking and binding: try again
		addr, stop, err := startPrivateRedis(bin, t.TempDir(), "", first, args)
		if err == nil {
			t.Cleanup(stop)
			return addr
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server %q: %v", append(first, args...), lastErr)
	return ""
}

// startPrivateRedis starts one redis-server in dir, on port (a free one
// if empty), and waits until it answers PING; stop kills it and waits for
// it to exit.
func startPrivateRedis(bin, dir, port string, first, args []string) (addr string, stop func(), err error) {
	if port == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	addr = "127.0.0.1:" + port
	logFile := filepath.Join(dir, "redis-"+port+".log")
	argv := append(append(first[:len(first):len(first)],
		"--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--logfile", logFile, "--daemonize", "no"), args...)
	cmd := exec.Command(bin, argv...)
	var out strings.Builder // a bad argument is reported here, not in the log
	cmd.Stdout, cmd.Stderr = &out, &out
	stop, exited, err := startProcess(cmd)
	if err != nil {
		return "", nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		perr := c.Ping(ctx).Err()
		if perr == nil {
			return addr, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("redis-server exited before answering: %s %s", strings.TrimSpace(out.String()), logTail(logFile))
		case <-ctx.Done():
			stop()
			return "", nil, errors.Join(fmt.Errorf("redis-server on %s did not answer within 15s: %s", addr, logTail(logFile)), perr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of a server's log file, for a message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// startProcess starts cmd; stop kills it and waits for it to exit, and
// exited is closed once it has.
func startProcess(cmd *exec.Cmd) (stop func(), exited <-chan struct{}, err error) {
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return func() {
		_ = cmd.Process.Kill()
		<-done
	}, done, nil
}
