package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// BenchmarkAppendOnlySketch is the Redis side of the sketch of the same
// name in backends/sqlstore (read its doc first): under an append-only
// RefreshStore contract a rotation would be one pipelined round trip, a
// SET NX of the spent (family, generation) key beside EXISTS probes of
// the family's revocation and the subject's cutoff, with no script. Each
// iteration runs a raw 256-byte SET, then that pipeline followed by the
// access token's mint, and reports the ratio of throughputs (sketch/raw).
//
//	go test -run '^$' -bench AppendOnlySketch -benchtime 2s -count 3 ./backends/redisstore
func BenchmarkAppendOnlySketch(b *testing.B) {
	addr := testservers.Redis(b)
	rdb := standalone(b, addr)
	prefix := testservers.RedisPrefix(b, rdb)
	iss := rotationIssuer(b, memory.New())
	ctx := context.Background()
	value := strings.Repeat("v", 256)
	successor := strings.Repeat("s", 83)
	if err := rdb.Set(ctx, prefix+"warm", value, time.Hour).Err(); err != nil {
		b.Fatal(err)
	}
	var rawT, sketchT time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n := strconv.Itoa(i)
		t0 := time.Now()
		if err := rdb.Set(ctx, prefix+"raw:"+n, value, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		fam := prefix + "{f" + n + "}"
		p := rdb.Pipeline()
		spent := p.SetNX(ctx, fam+":1", successor, time.Hour)
		p.Exists(ctx, fam+":rev", fam+":cut")
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		if !spent.Val() {
			b.Fatal("the spend found its key taken")
		}
		if _, err := iss.IssueAccessToken(ctx, "user-1234567890"); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		rawT += t1.Sub(t0)
		sketchT += t2.Sub(t1)
	}
	storetest.ReportSketch(b, rawT, sketchT)
}
