package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Server timeouts and intervals.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	healthTimeout     = 2 * time.Second
	cleanupInterval   = 10 * time.Minute
	cleanupTimeout    = time.Minute
	demoUser          = "demo"
	// defaultAPITokenLimit is serve's cap on one user's live API tokens:
	// without one, any user could create them without bound (and GET
	// /api-tokens lists them all).
	defaultAPITokenLimit = 100
	// defaultSessionLimit is serve's cap on one user's live sessions: a
	// login past it ends the user's least recently used one. Without one,
	// any user could pile up sessions (GET /sessions lists them all).
	defaultSessionLimit = 100
	// defaultMirrorLag is how stale serve's revocation mirror may be when
	// --revocation-mirror is auto.
	defaultMirrorLag = 5 * time.Second
	// defaultRequestTimeout is the deadline of each request's context:
	// room for a few store calls that each answer within the default store
	// timeout, and below writeTimeout, so that a request whose store
	// stalls is answered 503 before the connection is cut.
	defaultRequestTimeout = 15 * time.Second
	// maxRequestTimeout keeps --request-timeout under writeTimeout, after
	// which net/http cuts the connection without an answer.
	maxRequestTimeout = writeTimeout - 5*time.Second
)

type serveConfig struct {
	addr            string
	store           string
	keysFile        string
	issuer          string
	audience        []string
	scopes          []string
	accessTTL       time.Duration
	refreshTTL      time.Duration
	sessionLifetime time.Duration
	usersFile       string
	// usersReload is how often serve checks the users file for changes
	// (--users-reload; 0: only on SIGHUP).
	usersReload     time.Duration
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	migrate         bool
	// acceptVolatileRedis lets serve start on a Redis that fails
	// redisstore's CheckPersistence (--accept-volatile-redis).
	acceptVolatileRedis bool
	// mirror is the verifier's revocation mirror maxLag: 0 off, <0 auto
	// (defaultMirrorLag when the store has a revocation feed and is not
	// the memory store).
	mirror      time.Duration
	verifyCache int
	// apiTokenLimit caps each user's live API tokens (WithAPITokenLimit).
	apiTokenLimit int
	// sessionLimit caps each user's live sessions (WithSessionLimit).
	sessionLimit int
	// storeTimeout bounds each store call (authkit.WithStoreTimeout);
	// requestTimeout each request.
	storeTimeout   time.Duration
	requestTimeout time.Duration
	// trustedProxies are the proxies whose X-Forwarded-For is believed
	// (throttling and sessions' recorded addresses).
	trustedProxies []netip.Prefix
	// accountClients are the registered clients whose tokens may use the
	// account endpoints (--account-clients; httpauth.WithAccountClients).
	accountClients []string
	// endpointAud lets private_key_jwt assertions name the endpoint URLs
	// (--endpoint-assertion-audiences;
	// httpauth.WithEndpointAssertionAudiences).
	endpointAud bool
	// unnamedRefresh hands out refresh tokens older versions can read
	// (--unnamed-refresh-tokens;
	// authkit.WithRefreshTokensNamingSession(false)).
	unnamedRefresh bool
	// corsOrigins may call /token and /revoke from a browser script
	// (--cors-origins; httpauth.WithCORSOrigins).
	corsOrigins []string
	// maxConnections is how many client connections serve holds at once
	// (--max-connections; 0: no limit).
	maxConnections int
	// warnings are notes on deprecated spellings, logged at start-up.
	warnings []string
}

// serveFlags are the flags of serve backed by AUTHKIT_* variables; --store
// (AUTHKIT_STORE, or the deprecated --dsn and AUTHKIT_DSN) is resolved by
// storeFlags.
var serveFlags = []string{"addr", "keys", "issuer", "audience", "access-ttl", "refresh-ttl",
	"session-lifetime", "users", "users-reload", "scopes", "log-format", "log-level", "shutdown-timeout", "migrate",
	"revocation-mirror", "verify-cache", "store-timeout", "request-timeout", "trusted-proxies",
	"accept-volatile-redis", "account-clients", "api-token-limit", "session-limit", "endpoint-assertion-audiences", "max-connections",
	"cors-origins"}

