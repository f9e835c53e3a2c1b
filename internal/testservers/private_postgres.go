package testservers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RestartablePostgres starts a PostgreSQL server of t's own from the
// machine's binaries (initdb and postgres on PATH or in
// /usr/lib/postgresql/*/bin, the newest), with trust authentication for
// user postgres and fsync on, and returns it. PostgreSQL refuses to run as
// root: under root the server runs as the system's postgres user, which
// must exist. Without the binaries it skips t, or fails it under
// AUTHKIT_REQUIRE_BACKENDS=1.
func RestartablePostgres(t testing.TB) *DBServer {
	t.Helper()
	initdb, err1 := pgBinary("initdb")
	server, err2 := pgBinary("postgres")
	if err1 != nil || err2 != nil {
		missingBinaries(t, "a private PostgreSQL", "initdb and postgres", err1, err2)
	}
	dir, err := os.MkdirTemp("", "authkit-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	as, err := unprivileged(dir)
	if err != nil {
		t.Fatalf("a private PostgreSQL: %v", err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	as(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	p := &DBServer{kind: "PostgreSQL"}
	p.start = func(port string) (func(), error) {
		stop, err := startPrivatePostgres(server, dir, data, port, as)
		if err == nil {
			p.dsn = "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"
		}
		return stop, err
	}
	p.first(t)
	return p
}

// startPrivatePostgres starts postgres on data and port and waits until it
// answers; stop shuts it down immediately (SIGQUIT: no checkpoint, the
// next start recovers from the write-ahead log) and waits for it.
func startPrivatePostgres(server, dir, data, port string, as func(*exec.Cmd)) (func(), error) {
	logFile := filepath.Join(dir, "log-"+port)
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // kept across restarts
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(server, "-D", data, "-p", port, "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "max_connections=60", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = f, f
	as(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	stop := func() {
		_ = quit(cmd.Process)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	dsn := "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable&connect_timeout=5"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := pingPostgres(ctx, dsn)
		if err == nil {
			return stop, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("postgres exited before answering: %s", logTail(logFile))
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("postgres on port %s did not answer within 30s: %v %s", port, err, logTail(logFile))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pingPostgres connects to dsn once and closes the connection.
func pingPostgres(ctx context.Context, dsn string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return err
	}
	return c.Close(cctx)
}

// pgBinary finds name on PATH, else in the newest
// /usr/lib/postgresql/<version>/bin (Debian's layout).
func pgBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dirs[i], name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + " not found on PATH or in /usr/lib/postgresql/*/bin")
}
