package passwords

import (
	"context"
	"testing"
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
