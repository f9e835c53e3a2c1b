package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// A users file holds one user per line, "NAME:HASH", where HASH is an
// argon2id (PHC string) or bcrypt hash. Blank lines and lines starting with
// '#' are ignored and kept when "users add" rewrites the file.

const (
	maxUsersFileBytes = 16 << 20
	maxUsersLineBytes = 4 << 10
	maxUserNameBytes  = 256
	defaultUsersFile  = "users.txt"
)

var errBadCredentials = errors.New("authkit: invalid username or password")

type usersLine struct {
	text string // the line as read (comments, blank lines) or as written
	name string // "" for a comment or blank line
	hash passwordHash
}

type usersFile struct {
	lines []usersLine
	index map[string]int // name → position in lines
}

// validUserName reports why name cannot be a user name, or "".
func validUserName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxUserNameBytes:
		return fmt.Sprintf("is longer than %d bytes", maxUserNameBytes)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case name[0] == '#':
		return "starts with '#'"
	}
	for _, r := range name {
		if r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "contains ':', white space or a control character"
		}
	}
	return ""
}

// parseUsers reads and validates a users file. Errors name the line but
// never quote a hash.
func parseUsers(r io.Reader) (*usersFile, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxUsersFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxUsersFileBytes {
		return nil, fmt.Errorf("users file is larger than %d bytes", maxUsersFileBytes)
	}
	f := &usersFile{index: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), maxUsersLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			f.lines = append(f.lines, usersLine{text: line})
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("users file line %d: want NAME:HASH", n)
		}
		if why := validUserName(name); why != "" {
			return nil, fmt.Errorf("users file line %d: the user name %s", n, why)
		}
		if _, dup := f.index[name]; dup {
			return nil, fmt.Errorf("users file line %d: user %s appears twice", n, quote(name))
		}
		h, err := parseHash(hash)
		if err != nil {
			return nil, fmt.Errorf("users file line %d (user %s): %w", n, quote(name), err)
		}
		f.index[name] = len(f.lines)
		f.lines = append(f.lines, usersLine{text: line, name: name, hash: h})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("users file has a line longer than %d bytes", maxUsersLineBytes)
		}
		return nil, err
	}
	return f, nil
}

func loadUsersFile(path string) (*usersFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := parseUsers(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// set adds name with the encoded hash h, or replaces its hash; it reports
// whether the user existed.
func (f *usersFile) set(name, encoded string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	line := usersLine{text: name + ":" + encoded, name: name, hash: h}
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

// write replaces path with f atomically (a temporary file in the same
// directory, synced, then renamed), readable by its owner only.
func (f *usersFile) write(path string) error {
	var buf bytes.Buffer
	for _, l := range f.lines {
		buf.WriteString(l.text)
		buf.WriteByte('\n')
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
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
	return os.Rename(tmp.Name(), path)
}

// userDB checks passwords for the password grant.
type userDB struct {
	users map[string]passwordHash
	// dummy is checked for unknown users, so that the time a failed login
	// takes does not reveal whether the name exists. It is made on first
	// use, in the class most users' hashes have.
	dummy func() (passwordHash, error)
	// sem bounds how many hashes are computed at once: each argon2id check
	// holds its memory cost for its duration.
	sem chan struct{}
}

func newUserDB(f *usersFile) (*userDB, error) {
	db := &userDB{users: map[string]passwordHash{}, sem: make(chan struct{}, max(2, runtime.NumCPU()))}
	count := map[string]int{}
	var like passwordHash
	for _, l := range f.lines {
		if l.name == "" {
			continue
		}
		db.users[l.name] = l.hash
		c := l.hash.class()
		count[c]++
		if like == nil || count[c] > count[like.class()] {
			like = l.hash
		}
	}
	if like == nil {
		return nil, errors.New("the users file has no users")
	}
	db.dummy = sync.OnceValues(func() (passwordHash, error) { return dummyHash(like) })
	return db, nil
}

// check is the password grant's credential checker: it returns the subject
// for a matching username and password, else errBadCredentials, spending
// the same work whether or not the user exists.
func (db *userDB) check(ctx context.Context, username, password string) (string, error) {
	if len(password) > maxPasswordLen || len(username) > maxUserNameBytes {
		return "", errBadCredentials // refused before any hashing, whoever the user is
	}
	h, known := db.users[username]
	if !known {
		d, err := db.dummy()
		if err != nil {
			return "", err
		}
		h = d
	}
	select {
	case db.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	ok := h.verify([]byte(password))
	<-db.sem
	if !known || !ok {
		return "", errBadCredentials
	}
	return username, nil
}

// users runs "authkit users add|remove|list".
func (c *cli) users(ctx context.Context, args []string) error {
	fs := c.newFlagSet("users", "authkit users add NAME | remove NAME | list [--file FILE]", `
Manage a users file for "authkit serve --users FILE": one "NAME:HASH" line per
user, HASH an argon2id (PHC string) or bcrypt hash.

  users add NAME      read NAME's password from standard input (without echo on
                      a terminal; else the first line) and add the user, or
                      replace its password. --algo argon2id (default) or bcrypt.
  users remove NAME   remove the user.
  users list          print the user names.

The file is rewritten atomically with mode 0600. Names may not contain ':',
white space or control characters.`)
	file := fs.String("file", defaultUsersFile, "the users `FILE` (env AUTHKIT_USERS)")
	algo := fs.String("algo", algoArgon2id, "password hash `ALGORITHM` for add: argon2id or bcrypt")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if v, ok := c.lookupEnv(envName("users")); ok && v != "" && !flagGiven(fs, "file") {
		*file = v
	}
	if len(pos) == 0 {
		return usagef("missing subcommand: add, remove or list")
	}
	sub, pos := pos[0], pos[1:]
	switch sub {
	case "add", "remove":
		if len(pos) != 1 {
			return usagef("users %s takes exactly one user name", sub)
		}
		if why := validUserName(pos[0]); why != "" {
			return usagef("the user name %s", why)
		}
	case "list":
		if len(pos) != 0 {
			return usagef("users list takes no arguments")
		}
	default:
		return usagef("unknown subcommand %s: want add, remove or list", quote(sub))
	}
	if *algo != algoArgon2id && *algo != algoBcrypt {
		return usagef("--algo must be argon2id or bcrypt")
	}

	f, err := loadUsersFile(*file)
	switch {
	case errors.Is(err, os.ErrNotExist) && sub == "add":
		f = &usersFile{index: map[string]int{}}
	case err != nil:
		return err
	}
	switch sub {
	case "list":
		for _, n := range f.names() {
			fmt.Fprintln(c.stdout, n)
		}
		return nil
	case "remove":
		if !f.remove(pos[0]) {
			return fmt.Errorf("%s has no user %s", *file, quote(pos[0]))
		}
		if err := f.write(*file); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "removed user %s from %s\n", pos[0], *file)
		return nil
	}

	password, err := c.readPassword()
	if err != nil {
		return err
	}
	encoded, err := hashPassword(*algo, password)
	clear(password)
	if err != nil {
		return err
	}
	existed, err := f.set(pos[0], encoded)
	if err != nil {
		return err
	}
	if err := f.write(*file); err != nil {
		return err
	}
	verb := "added user"
	prep := "to"
	if existed {
		verb, prep = "updated the password of user", "in"
	}
	fmt.Fprintf(c.stdout, "%s %s %s %s (%s)\n", verb, pos[0], prep, *file, *algo)
	return nil
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
