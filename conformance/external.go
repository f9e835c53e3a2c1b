package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.ExternalAPITokens, quoted in failure messages.
const (
	ruleExtLookup   = "ExternalAPITokens.LookupExternalAPIToken must return the record of the token it is given, live or not"
	ruleExtOwns     = "ExternalAPITokens.OwnsToken must report true for every token of the store's kind, false for the empty string, and never panic, whatever it is given"
	ruleExtExact    = "ExternalAPITokens.LookupExternalAPIToken must return ErrNotFound for any string that is not exactly a token the store holds: a token with one character changed, cut short, lengthened, padded (spaces, a line end, a tab) or changed in case is another token (a database collation that ignores case or trailing spaces must not decide), and a string that matches the token as a pattern (SQL LIKE's % and _, GLOB's * ? [c], a regular expression) finds nothing: the lookup is by equality, and a token the store does not hold is ErrNotFound, not an error"
	ruleExtIDs      = "ExternalAPITokens.LookupExternalAPIToken must give every token a non-empty ID of its own and the Subject it was issued to"
	ruleExtRemoved  = "ExternalAPITokens.LookupExternalAPIToken must not return a token its issuing system deleted or revoked as live: ErrNotFound, or the record with RevokedAt set"
	ruleExtCopies   = "ExternalAPITokens.LookupExternalAPIToken returns fresh slices: changing the Scopes one call returned changes nothing another returns"
	ruleExtVisible  = "ExternalAPITokens implementations must be safe for use by many processes sharing the same data: a token made through the issuing system is found through every handle at once"
	ruleExtParallel = "ExternalAPITokens must be safe for concurrent use: lookups from many goroutines at once each get their own token's answer"
)

// ExternalHarness tells [RunExternalAPITokens] how to make the
// [authkit.ExternalAPITokens] under test and tokens in the system it reads
// (a Django database, another service's token table). It is a struct of
// funcs, as [Harness] is.
type ExternalHarness struct {
	// New returns a store over data of its own (its own database, schema,
	// table or key prefix) holding no tokens. It registers any teardown
	// with t.Cleanup and fails t if it cannot make one. Required.
	New func(t *testing.T) authkit.ExternalAPITokens

	// Mint makes a new, random token in the data s reads, the way the
	// system that issues such tokens does (Django's ORM inserting a row,
	// with the user it belongs to), issued to subject and expiring at
	// expires (the zero time: never; the suite passes a non-zero time only
	// when Expires is true). It returns the token and the record
	// LookupExternalAPIToken must return for it; the suite compares every
	// field. The suite mints at most one token per subject in a store
	// (Django REST framework keeps one key per user), and its subjects
	// are short ASCII user names. Required.
	Mint func(t *testing.T, s authkit.ExternalAPITokens, subject string, expires time.Time) (token string, want authkit.APIToken)

	// Expires tells the suite that the store's tokens can carry an
	// expiry, so that Mint honours it and the record's ExpiresAt must
	// give it back. False for a kind of token that never expires (Django
	// REST framework's authtoken keys).
	Expires bool

	// Remove, if set, deletes or revokes token as its issuing system does
	// (a logout deleting the row). The suite then checks that the store
	// stops returning it as live. Nil skips that check.
	Remove func(t *testing.T, s authkit.ExternalAPITokens, token string)

	// Peer returns another handle on the same data as s, with its own
	// connections. Nil means s.
	Peer func(t *testing.T, s authkit.ExternalAPITokens) authkit.ExternalAPITokens

	// Unavailable returns a store whose backend cannot be reached. The
	// suite checks that a lookup of a token of the store's form fails
	// closed: an error matching ErrStoreUnavailable, never ErrNotFound.
	// Required unless InProcess is set, as for [Harness.Unavailable].
	Unavailable func(t *testing.T) authkit.ExternalAPITokens

	// InProcess declares a store with no backend outside the process, as
	// [Harness.InProcess] does.
	InProcess bool

	// Stalled returns a store whose backend has stopped answering.
	// Required for a store that reports authkit.DeadlineStore's
	// HonorsDeadlines, as for [Harness.Stalled].
	Stalled func(t *testing.T) authkit.ExternalAPITokens
}

