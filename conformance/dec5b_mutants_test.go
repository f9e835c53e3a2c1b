package conformance_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// Client-store mistakes a review found the suite passing (2026-12-05),
// each now caught by Clients/DeleteClient.
func init() {
	clientMutants = append(clientMutants,
		clientMutant{
			name: "ReRegisterPublicKeepsSecret",
			run:  "Clients/DeleteClient",
			// An upsert keeping the old secret where the new record has
			// none.
			wrap: func(s *memory.Store) authkit.ClientStore {
				return newReviving(s, func(old, c authkit.Client) authkit.Client {
					if c.SecretHash == (authkit.TokenHash{}) {
						c.SecretHash = old.SecretHash
					}
					return c
				})
			},
			want: []string{"registered again as a public client", "SecretHash"},
		},
		clientMutant{
			name: "DeleteFoldsCase",
			run:  "Clients/DeleteClient",
			wrap: func(s *memory.Store) authkit.ClientStore { return deleteMatching{s, strings.EqualFold} },
			want: []string{"ListClients after DeleteClient", `want ["APP" "appX1" "keep"]`},
		},
		clientMutant{
			name: "DeleteLikePattern",
			run:  "Clients/DeleteClient",
			wrap: func(s *memory.Store) authkit.ClientStore { return deleteMatching{s, likeUnderscore} },
			want: []string{"ListClients after DeleteClient", `want ["APP" "appX1" "keep"]`},
		},
		clientMutant{
			name: "DeadIDList",
			run:  "Clients/DeleteClient",
			wrap: func(s *memory.Store) authkit.ClientStore { return newDeadIDs(s) },
			want: []string{"RedeemAuthorizationCode: unexpected error: authkit: not found"},
		},
		clientMutant{
			name: "SecretOfDeletedOK",
			run:  "Clients/DeleteClient",
			wrap: func(s *memory.Store) authkit.ClientStore { return secretOfMissingOK{s} },
			want: []string{"SetClientSecret of a deleted client", "want an error matching authkit: not found"},
		},
		clientMutant{
			name: "CodeForDeletedDropped",
			run:  "Clients/DeleteClient",
			wrap: func(s *memory.Store) authkit.ClientStore { return codeForMissingDropped{s} },
			want: []string{"CreateAuthorizationCode for a deleted client", "want an error matching authkit: not found"},
		},
	)
}

// deleteMatching deletes every client whose ID match says is the one
// named, as a delete by a folding or pattern comparison would.
type deleteMatching struct {
	*memory.Store
	match func(id, named string) bool
}

func (s deleteMatching) DeleteClient(ctx context.Context, id string) error {
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	cs, err := s.Store.ListClients(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if s.match(c.ID, id) {
			if err := s.Store.DeleteClient(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// likeUnderscore is SQL LIKE with pattern's '_' matching any one byte.
func likeUnderscore(id, pattern string) bool {
	if len(id) != len(pattern) {
		return false
	}
	for i := range len(id) {
		if pattern[i] != '_' && pattern[i] != id[i] {
			return false
		}
	}
	return true
}

// deadIDs keeps deleted IDs on a list and refuses every code of them, the
// codes of a client registered again under the ID included.
type deadIDs struct {
	*memory.Store
	mu   sync.Mutex
	dead map[string]bool
}

func newDeadIDs(s *memory.Store) *deadIDs { return &deadIDs{Store: s, dead: map[string]bool{}} }

func (s *deadIDs) DeleteClient(ctx context.Context, id string) error {
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	s.dead[id] = true
	s.mu.Unlock()
	return nil
}

func (s *deadIDs) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	code, err := s.Store.RedeemAuthorizationCode(ctx, h, now)
	s.mu.Lock()
	dead := s.dead[code.ClientID]
	s.mu.Unlock()
	if dead && (err == nil || errors.Is(err, authkit.ErrTokenReused)) {
		return authkit.AuthorizationCode{}, authkit.ErrNotFound
	}
	return code, err
}

// secretOfMissingOK answers nil to SetClientSecret of a client not stored.
type secretOfMissingOK struct{ *memory.Store }

func (s secretOfMissingOK) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	if err := s.Store.SetClientSecret(ctx, id, h, at); err != nil && !errors.Is(err, authkit.ErrNotFound) {
		return err
	}
	return nil
}

// codeForMissingDropped answers nil to a code for a client not stored,
// and stores nothing.
type codeForMissingDropped struct{ *memory.Store }

func (s codeForMissingDropped) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	if err := s.Store.CreateAuthorizationCode(ctx, code); err != nil && !errors.Is(err, authkit.ErrNotFound) {
		return err
	}
	return nil
}

func init() {
	feedMutants = append(feedMutants, feedMutant{
		name: "SkipsTrimWhileFollowing",
		run:  "RevocationFeed/Follow/TrimmedWhileFollowing",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return skipsTrimWhileFollowing{s} },
		want: []string{"Follow/TrimmedWhileFollowing", "delivered the change written after the trim and not the one before it"},
	})
}

