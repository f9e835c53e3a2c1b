package conformance_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
)

// extStore is a reference authkit.ExternalAPITokens: tokens "ext_" and 32
// lower-case hexadecimal characters, issued by another system (mint) and
// kept by their SHA-256.
type extStore struct {
	mu   sync.Mutex
	byH  map[[32]byte]authkit.APIToken
	down bool // the backend cannot be reached
	// keyLen, if set, keys records by the token's first keyLen
	// characters only (a mutant).
	keyLen int
	// held is every token minted and not removed, for the mutants that
	// search them as text.
	held []string
}

func (s *extStore) key(tok string) [32]byte {
	if s.keyLen > 0 && len(tok) > s.keyLen {
		tok = tok[:s.keyLen]
	}
	return sha256.Sum256([]byte(tok))
}

func newExtStore() *extStore { return &extStore{byH: map[[32]byte]authkit.APIToken{}} }

const extPrefix = "ext_"

func (s *extStore) OwnsToken(tok string) bool {
	if len(tok) != len(extPrefix)+32 || !strings.HasPrefix(tok, extPrefix) {
		return false
	}
	for _, c := range tok[len(extPrefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *extStore) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	if !s.OwnsToken(tok) {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return s.find(ctx, tok)
}

// find is the lookup after the form check: a round trip to the backend.
func (s *extStore) find(ctx context.Context, tok string) (authkit.APIToken, error) {
	if err := ctx.Err(); err != nil {
		return authkit.APIToken{}, fmt.Errorf("ext: %w: %w", authkit.ErrStoreUnavailable, err)
	}
	if s.down {
		return authkit.APIToken{}, fmt.Errorf("ext: %w: connection refused", authkit.ErrStoreUnavailable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.byH[s.key(tok)]
	if !ok {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	rec.Scopes = append([]string(nil), rec.Scopes...)
	return rec, nil
}

var extN struct {
	sync.Mutex
	n int
}

// mint is the issuing system: a random token, its record stored.
func (s *extStore) mint(subject string, expires time.Time) (string, authkit.APIToken) {
	var b [16]byte
	rand.Read(b[:])
	tok := extPrefix + hex.EncodeToString(b[:])
	extN.Lock()
	extN.n++
	id := fmt.Sprintf("ext:%d", extN.n)
	extN.Unlock()
	rec := authkit.APIToken{ID: id, Subject: subject, Name: "other system", Scopes: []string{"read", "write"},
		CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: expires}
	s.mu.Lock()
	s.byH[s.key(tok)] = rec
	s.held = append(s.held, tok)
	s.mu.Unlock()
	rec.Scopes = []string{"read", "write"}
	return tok, rec
}

func (s *extStore) remove(tok string) {
	s.mu.Lock()
	delete(s.byH, s.key(tok))
	s.held = slices.DeleteFunc(s.held, func(h string) bool { return h == tok })
	s.mu.Unlock()
}

// extHarness runs the suite over the store wrap makes of a reference
// store (the reference itself when wrap is nil).
func extHarness(wrap func(*extStore) authkit.ExternalAPITokens) conformance.ExternalHarness {
	if wrap == nil {
		wrap = func(s *extStore) authkit.ExternalAPITokens { return s }
	}
	// The reference under each wrapped store, for Mint and Remove.
	var mu sync.Mutex
	refs := map[authkit.ExternalAPITokens]*extStore{}
	ref := func(s authkit.ExternalAPITokens) *extStore {
		mu.Lock()
		defer mu.Unlock()
		return refs[s]
	}
	return conformance.ExternalHarness{
		InProcess: true,
		New: func(t *testing.T) authkit.ExternalAPITokens {
			r := newExtStore()
			s := wrap(r)
			mu.Lock()
			refs[s] = r
			mu.Unlock()
			return s
		},
		Mint: func(t *testing.T, s authkit.ExternalAPITokens, subject string, expires time.Time) (string, authkit.APIToken) {
			return ref(s).mint(subject, expires)
		},
		Expires: true,
		Remove:  func(t *testing.T, s authkit.ExternalAPITokens, tok string) { ref(s).remove(tok) },
		Peer:    func(t *testing.T, s authkit.ExternalAPITokens) authkit.ExternalAPITokens { return s },
		Unavailable: func(t *testing.T) authkit.ExternalAPITokens {
			r := newExtStore()
			r.down = true
			return wrap(r)
		},
	}
}

func TestExternalReference(t *testing.T) {
	t.Parallel()
	conformance.RunExternalAPITokens(t, extHarness(nil))
}

// Mutants of external token stores, each breaking one rule the suite
// states, as stores over a database or a cache have.
const extMutantEnv = "AUTHKIT_CONFORMANCE_EXT_MUTANT"

var extMutants = []struct {
	name, run string
	wrap      func(*extStore) authkit.ExternalAPITokens
	want      []string
}{
	// A key column under a case-insensitive collation (MySQL's default).
	{"CaseInsensitiveCollation", "External/NearMisses",
		func(s *extStore) authkit.ExternalAPITokens { return caseFold{s} },
		[]string{"the token in upper case"}},
	// A PAD SPACE collation: trailing spaces ignored.
	{"PadSpaceCollation", "External/NearMisses",
		func(s *extStore) authkit.ExternalAPITokens { return padSpace{s} },
		[]string{"the token with a trailing space"}},
	// Found by an indexed prefix of the token, the rest never compared.
	{"PrefixOnly", "External/NearMisses",
		func(s *extStore) authkit.ExternalAPITokens { s.keyLen = 24; return s },
		[]string{"the token with character 35 changed"}},
	// An unreachable backend reported as "no such token".
	{"DownIsNotFound", "External/Unavailable",
		func(s *extStore) authkit.ExternalAPITokens { return downNotFound{s} },
		[]string{"External/Unavailable/LookupExternalAPIToken", "on an unreachable backend returned"}},
	// The stored Scopes handed out.
	{"SharedScopes", "External/Copies",
		func(s *extStore) authkit.ExternalAPITokens { return &sharedScopes{extStore: s} },
		[]string{"after the caller changed a returned Scopes"}},
	// Unknown tokens answered from a local filter before ctx is looked at.
	{"DeadContextShortcut", "External/Context",
		func(s *extStore) authkit.ExternalAPITokens { return &knownOnly{extStore: s} },
		[]string{"External/Context/Canceled/LookupExternalAPIToken/Unknown", "want an error matching context canceled"}},
	// A cache of found tokens that never forgets one.
	{"CachesForever", "External/Removed",
		func(s *extStore) authkit.ExternalAPITokens {
			return &forever{extStore: s, seen: map[string]authkit.APIToken{}}
		},
		[]string{"a removed token returned"}},
	// WHERE key LIKE ?: the token is a pattern, % and _ wildcards.
	{"LikeLookup", "External/NearMisses",
		func(s *extStore) authkit.ExternalAPITokens { return likeLookup{s} },
		[]string{"a LIKE wildcard (%)", "a LIKE wildcard (_)"}},
	// WHERE key LIKE '%' || ? (the input escaped), or Django's
	// key__endswith: any held token ending with the string.
	{"SuffixLookup", "External/NearMisses",
		func(s *extStore) authkit.ExternalAPITokens { return suffixLookup{s} },
		[]string{"the token without its first character", "the second half of the token"}},
	// The token's line end trimmed, as a header or file reader might.
	{"TrimsLineEnd", "External/NearMisses",
		func(s *extStore) authkit.ExternalAPITokens { return trimsLineEnd{s} },
		[]string{"the token with a trailing newline", "the token with a trailing CRLF"}},
	// Claims every token.
	{"OwnsEverything", "External/Owns",
		func(s *extStore) authkit.ExternalAPITokens { return ownsAll{s} },
		[]string{`OwnsToken("") = true`}},
}

func TestExternalMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(extMutantEnv)
	for _, m := range extMutants {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				conformance.RunExternalAPITokens(t, extHarness(m.wrap))
				return
			}
			expectSuiteFails(t, extMutantEnv, "TestExternalMutants", m.name, m.run, "external token store", m.want)
		})
	}
}

type caseFold struct{ *extStore }

func (s caseFold) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	if l := strings.ToLower(tok); s.OwnsToken(l) {
		return s.find(ctx, l)
	}
	return authkit.APIToken{}, authkit.ErrNotFound
}

