package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Exit statuses.
const (
	exitOK      = 0 // success (and -h)
	exitFailure = 1 // the command failed
	exitUsage   = 2 // the command line was wrong
)

// cli is one invocation: where it reads and writes, and how it sees the
// environment. Nothing in it is global, so tests run commands in-process and
// in parallel.
type cli struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
}

// run is the whole program: main only adds signal handling and os.Exit.
// ctx ends the long-running commands (serve shuts down gracefully).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	return c.main(ctx, args)
}

type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run a complete auth server (token endpoints, JWKS, /me, /healthz)", (*cli).serve},
		{"users", "manage a users file: users add NAME, users remove NAME, users list", (*cli).users},
		{"clients", "manage OAuth clients in a --store: clients add NAME, list, show ID, remove ID, rotate-secret ID", (*cli).clients},
		{"keygen", "print a new signing key as a private JWK set (or --public its JWKS)", (*cli).keygen},
		{"inspect", "decode a token without trusting it; verify it with --jwks FILE|URL", (*cli).inspect},
		{"migrate", "apply a SQL store's schema migrations (--store DSN)", (*cli).migrate},
	}
}

func findCommand(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		c.usage(c.stdout)
		return exitOK
	case "help":
		return c.help(ctx, rest)
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(c.stderr, "authkit: unknown command %s\n\n", quote(name))
		c.usage(c.stderr)
		return exitUsage
	}
	return c.finish(cmd.name, cmd.run(c, ctx, rest))
}

// help prints the overview, or a command's usage, to stdout.
func (c *cli) help(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stdout)
		return exitOK
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "authkit help: unknown command %s\n\n", quote(args[0]))
		c.usage(c.stderr)
		return exitUsage
	}
	// Every command prints its usage for -h; send it to stdout here.
	hc := *c
	hc.stderr = c.stdout
	return hc.finish(cmd.name, cmd.run(&hc, ctx, append(args[1:len(args):len(args)], "-h")))
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `authkit: API authentication server and tools

Usage:
  authkit <command> [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `  help     show help for a command