// skipsTrimWhileFollowing, told mid-follow that its log no longer holds
// its position, goes on from the oldest change the log still holds, as a
// Redis XREAD does after a MAXLEN trim.
type skipsTrimWhileFollowing struct{ *feedtest.Store }

func (s skipsTrimWhileFollowing) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	called := false
	for {
		err := s.Store.FollowRevocations(ctx, after, heartbeat, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
			called, after = true, p
			return fn(rs, p)
		})
		if !called || !errors.Is(err, authkit.ErrFeedPositionLost) {
			return err
		}
		end, serr := s.Store.RevocationSnapshot(ctx, time.Now(), func(authkit.Revocation) error { return nil })
		if serr != nil {
			return err
		}
		epoch, seq, _ := strings.Cut(string(end), ".")
		last, perr := strconv.ParseUint(seq, 10, 64)
		if perr != nil {
			return err
		}
		after = authkit.FeedPosition(epoch + "." + strconv.FormatUint(last-uint64(s.Store.LogLen()), 10))
	}
}

// Throttle-store mistakes a review found the suite passing (2026-12-05).
func init() {
	throttleMutants = append(throttleMutants,
		throttleMutant{
			name: "ClearFoldsCase",
			run:  "Throttle/ClearThrottle",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return clearFolds{s} },
			want: []string{"ClearThrottle", `the key "K", after "k" was cleared`},
		},
		throttleMutant{
			name: "FailuresInAByte",
			run:  "Throttle/AddFailure/Counts",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return failuresInAByte{s} },
			want: []string{"AddFailure/Counts", "the state after 300 failures"},
		},
		throttleMutant{
			name: "KeyLimitInCharacters",
			run:  "Throttle/Keys/OutOfBounds",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return keyLimitInRunes{s} },
			want: []string{"Keys/OutOfBounds", fmt.Sprintf("AddFailure of a %d-byte key", authkit.MaxThrottleKeyLen+2)},
		},
	)
}

// clearFolds clears every case of the key too.
type clearFolds struct{ authkit.ThrottleStore }

func (s clearFolds) ClearThrottle(ctx context.Context, key string) error {
	for _, k := range []string{key, strings.ToUpper(key), strings.ToLower(key)} {
		if err := s.ThrottleStore.ClearThrottle(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// failuresInAByte keeps the count in an int8: past 127 it reads 127.
type failuresInAByte struct{ authkit.ThrottleStore }

func (s failuresInAByte) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	st, err := s.ThrottleStore.AddFailure(ctx, key, now, window)
	st.Failures = min(st.Failures, 127)
	return st, err
}

// keyLimitInRunes checks the key limit in characters, and stores a key
// within it under a short stand-in (as a VARCHAR(n) column would hold it).
type keyLimitInRunes struct{ authkit.ThrottleStore }

func (s keyLimitInRunes) short(key string) string {
	if len(key) > authkit.MaxThrottleKeyLen && utf8.RuneCountInString(key) <= authkit.MaxThrottleKeyLen {
		return fmt.Sprintf("runes:%x", sha256.Sum256([]byte(key)))
	}
	return key
}

func (s keyLimitInRunes) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	return s.ThrottleStore.AddFailure(ctx, s.short(key), now, window)
}

func (s keyLimitInRunes) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	short := make([]string, len(keys))
	for i, k := range keys {
		short[i] = s.short(k)
	}
	return s.ThrottleStore.ThrottleStates(ctx, now, short...)
}