func (c *cli) parseServe(args []string) (serveConfig, error) {
	cfg := serveConfig{
		accessTTL:       authkit.DefaultAccessTTL,
		refreshTTL:      authkit.DefaultRefreshTTL,
		sessionLifetime: authkit.DefaultSessionLifetime,
		shutdownTimeout: 15 * time.Second,
		usersReload:     defaultUsersReload,
		mirror:          -1,
		verifyCache:     authkit.DefaultVerifyCacheEntries,
		apiTokenLimit:   defaultAPITokenLimit,
		sessionLimit:    defaultSessionLimit,
		storeTimeout:    authkit.DefaultStoreTimeout,
		requestTimeout:  defaultRequestTimeout,
	}
	fs := c.newFlagSet("serve", "authkit serve [flags]", `
Run a complete auth server: the token endpoints (POST /token with the password
and refresh_token grants, /revoke, /introspect, /logout-all, /sessions,
/api-tokens), the public keys at /.well-known/jwks.json, a protected GET /me
that shows the caller's principal, and GET /healthz. With a store that keeps
OAuth clients (SQL or Redis; "authkit clients add"), /token also has the
client_credentials and authorization_code grants, and /authorize is the
authorization endpoint (PKCE S256) with a login page for the users.

With no flags it listens on 127.0.0.1:8080 with the memory store, a fresh EdDSA
key and one demo user whose random password it prints: for trying things out
only. For real use give --keys (from "authkit keygen") so tokens survive a
restart, and --users (from "authkit users add").

Every flag can also be set by the environment variable named after it
(AUTHKIT_ADDR, AUTHKIT_ACCESS_TTL, …); a flag on the command line wins.
Durations take Go's units and whole days: 90s, 15m, 12h, 14d. --store and
AUTHKIT_STORE are the same as for authkit migrate; the old spellings --dsn
and AUTHKIT_DSN are still accepted but deprecated.

Plain HTTP: put a TLS-terminating proxy in front of it for anything but
localhost.`)
	var audience, scopes, trustedProxies, accountClients, corsOrigins string
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen `ADDRESS` (host:port)")
	store := addStoreFlags(fs, "memory", "the `STORE`: memory, postgres://…, mysql://…, sqlite:PATH or redis://…")
	fs.BoolVar(&cfg.migrate, "migrate", false, "apply the SQL store's migrations before serving (same as authkit migrate)")
	fs.BoolVar(&cfg.acceptVolatileRedis, "accept-volatile-redis", false, "start on a Redis --store that keeps nothing on disk or may evict keys when full, whose restart loses every revocation and session (without it serve refuses such a Redis)")
	fs.StringVar(&cfg.keysFile, "keys", "", "private JWK set `FILE` from authkit keygen; the first key signs (default: a fresh EdDSA key)")
	fs.StringVar(&cfg.issuer, "issuer", authkit.DefaultIssuer, "`ISSUER` (iss) of the tokens, ideally this server's URL")
	fs.StringVar(&audience, "audience", authkit.DefaultAudience, "`AUDIENCES` (aud) of the tokens, comma-separated")
	fs.Var(durationFlag{&cfg.accessTTL}, "access-ttl", "access token lifetime `DURATION`")
	fs.Var(durationFlag{&cfg.refreshTTL}, "refresh-ttl", "refresh token idle lifetime `DURATION`")
	fs.Var(durationFlag{&cfg.sessionLifetime}, "session-lifetime", "absolute session lifetime `DURATION`, however often refreshed")
	fs.StringVar(&scopes, "scopes", "", "`SCOPES` a password login may request (scope=…), comma-separated; default none")
	fs.StringVar(&cfg.usersFile, "users", "", "users `FILE` of NAME:HASH lines (default: one demo user)")
	fs.Var(optionalDuration{&cfg.usersReload}, "users-reload", "how often (`DURATION`) to check the --users file for changes; a change is read at the next check if it has held, so within two intervals (0: only on SIGHUP); a user removed from it loses all access then")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `FORMAT`: text or json (logs go to standard error)")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.Var(mirrorFlag{&cfg.mirror}, "revocation-mirror", "`MAXLAG` of the verifier's local copy of the revocation list, kept by the store's feed: a DURATION (1s to 10m), auto (5s with a shared store that has a feed; off with memory) or off")
	fs.IntVar(&cfg.verifyCache, "verify-cache", authkit.DefaultVerifyCacheEntries, "how many verified access `TOKENS` the verifier remembers (0 turns the cache off)")
	fs.IntVar(&cfg.apiTokenLimit, "api-token-limit", defaultAPITokenLimit, "how many live API `TOKENS` one user may hold (0: no limit)")
	fs.IntVar(&cfg.sessionLimit, "session-limit", defaultSessionLimit, "how many live `SESSIONS` one user may hold; a login past it ends the least recently used (0: no limit)")
	fs.Var(durationFlag{&cfg.storeTimeout}, "store-timeout", "`DURATION` after which a store call that has not answered fails and its request is answered 503 with Retry-After (10ms to 1m)")
	fs.Var(durationFlag{&cfg.requestTimeout}, "request-timeout", "deadline `DURATION` of each request, at least --store-timeout and at most 25s; a request still waiting on the store then is answered 503")
	fs.StringVar(&trustedProxies, "trusted-proxies", "", "reverse proxies (comma-separated `CIDRS` or addresses) whose X-Forwarded-For names the client's address for login throttling and sessions; the rightmost address not in them is the client's. Default none: the connection's address, forwarding headers ignored")
	fs.StringVar(&corsOrigins, "cors-origins", "", "browser `ORIGINS` (comma-separated, such as https://app.example.com) whose single-page apps may call /token and /revoke from script (CORS), as public clients do from another origin; default none")
	fs.StringVar(&accountClients, "account-clients", "", "registered OAuth client `IDS` (comma-separated) whose users' tokens (never the client's own client_credentials token) may use /logout-all, /sessions and /api-tokens like a first-party login; default none: only first-party sessions may")
	fs.IntVar(&cfg.maxConnections, "max-connections", defaultMaxConnections, "how many client `CONNECTIONS` serve holds at once (each may hold up to about 100 KB of a request while it arrives); at the limit it closes the connection idle longest, else new ones wait. 0: no limit")
	fs.BoolVar(&cfg.unnamedRefresh, "unnamed-refresh-tokens", false, "hand out refresh tokens in the format of versions before 2026-12-05, without their session's ID, during a rolling upgrade from such a version (it refuses the newer tokens); remove it once no older instance serves the store. Tokens of both formats are accepted either way")
	fs.BoolVar(&cfg.endpointAud, "endpoint-assertion-audiences", false, "accept a registered client's private_key_jwt assertion whose aud is the token endpoint's URL (or the URL it is sent to) instead of --issuer, for clients that cannot be changed; still one value. Default off: aud must be the issuer identifier, which stops an assertion a malicious server obtained from being replayed here")
	fs.Var(durationFlag{&cfg.shutdownTimeout}, "shutdown-timeout", "how long (`DURATION`) to let requests in flight finish on SIGINT/SIGTERM")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "AUTHKIT_") {
			f.Usage += " (env " + envName(f.Name) + ")"
		}
	})
	pos, err := parseArgs(fs, args)
	if err != nil {
		return cfg, err
	}
	if len(pos) != 0 {
		return cfg, usagef("serve takes no arguments (got %s)", strayArg(pos[0]))
	}
	if err := c.applyEnv(fs, serveFlags...); err != nil {
		return cfg, err
	}
	var warning string
	if cfg.store, warning, err = store.resolve(c, fs); err != nil {
		return cfg, err
	}
	if warning != "" {
		cfg.warnings = append(cfg.warnings, warning)
	}
	if cfg.audience, err = splitList(audience); err != nil {
		return cfg, usagef("--audience: %v", err)
	}
	if scopes != "" {
		if cfg.scopes, err = splitList(scopes); err != nil {
			return cfg, usagef("--scopes: %v", err)
		}
	}
	if cfg.trustedProxies, err = parseTrustedProxies(trustedProxies); err != nil {
		return cfg, err
	}
	if accountClients != "" {
		if cfg.accountClients, err = splitList(accountClients); err != nil {
			return cfg, usagef("--account-clients: %v", err)
		}
	}
	if corsOrigins != "" {
		if cfg.corsOrigins, err = splitList(corsOrigins); err != nil {
			return cfg, usagef("--cors-origins: %v", err)
		}
	}
	if cfg.requestTimeout < cfg.storeTimeout || cfg.requestTimeout > maxRequestTimeout {
		return cfg, usagef("--request-timeout must be between --store-timeout (%v) and %v", cfg.storeTimeout, maxRequestTimeout)
	}
	if cfg.maxConnections < 0 {
		return cfg, usagef("--max-connections must be 0 (no limit) or more")
	}
	if err := checkListenAddr(cfg.addr); err != nil {
		return cfg, usagef("--addr: %v", err)
	}
	if cfg.usersReload != 0 && cfg.usersReload < 10*time.Millisecond {
		return cfg, usagef("--users-reload must be 0 (off) or at least 10ms")
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, usagef("--log-format must be text or json")
	}
	if _, ok := logLevels[cfg.logLevel]; !ok {
		return cfg, usagef("--log-level must be debug, info, warn or error")
	}
	// The values the library bounds are checked here too, so that one out
	// of range is a mistake on the command line (exit 2) found before the
	// store is opened or migrated (found by review: exit 1, after
	// --migrate had run).
	// Each option alone on a scratch Config: its own range only
	// (BuildConfig would also hold it against the other lifetimes'
	// defaults; found by review: --refresh-ttl 1d --session-lifetime 7d
	// was refused). The lifetimes together come next.
	for _, f := range []struct {
		name string
		opt  authkit.Option
	}{
		{"access-ttl", authkit.WithAccessTTL(cfg.accessTTL)},
		{"refresh-ttl", authkit.WithRefreshTTL(cfg.refreshTTL)},
		{"session-lifetime", authkit.WithSessionLifetime(cfg.sessionLifetime)},
		{"api-token-limit", authkit.WithAPITokenLimit(cfg.apiTokenLimit)},
		{"session-limit", authkit.WithSessionLimit(cfg.sessionLimit)},
		{"store-timeout", authkit.WithStoreTimeout(cfg.storeTimeout)},
		{"verify-cache", authkit.WithVerifyCache(cfg.verifyCache)},
	} {
		if err := f.opt(&authkit.Config{}); err != nil {
			return cfg, usagef("--%s: %v", f.name, err)
		}
	}
	if _, err := authkit.BuildConfig(authkit.RoleIssuer, authkit.WithAccessTTL(cfg.accessTTL),
		authkit.WithRefreshTTL(cfg.refreshTTL), authkit.WithSessionLifetime(cfg.sessionLifetime)); err != nil {
		return cfg, usagef("--access-ttl, --refresh-ttl, --session-lifetime: %v", err)
	}
	return cfg, nil
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[level]}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs "authkit serve" until ctx ends.
func (c *cli) serve(ctx context.Context, args []string) error {
	cfg, err := c.parseServe(args)
	if err != nil {
		return err
	}
	log := newLogger(c.stderr, cfg.logFormat, cfg.logLevel)
	for _, w := range cfg.warnings {
		log.Warn(w)
	}
	// SIGHUP reads the --users file again (watchUsers, once serving: one
	// that came while starting is read then). Without such a file it is
	// ignored. Caught from the start, for its default action ends the
	// process (found by review: a reload sent by a service manager killed
	// a serve without --users, or one starting).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if cfg.usersFile == "" {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-hup:
					log.Info("SIGHUP ignored: there is no --users file to read again")
				case <-done:
					return
				}
			}
		}()
	}
	s, err := c.newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.usersFile != "" {
		s.hup = hup
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.addr)
	if err != nil {
		s.closeStore()
		return err
	}
	return s.run(ctx, ln, c.stdout)
}

