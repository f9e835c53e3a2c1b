package sqlstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// A MySQL connection whose character set has multibyte characters ending
// in a backslash (gbk, big5, sjis, cp932, gb18030) makes the driver's
// escaping of interpolated parameters unsafe: a User-Agent such as
// "中'…" escaped its string literal and rewrote another session's subject
// (found by review). Open refuses such a mysql:// DSN before connecting,
// and CheckSchema (which Open runs) refuses such a connection however the
// pool was opened; utf8mb4 passes.
func TestMySQLUnsafeCharsetRefused(t *testing.T) {
	t.Parallel()
	for _, cs := range []string{"gbk", "big5", "sjis", "cp932", "gb18030", "GBK", "utf8mb4,gbk"} {
		_, err := sqlstore.Open(t.Context(), "mysql://u:p@127.0.0.1:1/db?charset="+cs)
		if !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "charset") {
			t.Errorf("Open with charset=%s: %v, want ErrInvalidConfig naming the charset", cs, err)
		}
	}
	checkWith := mysqlCheckSchemaWith(t)
	for _, c := range []struct {
		charset string
		ok      bool
	}{{"gbk", false}, {"big5", false}, {"utf8mb4", true}} {
		err := checkWith(map[string]string{"charset": c.charset})
		switch {
		case c.ok && err != nil:
			t.Errorf("CheckSchema over charset %s: %v", c.charset, err)
		case !c.ok && !errors.Is(err, authkit.ErrInvalidConfig):
			t.Errorf("CheckSchema over charset %s: %v, want ErrInvalidConfig", c.charset, err)
		case !c.ok && !strings.Contains(err.Error(), fmt.Sprint("character set is ", c.charset)):
			t.Errorf("CheckSchema over charset %s: %v, want it named", c.charset, err)
		}
	}
}

// A MySQL connection with autocommit off: each statement the store runs on
// its own opened a transaction never committed, so its writes were lost
// and its reads frozen (IsRevoked answered "not revoked" for a revocation
// another pool had committed; found by review). Open refuses such a
// mysql:// DSN, and CheckSchema such a connection however it was opened.
func TestMySQLAutocommitOffRefused(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "false", "OFF", "'0'"} {
		_, err := sqlstore.Open(t.Context(), "mysql://u:p@127.0.0.1:1/db?autocommit="+v)
		if !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "autocommit") {
			t.Errorf("Open with autocommit=%s: %v, want ErrInvalidConfig naming autocommit", v, err)
		}
	}
	checkWith := mysqlCheckSchemaWith(t)
	for _, c := range []struct {
		autocommit string
		ok         bool
	}{{"0", false}, {"1", true}} {
		err := checkWith(map[string]string{"autocommit": c.autocommit})
		switch {
		case c.ok && err != nil:
			t.Errorf("CheckSchema with autocommit=%s: %v", c.autocommit, err)
		case !c.ok && (!errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "autocommit")):
			t.Errorf("CheckSchema with autocommit=%s: %v, want ErrInvalidConfig naming autocommit", c.autocommit, err)
		}
	}
}

// mysqlCheckSchemaWith migrates a fresh MySQL database over a plain
// connection and returns a function that runs CheckSchema over a new pool
// on it with the driver parameters params (and interpolateParams, as Open
// sets), so that only those parameters differ.
func mysqlCheckSchemaWith(t *testing.T) func(params map[string]string) error {
	t.Helper()
	base := mysqlBackend.fresh(t)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("mysql", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(t.Context(), db.DB, "mysql"); err != nil {
		t.Fatal(err)
	}
	return func(params map[string]string) error {
		own := cfg.Clone()
		own.Params = params
		own.InterpolateParams = true
		conn, err := sqlx.Open("mysql", own.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		s, err := sqlstore.New(conn)
		if err != nil {
			t.Fatal(err)
		}
		return s.CheckSchema(t.Context())
	}
}

// A MySQL connection without a strict sql_mode is refused: a value too
// long for its column would be cut short and stored instead of refused
// (found by review: a 70,000-byte user agent read back as 65,535 bytes on
// a server with sql_mode=”). Open's DSNs add STRICT_TRANS_TABLES to the
// server's mode unless they set sql_mode themselves.
func TestMySQLStrictModeRequired(t *testing.T) {
	t.Parallel()
	checkWith := mysqlCheckSchemaWith(t)
	for _, c := range []struct {
		mode string
		ok   bool
	}{{"''", false}, {"'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'", false}, {"'STRICT_ALL_TABLES'", true}, {"CONCAT('',',STRICT_TRANS_TABLES')", true}} {
		err := checkWith(map[string]string{"sql_mode": c.mode})
		switch {
		case c.ok && err != nil:
			t.Errorf("CheckSchema with sql_mode=%s: %v", c.mode, err)
		case !c.ok && (!errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "sql_mode")):
			t.Errorf("CheckSchema with sql_mode=%s: %v, want ErrInvalidConfig naming sql_mode", c.mode, err)
		}
	}
	// Through Open: strict, however the DSN's other parameters read.
	base := mysqlBackend.fresh(t)
	db := openDB(t, mysqlBackend, base)
	if err := sqlstore.Migrate(t.Context(), db.DB, "mysql"); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	dsn := "mysql://" + cfg.User + "@" + cfg.Addr + "/" + cfg.DBName
	s, err := sqlstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	var mode string
	if err := s.DB().QueryRowContext(t.Context(), "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil || !strings.Contains(mode, "STRICT_TRANS_TABLES") {
		t.Errorf("Open's session sql_mode = %q, %v; want STRICT_TRANS_TABLES", mode, err)
	}
	if _, err := sqlstore.Open(t.Context(), dsn+"?sql_mode=%27%27"); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("Open with sql_mode='': %v, want ErrInvalidConfig", err)
	}
}
