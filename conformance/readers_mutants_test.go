package conformance_test

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// Mutants whose reads race their writes, which passed the throttle and
// client checks until a review on 2026-12-05 wrote them: each now fails
// the ReadersDuringWrites subtest named.
func init() {
	clientMutants = append(clientMutants, clientMutant{
		name: "ClientCacheRefilledStale",
		run:  "Clients/ReadersDuringWrites",
		wrap: func(s *memory.Store) authkit.ClientStore { return newGetClientCache(s, false) },
		want: []string{"Clients/ReadersDuringWrites", "a rotated-out secret still works"},
	})
	if raceEnabled {
		throttleMutants = append(throttleMutants, throttleMutant{
			name: "UnlockedThrottleStates",
			run:  "Throttle/ReadersDuringWrites",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return &unlockedThrottle{ThrottleStore: s} },
			want: []string{"Throttle/ReadersDuringWrites", "DATA RACE"},
		})
		clientMutants = append(clientMutants, clientMutant{
			name: "UnlockedClientCache",
			run:  "Clients/ReadersDuringWrites",
			wrap: func(s *memory.Store) authkit.ClientStore { return newGetClientCache(s, true) },
			want: []string{"Clients/ReadersDuringWrites", "DATA RACE"},
		})
	}
}

// unlockedThrottle counts its writes under a lock and reads the count
// without it, as a store whose ThrottleStates skips its lock "for speed"
// reads its map. Both happen after the wrapped call, as in unlockedReads
// (found when a CI run passed this mutant).
type unlockedThrottle struct {
	authkit.ThrottleStore
	mu     sync.Mutex
	writes int
}

func (s *unlockedThrottle) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	defer func() {
		s.mu.Lock()
		s.writes++
		s.mu.Unlock()
	}()
	return s.ThrottleStore.AddFailure(ctx, key, now, window)
}

func (s *unlockedThrottle) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	defer func() {
		if s.writes < 0 {
			panic("negative count")
		}
	}()
	return s.ThrottleStore.ThrottleStates(ctx, now, keys...)
}

// getClientCache caches GetClient in a map. A write drops the entry and
// then writes the row, so a reader in between caches the old row again
// (a database write takes a while: the yield stands for it). With
// unlocked, a hit reads the map without the lock.
type getClientCache struct {
	authkit.ClientStore
	unlocked bool
	mu       sync.Mutex
	cache    map[string]authkit.Client
}

func newGetClientCache(s *memory.Store, unlocked bool) *getClientCache {
	return &getClientCache{ClientStore: s, unlocked: unlocked, cache: map[string]authkit.Client{}}
}

func (s *getClientCache) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	var (
		c  authkit.Client
		ok bool
	)
	if s.unlocked {
		c, ok = s.cache[id]
	} else {
		s.mu.Lock()
		c, ok = s.cache[id]
		s.mu.Unlock()
	}
	if ok {
		return c, nil
	}
	c, err := s.ClientStore.GetClient(ctx, id)
	if err != nil {
		return c, err
	}
	s.mu.Lock()
	s.cache[id] = c
	s.mu.Unlock()
	return c, nil
}

func (s *getClientCache) drop(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
	runtime.Gosched()
}

func (s *getClientCache) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	s.drop(id)
	return s.ClientStore.SetClientSecret(ctx, id, h, at)
}

func (s *getClientCache) DeleteClient(ctx context.Context, id string) error {
	s.drop(id)
	return s.ClientStore.DeleteClient(ctx, id)
}

// Mutants of the optional LookupRefreshInSession (the memory store does
// not implement it: each answers it from LookupRefresh) that passed the
// suite until a review on 2026-12-05: a cache of it, and one that ignores
// ctx.
func init() {
	mutants = append(mutants,
		mutant{
			name: "InSessionCache",
			run:  "Refresh/LookupInSession",
			wrap: func(s authkit.Store) authkit.Store {
				return &inSessionCache{Store: s, cache: map[authkit.TokenHash]authkit.RefreshRecord{}}
			},
			want: []string{"Refresh/LookupInSession", "before its rotation", "UsedAt"},
		},
		mutant{
			name: "InSessionIgnoresCtx",
			run:  "Refresh/Context",
			wrap: func(s authkit.Store) authkit.Store { return inSessionNoCtx{s} },
			want: []string{"Refresh/Context", "LookupRefreshInSession with a dead ctx"},
		},
	)
}

// inSessionCache caches LookupRefreshInSession by hash ("a record never
// changes session"), never forgetting: a rotation leaves the cached copy
// unused.
type inSessionCache struct {
	authkit.Store
	mu    sync.Mutex
	cache map[authkit.TokenHash]authkit.RefreshRecord
}

func (s *inSessionCache) LookupRefreshInSession(ctx context.Context, sessionID string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	s.mu.Lock()
	rec, ok := s.cache[h]
	s.mu.Unlock()
	if !ok {
		var err error
		if rec, err = s.LookupRefresh(ctx, h); err != nil {
			return rec, err
		}
		s.mu.Lock()
		s.cache[h] = rec
		s.mu.Unlock()
	}
	if rec.SessionID != sessionID {
		return authkit.RefreshRecord{}, authkit.ErrNotFound
	}
	return rec, nil
}

// inSessionNoCtx answers LookupRefreshInSession whatever its ctx.
type inSessionNoCtx struct{ authkit.Store }

func (s inSessionNoCtx) LookupRefreshInSession(_ context.Context, sessionID string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	rec, err := s.LookupRefresh(context.Background(), h)
	if err == nil && rec.SessionID != sessionID {
		return authkit.RefreshRecord{}, authkit.ErrNotFound
	}
	return rec, err
}