// server is a configured auth server, not yet listening.
type server struct {
	log             *slog.Logger
	iss             *issuer.Issuer
	verifier        *verifier.Verifier
	store           openedStore
	handler         http.Handler
	shutdownTimeout time.Duration
	// users is the users table, read again every usersReload (0: only on
	// SIGHUP) when it comes from a file.
	users       *userDB
	usersReload time.Duration
	// hup delivers SIGHUP to the users file's watcher (nil: none).
	hup <-chan os.Signal
	// demoPassword is the demo user's password, printed once on standard
	// output when the server starts listening; "" with a users file.
	demoPassword string
	// maxConnections bounds the client connections held at once (0: no
	// limit; connLimiter).
	maxConnections int
	// acceptVolatile is --accept-volatile-redis (watchPersistence).
	acceptVolatile bool
	// clientAddr is the client address of a request, --trusted-proxies
	// applied, for the request log.
	clientAddr func(*http.Request) netip.Addr
	// trusted are --trusted-proxies; untrustedWarned and unreadWarned
	// are the peers each forwarding warning has named (forwardWarnings).
	trusted         []netip.Prefix
	untrustedWarned peerSet
	unreadWarned    peerSet
	// health paces serveHealth's warnings and notes the store's return.
	health healthLog
}

// healthLog is what serveHealth has logged of an outage: a warning when
// the store stops answering, then one a minute at most saying how many
// failed checks it stands for, and one line when the store answers again
// (found by review: a warning for every probe, and nothing at the end).
// The zero value is ready.
type healthLog struct {
	mu   sync.Mutex
	down bool
	last time.Time // of the last warning
	held int       // failed checks since it
}

// healthWarnEvery is how often at most serveHealth warns of one outage.
const healthWarnEvery = time.Minute