// RunExternalAPITokens runs the checks of authkit.ExternalAPITokens
// against a store of tokens authkit did not make, as subtests of t named
// "External/…": lookups give the record of exactly the token presented
// (never of a near miss a case-insensitive or space-padding collation
// would match), OwnsToken is a pure function of the token's form, a token
// its issuing system removed is no longer live, slices are copies,
// concurrent lookups, and, as for the other interfaces, dead contexts and
// unreachable or stalled backends fail closed.
func RunExternalAPITokens(t *testing.T, h ExternalHarness) {
	t.Helper()
	if h.New == nil || h.Mint == nil {
		t.Fatal("conformance: ExternalHarness.New and Mint are required")
	}
	t.Run("External", func(t *testing.T) { runExternal(t, h) })
}

// partial is h as the PartialHarness the shared context checks take.
func (h ExternalHarness) partial() PartialHarness[authkit.ExternalAPITokens] {
	return PartialHarness[authkit.ExternalAPITokens]{New: h.New, Peer: h.Peer, Unavailable: h.Unavailable, InProcess: h.InProcess, Stalled: h.Stalled}
}

// mint calls h.Mint and checks what it says of its own token.
func (h ExternalHarness) mint(t *testing.T, s authkit.ExternalAPITokens, subject string, expires time.Time) (string, authkit.APIToken) {
	t.Helper()
	tok, want := h.Mint(t, s, subject, expires)
	if tok == "" || want.Subject != subject || !sameInstant(want.ExpiresAt, expires) {
		t.Fatalf("conformance: ExternalHarness.Mint(%q, %s) returned token %q and a record of subject %q expiring %s: want a token and the subject and expiry it was given",
			subject, fmtTime(expires), tok, want.Subject, fmtTime(want.ExpiresAt))
	}
	return tok, want
}

func lookupExternal(t *testing.T, s authkit.ExternalAPITokens, tok string, want authkit.APIToken) authkit.APIToken {
	t.Helper()
	got, err := s.LookupExternalAPIToken(t.Context(), tok)
	mustOK(t, "LookupExternalAPIToken of a token the store holds", err, ruleExtLookup)
	diffAPIToken(got, want).report(t, "LookupExternalAPIToken's record", ruleExtLookup)
	return got
}

func wantExternalAbsent(t *testing.T, s authkit.ExternalAPITokens, tok, why, rule string) {
	t.Helper()
	got, err := s.LookupExternalAPIToken(t.Context(), tok)
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("LookupExternalAPIToken of %s (%q) returned (ID %q, %v), want ErrNotFound; %s", why, tok, got.ID, errOrNil(err), rule)
	}
}

