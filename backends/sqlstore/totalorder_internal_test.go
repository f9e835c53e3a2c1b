package sqlstore

import (
	"context"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// TestBoundedDeletesTotalOrder checks, on MySQL, that each ORDER BY a
// LIMIT bounds in a cleanup DELETE ends with the whole primary key of the
// table whose rows it orders (read from a migrated SQLite schema), so that
// the rows a batch deletes are determined by the data: a STATEMENT binary
// log replays MySQL's DELETE … ORDER BY … LIMIT on each replica, and ties
// of an expiry column alone could go to other rows there. On PostgreSQL
// and SQLite, whose indexes on those columns do not end with the key, it
// checks that no ORDER BY does (but one that is the key alone): a run of
// equal values, such as every revoked session's gc_at, was read whole and
// sorted before the limit took effect. Every DELETE with a LIMIT the store
// builds must be listed here.
func TestBoundedDeletesTotalOrder(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db, err := sqlx.Open("sqlite", t.TempDir()+"/pk.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db.DB, "sqlite"); err != nil {
		t.Fatal(err)
	}
	const prefix = DefaultTablePrefix
	pk := map[string][]string{}
	for _, name := range tableNames {
		var cols []string
		if err := db.SelectContext(ctx, &cols, "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", prefix+name); err != nil {
			t.Fatal(err)
		}
		if len(cols) == 0 {
			t.Fatalf("table %s%s has no primary key", prefix, name)
		}
		pk[prefix+name] = cols
	}

	// Each bounded DELETE, with the table each of its ORDER BYs orders,
	// in the order they appear.
	want := map[string][]string{
		"gcSessionRecords": {"sessions", "refresh_tokens"},
		"gcExpiredRecords": {"refresh_tokens"},
		"gcSessions":       {"sessions"},
		"gcRevocations":    {"revocations"},
		"trimLog":          {"revocation_log"},
		"gcTokens":         {"api_tokens"},
		"gcCodes":          {"authorization_codes"},
		"gcAssertions":     {"client_assertions"},
		"throttle gc":      {"throttle"},
	}
	for _, d := range []*dialect{dialectPostgres, dialectMySQL, dialectSQLite} {
		t.Run(d.name, func(t *testing.T) {
			s := &Store{d: d, q: buildQueries(d, prefix), cfg: config{prefix: prefix}}
			stmts := map[string]string{"throttle gc": s.throttleSQL().gc}
			for _, v := range []reflect.Value{reflect.ValueOf(s.q), reflect.ValueOf(s.q.clients)} {
				for i := range v.NumField() {
					f := v.Field(i)
					if f.Kind() != reflect.String {
						continue
					}
					text := strings.TrimSpace(f.String())
					if strings.HasPrefix(text, "DELETE") && strings.Contains(text, "LIMIT") {
						stmts[v.Type().Field(i).Name] = text
					}
				}
			}
			for name := range stmts {
				if _, ok := want[name]; !ok {
					t.Errorf("%s is a bounded DELETE this test does not know: list the tables its ORDER BYs order", name)
				}
			}
			for name, tables := range want {
				text, ok := stmts[name]
				if !ok {
					t.Errorf("%s: no such bounded DELETE", name)
					continue
				}
				if d.orderedDelete {
					checkTotalOrder(t, name, text, prefix, tables, pk)
				} else {
					checkNoTieBreak(t, name, text, prefix, tables, pk)
				}
			}
		})
	}
}

var (
	orderByRE = regexp.MustCompile(`(?s)ORDER BY\s+(.+?)\s+LIMIT\b`)
	// A table read, and its alias (none: the table's own name).
	tableRE = regexp.MustCompile(`(?:FROM|JOIN)\s+(\w+)(?:\s+(\w+))?`)
)

// checkTotalOrder checks that the ORDER BYs of stmt, in order, end with
// the primary key (pk, by table) of tables (without prefix), each key
// column qualified by one alias of that table.
func checkTotalOrder(t *testing.T, name, stmt, prefix string, tables []string, pk map[string][]string) {
	t.Helper()
	alias := map[string]string{}
	for _, m := range tableRE.FindAllStringSubmatch(stmt, -1) {
		table, a := m[1], m[2]
		if !strings.HasPrefix(table, prefix) {
			continue // a keyword or a subquery's alias after FROM/JOIN
		}
		if a == "" || slices.Contains([]string{"WHERE", "JOIN", "ON", "ORDER", "AS"}, strings.ToUpper(a)) {
			a = table
		}
		if prev, ok := alias[a]; ok && prev != table {
			t.Errorf("%s: alias %s names both %s and %s: %s", name, a, prev, table, stmt)
			return
		}
		alias[a] = table
	}
	orders := orderByRE.FindAllStringSubmatch(stmt, -1)
	if len(orders) != len(tables) {
		t.Errorf("%s: %d ORDER BY … LIMIT, want %d (one per batch): %s", name, len(orders), len(tables), stmt)
		return
	}
	for i, m := range orders {
		table := prefix + tables[i]
		key := pk[table]
		cols := strings.Split(m[1], ",")
		for j := range cols {
			cols[j] = strings.TrimSpace(cols[j])
		}
		if len(cols) < len(key) {
			t.Errorf("%s: ORDER BY %s is shorter than %s's primary key %v: %s", name, m[1], table, key, stmt)
			continue
		}
		tail := cols[len(cols)-len(key):]
		var qual string
		for j, c := range tail {
			q, col, ok := strings.Cut(c, ".")
			if !ok || col != key[j] || (j > 0 && q != qual) {
				t.Errorf("%s: ORDER BY %s does not end with the primary key %v of %s (a tie of its leading columns leaves the batch's rows to the plan): %s", name, m[1], key, table, stmt)
				break
			}
			qual = q
		}
		if qual != "" && alias[qual] != table {
			t.Errorf("%s: ORDER BY %s ends with a key qualified %s, which names %q, not %s: %s", name, m[1], qual, alias[qual], table, stmt)
		}
	}
}

// checkNoTieBreak checks that the ORDER BYs of stmt, in order, do not end
// with the primary key (pk, by table) of tables (without prefix) after
// other columns.
func checkNoTieBreak(t *testing.T, name, stmt, prefix string, tables []string, pk map[string][]string) {
	t.Helper()
	orders := orderByRE.FindAllStringSubmatch(stmt, -1)
	if len(orders) != len(tables) {
		t.Errorf("%s: %d ORDER BY … LIMIT, want %d (one per batch): %s", name, len(orders), len(tables), stmt)
		return
	}
	for i, m := range orders {
		key := pk[prefix+tables[i]]
		var cols []string
		for c := range strings.SplitSeq(m[1], ",") {
			c = strings.TrimSpace(c)
			if _, col, ok := strings.Cut(c, "."); ok {
				c = col
			}
			cols = append(cols, c)
		}
		if len(cols) > len(key) && slices.Equal(cols[len(cols)-len(key):], key) {
			t.Errorf("%s: ORDER BY %s ends with the primary key %v after other columns, which the index does not: each run of ties is sorted whole: %s", name, m[1], key, stmt)
		}
	}
}
