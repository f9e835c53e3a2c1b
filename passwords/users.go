package passwords

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/textsafe"
)

// MaxUserNameLen is the longest user name, in bytes, that a Users table
// holds. Users.Check refuses a longer one before any hashing.
const MaxUserNameLen = 256

// MaxUsersFileBytes is the largest users file ParseUsers reads, in bytes.
const MaxUsersFileBytes = 16 << 20

// Bounds on a users file.
const (
	maxUsersFileBytes = MaxUsersFileBytes
	maxUsersLineBytes = 4 << 10
)

var errLongLine = fmt.Errorf("users file has a line longer than %d bytes", maxUsersLineBytes)

// ErrBadCredentials is matched by the error of Users.Check for a wrong
// password or an unknown user, which it does not tell apart by its text or
// its timing. The error for an unknown user also matches
// authkit.ErrNotFound, so that the password grant of httpauth reports it
// as such in its EventLoginFailed (a server-side event; the client's
// answer is the same invalid_grant either way).
var ErrBadCredentials = errors.New("passwords: invalid username or password")

// ErrBusy is the error of Users.Check when every verification slot is
// busy (WithMaxConcurrent) and as many checks as WithMaxWaiting allows
// already wait for one, or when as many checks of the same user name as
// WithMaxPerUser allows already run or wait: the check is refused at once, without hashing,
// rather than joining an ever longer queue. It says nothing about the
// password, and matches authkit.ErrStoreUnavailable, so that the password
// grant of httpauth answers 503 temporarily_unavailable (the client may
// try later) and does not count it as a failed attempt.
var ErrBusy error = busyError{}

// busyError is ErrBusy: it matches authkit.ErrStoreUnavailable.
type busyError struct{}

func (busyError) Error() string {
	return "passwords: too many password checks are waiting; try later"
}
func (busyError) Unwrap() error { return authkit.ErrStoreUnavailable }

// unknownUser is Check's error for a name the table does not hold: it
// reads as ErrBadCredentials and matches authkit.ErrNotFound too.
type unknownUser struct{}

func (unknownUser) Error() string   { return ErrBadCredentials.Error() }
func (unknownUser) Unwrap() []error { return []error{ErrBadCredentials, authkit.ErrNotFound} }

// ValidateUserName reports why name cannot be a user name, or nil: a name
// is 1 to MaxUserNameLen bytes of UTF-8 without ':', white space, control
// characters, bidirectional controls, other invisible format characters
// (Unicode category Cf: zero-width spaces and joiners, the byte order
// mark, the soft hyphen) or line separators, and does not start with '#'.
// The error reads "the user name …" and quotes nothing.
func ValidateUserName(name string) error {
	var why string
	switch {
	case name == "":
		why = "is empty"
	case len(name) > MaxUserNameLen:
		why = fmt.Sprintf("is longer than %d bytes", MaxUserNameLen)
	case !utf8.ValidString(name):
		why = "is not valid UTF-8"
	case name[0] == '#':
		why = "starts with '#'"
	default:
		for _, r := range name {
			// textsafe.Unsafe as the login paths apply it: a name with a
			// bidirectional control was added, printed raw by users list,
			// and could never log in (found by review).
			if r == ':' || unicode.IsSpace(r) || textsafe.Unsafe(r) {
				why = "contains ':', white space, a control character, a bidirectional control or a line separator"
				break
			}
			// An invisible character makes a name that reads as another
			// user's ("al\u200bice" is printed as alice by users list and
			// in the audit log; found by review).
			if unicode.Is(unicode.Cf, r) {
				why = "contains an invisible format character (such as a zero-width space or joiner)"
				break
			}
		}
	}
	if why == "" {
		return nil
	}
	return errors.New("the user name " + why)
}

// Option configures a Users table made by NewUsers, ParseUsers or
// LoadUsers.
type Option func(*Users) error

// WithMaxConcurrent sets how many password hashes Users.Check computes at
// once, n ≥ 1; further checks wait for a slot (or for their context to
// end), as many as WithMaxWaiting allows. Each argon2id verification holds
// its memory cost (19 MiB for the hashes Hash makes, at most 256 MiB)
// while it runs, so n bounds that memory and the CPU a flood of logins can
// take. Default: the number of CPUs, at least 2.
func WithMaxConcurrent(n int) Option {
	return func(u *Users) error {
		if n < 1 {
			return fmt.Errorf("passwords: %w: WithMaxConcurrent(%d): want at least 1", authkit.ErrInvalidConfig, n)
		}
		u.sem = make(chan struct{}, n)
		return nil
	}
}

