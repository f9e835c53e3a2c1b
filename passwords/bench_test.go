package passwords

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkCheck compares a wrong password for a known user with a login of
// an unknown user, at the default argon2id cost and at bcrypt's cost 12:
// the two should cost the same.
func BenchmarkCheck(b *testing.B) {
	for _, algo := range []struct {
		name string
		hash func([]byte) (string, error)
	}{{"argon2id", Hash}, {"bcrypt", HashBcrypt}} {
		enc, err := algo.hash([]byte("correct horse battery"))
		if err != nil {
			b.Fatal(err)
		}
		u, err := NewUsers(map[string]string{"alice": enc})
		if err != nil {
			b.Fatal(err)
		}
		for _, user := range []string{"alice", "mallory"} {
			b.Run(algo.name+"/"+user, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := u.Check(context.Background(), user, "wrong password"); err == nil {
						b.Fatal("a wrong login passed")
					}
				}
			})
		}
	}
}

// BenchmarkVerifyWorst measures one verification of the costliest hashes
// the bounds accept: argon2id at the most memory (256 MiB, 1 pass), at the
// most work spread over two passes and over the most passes, with 1 lane
// and with 4 (RFC 9106's lanes), and bcrypt at cost 14; with the default
// argon2id hash and RFC 9106's second profile to compare. Run it alone,
// -benchtime=3x: each verification takes a good part of a second.
func BenchmarkVerifyWorst(b *testing.B) {
	for _, tc := range []struct {
		name string
		h    hash
	}{
		{"argon2id/default/m=19456,t=2,p=1", argon2Params(argonMemoryKiB, argonTime, argonThreads)},
		{"argon2id/rfc9106-second/m=65536,t=3,p=4", argon2Params(64<<10, 3, 4)},
		{"argon2id/max-memory/m=262144,t=1,p=1", argon2Params(argonMaxMemoryKiB, 1, 1)},
		{"argon2id/max-memory/m=262144,t=1,p=4", argon2Params(argonMaxMemoryKiB, 1, 4)},
		{"argon2id/max-work/m=131072,t=2,p=1", argon2Params(argonMaxWorkKiB/2, 2, 1)},
		{"argon2id/max-passes/m=16384,t=16,p=1", argon2Params(argonMaxWorkKiB/argonMaxTime, argonMaxTime, 1)},
		{"bcrypt/max-cost/14", bcryptAtCost(b, bcryptMaxCost)},
	} {
		if err := ValidateHash(encodeForBench(tc.h)); err != nil {
			b.Fatalf("%s: not within the bounds: %v", tc.name, err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.h.verify([]byte("wrong password")) {
					b.Fatal("a wrong password matched")
				}
			}
		})
	}
}

// argon2Params returns an argon2id hash with the given parameters, a
// 16-byte salt and a 32-byte key that no password matches.
func argon2Params(m, t uint32, p uint8) hash {
	return &argon2Hash{memory: m, time: t, threads: p, salt: make([]byte, argonSaltLen), key: make([]byte, argonKeyLen)}
}

// bcryptAtCost returns a bcrypt hash of the given cost (made at the cheapest
// cost and relabelled: the verification runs the stated cost).
func bcryptAtCost(b *testing.B, cost int) hash {
	enc, err := bcrypt.GenerateFromPassword([]byte("right password"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	enc = append(append([]byte(nil), enc[:4]...), append([]byte(fmt.Sprintf("%02d", cost)), enc[6:]...)...)
	return &bcryptHash{encoded: enc, cost: cost}
}

func encodeForBench(h hash) string {
	switch h := h.(type) {
	case *argon2Hash:
		return h.encode()
	case *bcryptHash:
		return string(h.encoded)
	}
	return ""
}
