package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

// tableWrite is what the store's statements write to one of its tables:
// INSERT, UPDATE (an upsert's update, SELECT … FOR UPDATE and MySQL's
// INSERT … ON DUPLICATE KEY UPDATE need it) and DELETE (the revocations
// and the cleanup). SELECT is the schema probes' (readable).
type tableWrite struct {
	table string
	// cols are the columns the store's statements update (an upsert's
	// SET clause among them): UPDATE granted on these columns only
	// passes, as the store's statements do (found by review: a probe of
	// the key column refused such a grant, and one of any column passed
	// a grant that missed these).
	cols []string
	// upsertKeys are the other columns an upsert inserts, on which
	// MariaDB asks UPDATE too for INSERT … ON DUPLICATE KEY UPDATE (found
	// by the test that grants exactly these); PostgreSQL's ON CONFLICT DO
	// UPDATE asks it on the SET clause's columns alone.
	upsertKeys []string
	privs      []string
}

// mysqlCols are the columns MySQL's UPDATE probe sets: cols and
// upsertKeys.
func (w tableWrite) mysqlCols() []string { return append(slices.Clone(w.cols), w.upsertKeys...) }

// tableWrites are the store's writes, table by table (a test runs each
// kind of call as a user granted exactly these).
var tableWrites = []tableWrite{
	{"sessions", []string{"last_used_at", "idle_expires_at", "gc_at", "revoked_at"}, nil, []string{"INSERT", "UPDATE", "DELETE"}},
	{"refresh_tokens", []string{"used_at", "successor"}, nil, []string{"INSERT", "UPDATE", "DELETE"}},
	{"revocations", []string{"expires_at", "cutoff_at"}, []string{"subject", "kind", "ident"}, []string{"INSERT", "UPDATE", "DELETE"}},
	{"api_tokens", []string{"last_used_at", "revoked_at", "gc_at"}, nil, []string{"INSERT", "UPDATE", "DELETE"}},
	// SELECT … FOR UPDATE of a subject's row (PostgreSQL asks UPDATE on
	// a column), and MySQL's ON DUPLICATE KEY UPDATE subject = subject.
	{"api_token_subjects", []string{"subject"}, nil, []string{"INSERT", "UPDATE"}},
	{"revocation_feed", []string{"seq"}, nil, []string{"UPDATE"}},
	{"revocation_log", nil, nil, []string{"INSERT", "DELETE"}},
	{"throttle", []string{"n", "last_at", "expires_at"}, []string{"k"}, []string{"INSERT", "UPDATE", "DELETE"}},
	{"clients", []string{"secret_hash", "secret_rotated_at"}, nil, []string{"INSERT", "UPDATE", "DELETE"}},
	{"authorization_codes", []string{"used_at", "session_id"}, nil, []string{"INSERT", "UPDATE", "DELETE"}},
	{"client_assertions", []string{"client_id", "expires_at"}, []string{"hash"}, []string{"INSERT", "UPDATE", "DELETE"}},
}

// setSelf is "t.c = t.c, …" for cols of table t.
func setSelf(t string, cols []string) string {
	set := make([]string, len(cols))
	for i, c := range cols {
		set[i] = t + "." + c + " = " + t + "." + c
	}
	return strings.Join(set, ", ")
}

// checkWrites refuses, with authkit.ErrInvalidConfig, a store whose
// database user may read its tables but not write them as its statements
// do (found by review: a MySQL account granted SELECT and EXECUTE opened,
// /healthz said ok, and every login was a 503). It asks without writing:
// PostgreSQL's has_any_column_privilege and has_table_privilege in one
// query; MySQL's EXPLAIN, which needs the privileges of the statement it
// explains and runs nothing (a multi-table UPDATE and DELETE, and an
// INSERT per table, each waiting a second at most for another session's
// lock). UPDATE granted on the columns the store updates only passes
// (tableWrites' cols). SQLite has no users:
// Open checks that the file is writable.
func (s *Store) checkWrites(ctx context.Context, op string) error {
	var denied []string
	switch s.d.name {
	case "postgres":
		var vals []string
		for _, w := range tableWrites {
			rel := fmt.Sprintf("to_regclass('%s%s')", s.cfg.prefix, w.table)
			for _, p := range w.privs {
				var ok string
				switch p {
				case "DELETE": // no column-level DELETE
					ok = fmt.Sprintf("has_table_privilege(%s, 'DELETE')", rel)
				case "UPDATE":
					// Each column the store updates (found by review:
					// UPDATE on another column passed, and every rotation
					// failed with 42501).
					var each []string
					for _, c := range w.cols {
						each = append(each, fmt.Sprintf("has_column_privilege(%s, '%s', 'UPDATE')", rel, c))
					}
					ok = strings.Join(each, " AND ")
				default:
					ok = fmt.Sprintf("has_any_column_privilege(%s, '%s')", rel, p)
				}
				vals = append(vals, fmt.Sprintf("(CASE WHEN %s THEN NULL ELSE '%s on %s%s' END)", ok, p, s.cfg.prefix, w.table))
			}
		}
		var list string
		q := "SELECT COALESCE(string_agg(w, ', '), '') FROM (VALUES " + strings.Join(vals, ", ") + ") v(w)"
		if err := s.db.QueryRowContext(ctx, q).Scan(&list); err != nil {
			return s.fail(ctx, op, err)
		}
		if list != "" {
			denied = strings.Split(list, ", ")
		}
	case "mysql":
		var err error
		if denied, err = s.mysqlDenied(ctx); err != nil {
			return s.fail(ctx, op, err)
		}
	default:
		return nil
	}
	if len(denied) == 0 {
		return nil
	}
	grant := "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA <the store's schema> TO <the store's user>"
	if s.d.name == "mysql" {
		grant = "GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON <the store's database>.* TO <the store's user>"
	}
	return fmt.Errorf("sqlstore: %s: %w: the store's database user lacks %s, which the store's logins, refreshes, revocations or cleanup need (%s)",
		op, authkit.ErrInvalidConfig, groupWrites(denied), grant)
}