// failed notes a failed check at now and reports whether to warn, and of
// how many failed checks since the last warning.
func (h *healthLog) failed(now time.Time) (warn bool, held int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down && now.Sub(h.last) < healthWarnEvery && !now.Before(h.last) {
		h.held++
		return false, 0
	}
	held = h.held
	h.down, h.last, h.held = true, now, 0
	return true, held
}

// answered notes a check the store answered and reports whether it ends
// an outage.
func (h *healthLog) answered() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.down
	h.down, h.held = false, 0
	return was
}

// maxForwardWarnings is how many peers serve warns of one by one for each
// forwarding mistake (forwardWarnings), so that a client sending the
// headers itself cannot fill the log; after them, one summary an hour
// names the most frequent of the others, so that a client cannot use up
// the warning a real proxy needs either.
const (
	maxForwardWarnings  = 8
	forwardSummaryEvery = time.Hour
	// forwardCounted bounds the peers whose requests are counted between
	// summaries (the space-saving count: a peer that sends more than
	// 1/forwardCounted of the requests is always among them).
	forwardCounted = 64
)

// peerSet tells which peers a forwarding warning has named, and counts
// the others' requests for the hourly summary. Safe for concurrent use.
type peerSet struct {
	mu      sync.Mutex
	named   map[string]struct{}
	counts  map[string]int
	started time.Time // when the named peers filled up, then of the last summary
}

// forwardNote is what to log of a request: nothing, the peer's own
// warning (name), or a summary of the peers not named one by one.
type forwardNote struct {
	name    bool
	summary bool
	top     string // the summary's most frequent peer, and its requests
	topN    int
	peers   int // the peers counted since the last summary
}

// seen records a request from peer at now.
func (p *peerSet) seen(peer string, now time.Time) forwardNote {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.named[peer]; ok {
		return forwardNote{}
	}
	if p.named == nil {
		p.named = map[string]struct{}{}
	}
	if len(p.named) < maxForwardWarnings {
		p.named[peer] = struct{}{}
		if len(p.named) == maxForwardWarnings {
			p.started = now
		}
		return forwardNote{name: true}
	}
	if p.counts == nil {
		p.counts = map[string]int{}
	}
	if _, ok := p.counts[peer]; ok || len(p.counts) < forwardCounted {
		p.counts[peer]++
	} else {
		// Space-saving: the newcomer takes the place of the least
		// counted, with its count.
		least, n := "", 0
		for q, c := range p.counts {
			if least == "" || c < n {
				least, n = q, c
			}
		}
		delete(p.counts, least)
		p.counts[peer] = n + 1
	}
	if now.Sub(p.started) < forwardSummaryEvery {
		return forwardNote{}
	}
	note := forwardNote{summary: true, peers: len(p.counts)}
	for q, c := range p.counts {
		if c > note.topN || (c == note.topN && q < note.top) {
			note.top, note.topN = q, c
		}
	}
	p.named[note.top] = struct{}{} // one more an hour at most
	p.counts, p.started = nil, now
	return note
}