// defaultWaitingPerSlot is how many checks may wait, by default, for each
// verification slot: the last one waits for about four verifications
// before its own starts.
const defaultWaitingPerSlot = 4

// WithMaxWaiting sets how many checks Users.Check lets wait for a
// verification slot while all are busy, n ≥ 0: one more fails at once with
// ErrBusy, without hashing, so that a flood of logins cannot pile up
// goroutines and requests behind the slots. With n = 0 no check waits.
// Default: 4 times the number of slots (WithMaxConcurrent, whichever
// order the options come in), so that a check waits for at most about
// four verifications of its slot before it starts.
func WithMaxWaiting(n int) Option {
	return func(u *Users) error {
		if n < 0 {
			return fmt.Errorf("passwords: %w: WithMaxWaiting(%d): want at least 0", authkit.ErrInvalidConfig, n)
		}
		u.maxWaiting = n
		return nil
	}
}

// WithMaxPerUser sets how many checks of one user name, n ≥ 1, Users.Check
// lets run or wait at once; one more fails at once with ErrBusy, without
// hashing. The slots and the queue are shared by everyone, and the login
// throttle counts only failures, so without it one account's correct
// logins, sent at once from a few addresses, kept the queue full and every
// other user's login was answered 503 (found by review). Default: half
// the places (the slots of WithMaxConcurrent and the queue of
// WithMaxWaiting together), at least 2, so that one account takes at most
// half and a client sending its Basic credentials on a few requests at
// once is not refused; beyond it a user's own checks get 503 with
// Retry-After and may try again.
func WithMaxPerUser(n int) Option {
	return func(u *Users) error {
		if n < 1 {
			return fmt.Errorf("passwords: %w: WithMaxPerUser(%d): want at least 1", authkit.ErrInvalidConfig, n)
		}
		u.perUser = n
		return nil
	}
}

// Users is a table of user names and password hashes, whose Check method
// checks a login. It is safe for concurrent use and does not change once
// made; to change users, make a new table and swap it in. Make it with
// NewUsers, ParseUsers or LoadUsers: the zero Users refuses every login
// with an error.
type Users struct {
	hashes map[string]hash
	names  []string // in file order (NewUsers: sorted)
	// dummy is verified for unknown users, so that the time a failed login
	// takes does not reveal whether the name exists: a hash of the class
	// most users' hashes have.
	dummy hash
	// sem bounds how many hashes are computed at once.
	sem chan struct{}
	// maxWaiting bounds how many checks wait for a slot of sem (-1 while
	// the options are applied: not set); waiting counts them.
	maxWaiting int
	waiting    atomic.Int64
	// perUser bounds the checks of one user name running or waiting at
	// once (-1 while the options are applied: not set); active counts
	// them by the name as given.
	perUser  int
	activeMu sync.Mutex
	active   map[string]int
	// onVerify, when set (by tests), is called with each hash about to be
	// verified, while its slot is held.
	onVerify func(hash)
	// onWait, when set (by tests), is called by each check that joins the
	// queue for a slot, before it waits.
	onWait func()
}

// newUsers makes the table of names (in order) and their parsed hashes.
func newUsers(names []string, hashes map[string]hash, opts []Option) (*Users, error) {
	u := &Users{hashes: hashes, names: names, sem: make(chan struct{}, max(2, runtime.NumCPU())), maxWaiting: -1,
		perUser: -1, active: map[string]int{}}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("passwords: %w: a nil Option", authkit.ErrInvalidConfig)
		}
		if err := o(u); err != nil {
			return nil, err
		}
	}
	if u.maxWaiting < 0 {
		u.maxWaiting = defaultWaitingPerSlot * cap(u.sem)
	}
	if u.perUser < 0 {
		u.perUser = max(2, (cap(u.sem)+u.maxWaiting)/2)
	}
	// The dummy takes the class most users have; between classes equally
	// common, the first one to reach that count in names' order.
	count := map[string]int{}
	like, best := defaultClass(), 0
	for _, n := range names {
		h := hashes[n]
		c := h.class()
		count[c]++
		if count[c] > best {
			like, best = h, count[c]
		}
	}
	d, err := dummyHash(like)
	if err != nil {
		return nil, fmt.Errorf("passwords: making the dummy hash: %w", err)
	}
	u.dummy = d
	return u, nil
}

