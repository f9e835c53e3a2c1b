package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/authkit-go/authkit"
)

// tableWrite is what the store's statements write to one of its tables:
// INSERT, UPDATE (an upsert's update, SELECT … FOR UPDATE and MySQL's
// INSERT … ON DUPLICATE KEY UPDATE need it) and DELETE (the revocations
// and the cleanup). SELECT is the schema probes' (readable).
type tableWrite struct {
	table string
	col   string // a column of the table, for MySQL's multi-table UPDATE
	privs []string
}

// tableWrites are the store's writes, table by table (a test runs each
// kind of call as a user granted exactly these).
var tableWrites = []tableWrite{
	{"sessions", "id", []string{"INSERT", "UPDATE", "DELETE"}},
	{"refresh_tokens", "hash", []string{"INSERT", "UPDATE", "DELETE"}},
	{"revocations", "subject", []string{"INSERT", "UPDATE", "DELETE"}},
	{"api_tokens", "id", []string{"INSERT", "UPDATE", "DELETE"}},
	{"api_token_subjects", "subject", []string{"INSERT", "UPDATE"}},
	{"revocation_feed", "seq", []string{"UPDATE"}},
	{"revocation_log", "id", []string{"INSERT", "DELETE"}},
	{"throttle", "k", []string{"INSERT", "UPDATE", "DELETE"}},
	{"clients", "id", []string{"INSERT", "UPDATE", "DELETE"}},
	{"authorization_codes", "hash", []string{"INSERT", "UPDATE", "DELETE"}},
	{"client_assertions", "hash", []string{"INSERT", "UPDATE", "DELETE"}},
}

// checkWrites refuses, with authkit.ErrInvalidConfig, a store whose
// database user may read its tables but not write them as its statements
// do (found by review: a MySQL account granted SELECT and EXECUTE opened,
// /healthz said ok, and every login was a 503). It asks without writing:
// PostgreSQL's has_any_column_privilege and has_table_privilege in one
// query; MySQL's EXPLAIN, which needs the privileges of the statement it
// explains and runs nothing (a multi-table UPDATE and DELETE, and an
// INSERT per table). A grant on some of a table's columns passes, as the
// database would judge a statement on those columns. SQLite has no users:
// Open checks that the file is writable.
func (s *Store) checkWrites(ctx context.Context, op string) error {
	var denied []string
	switch s.d.name {
	case "postgres":
		var vals []string
		for _, w := range tableWrites {
			rel := fmt.Sprintf("to_regclass('%s%s')", s.cfg.prefix, w.table)
			for _, p := range w.privs {
				fn := "has_any_column_privilege"
				if p == "DELETE" {
					fn = "has_table_privilege" // no column-level DELETE
				}
				vals = append(vals, fmt.Sprintf("(CASE WHEN %s(%s, '%s') THEN NULL ELSE '%s on %s%s' END)", fn, rel, p, p, s.cfg.prefix, w.table))
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
			return fmt.Sprintf("EXPLAIN UPDATE %s SET %s = %s WHERE 1 = 0", t, w.col, w.col)
		default:
			return "EXPLAIN DELETE FROM " + t + " WHERE 1 = 0"
		}
	}
	// denied reports a refusal for want of a privilege (1142 on a
	// table, 1143 on a column); err is any other failure.
	denied := func(q string) (bool, error) {
		rows, err := s.db.QueryContext(ctx, q)
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
				set = append(set, fmt.Sprintf("%s.%s = %s.%s", t, w.col, t, w.col))
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