func runExternal(t *testing.T, h ExternalHarness) {
	never := time.Time{}
	t.Run("Lookup", func(t *testing.T) {
		s, _ := open(t, h.partial())
		a, wantA := h.mint(t, s, "alice", never)
		b, wantB := h.mint(t, s, "bob", never)
		c, wantC := h.mint(t, s, "carol", never)
		seen := map[string]string{}
		for _, c := range []struct {
			tok  string
			want authkit.APIToken
		}{{a, wantA}, {b, wantB}, {c, wantC}} {
			if !s.OwnsToken(c.tok) {
				t.Errorf("OwnsToken(%q) of a token Mint made = false; %s", c.tok, ruleExtOwns)
			}
			got := lookupExternal(t, s, c.tok, c.want)
			if got.ID == "" || got.Subject != c.want.Subject {
				t.Errorf("LookupExternalAPIToken returned ID %q, subject %q for a token of %q; %s", got.ID, got.Subject, c.want.Subject, ruleExtIDs)
			}
			if other, dup := seen[got.ID]; dup && got.ID != "" {
				t.Errorf("tokens %q and %q have the same ID %q; %s", other, c.tok, got.ID, ruleExtIDs)
			}
			seen[got.ID] = c.tok
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		if !h.Expires {
			t.Log("ExternalHarness.Expires is false: the store's tokens never expire")
			return
		}
		s, _ := open(t, h.partial())
		// All come back: the verifier, not the store, judges liveness, by
		// its own clock; also one expired by the real clock (found by
		// review: a lookup hiding "expires < NOW()" passed, the suite's
		// times being in 2030).
		for i, exp := range []time.Time{at(-hour), at(hour), time.Now().Add(-hour).Truncate(time.Second)} {
			tok, want := h.mint(t, s, []string{"alice", "bob", "carol"}[i], exp)
			got := lookupExternal(t, s, tok, want)
			if !sameInstant(got.ExpiresAt, exp) {
				t.Errorf("a token expiring %s came back expiring %s; %s", fmtTime(exp), fmtTime(got.ExpiresAt), ruleExtLookup)
			}
		}
	})

	t.Run("NearMisses", func(t *testing.T) {
		s, _ := open(t, h.partial())
		tok, want := h.mint(t, s, "alice", never)
		for _, m := range nearMisses(tok, s.OwnsToken) {
			s.OwnsToken(m.tok) // must not panic, whatever the answer
			wantExternalAbsent(t, s, m.tok, m.what, ruleExtExact)
		}
		// A token of the store's form that it never held.
		foreign, _ := h.mint(t, h.New(t), "alice", never)
		if foreign == tok {
			t.Fatalf("conformance: ExternalHarness.Mint returned %q twice", tok)
		}
		wantExternalAbsent(t, s, foreign, "a token another store holds", ruleExtExact)
		lookupExternal(t, s, tok, want) // and the near misses changed nothing
	})

	t.Run("Owns", func(t *testing.T) {
		s, _ := open(t, h.partial())
		if s.OwnsToken("") {
			t.Errorf("OwnsToken(\"\") = true; %s", ruleExtOwns)
		}
		tok, _ := h.mint(t, s, "alice", never)
		for _, in := range []string{" ", "\x00", "\xff\xfe", "a.b.c", tok + "\n", strings.Repeat(tok, 1+(1<<16)/len(tok))} {
			first := s.OwnsToken(in)
			if s.OwnsToken(in) != first {
				t.Errorf("OwnsToken(%.40q) changed its answer between two calls; %s", in, ruleExtOwns)
			}
		}
	})

	t.Run("Removed", func(t *testing.T) {
		if h.Remove == nil {
			t.Log("ExternalHarness.Remove is nil: not checked")
			return
		}
		s, _ := open(t, h.partial())
		gone, wantGone := h.mint(t, s, "alice", never)
		kept, wantKept := h.mint(t, s, "bob", never)
		lookupExternal(t, s, gone, wantGone) // a store that caches has it now
		h.Remove(t, s, gone)
		got, err := s.LookupExternalAPIToken(t.Context(), gone)
		if !errors.Is(err, authkit.ErrNotFound) && (err != nil || got.RevokedAt.IsZero()) {
			t.Errorf("LookupExternalAPIToken of a removed token returned (ID %q, revoked %s, %v); %s", got.ID, fmtTime(got.RevokedAt), errOrNil(err), ruleExtRemoved)
		}
		lookupExternal(t, s, kept, wantKept)
	})

	t.Run("Copies", func(t *testing.T) {
		s, _ := open(t, h.partial())
		tok, want := h.mint(t, s, "alice", never)
		scribbleScopes(lookupExternal(t, s, tok, want).Scopes)
		got := lookupExternal(t, s, tok, want)
		if len(want.Scopes) > 0 && !slices.Equal(got.Scopes, want.Scopes) {
			t.Errorf("after the caller changed a returned Scopes, a lookup returned %q; %s", got.Scopes, ruleExtCopies)
		}
	})

	t.Run("Visible", func(t *testing.T) {
		if h.Peer == nil {
			t.Log("ExternalHarness.Peer is nil: there is one handle")
			return
		}
		a, b := open(t, h.partial())
		tok, want := h.mint(t, a, "alice", never)
		lookupExternal(t, b, tok, want)
		wantExternalAbsent(t, b, nearMisses(tok, b.OwnsToken)[0].tok, "a token with one character changed", ruleExtVisible)
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, peer := open(t, h.partial())
		type minted struct {
			tok  string
			want authkit.APIToken
		}
		var ts []minted
		for i := range 4 {
			tok, want := h.mint(t, s, fmt.Sprintf("user-%d", i), never)
			ts = append(ts, minted{tok, want})
		}
		var mu sync.Mutex
		var errs []string
		fail := func(format string, a ...any) {
			mu.Lock()
			errs = append(errs, fmt.Sprintf(format, a...))
			mu.Unlock()
		}
		_ = fanOut(32, func(i int) error {
			st := s
			if i%2 == 1 {
				st = peer
			}
			for j := range 8 {
				m := ts[(i+j)%len(ts)]
				if j%2 == 1 {
					if _, err := st.LookupExternalAPIToken(t.Context(), nearMisses(m.tok, st.OwnsToken)[0].tok); !errors.Is(err, authkit.ErrNotFound) {
						fail("a near miss of %q: %v, want ErrNotFound", m.tok, errOrNil(err))
					}
					continue
				}
				got, err := st.LookupExternalAPIToken(t.Context(), m.tok)
				if err != nil || len(diffAPIToken(got, m.want)) > 0 {
					fail("token of %q: got (ID %q, subject %q, %v), want ID %q", m.want.Subject, got.ID, got.Subject, errOrNil(err), m.want.ID)
				}
			}
			return nil
		})
		for _, e := range errs[:min(len(errs), 5)] {
			t.Errorf("concurrent lookups: %s; %s", e, ruleExtParallel)
		}
	})

	// Dead contexts, unreachable and stalled backends: a token of the
	// store's form is needed, so one is minted beforehand in a store of
	// its own (the unreachable ones hold nothing).
	var held, unknown string
	calls := []call[authkit.ExternalAPITokens]{
		{"LookupExternalAPIToken", func(ctx context.Context, s authkit.ExternalAPITokens) error {
			_, err := s.LookupExternalAPIToken(ctx, held)
			return err
		}, nil},
		{"LookupExternalAPIToken/Unknown", func(ctx context.Context, s authkit.ExternalAPITokens) error {
			_, err := s.LookupExternalAPIToken(ctx, unknown)
			return err
		}, nil},
	}
	t.Run("Context", func(t *testing.T) {
		unknown, _ = h.mint(t, h.New(t), "alice", never)
		runDeadContext(t, h.partial(), func(t *testing.T, s authkit.ExternalAPITokens) {
			held, _ = h.mint(t, s, "alice", never)
		}, calls)
	})
	t.Run("Unavailable", func(t *testing.T) {
		held, _ = h.mint(t, h.New(t), "alice", never)
		unknown = held
		runUnavailable(t, h.partial(), calls[:1])
	})
	t.Run("Stalled", func(t *testing.T) {
		held, _ = h.mint(t, h.New(t), "alice", never)
		unknown = held
		runStalled(t, h.partial(), calls[:1])
	})
}

// nearMiss is a string that differs from a token, and how.
type nearMiss struct{ tok, what string }

// nearMisses returns strings that differ from tok in the ways a lax
// comparison would miss: one character changed (at the end, the middle,
// the start; to another character of tok's own, one that owns still
// accepts where there is one, so that the change keeps the token's form),
// cut short at either end, lengthened, in another case, padded (spaces,
// NUL, line ends, tab), and made a pattern (LIKE, GLOB, regular expression) that
// the token matches.
func nearMisses(tok string, owns func(string) bool) []nearMiss {
	var alphabet []byte
	for i := 0; i < len(tok); i++ {
		if !slices.Contains(alphabet, tok[i]) {
			alphabet = append(alphabet, tok[i])
		}
	}
	slices.Sort(alphabet)
	var out []nearMiss
	add := func(s, what string) {
		if s != tok && !slices.ContainsFunc(out, func(m nearMiss) bool { return m.tok == s }) {
			out = append(out, nearMiss{s, what})
		}
	}
	for _, i := range []int{len(tok) - 1, len(tok) / 2, 0} {
		var first string
		for _, c := range append(alphabet, tok[i]^1) {
			if c == tok[i] {
				continue
			}
			b := []byte(tok)
			b[i] = c
			if first == "" {
				first = string(b)
			}
			if owns(string(b)) {
				first = string(b)
				break
			}
		}
		add(first, fmt.Sprintf("the token with character %d changed", i))
	}
	add(tok[:len(tok)-1], "the token without its last character")
	add(tok+tok[len(tok)-1:], "the token with its last character repeated")
	add(strings.ToUpper(tok), "the token in upper case")
	add(strings.ToLower(tok), "the token in lower case")
	add(tok+" ", "the token with a trailing space")
	add(" "+tok, "the token with a leading space")
	add(tok+"\x00", "the token with a trailing NUL")
	add(tok+"\n", "the token with a trailing newline")
	add(tok+"\r\n", "the token with a trailing CRLF")
	add(tok+"\t", "the token with a trailing tab")
	add(tok[:len(tok)/2], "the first half of the token")
	add(tok[1:], "the token without its first character")
	add(tok[len(tok)/2:], "the second half of the token")
	add("\t"+tok, "the token with a leading tab")
	add("\n"+tok, "the token with a leading newline")
	// Patterns: a lookup by SQL LIKE, GLOB or a regular expression rather
	// than by equality matches the token with each of these.
	half, last := tok[:len(tok)/2], tok[len(tok)-1:]
	add(half+"%", "the first half of the token and a LIKE wildcard (%)")
	add(tok[:len(tok)-1]+"_", "the token with its last character a LIKE wildcard (_)")
	add(half+"*", "the first half of the token and a GLOB wildcard (*)")
	add(tok[:len(tok)-1]+"?", "the token with its last character a GLOB wildcard (?)")
	add(tok[:len(tok)-1]+"["+last+"]", "the token with its last character a GLOB class ([c])")
	add(half+".*", "the first half of the token and a regular expression (.*)")
	return out
}