func (c *cli) newServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	st, err := openStore(ctx, cfg.store, cfg.migrate, log)
	if err != nil {
		if !cfg.migrate && errors.Is(err, sqlstore.ErrMigrationsNotApplied) {
			return nil, fmt.Errorf("%w (or start serve with --migrate)", err)
		}
		return nil, err
	}
	s := &server{log: log, store: st, shutdownTimeout: cfg.shutdownTimeout, maxConnections: cfg.maxConnections, acceptVolatile: cfg.acceptVolatileRedis}
	built := false
	defer func() {
		if !built {
			s.closeStore()
		}
	}()
	if err := checkPersistence(ctx, st, cfg.acceptVolatileRedis, log); err != nil {
		return nil, err
	}
	if err := checkReplication(ctx, st, log); err != nil {
		return nil, err
	}
	set, err := loadOrGenerateKeys(cfg.keysFile, log)
	if err != nil {
		return nil, err
	}
	users, demoPassword, err := loadUsers(ctx, cfg.usersFile)
	if err != nil {
		return nil, err
	}
	users.scopes = cfg.scopes
	s.users, s.usersReload = users, cfg.usersReload
	if cfg.usersFile != "" {
		warnSharedFile(log, cfg.usersFile, "the users file (password hashes)")
		warnWeakHashes(log, cfg.usersFile, users.users())
	}
	warnPlainHTTP(log, cfg.addr, cfg.issuer, true, len(cfg.trustedProxies))
	audit := logEvents(log, users.has) // the audit trail (events.go)
	common := []authkit.Option{
		authkit.WithStore(st.store), authkit.WithKeys(set), authkit.WithIssuer(cfg.issuer),
		authkit.WithAudience(cfg.audience...), authkit.WithLogger(log),
		authkit.WithStoreTimeout(cfg.storeTimeout),
		authkit.WithEventHook(audit),
	}
	s.iss, err = issuer.New(append(common[:len(common):len(common)],
		authkit.WithAccessTTL(cfg.accessTTL), authkit.WithRefreshTTL(cfg.refreshTTL),
		authkit.WithSessionLifetime(cfg.sessionLifetime), authkit.WithAPITokenLimit(cfg.apiTokenLimit),
		authkit.WithSessionLimit(cfg.sessionLimit),
		authkit.WithRefreshTokensNamingSession(!cfg.unnamedRefresh))...)
	if err != nil {
		return nil, err
	}
	// A user removed from the users file while serve runs has every
	// session and API token ended in the store, so that the name added
	// again later starts with none; the name stays refused until the
	// access tokens minted before have expired.
	users.end = endUser(s.iss)
	// Until every access token and authorization code from before the
	// removal has expired (this server's verifier's leeway).
	users.hold = cfg.accessTTL + authkit.DefaultLeeway + httpauth.AuthorizationCodeTTL
	users.kick = make(chan struct{}, 1)
	// A user removed from the users file keeps no access: not its API
	// tokens (which never expire), access tokens or sessions (the
	// refresh check in newEndpoints), although the store still holds them.
	// An access token minted under a longer TTL than this server's (before
	// --access-ttl was lowered, or by a replica still running the old value)
	// is refused: it would outlive the session and logout-all revocations
	// this server makes, which last its own TTL.
	vopts := append(common[:len(common):len(common)], authkit.WithVerifyCache(cfg.verifyCache), authkit.WithPrincipalCheck(users.principalCheck),
		authkit.WithMaxTokenLifetime(cfg.accessTTL))
	mirror := cfg.mirror
	if mirror < 0 {
		mirror = 0
		if _, feed := st.store.(authkit.RevocationFeed); feed && st.kind != "memory" {
			mirror = defaultMirrorLag
		}
	}
	if mirror > 0 {
		vopts = append(vopts, authkit.WithRevocationMirror(mirror))
	}
	v, err := verifier.New(vopts...)
	if err != nil {
		return nil, err
	}
	s.verifier = v
	thrStore := throttleStoreOf(st)
	auth, endpoints, err := newEndpoints(s.iss, v, users, log,
		wiring{store: thrStore, trusted: cfg.trustedProxies, hook: audit, clients: clientStoreOf(st), accountClients: cfg.accountClients, endpointAud: cfg.endpointAud, corsOrigins: cfg.corsOrigins})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/me", onlyGet(auth.Require(http.HandlerFunc(serveMe))))
	mux.Handle("/healthz", onlyGet(http.HandlerFunc(s.serveHealth)))
	mux.Handle("/", endpoints)
	metadata := "off: --issuer is not this server's URL"
	var root http.Handler = mux
	if prefix := issuerPathPrefix(cfg.issuer); prefix != "" {
		// The metadata names the endpoints under the issuer's path
		// (found by review: they were served only at the root, so every
		// advertised URL was a 404).
		root = underPrefix(prefix, mux)
	}
	if hd, ok := endpoints.(*httpauth.Handler); ok {
		// RFC 8414 needs the tokens' iss to be the server's URL.
		if meta, err := hd.MetadataHandler(cfg.scopes...); err == nil {
			path, _ := httpauth.MetadataPath(cfg.issuer)
			// Matched exactly, not as a ServeMux pattern: the issuer's
			// path may hold characters a pattern reads as syntax ("{",
			// a space), which would panic or match other paths.
			root = exactPath(path, meta, root)
			metadata = path
		}
	}
	s.clientAddr = auth.ClientAddr
	s.trusted = cfg.trustedProxies
	s.handler = s.logRequests(limitHeaderFields(withDeadline(root, cfg.requestTimeout)))

	// With a client store: the clients' grants and the login page.
	grants, authorize := []string{authkit.GrantPassword, authkit.GrantRefreshToken}, "off: the store keeps no OAuth clients"
	if clientStoreOf(st) != nil {
		grants = append(grants, authkit.GrantClientCredentials, authkit.GrantAuthorizationCode)
		authorize = httpauth.DefaultPaths().Authorize
	}
	log.Info("configured",
		"store", st.kind, "issuer", cfg.issuer, "audience", strings.Join(cfg.audience, ","), "scopes", strings.Join(cfg.scopes, ","),
		"signing_alg", string(set.Active().Algorithm()), "kid", set.Active().ID(),
		"access_ttl", formatDuration(cfg.accessTTL), "refresh_ttl", formatDuration(cfg.refreshTTL),
		"users", len(users.users().users), "users_reload", formatDuration(cfg.usersReload), "revocation_mirror", mirrorString(mirror), "verify_cache", cfg.verifyCache, "api_token_limit", cfg.apiTokenLimit, "session_limit", cfg.sessionLimit,
		"store_timeout", formatDuration(cfg.storeTimeout), "request_timeout", formatDuration(cfg.requestTimeout),
		"throttle", throttleKind(thrStore, st.kind), "trusted_proxies", len(cfg.trustedProxies), "metadata", metadata,
		"grants", strings.Join(grants, ","), "authorize", authorize, "cors_origins", strings.Join(cfg.corsOrigins, ","))
	warnClientTTLs(ctx, clientStoreOf(st), s.iss.ClientID(), cfg.accessTTL, cfg.refreshTTL, cfg.storeTimeout, log)
	if demoPassword != "" {
		log.Warn("DEMO MODE: one demo user with a random password (printed on standard output); not for production: use --users FILE")
		if host, _, err := net.SplitHostPort(cfg.addr); err != nil || !isLoopback(host) {
			log.Warn("the demo user is reachable on a non-loopback address", "addr", cfg.addr)
		}
		s.demoPassword = demoPassword
	}
	built = true
	return s, nil
}

// warnClientTTLs logs one warning for each registered client whose
// access-token lifetime ("authkit clients add --access-ttl") is longer
// than the server's --access-ttl, and one for each whose refresh-token
// lifetime (--refresh-ttl) is longer than the server's --refresh-ttl: the
// issuer cuts such a client's tokens to the server's lifetime
// (issuer.WithAccessTokenTTL, WithRefreshTokenTTL), which the client's
// registration does not say. A line names the client ID and both
// lifetimes, never a secret. A store that cannot list its clients within
// timeout is logged and does not stop the server: the lifetimes are
// capped whatever the check finds. cs nil (no client store) checks
// nothing. Clients added after start-up are not checked. It also warns
// about a client registered under ownID, the issuer's own client_id,
// which cannot authenticate (httpauth treats it as unknown).
func warnClientTTLs(ctx context.Context, cs authkit.ClientStore, ownID string, accessTTL, refreshTTL, timeout time.Duration, log *slog.Logger) {
	if cs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	clients, err := cs.ListClients(ctx)
	if err != nil {
		log.Warn("could not list the OAuth clients to compare their token lifetimes with --access-ttl and --refresh-ttl", "err", err)
		return
	}
	for _, c := range clients {
		if c.ID == ownID {
			log.Warn("a registered client has the issuer's own client_id, which first-party tokens carry; it cannot authenticate (remove it with authkit clients remove and register it under another ID)",
				"client_id", c.ID)
		}
		if c.AccessTTL > accessTTL {
			log.Warn("a client's access token lifetime is longer than the server's --access-ttl; its access tokens live only as long as the server's",
				"client_id", c.ID, "client_access_ttl", formatDuration(c.AccessTTL), "access_ttl", formatDuration(accessTTL))
		}
		if c.RefreshTTL > refreshTTL {
			log.Warn("a client's refresh token lifetime is longer than the server's --refresh-ttl; its refresh tokens live only as long as the server's",
				"client_id", c.ID, "client_refresh_ttl", formatDuration(c.RefreshTTL), "refresh_ttl", formatDuration(refreshTTL))
		}
	}
}