// NewUsers returns a table of the users in hashes, a map of user name to
// encoded hash (as Hash, HashBcrypt or another argon2id or bcrypt tool
// makes it). Every name must pass ValidateUserName and every hash
// ValidateHash; the error names the user, never the hash. An empty map
// makes a table that refuses every login.
func NewUsers(hashes map[string]string, opts ...Option) (*Users, error) {
	names := make([]string, 0, len(hashes))
	parsed := make(map[string]hash, len(hashes))
	for name, encoded := range hashes {
		if err := ValidateUserName(name); err != nil {
			return nil, fmt.Errorf("passwords: %w", err)
		}
		h, err := parseHash(encoded)
		if err != nil {
			return nil, fmt.Errorf("passwords: user %s: %w", quote(name), err)
		}
		names = append(names, name)
		parsed[name] = h
	}
	slices.Sort(names)
	return newUsers(names, parsed, opts)
}

// ParseUsers reads a users file (see the package documentation) of at
// most 16 MiB, with lines of at most 4 KiB, and returns its table. A
// malformed line, a name given twice or a hash out of bounds is an error
// naming the line and the user, never quoting the hash. A file without
// users makes a table that refuses every login (see Users.Len).
func ParseUsers(r io.Reader, opts ...Option) (*Users, error) {
	// Read line by line, never the whole file at once: a file at the limit
	// costs one line's buffer, not 16 MiB and the copies of its growth.
	// One byte past the limit is read so that a larger file is told apart.
	lr := &io.LimitedReader{R: r, N: maxUsersFileBytes + 1}
	names, hashes, err := scanUsers(lr)
	if err != nil {
		// A file over the limit is refused as such whatever its lines
		// hold, as when it was read whole before it was parsed: read on
		// to the limit (no more) to know.
		_, _ = io.Copy(io.Discard, lr)
	}
	if lr.N == 0 {
		return nil, fmt.Errorf("users file is larger than %d bytes", maxUsersFileBytes)
	}
	if err != nil {
		return nil, err
	}
	return newUsers(names, hashes, opts)
}

// scanUsers parses the lines of a users file for ParseUsers.
func scanUsers(r io.Reader) ([]string, map[string]hash, error) {
	var names []string
	hashes := map[string]hash{}
	sc := bufio.NewScanner(r)
	// Room for a line of maxUsersLineBytes and its "\r\n"; the length of
	// what the scanner returns is checked below.
	sc.Buffer(make([]byte, 0, 512), maxUsersLineBytes+2)
	for n := 1; sc.Scan(); n++ {
		raw := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if n == 1 {
			// A byte order mark an editor wrote is not part of the first
			// name (found by review: "\ufeffalice" was another user).
			raw = bytes.TrimPrefix(raw, []byte("\ufeff"))
		}
		if len(raw) > maxUsersLineBytes {
			return nil, nil, errLongLine
		}
		// Comments and blank lines are skipped without a copy.
		if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || trimmed[0] == '#' {
			continue
		}
		line := string(raw)
		name, encoded, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("users file line %d: want NAME:HASH", n)
		}
		if err := ValidateUserName(name); err != nil {
			return nil, nil, fmt.Errorf("users file line %d: %w", n, err)
		}
		if _, dup := hashes[name]; dup {
			return nil, nil, fmt.Errorf("users file line %d: user %s appears twice", n, quote(name))
		}
		h, err := parseHash(encoded)
		if err != nil {
			return nil, nil, fmt.Errorf("users file line %d (user %s): %w", n, quote(name), err)
		}
		names = append(names, name)
		hashes[name] = h
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, errLongLine
		}
		return nil, nil, err
	}
	return names, hashes, nil
}

// LoadUsers reads the users file at path with ParseUsers; its errors
// start with path.
func LoadUsers(path string, opts ...Option) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, err := ParseUsers(f, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// Len returns the number of users in the table.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.names)
}

// Names returns the user names, in the order of the users file (NewUsers:
// sorted).
func (u *Users) Names() []string {
	if u == nil {
		return nil
	}
	return slices.Clone(u.names)
}

// Weak returns the names, in the table's order, of the users whose hash
// costs less than OWASP's Password Storage Cheat Sheet asks (argon2id
// below m=7168,t=5 or its equivalents, bcrypt below cost 10): such hashes
// load and verify, but a stolen table is cheap to guess against, and they
// make the dummy hash of unknown users cheap too when most users have
// them. Rehash them (Hash, with the user's next password). A table from
// Hash's own defaults has none.
func (u *Users) Weak() []string {
	if u == nil {
		return nil
	}
	var weak []string
	for _, n := range u.names {
		if u.hashes[n].weak() {
			weak = append(weak, n)
		}
	}
	return weak
}

