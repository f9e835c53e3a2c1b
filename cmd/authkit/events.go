package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authkit-go/authkit"
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
// request log already records.
func logEvents(log *slog.Logger) func(context.Context, authkit.Event) {
	h := log.Handler()
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
		for _, a := range [...]struct{ k, v string }{
			{"subject", e.Subject}, {"session", e.SessionID}, {"token_id", e.TokenID}, {"method", e.Method},
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

// eventLevel is the level logEvents logs e at.
func eventLevel(e authkit.Event) slog.Level {
	switch e.Type {
	case authkit.EventReuseDetected, authkit.EventStoreUnavailable, authkit.EventDataLoss:
		return slog.LevelError
	case authkit.EventAuthFailed:
		if errors.Is(e.Err, authkit.ErrTokenExpired) {
			return slog.LevelInfo
		}
		return slog.LevelWarn
	case authkit.EventLoginFailed, authkit.EventThrottled:
		return slog.LevelWarn
	case authkit.EventIssued, authkit.EventRefreshed, authkit.EventRevoked, authkit.EventAPITokenCreated:
		return slog.LevelInfo
	case authkit.EventAuthenticated:
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