// likeLookup finds a token as SQL's LIKE does: % any run of characters,
// _ any one character.
type likeLookup struct{ *extStore }

func (s likeLookup) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	pattern := regexp.QuoteMeta(tok)
	pattern = strings.NewReplacer("%", ".*", "_", ".").Replace(pattern)
	re, err := regexp.Compile("^" + pattern + "$")
	if err != nil {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	s.mu.Lock()
	held := slices.Clone(s.held)
	s.mu.Unlock()
	for _, h := range held {
		if re.MatchString(h) {
			return s.find(ctx, h)
		}
	}
	return authkit.APIToken{}, authkit.ErrNotFound
}

// suffixLookup finds the held token that ends with the string given.
type suffixLookup struct{ *extStore }

func (s suffixLookup) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	if tok == "" {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	s.mu.Lock()
	held := slices.Clone(s.held)
	s.mu.Unlock()
	for _, h := range held {
		if strings.HasSuffix(h, tok) {
			return s.find(ctx, h)
		}
	}
	return s.find(ctx, tok) // a round trip for nothing, as a database's
}

type trimsLineEnd struct{ *extStore }

func (s trimsLineEnd) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	return s.extStore.LookupExternalAPIToken(ctx, strings.TrimRight(tok, "\r\n"))
}

type padSpace struct{ *extStore }