// Unlike returns, in name order, the users whose hash is of another kind
// or cost than the one most users have, which Check verifies an unknown
// name against: a failed login of theirs takes another time than an
// unknown name's, so anyone can tell that such a name exists (a bcrypt
// hash among argon2id ones took ten times as long; found by review).
// Rehash them with the others' kind and cost to close it. authkit serve
// and authkit users add warn of them.
func (u *Users) Unlike() []string {
	if u == nil || u.dummy == nil {
		return nil
	}
	c := u.dummy.class()
	var out []string
	for _, n := range u.names {
		if u.hashes[n].class() != c {
			out = append(out, n)
		}
	}
	return out
}

// Check checks a login: it returns username as the subject when the table
// holds username and password matches its hash. Its signature is that of
// httpauth.WithPasswordGrant's checker, so users.Check can be passed as
// is. A wrong password or an unknown user is an error matching
// ErrBadCredentials (an unknown user's matches authkit.ErrNotFound too);
// Check verifies an unknown user's password against a dummy hash of the
// kind and cost most users have, so the time it takes does not tell the
// two apart. A username longer than MaxUserNameLen or a password longer
// than MaxPasswordLen bytes fails at once, without hashing. Verifications
// run a bounded number at a time (WithMaxConcurrent), and a bounded number
// of checks wait for a slot (WithMaxWaiting), of one user name at most
// half of these places (WithMaxPerUser): past either bound Check returns
// ErrBusy at once; a check waiting for a slot returns
// ctx.Err() when ctx ends. The password grant of httpauth answers both
// with 503 and does not count them as failed attempts. The password is
// not kept.
func (u *Users) Check(ctx context.Context, username, password string) (subject string, err error) {
	if u == nil || u.sem == nil || u.dummy == nil {
		return "", fmt.Errorf("passwords: %w: Users.Check on a table not made by NewUsers, ParseUsers or LoadUsers", authkit.ErrInvalidConfig)
	}
	if len(username) > MaxUserNameLen {
		return "", unknownUser{} // no such name can exist
	}
	h, known := u.hashes[username]
	if len(password) > MaxPasswordLen {
		// Refused before any hashing, whoever the user is; the error
		// still tells an unknown user apart, as every other refusal does
		// (found by review).
		if !known {
			return "", unknownUser{}
		}
		return "", ErrBadCredentials
	}
	if !known {
		h = u.dummy
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !u.enter(username) {
		return "", ErrBusy
	}
	defer u.leave(username)
	select {
	case u.sem <- struct{}{}:
	default:
		if err := u.waitSlot(ctx); err != nil {
			return "", err
		}
	}
	ok := u.verify(h, password)
	switch {
	case !known:
		return "", unknownUser{}
	case !ok:
		return "", ErrBadCredentials
	}
	return username, nil
}

// enter counts a check of name in, unless as many as WithMaxPerUser
// allows already run or wait.
func (u *Users) enter(name string) bool {
	u.activeMu.Lock()
	defer u.activeMu.Unlock()
	if u.active[name] >= u.perUser {
		return false
	}
	u.active[name]++
	return true
}

// leave counts a check of name out.
func (u *Users) leave(name string) {
	u.activeMu.Lock()
	defer u.activeMu.Unlock()
	if n := u.active[name] - 1; n > 0 {
		u.active[name] = n
	} else {
		delete(u.active, name)
	}
}

// waitSlot takes a slot of u.sem once one is free, if fewer than
// u.maxWaiting checks already wait for one (else ErrBusy), or returns
// ctx.Err() when ctx ends first. At most u.maxWaiting checks ever wait:
// a check being refused counts for a moment, so one arriving at that very
// moment may be refused a place early, but never is one let in too many.
func (u *Users) waitSlot(ctx context.Context) error {
	if u.waiting.Add(1) > int64(u.maxWaiting) {
		u.waiting.Add(-1)
		return ErrBusy
	}
	defer u.waiting.Add(-1)
	if u.onWait != nil {
		u.onWait()
	}
	select {
	case u.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// verify verifies password against h in the slot Check holds, and
// frees the slot even if verification panics.
func (u *Users) verify(h hash, password string) bool {
	defer func() { <-u.sem }()
	if u.onVerify != nil {
		u.onVerify(h)
	}
	pw := []byte(password)
	defer clear(pw)
	return h.verify(pw)
}

// quote quotes a user name for an error, cut to 64 bytes.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
