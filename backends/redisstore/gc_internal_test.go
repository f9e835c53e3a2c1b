package redisstore

import (
	"math"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A cleanup round's re-score of a candidate that is not garbage yet
// applies only if the member still has the score the round read: a
// RevokeSession in between (score -inf: garbage at once) stands (found by
// review: ZADD XX overwrote it, and the revoked session stayed until its
// idle expiry).
func TestGCRescoreKeepsALaterWrite(t *testing.T) {
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	key := s.k.gc(gcSess, 0)
	for _, m := range []string{"s-revoked", "s-live"} {
		if err := rdb.ZAdd(ctx, key, redis.Z{Score: 1000, Member: m}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	read := []candidate{{key: key, member: "s-revoked", score: 1000}, {key: key, member: "s-live", score: 1000}}
	// The revocation lands between the round's read and its re-score.
	if err := rdb.ZAdd(ctx, key, redis.Z{Score: math.Inf(-1), Member: "s-revoked"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.exec(ctx, func(b *batch) {
		for _, c := range read {
			s.gcRescore(ctx, c, 5000)(b)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if got := rdb.ZScore(ctx, key, "s-revoked").Val(); !math.IsInf(got, -1) {
		t.Errorf("the revoked session's score after a re-score: %v, want -inf", got)
	}
	if got := rdb.ZScore(ctx, key, "s-live").Val(); got != 5000 {
		t.Errorf("the live session's score after a re-score: %v, want 5000", got)
	}
	// A member gone since the read is not added back.
	if err := s.exec(ctx, s.gcRescore(ctx, candidate{key: key, member: "s-gone", score: 1000}, 5000)); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZScore(ctx, key, "s-gone").Err(); err != redis.Nil {
		t.Errorf("a re-score added a member that was gone: %v", err)
	}
}