func (s padSpace) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	return s.extStore.LookupExternalAPIToken(ctx, strings.TrimRight(tok, " "))
}

type downNotFound struct{ *extStore }

func (s downNotFound) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	if s.down {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return s.extStore.LookupExternalAPIToken(ctx, tok)
}

// sharedScopes returns one Scopes slice per token, kept between calls.
type sharedScopes struct {
	*extStore
	mu     sync.Mutex
	scopes map[string][]string
}

func (s *sharedScopes) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	rec, err := s.extStore.LookupExternalAPIToken(ctx, tok)
	if err != nil {
		return rec, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scopes == nil {
		s.scopes = map[string][]string{}
	}
	if kept, ok := s.scopes[tok]; ok {
		rec.Scopes = kept
	} else {
		s.scopes[tok] = rec.Scopes
	}
	return rec, nil
}

// knownOnly answers "not found" for a token it never saw succeed, without
// a round trip.
type knownOnly struct {
	*extStore
	mu   sync.Mutex
	seen map[string]bool
}

func (s *knownOnly) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	s.mu.Lock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.mu.Unlock()
	s.extStore.mu.Lock()
	_, held := s.byH[s.key(tok)]
	s.extStore.mu.Unlock()
	if !held {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return s.extStore.LookupExternalAPIToken(ctx, tok)
}

// forever caches every record it found.
type forever struct {
	*extStore
	mu   sync.Mutex
	seen map[string]authkit.APIToken
}

func (s *forever) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	s.mu.Lock()
	rec, ok := s.seen[tok]
	s.mu.Unlock()
	if ok {
		return rec, nil
	}
	rec, err := s.extStore.LookupExternalAPIToken(ctx, tok)
	if err == nil {
		s.mu.Lock()
		s.seen[tok] = rec
		s.mu.Unlock()
	}
	return rec, err
}

type ownsAll struct{ *extStore }

func (ownsAll) OwnsToken(string) bool { return true }