const demoBanner = `
############################################################################
##  DEMO MODE: for trying authkit out only. NEVER use this in production. ##
############################################################################

No --users file was given, so this server has ONE demo user:

    username: %s
    password: %s

The password is random and changes at every start. Create real users with
"authkit users add NAME --file users.txt" and start with --users users.txt.

`

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadOrGenerateKeys reads the --keys file, or makes a fresh EdDSA key.
func loadOrGenerateKeys(path string, log *slog.Logger) (*keys.Set, error) {
	if path == "" {
		k, err := keys.Generate(keys.EdDSA)
		if err != nil {
			return nil, err
		}
		log.Warn("signing with a fresh EdDSA key: tokens stop verifying when the server restarts; use --keys FILE (authkit keygen)")
		return keys.NewSet(k)
	}
	set, err := readKeptKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--keys: %w", err)
	}
	if set.Active() == nil {
		return nil, fmt.Errorf("--keys: %s holds no private key (is it a public JWKS? give the file authkit keygen wrote)", path)
	}
	warnSharedFile(log, path, "the key file")
	return set, nil
}

// warnSharedFile logs a warning when the file at path (a key file, the
// users file of password hashes) can be read or written by other accounts
// than its owner and the group's readers: 0640 is the mode the rewriting
// commands keep for a serve account in the file's group, and warning of
// it told operators to lock that account out (found by review).
//
// It warns too of a file owned by another account than this process's or
// root's (found by review): its owner can rewrite it, or widen its mode,
// whatever the mode is now.
func warnSharedFile(log *slog.Logger, path, what string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if fi.Mode().Perm()&0o027 != 0 {
		log.Warn(what+" can be read or written by other accounts; chmod 600 it (or 640 for a serve account in its group)", "file", path)
	}
	if hasACL(path) {
		log.Warn(what+" has a POSIX ACL, which can let other accounts read it whatever its mode; check it with getfacl (setfacl -b removes it)", "file", path)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() && uid != 0 {
		log.Warn(what+" is owned by another account, which can rewrite it; chown it to the account serve runs as (or root)", "file", path, "owner_uid", uid)
	}
}

// checkListenAddr checks a --addr value before anything is opened: host:port
// with a port from 0 to 65535 (0: any free port) or a service's name, as
// net.Listen takes it, so that a typo is a
// mistake on the command line (exit 2) rather than an error after the
// store was opened and migrated (found by review).
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port (127.0.0.1:8080, :8080, [::1]:8080): %v", err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("the port %q is not a number from 0 to 65535 or a service's name", port)
	}
	// A host name that does not resolve (found by review: it failed after
	// --migrate had run).
	if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
		return fmt.Errorf("the host does not resolve: %v", err)
	}
	return nil
}

// warnPlainHTTP logs a warning when serve listens on a non-loopback
// address for passwords with no trusted proxy and an issuer that is not
// an https:// URL (nor an http:// one on loopback): nothing then suggests
// a TLS-terminating proxy in front, and passwords and tokens would cross
// the network unencrypted. The default issuer (authkit.DefaultIssuer) is
// no URL: it warns too (found by review: "serve --addr :8080" said
// nothing).
func warnPlainHTTP(log *slog.Logger, addr, issuerURL string, passwords bool, proxies int) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || isLoopback(host) || !passwords || proxies > 0 {
		return
	}
	if u, err := url.Parse(issuerURL); err == nil && (u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return
	}
	log.Warn("serving passwords over plain HTTP on a non-loopback address, and neither an https:// issuer nor --trusted-proxies says a TLS-terminating proxy is in front: put one there (and name it in --trusted-proxies) or use an https:// issuer", "addr", addr, "issuer", issuerURL)
}

// loadUsers reads the --users file, or makes the demo user and returns its
// password.
func loadUsers(ctx context.Context, path string) (*userDB, string, error) {
	if path != "" {
		f, fi, err := readUsersFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("--users: %w", err)
		}
		db, err := newUserDB(f)
		if err != nil {
			return nil, "", fmt.Errorf("--users: %s: %w", path, err)
		}
		db.path, db.read = path, fi
		return db, "", nil
	}
	password := rand.Text()
	encoded, err := hashPassword(ctx, algoArgon2id, []byte(password))
	if err != nil {
		return nil, "", err
	}
	f := &usersFile{index: map[string]int{}}
	if _, err := f.set(demoUser, encoded); err != nil {
		return nil, "", err
	}
	db, err := newUserDB(f)
	return db, password, err
}