Run 'authkit help <command>' or 'authkit <command> -h' for a command's flags.
`)
}

// finish turns a command's error into an exit status, printing it once.
func (c *cli) finish(name string, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errReported):
		return exitFailure
	case errors.Is(err, errFlags):
		return exitUsage // the flag package has printed the error and the usage
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "authkit %s: %s\nRun 'authkit %s -h' for usage.\n", name, ue.msg, strings.Fields(name)[0])
		return exitUsage
	default:
		fmt.Fprintf(c.stderr, "authkit %s: %v\n", name, err)
		return exitFailure
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

var (
	// errFlags: a flag did not parse; package flag has already said so.
	errFlags = errors.New("bad flags")
	// errReported: the command failed and has already said why.
	errReported = errors.New("failure reported")
)

// newFlagSet returns a flag set whose -h prints synopsis, description and
// the flags to c.stderr.
func (c *cli) newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("authkit "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, strings.TrimSpace(description))
		// The deprecated spellings are accepted but not listed.
		shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		shown.SetOutput(w)
		fs.VisitAll(func(f *flag.Flag) {
			if _, old := deprecatedFlags[f.Name]; !old {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		hasFlags := false
		shown.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			shown.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses args with fs, allowing flags after positional
// arguments ("users add alice --algo bcrypt"), and returns the positional
// ones. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errFlags, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// envName is the environment variable that backs a flag: AUTHKIT_ and the
// flag's name in upper case with '-' as '_' (--access-ttl: AUTHKIT_ACCESS_TTL).
func envName(flagName string) string {
	return "AUTHKIT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// notEmpty are the flags whose default, taken silently for an empty
// value, would change what is protected: an empty store (a compose file's
// ${DB_URL} with DB_URL unset) would put each replica on its own memory
// store, where a revocation made on one is not seen by the others; an
// empty users file gives the demo user, an empty keys file a fresh key.
// Set but empty, in a variable or on the command line, they are refused.
var notEmpty = map[string]bool{"store": true, "dsn": true, "users": true, "keys": true}

// emptyValue is the usage error of a notEmpty flag or variable given empty.
func emptyValue(what string) error {
	return usagef("%s is set but empty: leave it out to get the default, or give a value (an empty value is refused, not taken for the default)", what)
}

// applyEnv sets every flag in names that was not given on the command line
// from its environment variable, when that is set and non-empty: a flag
// always wins over the environment. A variable set but empty counts as
// unset, except for the notEmpty flags, where it is a usage error. Values
// are not echoed in errors (one of them may be a DSN with a password).
func (c *cli) applyEnv(fs *flag.FlagSet, names ...string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, n := range names {
		if given[n] {
			if notEmpty[n] && fs.Lookup(n).Value.String() == "" {
				return emptyValue("--" + n)
			}
			continue
		}
		v, ok := c.lookupEnv(envName(n))
		if ok && v == "" && notEmpty[n] {
			return emptyValue("the environment variable " + envName(n))
		}
		if !ok || v == "" {
			continue
		}
		if err := fs.Set(n, v); err != nil {
			return usagef("environment variable %s: not a valid value for --%s", envName(n), n)
		}
	}
	return nil
}

// deprecatedFlags maps each old flag name that is still accepted to the
// name that replaced it. Usage lists only the new name; each command's
// description mentions the old one.
var deprecatedFlags = map[string]string{"dsn": "store"}

// storeFlags is --store, the store a command works on, with its deprecated
// spelling --dsn (authkit migrate's flag before serve and migrate shared one
// name). The environment variables are AUTHKIT_STORE and, deprecated,
// AUTHKIT_DSN.
type storeFlags struct {
	store, dsn, def string
}

// addStoreFlags registers --store (with its default and usage) and the
// unlisted alias --dsn on fs.
func addStoreFlags(fs *flag.FlagSet, def, usage string) *storeFlags {
	s := &storeFlags{def: def}
	fs.StringVar(&s.store, "store", def, usage+" (env "+envName("store")+")")
	fs.StringVar(&s.dsn, "dsn", "", "deprecated: the old spelling of --store (env "+envName("dsn")+")")
	return s
}

// resolve returns the store fs was given: --store or --dsn from the command
// line, else AUTHKIT_STORE or AUTHKIT_DSN from the environment, else the
// default.
// A flag wins over the environment, as for every flag. Both spellings at
// one level with different values are a usage error, never a silent
// choice; the values are not echoed (a DSN may hold a password). warning
// is non-empty when a deprecated spelling was used.
func (s *storeFlags) resolve(c *cli, fs *flag.FlagSet) (value, warning string, err error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	const (
		flagConflict = "--store and --dsn (its deprecated spelling) name different stores; give only --store"
		envConflict  = "the environment variables AUTHKIT_STORE and AUTHKIT_DSN (its deprecated spelling) name different stores; set only AUTHKIT_STORE"
		flagWarning  = "--dsn is deprecated; use --store"
		envWarning   = "AUTHKIT_DSN is deprecated; use AUTHKIT_STORE"
	)
	for _, n := range []string{"store", "dsn"} {
		if given[n] && fs.Lookup(n).Value.String() == "" {
			return "", "", emptyValue("--" + n)
		}
	}
	switch {
	case given["store"] && given["dsn"]:
		if s.store != s.dsn {
			return "", "", usagef(flagConflict)
		}
		return s.store, flagWarning, nil
	case given["store"]:
		return s.store, "", nil
	case given["dsn"]:
		return s.dsn, flagWarning, nil
	}
	store, hasStore := c.lookupEnv(envName("store"))
	dsn, hasDSN := c.lookupEnv(envName("dsn"))
	if hasStore && store == "" {
		return "", "", emptyValue("the environment variable " + envName("store"))
	}
	if hasDSN && dsn == "" {
		return "", "", emptyValue("the environment variable " + envName("dsn"))
	}
	switch {
	case hasStore && hasDSN:
		if store != dsn {
			return "", "", usagef(envConflict)
		}
		return store, envWarning, nil
	case hasStore:
		return store, "", nil
	case hasDSN:
		return dsn, envWarning, nil
	}
	return s.def, "", nil
}

// durationFlag is a flag.Value for durations that also accepts whole days
// ("14d"), which token lifetimes are usually counted in.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return formatDuration(*f.d)
}

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil || n == 0 {
			return 0, errors.New("want a duration like 90s, 15m, 12h or 14d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a positive duration like 90s, 15m, 12h or 14d")
	}
	return d, nil
}

func formatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// strayArg names a positional argument a command does not take: quoted,
// unless it looks like a URL or a DSN, which may hold a password (found by
// review: "serve postgres://user:pw@…" printed it whole).
func strayArg(s string) string {
	if strings.Contains(s, "://") || strings.Contains(s, "@") || strings.HasPrefix(s, "sqlite:") {
		return "a URL or DSN, not shown since it may hold a password; a store is given with --store"
	}
	return quote(s)
}

// quote returns s quoted for a message, cut to a sane length: command-line
// arguments may be long or hold control characters.
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