// mysqlDenied returns the writes of tableWrites the connection's user may
// not make ("INSERT on authkit_sessions"), asking with EXPLAIN: a
// statement for all the tables' UPDATEs, one for their DELETEs and one
// INSERT per table, then, when one is refused, each write alone to name
// every one refused.
func (s *Store) mysqlDenied(ctx context.Context) ([]string, error) {
	pre := s.cfg.prefix
	single := func(w tableWrite, priv string) string {
		t := pre + w.table
		switch priv {
		case "INSERT":
			return "EXPLAIN INSERT INTO " + t + " () VALUES ()"
		case "UPDATE":
			return fmt.Sprintf("EXPLAIN UPDATE %s SET %s WHERE 1 = 0", t, setSelf(t, w.mysqlCols()))
		default:
			return "EXPLAIN DELETE FROM " + t + " WHERE 1 = 0"
		}
	}
	// EXPLAIN of a write takes the tables' metadata locks as the write
	// would: behind a LOCK TABLES … READ or FLUSH TABLES WITH READ LOCK
	// (a backup's), it waited for lock_wait_timeout, a year by default
	// (found by review: Open waited as long as a mysqldump held its
	// locks). On a connection of its own, it waits a second at most, and
	// a probe that times out ends the check, which cannot tell then.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var wait int64
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.lock_wait_timeout").Scan(&wait); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = 1"); err != nil {
		return nil, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(rctx, "SET SESSION lock_wait_timeout = "+strconv.FormatInt(wait, 10)); err != nil {
			// Not back to the pool with a one-second wait.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	locked := false
	// denied reports a refusal for want of a privilege (1142 on a
	// table, 1143 on a column); err is any other failure.
	denied := func(q string) (bool, error) {
		if locked {
			return false, nil
		}
		rows, err := conn.QueryContext(ctx, q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			return false, nil
		}
		switch codes(err).mysql {
		case 1142, 1143: // ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR
			return true, nil
		case 1364, 1048: // ER_NO_DEFAULT_FOR_FIELD, ER_BAD_NULL_ERROR
			// The empty row's values, judged (should a server judge them
			// for EXPLAIN) after the statement's privileges.
			return false, nil
		case 1205: // ER_LOCK_WAIT_TIMEOUT: another session holds a lock
			locked = true
			return false, nil
		}
		return false, err
	}
	var upd, set, rm, inserts []string
	for _, w := range tableWrites {
		t := pre + w.table
		for _, p := range w.privs {
			switch p {
			case "INSERT":
				inserts = append(inserts, single(w, p))
			case "UPDATE":
				upd = append(upd, t)
				set = append(set, setSelf(t, w.mysqlCols()))
			default:
				rm = append(rm, t)
			}
		}
	}
	all := append([]string{
		"EXPLAIN UPDATE " + strings.Join(upd, ", ") + " SET " + strings.Join(set, ", ") + " WHERE 1 = 0",
		"EXPLAIN DELETE " + strings.Join(rm, ", ") + " FROM " + strings.Join(rm, ", ") + " WHERE 1 = 0",
	}, inserts...)
	refused := false
	for _, q := range all {
		no, err := denied(q)
		if err != nil {
			return nil, err
		}
		if no {
			refused = true
			break
		}
	}
	if !refused {
		return nil, nil
	}
	var out []string
	for _, w := range tableWrites {
		for _, p := range w.privs {
			no, err := denied(single(w, p))
			if err != nil {
				return nil, err
			}
			if no {
				out = append(out, p+" on "+pre+w.table)
			}
		}
	}
	return out, nil
}

// groupWrites words denied ("INSERT on t", in tableWrites' order) table
// by table: "INSERT, DELETE on t; UPDATE on u".
func groupWrites(denied []string) string {
	var out []string
	for i := 0; i < len(denied); {
		_, table, _ := strings.Cut(denied[i], " on ")
		var privs []string
		for ; i < len(denied); i++ {
			p, t, _ := strings.Cut(denied[i], " on ")
			if t != table {
				break
			}
			privs = append(privs, p)
		}
		out = append(out, strings.Join(privs, ", ")+" on "+table)
	}
	return strings.Join(out, "; ")
}
