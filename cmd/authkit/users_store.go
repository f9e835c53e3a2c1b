package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// usersStoreTimeout bounds the store work of one users command (opening
// the store and ending one user's credentials), so that a store that stops
// answering fails the command rather than hanging it.
const usersStoreTimeout = time.Minute

// usersStore is the store a users command ends credentials in: the one
// "authkit serve" runs on, so that a user removed (or whose password
// changed) while no serve runs loses its sessions and API tokens too. A
// running serve does the same when it reads the changed file.
type usersStore struct {
	st  openedStore
	iss *issuer.Issuer
}

// openUsersStore opens the store of a users command's --store (or
// AUTHKIT_STORE). It returns nil, nil when there is none, or when the
// environment names the memory store, whose credentials live and die with
// the serve process holding them (that serve ends them itself). --store
// memory given on the command line, and any store for revoke, which has
// nothing else to do, must be a persistent store.
func (c *cli) openUsersStore(ctx context.Context, fs *flag.FlagSet, sf *storeFlags, required bool) (*usersStore, error) {
	spec, warning, err := sf.resolve(c, fs)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		fmt.Fprintf(c.stderr, "authkit users: warning: %s\n", warning)
	}
	const memoryMsg = "the memory store lives only in serve's process, which ends a removed or changed user's credentials itself; --store names the SQL or Redis store that serve uses"
	scheme, _ := storeScheme(spec)
	switch {
	case spec == "" && required:
		return nil, usagef("users revoke needs --store (or AUTHKIT_STORE) naming the SQL or Redis store that serve uses")
	case spec == "":
		return nil, nil
	case scheme == "memory" && (required || flagGiven(fs, "store") || flagGiven(fs, "dsn")):
		return nil, usagef("%s", memoryMsg)
	case scheme == "memory":
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, usersStoreTimeout)
	defer cancel()
	st, err := openStore(ctx, spec, false, c.stderrLogger())
	if err != nil {
		return nil, err
	}
	iss, err := credentialEnder(st.store)
	if err != nil {
		if st.close != nil {
			st.close()
		}
		return nil, err
	}
	return &usersStore{st: st, iss: iss}, nil
}

// credentialEnder is an issuer on store that only revokes. Its signing
// key is a throwaway one made in memory, never used. Its access TTL is
// the longest serve accepts (authkit.WithAccessTTL allows 24 hours): a
// session's revocation is remembered that long, so it outlives every
// access token of the session whatever serve's --access-ttl is, which
// this command does not know.
func credentialEnder(store authkit.Store) (*issuer.Issuer, error) {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		return nil, err
	}
	set, err := keys.NewSet(k)
	if err != nil {
		return nil, err
	}
	return issuer.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithAccessTTL(maxAccessTTL))
}

// maxAccessTTL is the longest access-token lifetime an issuer accepts
// (authkit.WithAccessTTL), and so the longest serve's --access-ttl can be.
const maxAccessTTL = 24 * time.Hour

func (u *usersStore) close() {
	if u != nil && u.st.close != nil {
		u.st.close()
	}
}

// end ends name's sessions and API tokens, as serve does for a removed or
// changed user, and says what it did. done is what the file step did
// ("removed user alice from users.txt"), for the error when the store
// step fails after it.
func (u *usersStore) end(ctx context.Context, c *cli, name, done string) error {
	ctx, cancel := context.WithTimeout(ctx, usersStoreTimeout)
	defer cancel()
	sessions, tokens, err := endCredentials(ctx, u.iss, name)
	if err != nil {
		what := "The sessions and API tokens of user " + quote(name)
		if done != "" {
			what = done + ", but the sessions and API tokens of user " + quote(name)
		}
		return fmt.Errorf("%s were not all ended in the %s store (ended %d sessions and %d API tokens before it failed; this command has stopped, so run \"authkit users revoke %s --store STORE\" once the store answers; a running serve also ends them): %w",
			what, u.st.kind, sessions, tokens, name, err)
	}
	fmt.Fprintf(c.stdout, "ended %d sessions and %d API tokens of user %s in the %s store\n", sessions, tokens, name, u.st.kind)
	return nil
}

// endCredentials ends name's sessions and API tokens one by one and counts
// them. Not with RevokeSubject: its cutoff would also end the tokens of a
// client whose ID is the user's name (found by review). A session or
// token that is gone by the time it is revoked (ended meanwhile by a
// running serve, say) counts as ended.
func endCredentials(ctx context.Context, iss *issuer.Issuer, name string) (sessions, tokens int, err error) {
	ss, err := iss.Sessions(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	for _, sess := range ss {
		if err := iss.RevokeSession(ctx, sess.ID); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			return sessions, 0, err
		}
		sessions++
	}
	ts, err := iss.APITokens(ctx, name)
	if err != nil {
		return sessions, 0, err
	}
	for _, t := range ts {
		if err := iss.RevokeAPIToken(ctx, name, t.ID); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			return sessions, tokens, err
		}
		tokens++
	}
	return sessions, tokens, nil
}