// run serves on ln until ctx ends, then shuts down gracefully.
func (s *server) run(ctx context.Context, ln net.Listener, stdout io.Writer) error {
	defer s.closeStore()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		// net/http reads up to 4 KiB beyond MaxHeaderBytes (found by
		// review: the limit was near 36 KiB, not the 32 documented).
		MaxHeaderBytes: maxHeaderBytes - 4<<10,
		// "OPTIONS *" goes to the handler too, so that limitHeaderFields
		// sees it: net/http's own answer read up to 4 KiB of its body
		// first (found by review: 200 such requests, bodies never sent,
		// held 100 MB of headers until the read timeout).
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.maxConnections > 0 {
		cl := newConnLimiter(ln, s.maxConnections, readHeaderTimeout)
		ln, hs.ConnState = cl, cl.ConnState
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	cctx, stopCleanup := context.WithCancel(ctx)
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		s.cleanupLoop(cctx, cleanupInterval)
	}()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.users.watchUsers(cctx, s.log, s.usersReload, s.hup)
	}()
	persisted := make(chan struct{})
	go func() {
		defer close(persisted)
		if check := persistenceCheck(s.store); check != nil {
			watchPersistence(cctx, check, s.acceptVolatile, persistenceRecheck, s.log)
		}
	}()
	defer func() { stopCleanup(); <-cleaned; <-watched; <-persisted }()

	if s.demoPassword != "" {
		fmt.Fprintf(stdout, demoBanner, demoUser, s.demoPassword)
	}
	s.log.Info("listening", "addr", ln.Addr().String())
	fmt.Fprintf(stdout, "authkit: listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
		err = fmt.Errorf("graceful shutdown: %w (remaining connections closed)", err)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err == nil {
		s.log.Info("stopped")
	}
	return err
}

func (s *server) closeStore() {
	if s.verifier != nil {
		s.verifier.Close() // stops following the revocation feed before the store closes
		s.verifier = nil
	}
	if s.store.close != nil {
		if err := s.store.close(); err != nil {
			s.log.Warn("closing the store", "err", err)
		}
		s.store.close = nil
	}
}

// cleanupLoop deletes expired sessions, revocations and API tokens, and
// the OAuth clients' expired authorization codes and client assertions
// (the issuer cleans the ClientStore of its store, see
// issuer.Issuer.Cleanup), every interval until ctx ends.
func (s *server) cleanupLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
		n, err := s.iss.Cleanup(cctx, 0)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("cleanup failed", "deleted", n, "err", err)
			failed = true
			continue
		}
		if failed && err == nil {
			// Said once, so that the warnings' end is seen (found by
			// review: they stopped, and success is logged at debug).
			s.log.Info("cleanup succeeded again", "deleted", n)
			failed = false
			continue
		}
		s.log.Debug("cleanup", "deleted", n) // throttle counters included (issuer.Cleanup)
	}
}

// throttleKind names where password failures are counted, for the log.
func throttleKind(ts authkit.ThrottleStore, kind string) string {
	if ts == nil {
		return "memory (this process only)"
	}
	return kind + " (shared by every replica)"
}

// serveHealth answers 200 {"status":"ok"} while the store answers, else
// 503 {"status":"unavailable"}. The reason is logged, not sent.
func (s *server) serveHealth(w http.ResponseWriter, r *http.Request) {
	status, body := http.StatusOK, "ok"
	if p, ok := s.store.store.(authkit.Pinger); ok {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		err := p.Ping(ctx)
		cancel()
		if err != nil {
			if warn, held := s.health.failed(time.Now()); warn {
				attrs := []any{"store", s.store.kind, "err", err}
				if held > 0 {
					attrs = append(attrs, "failed_checks_unlogged", held)
				}
				s.log.Warn("health check: the store does not answer", attrs...)
			}
			status, body = http.StatusServiceUnavailable, "unavailable"
		} else if s.health.answered() {
			s.log.Info("health check: the store answers again", "store", s.store.kind)
		}
	}
	out := map[string]string{"status": body}
	if m, ok := s.verifier.MirrorStats(); ok {
		// Not a failure: with a stale copy every revocation check goes to
		// the store, as without a mirror (the mirror logs why).
		out["revocation_mirror"] = "stale"
		if m.Fresh {
			out["revocation_mirror"] = "fresh"
		}
	}
	writeJSON(w, status, out)
}

