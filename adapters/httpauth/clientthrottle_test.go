package httpauth_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/keys"
)

// clientGrantFrom runs the client_credentials grant with client_secret_basic
// from client address ip (named in X-Forwarded-For to the loopback proxy).
func (f *clientFx) clientGrantFrom(id, secret, ip string) resp {
	f.t.Helper()
	return f.form("/token", []string{"grant_type", "client_credentials"},
		append(clientBasic(id, secret), "X-Forwarded-For", ip)...)
}

// The review's denial of service: with a per-client ceiling, 125 wrong
// secrets from 25 addresses, then one every 50ms from rotating addresses
// (refused ones are not counted, so a few failures a minute kept the
// ceiling's wait at its maximum), answered the real client 429 for almost
// every attempt over four minutes. Client authentication has no such
// ceiling: the client presenting its secret from its own address always
// succeeds, while every guess fails.
func TestClientAuthNoLockoutByOthersFailures(t *testing.T) {
	f := newClientFxWith(t, fxOptions{auth: []httpauth.Option{loopbackProxy}})
	const owner = "203.0.113.5"
	wrong := f.secrets["web"] // a well-formed secret, another client's
	var attacks, attackerOK, ownerOK, ownerThrottled int
	attack := func(ip string) {
		t.Helper()
		attacks++
		switch r := f.clientGrantFrom("svc+1", wrong, ip); r.status {
		case 200:
			attackerOK++
		case 401, 429:
		default:
			t.Fatalf("attack %d from %s: %d %s", attacks, ip, r.status, r.body)
		}
	}
	// 125 failures from 25 addresses, 5 each (the pair's free allowance).
	for a := range 25 {
		for range 5 {
			attack(fmt.Sprintf("198.51.100.%d", a+1))
		}
	}
	// Then 240s of an attacker firing every 50ms from a fresh address each
	// time, while the client presents its secret once a second.
	for ms := 0; ms < 240_000; ms += 50 {
		attack(fmt.Sprintf("198.18.%d.%d", attacks/250, attacks%250+1))
		if ms%1000 == 0 {
			switch r := f.clientGrantFrom("svc+1", f.secrets["svc+1"], owner); r.status {
			case 200:
				ownerOK++
			case 429:
				ownerThrottled++
			default:
				t.Fatalf("the client at %dms: %d %s", ms, r.status, r.body)
			}
		}
		f.clock.Add(50 * time.Millisecond)
	}
	if ownerOK != 240 || attackerOK != 0 {
		t.Errorf("the client got %d of 240 tokens (%d refused 429), the attacker %d of %d",
			ownerOK, ownerThrottled, attackerOK, attacks)
	}
	if _, ok := f.events.findFor(authkit.EventThrottled, httpauth.MethodClientSecret, "svc+1"); ok {
		t.Error("an attempt for svc+1 was throttled, though no address failed beyond its allowance")
	}
}

