package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/passwords"
)

// A users file holds one user per line, "NAME:HASH", where HASH is an
// argon2id (PHC string) or bcrypt hash. Blank lines and lines starting with
// '#' are ignored and kept when "users add" rewrites the file. Package
// passwords reads and validates the format (passwords.ParseUsers) and
// checks the passwords (passwords.Users); this file edits it.

const (
	maxUserNameBytes = passwords.MaxUserNameLen
	defaultUsersFile = "users.txt"
)

// errBadCredentials is userDB.check's one error for a wrong password and an
// unknown user alike.
var errBadCredentials = passwords.ErrBadCredentials

type usersLine struct {
	text string // the line as read (comments, blank lines) or as written
	name string // "" for a comment or blank line
}

type usersFile struct {
	lines []usersLine
	index map[string]int // name → position in lines
}

// parseUsers reads and validates a users file with passwords.ParseUsers,
// then keeps its lines, comments included, for rewriting. Errors name the
// line but never quote a hash.
func parseUsers(r io.Reader) (*usersFile, error) {
	return parseUsersSized(r, 0)
}

// parseUsersSized is parseUsers for a source of about size bytes (a
// file's size; 0 if not known), read into one buffer of that size.
func parseUsersSized(r io.Reader, size int64) (*usersFile, error) {
	// One byte past the limit, for passwords.ParseUsers to refuse.
	limit := int64(passwords.MaxUsersFileBytes) + 1
	buf := bytes.NewBuffer(make([]byte, 0, min(max(size, 0), limit)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(r, limit)); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if _, err := passwords.ParseUsers(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	// Valid: split it as passwords.ParseUsers did.
	f := &usersFile{index: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), len(data)+1)
	for first := true; sc.Scan(); first = false {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if first {
			line = strings.TrimPrefix(line, "\ufeff") // as passwords.ParseUsers
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			f.lines = append(f.lines, usersLine{text: line})
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		f.index[name] = len(f.lines)
		f.lines = append(f.lines, usersLine{text: line, name: name})
	}
	return f, sc.Err()
}

func loadUsersFile(path string) (*usersFile, error) {
	f, _, err := readUsersFile(path)
	return f, err
}

// openRegular opens path for reading and refuses anything but a regular
// file: opening a FIFO put in place of a users or key file would block
// until a writer came (found by review: the users file's reload hung for
// good, and serve with it at shutdown).
func openRegular(path string) (*os.File, error) {
	f, err := openNoWait(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

// readUsersFile is loadUsersFile, also returning the state of the file it
// read.
func readUsersFile(path string) (*usersFile, os.FileInfo, error) {
	fh, err := openRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	f, err := parseUsersSized(fh, fi.Size())
	if err != nil {
		return nil, fi, fmt.Errorf("%s: %w", path, err)
	}
	return f, fi, nil
}

// set adds name with the encoded hash, or replaces its hash; it reports
// whether the user existed.
func (f *usersFile) set(name, encoded string) (bool, error) {
	if err := passwords.ValidateHash(encoded); err != nil {
		return false, err
	}
	line := usersLine{text: name + ":" + encoded, name: name}
	if i, ok := f.index[name]; ok {
		f.lines[i] = line
		return true, nil
	}
	f.index[name] = len(f.lines)
	f.lines = append(f.lines, line)
	return false, nil
}

func (f *usersFile) remove(name string) bool {
	i, ok := f.index[name]
	if !ok {
		return false
	}
	f.lines = append(f.lines[:i], f.lines[i+1:]...)
	f.index = map[string]int{}
	for j, l := range f.lines {
		if l.name != "" {
			f.index[l.name] = j
		}
	}
	return true
}

func (f *usersFile) names() []string {
	var out []string
	for _, l := range f.lines {
		if l.name != "" {
			out = append(out, l.name)
		}
	}
	return out
}

// content returns the file as write writes it.
func (f *usersFile) content() []byte {
	n := 0
	for _, l := range f.lines {
		n += len(l.text) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	for _, l := range f.lines {
		buf.WriteString(l.text)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// write replaces path with f (replaceSecretFile).
func (f *usersFile) write(path string) error {
	content := f.content()
	if n := len(content); n > passwords.MaxUsersFileBytes {
		// serve, and every later users command, would refuse to read it.
		return fmt.Errorf("%s would be %d bytes, more than the %d a users file may hold: not written", path, n, passwords.MaxUsersFileBytes)
	}
	return replaceSecretFile(path, content)
}

// replaceSecretFile replaces path with content atomically (a temporary
// file in the same directory, synced, then renamed), with the owner of the
// file it replaces (keepOwner), so that a command run as root does not
// take the file from the account serve runs as, and its mode narrowed to
// at most 0640: read and write for the owner, read for the group if it had
// it (serve may run as another account of the file's group: found by
// review, a rewrite to 0600 locked it out), nothing for others. A new
// file is 0600. The caller holds path's lock (lockFile): temporary files
// of path that an earlier command killed mid-write left behind, copies of
// its secrets, are removed first.
func replaceSecretFile(path string, content []byte) error {
	removeStaleTemps(path)
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode |= fi.Mode().Perm() & 0o040
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := keepOwner(tmp, path); err != nil {
		tmp.Close()
		return err
	}
	// An access ACL (setfacl: read for serve's account) goes with the
	// file: a rewrite that dropped it locked serve out, which went on with
	// the users it had, a removed one included (found by review).
	if err := copyACL(path, tmp); err != nil {
		tmp.Close()
		return err
	}
	// The mode is set after the ACL, which brings its own mode bits with
	// it (found by review: a key file with an ACL and other::r stayed
	// readable by everyone). On a file with an ACL the group bits are the
	// ACL's mask: read, if the file had it, so that a named account keeps
	// read access, and no more.
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is on disk only once its directory is (found by review:
	// after a power loss a removed user could come back).
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("%s was replaced, but its directory could not be synced: %w", path, err)
	}
	return nil
}

// tempPattern is the os.CreateTemp pattern of path's temporary files.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// removeStaleTemps removes the temporary files of path that a command
// killed while it wrote path left behind (kill -9, a power loss). Under
// path's lock no other command is writing one. Failures are ignored: the
// rewrite goes on, and the next one tries again.
func removeStaleTemps(path string) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + filepath.Base(path) + "."
	for _, e := range entries {
		// os.CreateTemp puts decimal digits where the pattern has "*";
		// matched by hand, for a glob would read a name's own "*" or "[".
		mid, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if mid, ok = strings.CutSuffix(mid, ".tmp"); !ok || mid == "" || strings.Trim(mid, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
}

// syncDir makes a rename in dir durable, where a directory can be synced
// (not on Windows, where one cannot be opened for it).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// userDB checks passwords for the password grant, with a passwords.Users
// table: a dummy hash for unknown users, a bounded number of hashes
// computed at once. serve reads the users file again when it changes
// (--users-reload) or on SIGHUP: the table is swapped whole, so that a
// request sees the old users or the new ones, never a mix.
type userDB struct {
	cur atomic.Pointer[userTable]
	// scopes are serve's --scopes, the most a user's credential may hold:
	// a scope taken off the list is taken from the credentials that hold
	// it at their next use (a refresh, a request), API tokens included.
	scopes []string

	// path is the users file ("" for the demo user); read is the state of
	// the file the table came from, failed that of the last version that
	// could not be read and missing whether it was missing then (each
	// error is logged once). Only the reload loop uses them.
	path         string
	read, failed os.FileInfo
	missing      bool
	seen         os.FileInfo // the version the last check saw changed
	// end, set by serve, ends the sessions and API tokens of a user; hold
	// is how long after ending a user it is ended again, once every access
	// token and authorization code from before has expired (serve: its
	// access TTL, its verifier's leeway and a code's lifetime).
	end  func(ctx context.Context, name string) error
	hold time.Duration
	// ending holds the users whose credentials are to be ended: removed
	// from the file (refuse: the name is refused whatever the table says,
	// even if it is added back, so that the old user's credentials never
	// reach a new one — found by review: a retry ended the new user's
	// instead), or whose line changed (a new password, or a remove and an
	// add between two checks). Each is ended at once and again after the
	// hold (a session made from a code issued before, exchanged after;
	// found by review), and only then forgotten. Under barMu; refused is
	// the set of refused names, copied on write for requests to read
	// without a lock.
	ending  map[string]endState
	refused atomic.Pointer[map[string]struct{}]
	barMu   sync.Mutex
	// kick wakes the ender after a reload found a user to end.
	kick chan struct{}
}

// endState is a user's in ending: again is when to end it again (zero:
// not ended yet); gen counts the changes read, so that one read while the
// user is being ended is not lost (found by review).
type endState struct {
	again  time.Time
	gen    int
	refuse bool
}

// isBarred reports whether name is refused as a removed user not yet
// forgotten (see ending).
func (db *userDB) isBarred(name string) bool {
	m := db.refused.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[name]
	return ok
}

// toEnd records a change of name read from the file: a removal (refuse)
// or a changed line. Its credentials are ended (again) from the start.
func (db *userDB) toEnd(name string, refuse bool) {
	db.barMu.Lock()
	defer db.barMu.Unlock()
	if db.ending == nil {
		db.ending = map[string]endState{}
	}
	st := db.ending[name]
	db.ending[name] = endState{gen: st.gen + 1, refuse: refuse || st.refuse}
	db.publish()
}

// publish stores the set of refused names. Under barMu.
func (db *userDB) publish() {
	m := map[string]struct{}{}
	for n, st := range db.ending {
		if st.refuse {
			m[n] = struct{}{}
		}
	}
	if len(m) == 0 {
		db.refused.Store(nil)
		return
	}
	db.refused.Store(&m)
}

// due returns the users whose credentials are to be ended now (first, or
// again once their time has passed), with their states.
func (db *userDB) due(now time.Time) map[string]endState {
	db.barMu.Lock()
	defer db.barMu.Unlock()
	out := map[string]endState{}
	for n, st := range db.ending {
		if st.again.IsZero() || !now.Before(st.again) {
			out[n] = st
		}
	}
	return out
}

// userTable is one reading of the users file.
type userTable struct {
	table *passwords.Users
	users []string            // the user names, in file order (serve logs how many)
	known map[string]struct{} // the same, to look up
	lines map[string]string   // each user's line, to tell a changed one
}

// warnWeakHashes logs a warning when the users file holds hashes cheaper
// than OWASP's minimum (passwords.Users.Weak), naming up to five of their
// users: they load and verify, but a stolen file is cheap to guess
// against (found by review: they loaded silently).
func warnWeakHashes(log *slog.Logger, path string, t *userTable) {
	if weak := t.table.Weak(); len(weak) > 0 {
		log.Warn("the users file holds password hashes cheaper than OWASP's minimum (argon2id m=7168,t=5 or its equivalents, bcrypt cost 10); set those users' passwords again with authkit users add",
			"file", path, "users", len(weak), "first", strings.Join(weak[:min(5, len(weak))], ","))
	}
	if unlike := t.table.Unlike(); len(unlike) > 0 {
		log.Warn(unlikeHashes, "file", path, "users", len(unlike), "first", strings.Join(unlike[:min(5, len(unlike))], ","))
	}
}

// unlikeHashes is the warning of a users file whose hashes are not all of
// one kind and cost (passwords.Users.Unlike): a failed login of the
// others takes another time than an unknown name's, so anyone can tell
// their names exist (found by review: a bcrypt user among argon2id ones
// answered in 500 ms, an unknown name in 45).
const unlikeHashes = "the users file holds password hashes of another kind or cost than most: a failed login of these users takes another time than an unknown name's, which tells anyone they exist; set their passwords again with authkit users add and the same --algo as the others"

// users returns the current table.
func (db *userDB) users() *userTable { return db.cur.Load() }

// has reports whether the current table holds a user named name (the audit
// log's test for a name typed with a refused password).
func (db *userDB) has(name string) bool {
	_, ok := db.users().known[name]
	return ok
}

// errUnknownUser refuses a credential of a subject the users table no
// longer holds (removed with "authkit users remove", then reloaded).
var errUnknownUser = errors.New("the subject is not a user of this server")

// principalCheck is serve's authkit.WithPrincipalCheck: a credential
// (access token, API token) of a user removed from the table stops working
// once serve has read the file without it, although the store may still
// hold it, and a user's credential loses the scopes --scopes no longer
// lists. A client's
// own token (client_credentials: subject and client_id are the client's,
// no session) names no user and passes with the scopes its registration
// gave it.
func (db *userDB) principalCheck(_ context.Context, p *authkit.Principal) error {
	// A client's own token first: a client may share its ID with a user
	// (found by review: its registered scopes were narrowed to --scopes).
	if p.Method == authkit.MethodJWT && p.ClientID != "" && p.Subject == p.ClientID && p.SessionID == "" {
		return nil
	}
	if _, ok := db.users().known[p.Subject]; ok && !db.isBarred(p.Subject) {
		p.Scopes = db.allowed(p.Scopes)
		return nil
	}
	return errUnknownUser
}

// refreshCheck is serve's httpauth.WithRefreshCheck: a removed user's
// sessions stop refreshing, as principalCheck stops their tokens.
func (db *userDB) refreshCheck(_ context.Context, s authkit.Session) ([]string, error) {
	if _, ok := db.users().known[s.Subject]; !ok || db.isBarred(s.Subject) {
		return nil, errUnknownUser
	}
	return db.allowed(s.Scopes), nil
}

// allowed returns the scopes of have that --scopes still lists: have
// itself when it lists them all (the common case, without allocating).
func (db *userDB) allowed(have []string) []string {
	for i, s := range have {
		if !slices.Contains(db.scopes, s) {
			out := slices.Clone(have[:i])
			for _, s := range have[i+1:] {
				if slices.Contains(db.scopes, s) {
					out = append(out, s)
				}
			}
			return out
		}
	}
	return have
}

func newUserDB(f *usersFile) (*userDB, error) {
	t, err := newUserTable(f)
	if err != nil {
		return nil, err
	}
	db := &userDB{}
	db.cur.Store(t)
	return db, nil
}

func newUserTable(f *usersFile) (*userTable, error) {
	// Parsed again from the file's text, so that the table keeps the file's
	// order (the dummy hash takes the class of the first of the most
	// common classes).
	u, err := passwords.ParseUsers(bytes.NewReader(f.content()))
	if err != nil {
		return nil, err
	}
	if u.Len() == 0 {
		return nil, errors.New("the users file has no users")
	}
	t := &userTable{table: u, users: u.Names(), known: map[string]struct{}{}, lines: map[string]string{}}
	for _, n := range t.users {
		t.known[n] = struct{}{}
	}
	for _, l := range f.lines {
		if l.name != "" {
			t.lines[l.name] = l.text
		}
	}
	return t, nil
}

// reload reads the users file again if it changed since the table was
// read (or always, with force: SIGHUP) and swaps the table. A file that
// cannot be read or holds no valid users leaves the current table in
// place: its error is logged once for each version of the file.
func (db *userDB) reload(log *slog.Logger, force bool) {
	if db.path == "" {
		return
	}
	fi, err := os.Stat(db.path)
	if err == nil && !force && (sameVersion(fi, db.read) || sameVersion(fi, db.failed)) {
		return
	}
	if err == nil && !force && !sameVersion(fi, db.seen) {
		// Changed since the last check: read it at the next one if it
		// has not changed again, so that a file being written in place
		// is not read half-written — its missing users would be taken
		// for removed, their credentials ended for good (found by
		// review). SIGHUP reads at once.
		db.seen = fi
		return
	}
	var t *userTable
	if err == nil {
		checked := fi
		var f *usersFile
		f, fi, err = readUsersFile(db.path)
		if fi != nil && !force && !sameVersion(fi, checked) {
			// The file read is not the version that settled (it changed
			// since the stat): wait for it to settle too.
			db.seen = fi
			return
		}
		if err == nil {
			t, err = newUserTable(f)
		}
	}
	if err != nil {
		// Logged once for each version of the file (a missing file is one
		// version), and at each SIGHUP.
		if force || fi != nil || !db.missing {
			log.Error("the users file could not be read again: keeping the users read before", "file", db.path, "err", err)
		}
		db.failed, db.missing = fi, fi == nil
		return
	}
	old := db.users()
	added, removed := 0, 0
	for n := range t.known {
		if _, ok := old.known[n]; !ok {
			added++
		}
	}
	for n := range old.known {
		if _, ok := t.known[n]; !ok {
			removed++
		}
	}
	db.cur.Store(t)
	db.read, db.failed, db.missing = fi, nil, false
	log.Info("users file read again", "file", db.path, "users", len(t.users), "added", added, "removed", removed)
	warnWeakHashes(log, db.path, t)
	if db.end != nil {
		found := false
		for n := range old.known {
			if _, ok := t.known[n]; !ok {
				db.toEnd(n, true)
				found = true
			} else if old.lines[n] != t.lines[n] {
				db.toEnd(n, false)
				found = true
			}
		}
		if found {
			select {
			case db.kick <- struct{}{}:
			default:
			}
		}
	}
}

// endRemoved ends the credentials of the users removed from the file: a
// removed user is refused at once by the principal and refresh checks,
// but the store still holds its sessions and API tokens (which never
// expire), and a user added again under the same name — another person,
// perhaps — would get them back (found by review). It ends each user's
// sessions and API tokens one by one, not with a logout-all cutoff, which
// would also end the tokens of a client whose ID is that name (found by
// review); the access tokens left then expire while the name stays
// barred. A user removed while serve was not running is not known to it:
// see cli.md.
func (db *userDB) endRemoved(ctx context.Context, log *slog.Logger) {
	due := db.due(time.Now())
	for _, name := range slices.Sorted(maps.Keys(due)) {
		st := due[name]
		if !db.endOne(ctx, log, name) {
			continue
		}
		db.barMu.Lock()
		if cur, ok := db.ending[name]; ok && cur.gen == st.gen {
			if st.again.IsZero() {
				db.ending[name] = endState{again: time.Now().Add(db.hold), gen: st.gen, refuse: st.refuse}
			} else {
				delete(db.ending, name)
				db.publish()
			}
		}
		db.barMu.Unlock()
		what := "a user whose line in the users file changed"
		if st.refuse {
			what = "a removed user"
		}
		log.Info("ended the sessions and API tokens of "+what, "user", name, "second_pass", !st.again.IsZero())
	}
}

// endOne ends name's credentials, reporting whether it did.
func (db *userDB) endOne(ctx context.Context, log *slog.Logger, name string) bool {
	cctx, cancel := context.WithTimeout(ctx, endRemovedTimeout)
	err := db.end(cctx, name)
	cancel()
	if err != nil {
		log.Warn("could not end the sessions and API tokens of a removed or changed user; retrying", "user", name, "err", err)
		return false
	}
	return true
}

// endRemovedTimeout bounds ending one removed user's credentials;
// endRetry is how long the ender waits before trying a failed one again.
const (
	endRemovedTimeout = 30 * time.Second
	endRetry          = 30 * time.Second
)

// ender ends removed users' credentials in its own goroutine, so that a
// slow store never holds up reading the users file (found by review: a
// later removal waited for every retry), when a reload kicks it and every
// endRetry while some are pending, until ctx ends.
func (db *userDB) ender(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(endRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.kick:
		case <-t.C:
		}
		db.endRemoved(ctx, log)
	}
}

// sameVersion reports whether a and b describe the same version of a file:
// the same file (a users command replaces it by renaming), size and
// modification time. A nil b matches nothing.
func sameVersion(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// watchUsers reloads the users file every interval (0: never) and on each
// signal from hup (serve's SIGHUP; nil: none), until ctx ends.
func (db *userDB) watchUsers(ctx context.Context, log *slog.Logger, every time.Duration, hup <-chan os.Signal) {
	if db.path == "" {
		return
	}
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	if db.end != nil {
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			db.ender(ctx, log)
		}()
		defer func() {
			<-ended
			// Kept in memory only: say what a restart forgets.
			var removed, changed []string
			for n, st := range db.due(time.Now().Add(100 * 365 * 24 * time.Hour)) {
				if st.refuse {
					removed = append(removed, n)
				} else {
					changed = append(changed, n)
				}
			}
			if len(removed)+len(changed) > 0 {
				slices.Sort(removed)
				slices.Sort(changed)
				log.Warn("stopping before the sessions and API tokens of these users were ended; this is not remembered: end each with authkit users revoke NAME --store STORE",
					"removed", strings.Join(removed, ","), "changed", strings.Join(changed, ","))
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			db.reload(log, false)
		case <-hup:
			db.reload(log, true)
		}
	}
}

// check is the password grant's credential checker: it returns the subject
// for a matching username and password, else errBadCredentials, spending
// the same work whether or not the user exists. An unknown user is not told
// apart from a wrong password, not even by errors.Is (authkit.ErrNotFound),
// so the audit log's login_failed records are the same for both.
func (db *userDB) check(ctx context.Context, username, password string) (string, error) {
	sub, err := db.users().table.Check(ctx, username, password)
	if errors.Is(err, passwords.ErrBadCredentials) {
		return "", errBadCredentials
	}
	if err == nil && db.isBarred(sub) {
		// A name added back while the removed user's credentials are
		// not yet ended or may still verify (the same work was spent).
		return "", errBadCredentials
	}
	return sub, err
}

// users runs "authkit users add|remove|list|revoke".
func (c *cli) users(ctx context.Context, args []string) error {
	fs := c.newFlagSet("users", `authkit users add NAME | remove NAME [--file FILE] [--store STORE]
       authkit users list [--file FILE]
       authkit users revoke NAME --store STORE`, `
Manage a users file for "authkit serve --users FILE": one "NAME:HASH" line per
user, HASH an argon2id (PHC string) or bcrypt hash.

  users add NAME      read NAME's password from standard input (without echo on
                      a terminal; else the first line) and add the user, or
                      replace its password. --algo argon2id (default) or bcrypt.
  users remove NAME   remove the user.
  users list          print the user names.
  users revoke NAME   end NAME's sessions and API tokens in --store; the file
                      is not read or changed.

The file is rewritten atomically with mode 0600. Names may not contain ':',
white space, control characters, bidirectional controls or other invisible
characters (zero-width spaces and joiners). A running serve reads the file again
within two --users-reload intervals (20s by default: a change is read once
it has held for one interval), or at once on SIGHUP, and ends the
sessions and API tokens of a removed user, or of one whose password changed.

With --store (or AUTHKIT_STORE) naming the SQL or Redis store serve uses, add
and remove also end NAME's sessions and API tokens there once the file is
written, as serve would: use it when no serve is running, which would leave
them in the store. A logout-all cutoff ends the access tokens of NAME's
sessions that have ended by themselves too (and those a client whose ID is
NAME holds: it gets new ones). remove, revoke and a password change then wait
90s, for authorization codes issued before to expire, and end again what was
made meanwhile, new logins of NAME included: log in after the command
returns (--no-wait skips this).`)
	file := fs.String("file", defaultUsersFile, "the users `FILE` (env AUTHKIT_USERS)")
	store := addStoreFlags(fs, "", "add, remove, revoke: also end the user's sessions and API tokens in `STORE`, as for serve --store (not memory)")
	noWait := fs.Bool("no-wait", false, "with --store: skip the second pass after authorization codes issued before have expired (90s)")
	algo := fs.String("algo", algoArgon2id, "password hash `ALGORITHM` for add: argon2id or bcrypt")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	// As for serve: empty is refused, not taken for the default file.
	switch v, ok := c.lookupEnv(envName("users")); {
	case flagGiven(fs, "file"):
		if *file == "" {
			return emptyValue("--file")
		}
	case ok && v == "":
		return emptyValue("the environment variable " + envName("users"))
	case ok:
		*file = v
	}
	if len(pos) == 0 {
		return usagef("missing subcommand: add, remove, list or revoke")
	}
	sub, pos := pos[0], pos[1:]
	switch sub {
	case "add", "remove", "revoke":
		if len(pos) != 1 {
			return usagef("users %s takes exactly one user name", sub)
		}
		if err := passwords.ValidateUserName(pos[0]); err != nil {
			return usagef("%s", err)
		}
	case "list":
		if len(pos) != 0 {
			return usagef("users list takes no arguments")
		}
		if flagGiven(fs, "store") || flagGiven(fs, "dsn") || flagGiven(fs, "no-wait") {
			return usagef("users list takes no --store or --no-wait")
		}
	default:
		return usagef("unknown subcommand %s: want add, remove, list or revoke", quote(sub))
	}
	if *algo != algoArgon2id && *algo != algoBcrypt {
		return usagef("--algo must be argon2id or bcrypt")
	}

	if sub == "list" {
		// Read once, as asked: a pipe will do ("--file <(…)"); serve and
		// the commands that rewrite the file keep to regular files
		// (openRegular).
		fh, err := os.Open(*file)
		if err != nil {
			return err
		}
		f, err := parseUsers(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		for _, n := range f.names() {
			fmt.Fprintln(c.stdout, n)
		}
		return nil
	}

	// The password first (a person may take a while to type it twice),
	// then the store (a store that cannot be opened changes nothing), then,
	// under the lock, the file as it is now: a command that changed it
	// meanwhile is not undone. The store's work comes after the file is
	// written and unlocked: the name is barred (or its new password in
	// force) before its credentials are ended, and a slow store holds up no
	// other users command.
	spec, err := c.usersStoreSpec(fs, store, sub == "revoke")
	if err != nil {
		return err
	}
	var encoded string
	if sub == "add" {
		password, err := c.readPassword()
		if err != nil {
			return err
		}
		encoded, err = hashPassword(ctx, *algo, password)
		clear(password)
		if err != nil {
			return err
		}
	}
	us, err := c.openUsersStore(ctx, spec)
	if err != nil {
		return err
	}
	defer us.close()
	if sub == "revoke" {
		return us.end(ctx, c, pos[0], "", !*noWait)
	}
	done, existed, err := c.changeUsersFile(ctx, *file, sub, pos[0], encoded, *algo)
	if err != nil || us == nil {
		return err
	}
	// A new name waits for no code: none was issued to it, unless to an
	// earlier user of that name, whose removal waited.
	return us.end(ctx, c, pos[0], done, existed && !*noWait)
}

// changeUsersFile adds (or changes the password of) or removes user name
// in file under its lock, prints what it did and returns it, and whether
// the user was in the file.
func (c *cli) changeUsersFile(ctx context.Context, file, sub, name, encoded, algo string) (done string, existed bool, err error) {
	// Through symbolic links, the file they name: replacing a link with a
	// file of its own left the file serve reads unchanged (found by
	// review). Only links of this account's or root's (resolveLinks): one
	// another account planted would have root overwrite a file of its
	// choosing.
	path, err := resolveLinks(file)
	if err != nil {
		return "", false, err
	}
	// A signal while the lock is awaited (main cancels ctx once a store
	// is being opened) stops the command with nothing changed: until
	// 2026-12-04 the file was changed anyway and the store step then
	// failed (found by review). One that comes after the lock is taken
	// finds the file being written; the store step then says what is
	// left.
	stopped := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before %s was changed; nothing changed: %w", file, err)
		}
		return nil
	}
	// From here the first signal cancels ctx rather than ending the
	// process: one that came while the file was written left a temporary
	// copy of every password hash beside it (found by review).
	watchSignals(ctx)
	unlock, err := lockFile(ctx, path, func() {
		fmt.Fprintf(c.stderr, "waiting for another authkit users command to finish with %s\n", file)
	})
	if err != nil {
		if serr := stopped(); serr != nil {
			return "", false, serr
		}
		return "", false, err
	}
	defer unlock()
	if err := stopped(); err != nil {
		return "", false, err
	}
	f, err := loadUsersFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && sub == "add":
		f = &usersFile{index: map[string]int{}}
	case err != nil:
		return "", false, err
	}
	if sub == "remove" {
		if !f.remove(name) {
			return "", false, fmt.Errorf("%s has no user %s", file, quote(name))
		}
		if err := f.write(path); err != nil {
			return "", false, err
		}
		done := fmt.Sprintf("removed user %s from %s", name, file)
		fmt.Fprintln(c.stdout, done)
		return done, true, nil
	}
	existed, err = f.set(name, encoded)
	if err != nil {
		return "", false, err
	}
	if err := f.write(path); err != nil {
		return "", false, err
	}
	verb := "added user"
	prep := "to"
	if existed {
		verb, prep = "updated the password of user", "in"
	}
	done = fmt.Sprintf("%s %s %s %s", verb, name, prep, file)
	fmt.Fprintf(c.stdout, "%s (%s)\n", done, algo)
	if t, err := newUserTable(f); err == nil {
		if unlike := t.table.Unlike(); len(unlike) > 0 {
			fmt.Fprintf(c.stderr, "warning: %s (%d: %s)\n", unlikeHashes, len(unlike), strings.Join(unlike[:min(5, len(unlike))], ", "))
		}
	}
	return done, existed, nil
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// readPassword reads a new password: from a terminal without echo, asked
// twice; otherwise the first line of standard input.
func (c *cli) readPassword() ([]byte, error) {
	var pw []byte
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprint(c.stderr, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		same := bytes.Equal(p1, p2)
		clear(p2)
		if !same {
			clear(p1)
			return nil, errors.New("the passwords do not match")
		}
		pw = p1
	} else {
		line, err := bufio.NewReaderSize(io.LimitReader(c.stdin, maxPasswordLen+2), maxPasswordLen+2).ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, fmt.Errorf("the password is longer than %d bytes", maxPasswordLen)
			}
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		pw = bytes.Clone(line)
		clear(line)
	}
	switch {
	case len(pw) == 0:
		return nil, errors.New("no password given on standard input")
	case len(pw) > maxPasswordLen:
		return nil, fmt.Errorf("the password is longer than %d bytes", maxPasswordLen)
	case utf8.RuneCount(pw) < minPasswordLen:
		return nil, fmt.Errorf("the password is shorter than %d characters", minPasswordLen)
	case !utf8.Valid(pw):
		return nil, errors.New("the password is not valid UTF-8")
	}
	return pw, nil
}