func (s keyLimitInRunes) ClearThrottle(ctx context.Context, key string) error {
	return s.ThrottleStore.ClearThrottle(ctx, s.short(key))
}

func init() {
	clientMutants = append(clientMutants,
		clientMutant{
			name: "LimitsInCharacters",
			run:  "Clients/Client/Limits",
			wrap: func(s *memory.Store) authkit.ClientStore { return limitsInRunes{s} },
			want: []string{"Client/Limits", "-byte Name of", "-byte UserAgent of"},
		},
	)
}

// limitsInRunes checks Name and UserAgent limits in characters, as
// VARCHAR(n) columns do, and stores an over-long value cut to the limit.
type limitsInRunes struct{ *memory.Store }

func (s limitsInRunes) CreateClient(ctx context.Context, c authkit.Client) error {
	if len(c.Name) > authkit.MaxClientNameLen && utf8.RuneCountInString(c.Name) <= authkit.MaxClientNameLen {
		c.Name = c.Name[:authkit.MaxClientNameLen]
	}
	return s.Store.CreateClient(ctx, c)
}

func (s limitsInRunes) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	if len(code.UserAgent) > authkit.MaxCodeUserAgentLen && utf8.RuneCountInString(code.UserAgent) <= authkit.MaxCodeUserAgentLen {
		code.UserAgent = code.UserAgent[:authkit.MaxCodeUserAgentLen]
	}
	return s.Store.CreateAuthorizationCode(ctx, code)
}

func init() {
	clientMutants = append(clientMutants,
		clientMutant{
			name: "ListByMilliseconds",
			run:  "Clients/Client/ListOrder",
			wrap: func(s *memory.Store) authkit.ClientStore { return listByMillis{s} },
			want: []string{"Client/ListOrder", "client-tie-z", "oldest first"},
		},
		clientMutant{
			name: "ReuseAnswersShared",
			run:  "Clients/Code/Redeem",
			wrap: func(s *memory.Store) authkit.ClientStore {
				return &reuseShared{Store: s, seen: map[authkit.TokenHash]authkit.AuthorizationCode{}}
			},
			want: []string{"Code/Redeem", "a third RedeemAuthorizationCode (after the slices of the second answer were changed)"},
		},
	)
}

// listByMillis orders clients by CreatedAt to the millisecond, then ID.
type listByMillis struct{ *memory.Store }

func (s listByMillis) ListClients(ctx context.Context) ([]authkit.Client, error) {
	cs, err := s.Store.ListClients(ctx)
	slices.SortStableFunc(cs, func(x, y authkit.Client) int {
		return cmp.Or(cmp.Compare(x.CreatedAt.UnixMilli(), y.CreatedAt.UnixMilli()), strings.Compare(x.ID, y.ID))
	})
	return cs, err
}

// reuseShared answers every reuse of a code with the one record it kept,
// slices shared.
type reuseShared struct {
	*memory.Store
	mu   sync.Mutex
	seen map[authkit.TokenHash]authkit.AuthorizationCode
}

func (s *reuseShared) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	code, err := s.Store.RedeemAuthorizationCode(ctx, h, now)
	if !errors.Is(err, authkit.ErrTokenReused) {
		return code, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kept, ok := s.seen[h]; ok {
		return kept, err
	}
	s.seen[h] = code
	return code, err
}
