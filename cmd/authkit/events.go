package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// eventMessage is the message of every audit record, so that an operator
// can select the audit trail from the rest of the log.
const eventMessage = "audit event"

// logEvents returns an event hook (authkit.WithEventHook,
// httpauth.WithEventHook) that logs every event as one structured record
// of log, timed at the event's time, with the attributes event, subject,
// session, token_id, method and error (the empty ones left out). Events
// carry no secret, so neither do the records.
//
// Levels: Error for what needs an operator now (reuse_detected: a refresh
// token was stolen or a client is broken; store_unavailable); Warn for
// refused credentials and passwords (auth_failed, login_failed, throttled)
// and for an event type this build does not know; Info for the state
// changes (issued, refreshed, revoked, api_token_created) and for an
// expired access token, which every client presents in the ordinary course
// before refreshing; Debug for authenticated, one per request, which the
// request log already records, and for auth_failed and login_failed whose
// cause is a store outage (ErrStoreUnavailable), which store_unavailable
// reports, at most once a minute.
//
// A refused password's user name is logged only when known (nil: all) says
// it names a user: a name no user has is often a password typed into the
// user name field, and is logged as unknown_user, a fingerprint that tells
// repeated attempts with one name apart from attempts with many (a keyed
// hash, its key made here: the same name has the same fingerprint in one
// run of serve, and another after a restart or on another replica). So is
// a client_id (often a secret typed into the ID) that no refusal logged in
// this process has shown to be a registered client's: one refused for a
// reason that comes only after the client was found (a wrong secret, a
// private_key_jwt client without keys) is, from then on.
func logEvents(log *slog.Logger, known func(name string) bool) func(context.Context, authkit.Event) {
	h := log.Handler()
	var key [32]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (Go 1.24)
	var clients clientNames
	return func(ctx context.Context, e authkit.Event) {
		level := eventLevel(e)
		if !h.Enabled(ctx, level) {
			return
		}
		t := e.Time
		if t.IsZero() {
			t = time.Now()
		}
		r := slog.NewRecord(t, level, eventMessage, 0)
		r.AddAttrs(slog.String("event", string(e.Type)))
		subject, unknown := e.Subject, ""
		if known != nil && subject != "" && !typedNameKnown(e, known, &clients) {
			subject, unknown = "", fingerprint(&key, subject)
		}
		for _, a := range [...]struct{ k, v string }{
			{"subject", subject}, {"unknown_user", unknown}, {"session", e.SessionID}, {"token_id", e.TokenID}, {"method", e.Method},
		} {
			if a.v != "" {
				r.AddAttrs(slog.String(a.k, a.v))
			}
		}
		if e.Err != nil {
			r.AddAttrs(slog.String("error", e.Err.Error()))
		}
		_ = h.Handle(ctx, r) // as slog.Logger does: a handler's error is its own
	}
}

// typedNameKnown reports whether e's Subject may be logged: true unless it
// is a name as someone typed it with a password or secret — a refused or
// throttled attempt of the Basic scheme, the password grant or the
// authorization endpoint's login page (a user name: known says whether a
// user has it), or of a client's authentication (a client_id: a refusal
// says whether a client has it, and clients remembers those that did).
func typedNameKnown(e authkit.Event, known func(string) bool, clients *clientNames) bool {
	if e.Type != authkit.EventLoginFailed && e.Type != authkit.EventThrottled {
		return true
	}
	switch e.Method {
	case authkit.MethodBasic, httpauth.MethodPassword, httpauth.MethodAuthorizeLogin:
		return known(e.Subject)
	case httpauth.MethodClientSecret:
		// Every refusal but ErrNotFound comes after the client was found.
		if e.Type == authkit.EventThrottled || errors.Is(e.Err, authkit.ErrNotFound) {
			return clients.has(e.Subject)
		}
		clients.add(e.Subject)
	case httpauth.MethodPrivateKeyJWT:
		// Refused before the client is looked up (a malformed assertion,
		// iss unlike sub: found by the review of 23cfdfb) or after, with
		// the same errors; only these come only after it was found (an
		// expired assertion: after its signature verified).
		if e.Type == authkit.EventLoginFailed && (errors.Is(e.Err, authkit.ErrNoCredentials) || errors.Is(e.Err, authkit.ErrInvalidConfig) ||
			errors.Is(e.Err, authkit.ErrTokenReused) || errors.Is(e.Err, authkit.ErrTokenExpired)) {
			clients.add(e.Subject)
			return true
		}
		return clients.has(e.Subject)
	}
	return true
}

// clientNames remembers up to maxClientNames client_ids that a refused
// authentication showed to be clients' (it starts over when full), so that
// their throttled attempts are logged by name.
type clientNames struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

const maxClientNames = 1024

func (c *clientNames) add(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || len(c.ids) >= maxClientNames {
		c.ids = make(map[string]struct{})
	}
	c.ids[id] = struct{}{}
}

func (c *clientNames) has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ids[id]
	return ok
}

// fingerprint is the audit log's stand-in for a user name no user has: the
// first 8 bytes of its HMAC-SHA256 under key, in hex.
func fingerprint(key *[32]byte, name string) string {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// eventLevel is the level logEvents logs e at.
func eventLevel(e authkit.Event) slog.Level {
	switch e.Type {
	case authkit.EventReuseDetected, authkit.EventStoreUnavailable, authkit.EventDataLoss:
		return slog.LevelError
	case authkit.EventAuthFailed, authkit.EventLoginFailed:
		switch {
		case errors.Is(e.Err, authkit.ErrStoreUnavailable):
			// Not the credential's fault: the outage is store_unavailable's,
			// paced, and a record per refused request flooded the log with
			// what read as a refused credential of every user (found by
			// review: 1000 requests in an outage, 1000 warnings).
			return slog.LevelDebug
		case e.Type == authkit.EventAuthFailed && errors.Is(e.Err, authkit.ErrTokenExpired):
			return slog.LevelInfo
		}
		return slog.LevelWarn
	case authkit.EventThrottled:
		return slog.LevelWarn
	case authkit.EventRevoked:
		if e.Err != nil {
			// Half done: the session's access tokens live on (found by
			// review: logged at INFO, below most operators' level).
			return slog.LevelWarn
		}
		return slog.LevelInfo
	case authkit.EventIssued, authkit.EventRefreshed, authkit.EventAPITokenCreated:
		return slog.LevelInfo
	case authkit.EventAuthenticated:
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
