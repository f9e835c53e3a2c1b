package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/authkit-go/authkit/internal/strictjson"
)

// maxMetadataBody bounds a fetched metadata document.
const maxMetadataBody = 256 << 10

// discover returns the jwks_uri of issuer's authorization server metadata:
// RFC 8414's document (/.well-known/oauth-authorization-server, inserted
// before the issuer's path), else OpenID Connect Discovery's
// (/.well-known/openid-configuration, appended to it). The metadata is
// fetched from the configured issuer only, never from a URL a token names;
// its "issuer" must equal the configured one exactly (RFC 8414 §3.3,
// OpenID Connect Discovery §4.3), and its jwks_uri must be https (http only
// on a loopback host).
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	base := u.Scheme + "://" + u.Host
	var errs []error
	for _, mu := range []string{
		base + "/.well-known/oauth-authorization-server" + path,
		base + path + "/.well-known/openid-configuration",
	} {
		jwks, err := fetchMetadata(ctx, client, mu, issuer)
		if err == nil {
			return jwks, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("discovery for %q: %w", issuer, errors.Join(errs...))
}

func fetchMetadata(ctx context.Context, client *http.Client, metaURL, issuer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metaURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", withoutURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", metaURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBody+1))
	if err != nil {
		return "", err
	}
	if len(body) > maxMetadataBody {
		return "", fmt.Errorf("%s: document larger than 256 KiB", metaURL)
	}
	var m struct{ Issuer, JWKSURI string }
	// Strict JSON, members by their exact names: no duplicate or
	// case-variant member ("ISSUER") can stand in for the one read.
	o, err := strictjson.NewObject(body)
	for o.Next() {
		var dst *string
		switch string(o.Name()) {
		case "issuer":
			dst = &m.Issuer
		case "jwks_uri":
			dst = &m.JWKSURI
		default:
			continue
		}
		if *dst, err = o.Value().Text(); err != nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s: not a metadata document: %w", metaURL, err)
	}
	if m.Issuer != issuer {
		return "", fmt.Errorf("%s: metadata names issuer %q, not %q", metaURL, m.Issuer, issuer)
	}
	j, err := url.Parse(m.JWKSURI)
	if err != nil || !secureURL(j) {
		return "", fmt.Errorf("%s: jwks_uri %q is not an https URL (http only for loopback)", metaURL, m.JWKSURI)
	}
	return m.JWKSURI, nil
}

// secureURL reports whether keys or metadata may be fetched from u: https,
// or http on a loopback host.
func secureURL(u *url.URL) bool {
	return u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname()))
}

// maxRedirects is how many redirects a fetch of keys or metadata follows
// when the client sets no redirect policy of its own (net/http's default).
const maxRedirects = 10

// secureRedirects returns a copy of hc that follows a redirect only to a
// secureURL, then as hc's own policy says: the configured URL must be
// https (http only on loopback), and a redirect must not take the keys
// onto a connection anyone on the path can rewrite.
func secureRedirects(hc *http.Client) *http.Client {
	c := *hc
	policy := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !secureURL(req.URL) {
			return fmt.Errorf("verifier: refusing a redirect to %q: not an https URL (http only for loopback)", safeURL(req.URL))
		}
		if policy != nil {
			return policy(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("verifier: stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &c
}

func loopback(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}