// serveMe answers GET /me with the principal that authenticated, encoded
// as authkit.Principal encodes itself (see its MarshalJSON).
func serveMe(w http.ResponseWriter, r *http.Request) {
	p, ok := authkit.PrincipalFrom(r.Context())
	if !ok { // cannot happen behind Require; refuse rather than answer
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// onlyGet answers 405 with Allow to anything but GET and HEAD.
// exactPath serves requests for path (r.URL.Path, exactly) with h, and
// every other request with next.
func exactPath(path string, h, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// issuerPathPrefix is the path of an issuer URL, without its trailing
// slash: "/auth" for https://example.com/auth/, "" for an issuer without
// a path or one that is not an http(s) URL.
func issuerPathPrefix(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// underPrefix serves next under prefix as well as at the root: a request
// for a path below prefix reaches next with the prefix taken off its path,
// where the RFC 8414 metadata says the endpoints are (a proxy that passes
// the issuer's path on); any other request, prefix itself included,
// reaches next as it is (a proxy that strips it; an issuer path that is
// an endpoint's, such as /token, keeps that endpoint at the root). A path
// below prefix that is not clean ("//", "." or ".." segments) is
// redirected to its clean form, prefix kept, as ServeMux would redirect it
// without the prefix. r.RequestURI keeps the path as sent, so the login
// page's form posts back under the prefix.
func underPrefix(prefix string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || rest == "" || rest[0] != '/' {
			next.ServeHTTP(w, r)
			return
		}
		if c := cleanPath(r.URL.Path); c != r.URL.Path && r.Method != http.MethodConnect {
			u := *r.URL
			u.Path, u.RawPath = c, ""
			http.Redirect(w, r, u.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}

// cleanPath is p without "//", "." and ".." segments, keeping a trailing
// slash, as net/http's ServeMux cleans paths.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func onlyGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxHeaderFields bounds the header fields of a request serve handles,
// Host aside (net/http takes it out of the header); browsers send about
// 20, proxies add a few.
const maxHeaderFields = 100

// limitHeaderFields answers 431 to a request with more than
// maxHeaderFields header fields, and closes its connection without
// reading its body. maxHeaderBytes bounds the headers' bytes, not
// their number: 32 KiB of empty fields parse into about 600 KB of header
// map, which a request whose body arrived slowly held for up to the read
// timeout (found by review: 2,048 such connections held 1.4 GB, where the
// connection limit meant to keep it near 400 MB).
func limitHeaderFields(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for _, v := range r.Header {
			n += len(v)
		}
		if n > maxHeaderFields {
			w.Header().Set("Connection", "close")
			http.Error(w, "too many header fields", http.StatusRequestHeaderFieldsTooLarge)
			// Past the answer net/http reads up to 256 KiB of an unread
			// body before it closes the connection (the request still
			// held): end that read at once.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withDeadline gives every request's context a deadline d from its start:
// the store calls it makes end by then at the latest (each also has the
// store timeout), so a request whose store stalls is answered 503 with
// Retry-After rather than held.
func withDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// logRequests logs one line per request: method, path, status, size,
// duration and client address (the one the throttle counts: behind
// --trusted-proxies the forwarded client, and the proxy as "peer"; found
// by review: the log named the proxy alone). Never headers, query strings
// or bodies, where credentials travel; a path segment that holds a token
// is redacted (httpsyntax.LogPath).
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" && rec.status == http.StatusOK {
			level = slog.LevelDebug // probes would drown everything else
		}
		path := httpsyntax.LogPath(r.URL.Path) // a token sent in a path is not logged
		peer, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			peer = r.RemoteAddr
		}
		client := peer
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", path), slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes), slog.Duration("duration", time.Since(start))}
		if s.clientAddr != nil {
			if a := s.clientAddr(r); a.IsValid() && a.String() != peer {
				client = a.String()
				attrs = append(attrs, slog.String("peer", peer))
			}
		}
		s.log.LogAttrs(r.Context(), level, "request", append(attrs, slog.String("client", client))...)
		s.forwardWarnings(r, peer)
	})
}

// forwardWarnings logs the two ways a reverse proxy in front of serve can
// be set up so that every client it forwards is counted under its own
// address by the login throttle (one guesser makes everyone wait): a peer
// not among --trusted-proxies that sends X-Forwarded-For (a proxy serve
// was not told of, or whose address changed), and a trusted peer that
// names the client only in Forwarded or X-Real-IP, which serve does not
// read. Each is logged once per peer for the first maxForwardWarnings
// peers, then once an hour for the most frequent of the others (peerSet):
// a client sending the headers itself could otherwise fill the log, or
// (when it was logged once in all, or for the first peers only) use up
// the warning before the real proxy's first request (found by review).
func (s *server) forwardWarnings(r *http.Request, peer string) {
	const (
		untrusted = "a request carries X-Forwarded-For from a peer not among --trusted-proxies: the header is ignored, and if that peer is a reverse proxy every client is counted under its address by the login throttle (one guesser makes everyone wait); name it with --trusted-proxies (the peer may also be a client sending the header itself"
		unread    = "a request from a peer among --trusted-proxies names its client in Forwarded or X-Real-IP but not in X-Forwarded-For, the only header serve reads: every client that proxy forwards is counted under its address by the login throttle (one guesser makes everyone wait); make the proxy set X-Forwarded-For ("
		once      = "logged once per peer for the first 8, then hourly for the most frequent of the others)"
	)
	var msg string
	var set *peerSet
	switch {
	case len(r.Header.Values("X-Forwarded-For")) > 0:
		if s.trustedPeer(peer) {
			return
		}
		msg, set = untrusted+"; "+once, &s.untrustedWarned
	case len(s.trusted) == 0 || (len(r.Header.Values("Forwarded")) == 0 && len(r.Header.Values("X-Real-IP")) == 0):
		return
	default:
		if _, err := netip.ParseAddr(peer); err != nil || !s.trustedPeer(peer) {
			return
		}
		msg, set = unread+once, &s.unreadWarned
	}
	switch note := set.seen(peer, time.Now()); {
	case note.name:
		s.log.Warn(msg, "peer", peer, "trusted_proxies", len(s.trusted))
	case note.summary:
		s.log.Warn(msg, "peer", note.top, "requests", note.topN, "other_peers", note.peers-1, "trusted_proxies", len(s.trusted))
	}
}

// trustedPeer reports whether peer (the connection's address) is one of
// --trusted-proxies; a peer that is not an IP address (a Unix socket) is
// not warned of.
func (s *server) trustedPeer(peer string) bool {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		return true
	}
	a = a.Unmap().WithZone("")
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// mirrorFlag is the flag.Value of --revocation-mirror: a positive duration,
// "off" (or 0) as 0, or "auto" as -1.
type mirrorFlag struct{ d *time.Duration }

func (f mirrorFlag) String() string {
	if f.d == nil {
		return ""
	}
	return mirrorString(*f.d)
}

func (f mirrorFlag) Set(v string) error {
	switch v {
	case "auto":
		*f.d = -1
		return nil
	case "off", "0":
		*f.d = 0
		return nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return errors.New("want auto, off or a duration like 5s")
	}
	if d < time.Second || d > 10*time.Minute {
		return errors.New("want auto, off or a duration from 1s to 10m")
	}
	*f.d = d
	return nil
}

func mirrorString(d time.Duration) string {
	switch {
	case d < 0:
		return "auto"
	case d == 0:
		return "off"
	}
	return formatDuration(d)
}

// defaultUsersReload is how often serve checks its users file for changes
// by default (--users-reload).
const defaultUsersReload = 10 * time.Second

// optionalDuration is a duration flag that also takes 0 (or "off"): off.
type optionalDuration struct{ d *time.Duration }

func (f optionalDuration) String() string {
	if f.d == nil || *f.d == 0 {
		return "0"
	}
	return formatDuration(*f.d)
}

func (f optionalDuration) Set(s string) error {
	if s == "0" || s == "off" {
		*f.d = 0
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("%w, or 0 (off)", err)
	}
	*f.d = d
	return nil
}

// endUser ends a removed or changed user's sessions and API tokens one by
// one (endCredentials). A session made meanwhile (a code issued before the
// removal, exchanged after it) is ended by the second pass, after the hold.
func endUser(iss *issuer.Issuer) func(ctx context.Context, name string) error {
	return func(ctx context.Context, name string) error {
		_, _, err := endCredentials(ctx, iss, name)
		return err
	}
}