// Without the ceiling, guesses at a client are still throttled per
// (client, address) and per address, and refused unchecked: even the right
// secret from the guessing address waits.
func TestClientAuthGuessesStillThrottled(t *testing.T) {
	t.Run("pair", func(t *testing.T) {
		f := newClientFxWith(t, fxOptions{auth: []httpauth.Option{loopbackProxy}})
		const attacker = "192.0.2.66"
		wrong := f.secrets["web"]
		// 5 free; the 6th is checked and starts the wait: 1s, then 2s, 4s, 8s
		// after each further failure.
		for i := range 6 {
			if r := f.clientGrantFrom("svc+1", wrong, attacker); r.status != 401 {
				t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
			}
		}
		for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
			retry := fmt.Sprint(int(wait / time.Second))
			wantThrottled(t, f.clientGrantFrom("svc+1", wrong, attacker), retry)
			wantThrottled(t, f.clientGrantFrom("svc+1", f.secrets["svc+1"], attacker), retry)
			f.clock.Add(wait - time.Millisecond)
			wantThrottled(t, f.clientGrantFrom("svc+1", wrong, attacker), "1")
			f.clock.Add(time.Millisecond)
			if r := f.clientGrantFrom("svc+1", wrong, attacker); r.status != 401 {
				t.Fatalf("after a %v wait: %d %s", wait, r.status, r.body)
			}
		}
		// The client from its own address is not held back.
		if r := f.clientGrantFrom("svc+1", f.secrets["svc+1"], "203.0.113.5"); r.status != 200 {
			t.Errorf("the client from another address: %d %s", r.status, r.body)
		}
		if e, ok := f.events.findFor(authkit.EventThrottled, httpauth.MethodClientSecret, "svc+1"); !ok || !errors.Is(e.Err, httpauth.ErrThrottled) {
			t.Errorf("EventThrottled for svc+1: %+v, %v", e, ok)
		}
	})
	t.Run("address", func(t *testing.T) {
		f := newClientFxWith(t, fxOptions{auth: []httpauth.Option{loopbackProxy}})
		const sprayer = "192.0.2.77"
		wrong := f.secrets["web"]
		// One guess at each of 31 client_ids (unknown ones count as wrong
		// secrets): 30 free at the address, the 31st starts its wait.
		for i := range httpauth.DefaultThrottlePolicy().Address.Free + 1 {
			if r := f.clientGrantFrom(fmt.Sprintf("ghost%d", i), wrong, sprayer); r.status != 401 {
				t.Fatalf("guess %d: %d %s", i+1, r.status, r.body)
			}
		}
		wantThrottled(t, f.clientGrantFrom("ghost99", wrong, sprayer), "1")
		// The address waits for every client, the right secret included.
		wantThrottled(t, f.clientGrantFrom("svc+1", f.secrets["svc+1"], sprayer), "1")
		// It shares its count with passwords: a password from there waits too.
		wantThrottled(t, f.grant("alice", "wonderland", sprayer), "1")
		if r := f.clientGrantFrom("svc+1", f.secrets["svc+1"], "203.0.113.5"); r.status != 200 {
			t.Errorf("the client from another address: %d %s", r.status, r.body)
		}
		f.clock.Add(time.Second)
		if r := f.clientGrantFrom("svc+1", f.secrets["svc+1"], sprayer); r.status != 200 {
			t.Errorf("after the address's wait: %d %s", r.status, r.body)
		}
	})
}

// The same holds for private_key_jwt: assertions signed with another key
// from many addresses, far beyond the old ceiling, never refuse the
// client's own assertions from its address; each guessing address is
// still throttled.
func TestPrivateKeyJWTNoLockoutByOthersFailures(t *testing.T) {
	f := newPKFx(t, loopbackProxy)
	other := genKey(t, keys.ES256, "k1") // the client's kid, another key
	from := func(a, ip string) resp {
		t.Helper()
		return f.form("/token", withAssertion(a, "grant_type", "client_credentials"), "X-Forwarded-For", ip)
	}
	const owner = "203.0.113.5"
	n := 0
	for round := range 4 {
		// 30 addresses × 5 failures a round: 600 failures in all.
		for a := range 30 {
			ip := fmt.Sprintf("198.18.%d.%d", round, a+1)
			for range 5 {
				n++
				if r := from(sign(t, other, f.claimsFor("kjwt")), ip); r.status != 401 && r.status != 429 {
					t.Fatalf("forged assertion %d from %s: %d %s", n, ip, r.status, r.body)
				}
			}
			f.clock.Add(time.Second)
		}
		if r := from(sign(t, f.k1, f.claimsFor("kjwt")), owner); r.status != 200 {
			t.Fatalf("the client after %d forged assertions: %d %s, Retry-After %q", n, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	// A guessing address that goes on waits, even with a good assertion.
	const attacker = "198.18.0.1"
	if r := from(sign(t, other, f.claimsFor("kjwt")), attacker); r.status != 401 {
		t.Fatalf("the 6th forged assertion from one address: %d %s", r.status, r.body)
	}
	r := from(sign(t, f.k1, f.claimsFor("kjwt")), attacker)
	if r.status != 429 || r.json(t)["error"] != "slow_down" {
		t.Fatalf("from a guessing address past its allowance: %d %s, want 429", r.status, r.body)
	}
}
