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
	"syscall"
)

func main() {
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
