package redisstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// OpenURL connects to the Redis a URL names, checks that it answers, and
// returns a Store that owns the client (Close closes it). It is what
// `authkit serve --store redis://…` uses.
//
// URL forms (the query parameters of go-redis's ParseURL,
// ParseClusterURL and ParseFailoverURL apply: dial_timeout, read_timeout,
// pool_size, …):
//
//	redis://[user:password@]host:6379[/db]          standalone
//	rediss://…                                      standalone over TLS
//	unix:///path/to/redis.sock[?db=N]               standalone, Unix socket
//	redis+cluster://host:7000?addr=host:7001&addr=… Redis Cluster (rediss+cluster for TLS)
//	redis+sentinel://sentinel:26379?master_name=m&addr=sentinel2:26379
//	                                                Sentinel (rediss+sentinel for TLS)
//
// A key_prefix query parameter sets the key prefix (WithPrefix), and
// replica_acks=N with replica_ack_timeout=DURATION (default 1s) set
// WithReplicaAcks; options given after the URL override them. The client
// is built with ContextTimeoutEnabled, so ctx deadlines bound every call.
// Parameters that send reads to replicas (read_only, route_by_latency,
// route_randomly, and replica_only for Sentinel) are refused with
// ErrInvalidConfig: a replica may not yet have a revocation. So is
// skip_verify=true (TLS without the server certificate's check).
// Once Redis answered, OpenURL writes the data-loss epoch markers that
// are missing, as New does, and refuses a redis:// URL of one node of a
// Redis Cluster (use redis+cluster://).
func OpenURL(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: OpenURL: %w: the URL does not parse", authkit.ErrInvalidConfig)
	}
	// Every pair must parse: url.Values drops one that does not (a ';',
	// a bad %-escape), and a dropped key_prefix put the store in the
	// default namespace, shared with other deployments (found by review).
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("redisstore: OpenURL: %w: the URL's query does not parse (a ';' or a bad %%-escape)", authkit.ErrInvalidConfig)
	}
	if q.Has("key_prefix") {
		opts = append([]Option{WithPrefix(q.Get("key_prefix"))}, opts...)
		q.Del("key_prefix")
		u.RawQuery = q.Encode()
	}
	if q.Has("replica_acks") || q.Has("replica_ack_timeout") {
		o, err := replicaAcksParams(q.Get("replica_acks"), q.Get("replica_ack_timeout"))
		if err != nil {
			return nil, err
		}
		opts = append([]Option{o}, opts...)
		q.Del("replica_acks")
		q.Del("replica_ack_timeout")
		u.RawQuery = q.Encode()
	}
	// Validate the options before dialling.
	if _, err := buildConfig(opts); err != nil {
		return nil, err
	}
	scheme := strings.ToLower(u.Scheme)
	base, topology, _ := strings.Cut(scheme, "+")
	var rdb redis.UniversalClient
	switch {
	case topology == "" && (base == "redis" || base == "rediss" || base == "unix"):
		o, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, urlErr(err)
		}
		if err := checkTLS(o.TLSConfig); err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		rdb = redis.NewClient(o)
	case topology == "cluster" && (base == "redis" || base == "rediss"):
		u.Scheme = base
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, urlErr(err)
		}
		if err := checkTLS(o.TLSConfig); err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		rdb = redis.NewClusterClient(o)
	case topology == "sentinel" && (base == "redis" || base == "rediss"):
		u.Scheme = base
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, urlErr(err)
		}
		if err := checkTLS(o.TLSConfig); err != nil {
			return nil, err
		}
		if o.MasterName == "" {
			return nil, fmt.Errorf("redisstore: OpenURL: %w: a redis+sentinel URL needs master_name", authkit.ErrInvalidConfig)
		}
		if o.ReplicaOnly || o.RouteByLatency || o.RouteRandomly {
			// A *redis.Client does not tell New that it reaches a
			// replica, so the URL is checked here (see checkPrimaryReads).
			return nil, fmt.Errorf("redisstore: OpenURL: %w: replica_only, route_by_latency and route_randomly send reads to replicas, which can answer that a token is not revoked before the revocation has reached them", authkit.ErrInvalidConfig)
		}
		o.ContextTimeoutEnabled = true
		rdb = redis.NewFailoverClient(o)
	default:
		return nil, fmt.Errorf("redisstore: OpenURL: %w: scheme %q (want redis, rediss, unix, redis+cluster or redis+sentinel)", authkit.ErrInvalidConfig, u.Scheme)
	}
	s, err := newStore(rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s.owned = true
	// A PING, not Ping's read of the markers: a client of one cluster
	// node would get MOVED there, where setupEpochs names the mistake.
	if err := s.reachable(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	// As New does, once Redis answered, within ctx.
	if err := s.setupEpochs(ctx, "OpenURL"); err != nil {
		rdb.Close()
		return nil, err
	}
	return s, nil
}

// checkTLS refuses a URL whose skip_verify=true turned off the check of
// the server's certificate: anyone on the path could then answer, in
// Redis's place, that a revoked token is not (found by review: it was
// accepted silently).
func checkTLS(c *tls.Config) error {
	if c != nil && c.InsecureSkipVerify {
		return fmt.Errorf("redisstore: OpenURL: %w: skip_verify=true turns off the check of the server's certificate, so anyone on the path could answer for Redis that a revoked token is not; trust the server's CA instead (SSL_CERT_FILE or SSL_CERT_DIR name CA certificates for a Go program), or build the client with your own tls.Config and pass it to New", authkit.ErrInvalidConfig)
	}
	return nil
}

// urlErr reports a URL go-redis refused, without the URL (it may hold a
// password).
func urlErr(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "://") || strings.Contains(msg, "@") {
		msg = "invalid URL"
	}
	return fmt.Errorf("redisstore: OpenURL: %w: %s", authkit.ErrInvalidConfig, msg)
}

// replicaAcksParams is WithReplicaAcks from OpenURL's replica_acks and
// replica_ack_timeout parameters.
func replicaAcksParams(n, timeout string) (Option, error) {
	acks, err := strconv.Atoi(n)
	if err != nil {
		return nil, fmt.Errorf("redisstore: OpenURL: %w: replica_acks must be a number of replicas (with replica_ack_timeout)", authkit.ErrInvalidConfig)
	}
	d := time.Second
	if timeout != "" {
		if d, err = time.ParseDuration(timeout); err != nil {
			return nil, fmt.Errorf("redisstore: OpenURL: %w: replica_ack_timeout must be a duration such as 500ms", authkit.ErrInvalidConfig)
		}
	}
	return WithReplicaAcks(acks, d), nil
}
