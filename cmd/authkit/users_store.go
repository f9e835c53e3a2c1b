package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/issuer"
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
	// firstPassDone, when set (by tests), runs between end's two passes.
	firstPassDone func()
}

// usersStoreSpec returns the store of a users command's --store (or
// AUTHKIT_STORE), checked before anything else is done (a password typed
// for a command that then fails on its flags is typed for nothing; found
// by review). It returns "" when there is none, or when the environment
// names the memory store, whose credentials live and die with the serve
// process holding them (that serve ends them itself). --store memory given
// on the command line, and any store for revoke, which has nothing else
// to do, must be a persistent store.
func (c *cli) usersStoreSpec(fs *flag.FlagSet, sf *storeFlags, required bool) (string, error) {
	spec, warning, err := sf.resolve(c, fs)
	if err != nil {
		return "", err
	}
	if warning != "" {
		fmt.Fprintf(c.stderr, "authkit users: warning: %s\n", warning)
	}
	const memoryMsg = "the memory store lives only in serve's process, which ends a removed or changed user's credentials itself; --store names the SQL or Redis store that serve uses"
	scheme, _ := storeScheme(spec)
	switch {
	case spec == "" && required:
		return "", usagef("users revoke needs --store (or AUTHKIT_STORE) naming the SQL or Redis store that serve uses")
	case spec == "":
		return "", nil
	case scheme == "memory" && (required || flagGiven(fs, "store") || flagGiven(fs, "dsn")):
		return "", usagef("%s", memoryMsg)
	case scheme == "memory":
		return "", nil
	}
	return spec, nil
}

// openUsersStore opens spec (usersStoreSpec); nil for "".
func (c *cli) openUsersStore(ctx context.Context, spec string) (*usersStore, error) {
	if spec == "" {
		return nil, nil
	}
	// From here a signal cancels ctx (main) rather than ending the
	// process: past the password prompt, so that a signal between the
	// file's change and the store's work still says what is left undone
	// (found by review). A store not yet open changes nothing.
	watchSignals(ctx)
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
	set, err := throwawayKeys()
	if err != nil {
		return nil, err
	}
	return issuer.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithAccessTTL(authkit.MaxAccessTTL))
}

func (u *usersStore) close() {
	if u != nil && u.st.close != nil {
		u.st.close()
	}
}

// codeWait is how long a users command waits before its second pass: an
// authorization code issued (by a serve running then) just before the
// first pass can be exchanged until it expires, and the session it makes
// is not there to be ended yet (found by review). The code's lifetime and
// the leeway for replicas' clocks, as serve's own second pass.
var codeWait = httpauth.AuthorizationCodeTTL + authkit.DefaultLeeway

// end ends name's credentials, as serve does for a removed or changed
// user, and says what it did: its sessions and API tokens one by one, then
// a logout-all cutoff for the access tokens of sessions too old to be
// listed (idled out or past their lifetime, their access tokens still
// live; found by review), and, with wait, the same again after codeWait
// for a session made meanwhile from a code issued before, which also ends
// whatever the user started meanwhile (as serve's second pass does). The
// waiting line says how to finish if the command is stopped, and so does
// the error when a signal stops it (main cancels ctx). done is what the
// file step did ("removed user alice from users.txt"), for the error when
// the store step fails after it.
func (u *usersStore) end(ctx context.Context, c *cli, name, done string, wait bool) error {
	fail := func(sessions, tokens int, err error) error {
		what := "The sessions and API tokens of user " + quote(name)
		if done != "" {
			what = done + ", but the sessions and API tokens of user " + quote(name)
		}
		when := "once the store answers"
		if ctx.Err() != nil {
			when = "to finish" // stopped by a signal, not by the store
		}
		return fmt.Errorf("%s were not all ended in the %s store (ended %d sessions and %d API tokens before it stopped; run \"authkit users revoke %s --store STORE\" %s; a running serve also ends them): %w",
			what, u.st.kind, sessions, tokens, name, when, err)
	}
	pass := func(ctx context.Context, cutoff bool) error {
		ctx, cancel := context.WithTimeout(ctx, usersStoreTimeout)
		defer cancel()
		sessions, tokens, err := endCredentials(ctx, u.iss, name)
		if err == nil && cutoff {
			err = u.iss.RevokeSubject(ctx, name)
		}
		if err != nil {
			return fail(sessions, tokens, err)
		}
		fmt.Fprintf(c.stdout, "ended %d sessions and %d API tokens of user %s in the %s store\n", sessions, tokens, name, u.st.kind)
		return nil
	}
	if err := pass(ctx, true); err != nil {
		return err
	}
	if u.firstPassDone != nil {
		u.firstPassDone()
	}
	if !wait {
		return nil
	}
	fmt.Fprintf(c.stdout, "waiting %s for authorization codes issued before to expire, then ending what was made meanwhile, new logins of %s included (--no-wait skips this; if this command is stopped, run \"authkit users revoke %s --store STORE\" later)\n", formatDuration(codeWait), name, name)
	t := time.NewTimer(codeWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fail(0, 0, fmt.Errorf("stopped before the second pass: %w", ctx.Err()))
	case <-t.C:
	}
	// The cutoff again: a session made meanwhile that has already ended by
	// itself is not listed, and its access tokens live on (found by
	// review).
	return pass(ctx, true)
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
