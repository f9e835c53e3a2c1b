package testservers

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// PrivateMariaDB starts a MariaDB server of t's own from the machine's
// binaries (mariadb-install-db and mariadbd on PATH or in /usr/sbin), in a
// t.TempDir() data directory on a free loopback port, for a test that
// must change what a shared server must not (SET GLOBAL read_only, say).
// It returns the go-sql-driver DSN of its root account (no password) on
// database test, and stops the server when t ends. Without the binaries it
// skips t, or fails it under AUTHKIT_REQUIRE_BACKENDS=1.
func PrivateMariaDB(t testing.TB) string {
	t.Helper()
	return RestartableMariaDB(t).DSN()
}

// RestartableMariaDB starts a MariaDB server as PrivateMariaDB does and
// returns it, for a test that restarts it ([DBServer.Restart]).
func RestartableMariaDB(t testing.TB) *DBServer {
	t.Helper()
	install, err1 := lookPathOr("mariadb-install-db")
	server, err2 := lookPathOr("mariadbd")
	if err1 != nil || err2 != nil {
		missingBinaries(t, "a private MariaDB", "mariadb-install-db and mariadbd", err1, err2)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v: %s", err, out)
	}
	p := &DBServer{kind: "MariaDB"}
	p.start = func(port string) (func(), error) {
		dsn, stop, err := startMariaDB(server, dir, data, port)
		if err == nil {
			p.dsn = dsn
		}
		return stop, err
	}
	p.first(t)
	return p
}

// startMariaDB starts mariadbd on data and port, and waits until it
// answers; stop kills it (SIGKILL, as a crash) and waits for it to exit.
func startMariaDB(server, dir, data, port string) (dsn string, stop func(), err error) {
	logFile := filepath.Join(dir, "err-"+port+".log")
	argv := []string{"--no-defaults", "--datadir=" + data, "--port=" + port, "--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(dir, "sock"), "--pid-file=" + filepath.Join(dir, "pid"), "--skip-log-bin",
		"--log-error=" + logFile}
	if os.Geteuid() == 0 {
		argv = append(argv, "--user=root")
	}
	cmd := exec.Command(server, argv...)
	stop, exited, err := startProcess(cmd)
	if err != nil {
		return "", nil, err
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.ParseTime = "root", "tcp", "127.0.0.1:"+port, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			err = db.PingContext(ctx)
			if err == nil {
				_, err = db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS test")
			}
			db.Close()
		}
		if err == nil {
			break
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("mariadbd exited before answering: %s", logTail(logFile))
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("mariadbd on port %s did not answer within 30s: %v %s", port, err, logTail(logFile))
		case <-time.After(50 * time.Millisecond):
		}
	}
	cfg.DBName = "test"
	return cfg.FormatDSN(), stop, nil
}

// lookPathOr finds name on PATH or in /usr/sbin, where Debian puts
// mariadbd.
func lookPathOr(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p, nil
	}
	return "", fmt.Errorf("%s not found", name)
}
