package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// TestSnapshotPages: a snapshot reads each bucket's index in pages (a
// snapshot of the whole index in one script per bucket held the server
// for 1.6 s at 222,000 revocations; found by review), and still hands fn
// every entry in force exactly once, at its latest state, while between
// its pages a revocation moves the entry a page ended on past the pages
// to come, and a cleanup removes the entry another page ended on: the
// next page then starts again at that entry's until, among ties.
func TestSnapshotPages(t *testing.T) {
	t.Parallel()
	s, rdb := standaloneStore(t)
	s.snapshotPage = 3
	ctx := t.Context()
	now := time.Now()
	tie := now.Add(time.Hour).Truncate(time.Microsecond)
	type key struct {
		kind           authkit.RevocationKind
		subject, ident string
	}
	want := map[key]time.Time{}
	// 20 revocations of one subject with one until: ties in one bucket.
	for i := range 20 {
		id := fmt.Sprintf("tie-%02d", i)
		if err := s.RevokeToken(ctx, "bulk", id, tie); err != nil {
			t.Fatal(err)
		}
		want[key{authkit.RevokedToken, "bulk", id}] = tie
	}
	// Others across the buckets, of every kind.
	for i := range 30 {
		sub := fmt.Sprint("user-", i)
		until := now.Add(time.Duration(i+1) * time.Minute).Truncate(time.Microsecond)
		if err := s.RevokeToken(ctx, sub, "jti", until); err != nil {
			t.Fatal(err)
		}
		want[key{authkit.RevokedToken, sub, "jti"}] = until
		if i%3 == 0 {
			if err := s.RevokeSessionTokens(ctx, sub, "sid", until); err != nil {
				t.Fatal(err)
			}
			want[key{authkit.RevokedSession, sub, "sid"}] = until
		}
		if i%5 == 0 {
			if err := s.SetCutoff(ctx, sub, now, until); err != nil {
				t.Fatal(err)
			}
			want[key{authkit.RevokedBefore, sub, ""}] = until
		}
	}
	b := bucket("bulk")
	index, base := s.k.revIndex(b), s.k.p+revBase(b)
	later := tie.Add(time.Hour)
	removed := map[key]bool{}
	pages := 0
	s.betweenPages = func(cursors []snapshotCursor) {
		pages++
		bg := context.Background()
		anchor := cursors[b].member
		v, err := rdb.Get(bg, base+anchor).Result()
		if err != nil {
			t.Errorf("reading the entry a page ended on: %v", err)
			return
		}
		r, err := decodeEntry(anchor, v)
		if err != nil {
			t.Error(err)
			return
		}
		k := key{r.Kind, r.Subject, r.ID}
		switch pages {
		case 1:
			// The entry the page ended on is revoked again until later:
			// it moves past the pages still to come.
			var err error
			switch r.Kind {
			case authkit.RevokedToken:
				err = s.RevokeToken(bg, r.Subject, r.ID, later)
			case authkit.RevokedSession:
				err = s.RevokeSessionTokens(bg, r.Subject, r.ID, later)
			default:
				err = s.SetCutoff(bg, r.Subject, r.Cutoff, later)
			}
			if err != nil {
				t.Error(err)
			}
			want[k] = later
		case 2:
			// A cleanup removes the entry the page ended on.
			if err := rdb.ZRem(bg, index, anchor).Err(); err != nil {
				t.Error(err)
			}
			if err := rdb.Del(bg, base+anchor).Err(); err != nil {
				t.Error(err)
			}
			removed[k] = true
		}
	}
	got := map[key]int{}
	if _, err := s.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBeforeEpoch {
			return nil
		}
		k := key{r.Kind, r.Subject, r.ID}
		got[k]++
		if w, ok := want[k]; ok && !r.Until.Equal(w) && !removed[k] {
			t.Errorf("%v until %v, want %v", k, r.Until, w)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if pages < 6 {
		t.Errorf("the snapshot read %d pages after the first, want at least 6 (20 entries of one bucket, 3 a page)", pages)
	}
	for k := range want {
		if got[k] != 1 && !removed[k] {
			t.Errorf("%v handed to fn %d times, want once", k, got[k])
		}
		if got[k] > 1 {
			t.Errorf("%v handed to fn %d times, want at most once", k, got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%v handed to fn, never written", k)
		}
	}
}
