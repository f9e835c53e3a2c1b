// Command authkit is authkit's command-line tool: a complete auth server
// and the small tools around it.
//
//	authkit serve                 run an auth server (token endpoints, JWKS, /me, /healthz)
//	authkit users add NAME        add or update a user in a users file
//	authkit keygen --alg ALG      print a new private JWK set (or --public its JWKS)
//	authkit inspect TOKEN         decode a token; verify it with --jwks FILE|URL
//	authkit migrate --store DSN   apply a SQL store's schema migrations
//
// Run "authkit help COMMAND" for the flags of each command, and see
// docs/cli.md for a walk-through.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/term"
)

func main() {
	if !usesContext(os.Args[1:]) {
		// A command that does not watch ctx (users add at its password
		// prompt, keygen, inspect) ends at the first signal, leaving the
		// terminal as it found it: it used to ignore the first Ctrl-C, and
		// timeout's SIGTERM, and the second left echo off (found by
		// review).
		restore := func() {}
		if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
			if st, err := term.GetState(fd); err == nil {
				restore = func() { _ = term.Restore(fd, st) }
			}
		}
		// Once such a command has said it watches ctx (users at its store
		// step, past the password prompt), the first signal cancels ctx
		// instead, so that it can say what it left undone; a second
		// signal still ends it at once.
		var watching atomic.Bool
		ctx, cancel := context.WithCancel(withSignalWatch(context.Background(), &watching))
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sig
			restore()
			if watching.Load() {
				cancel()
				<-sig
			}
			os.Exit(130)
		}()
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		cancel()
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default behaviour so that a
		// second Ctrl-C ends a slow shutdown at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usesContext reports whether the command args name ends its work when
// its context is cancelled: serve shuts down gracefully, migrate and
// clients stop their store calls.
func usesContext(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "serve", "migrate", "clients":
		return true
	}
	return false
}

// signalWatchKey is the context key of the flag a command that does not
// watch its context from the start sets once it does (see watchSignals).
type signalWatchKey struct{}

func withSignalWatch(ctx context.Context, watching *atomic.Bool) context.Context {
	return context.WithValue(ctx, signalWatchKey{}, watching)
}

// watchSignals tells main that the command now ends its work when ctx is
// cancelled, so the first signal cancels ctx rather than ending the
// process. Without main's flag in ctx (tests, run called directly) it does
// nothing.
func watchSignals(ctx context.Context) {
	if w, ok := ctx.Value(signalWatchKey{}).(*atomic.Bool); ok {
		w.Store(true)
	}
}
