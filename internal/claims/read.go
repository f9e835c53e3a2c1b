package claims

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/authkit-go/authkit/internal/strictjson"
)

// ErrMalformed reports a claims set that is not strict JSON or whose
// registered claims have the wrong type.
var ErrMalformed = errors.New("claims: malformed claims set")

// Claims is a parsed access-token claims set. Its strings alias the payload
// passed to Parse when they had no escapes.
type Claims struct {
	Issuer    string
	Subject   string
	TokenID   string
	ClientID  string
	Scope     string
	SessionID string

	ExpiresAt    time.Time
	NotBefore    time.Time
	IssuedAt     time.Time
	HasExpiry    bool
	HasNotBefore bool
	HasIssuedAt  bool

	// Extra holds the application claims, or nil when there are none.
	Extra map[string]any

	aud strictjson.Value
}

// IsAccessTokenType reports whether typ names an RFC 9068 access token
// ("at+jwt", or its full media type; compared without regard to case,
// RFC 7515 §4.1.9).
func IsAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, TypeAccessToken) || strings.EqualFold(typ, "application/"+TypeAccessToken)
}

// maxNumericDate is 9999-12-31T23:59:59Z: later values are refused.
const maxNumericDate = 253402300799

// Parse reads payload strictly into c. payload must not change afterwards
// (the verifier passes the bytes of an immutable string): c's strings alias
// it.
func Parse(payload []byte, c *Claims) error {
	o, err := strictjson.NewObject(payload)
	if err != nil {
		return ErrMalformed
	}
	for o.Next() {
		v := o.Value()
		var err error
		switch name := o.Name(); string(name) {
		case "iss":
			c.Issuer, err = text(v)
		case "sub":
			c.Subject, err = text(v)
		case "jti":
			c.TokenID, err = text(v)
		case "client_id":
			c.ClientID, err = text(v)
		case "scope":
			c.Scope, err = text(v)
		case "sid":
			c.SessionID, err = text(v)
		case "aud":
			err = checkAudience(v)
			c.aud = v
		case "exp":
			c.ExpiresAt, err = numericDate(v)
			c.HasExpiry = true
		case "nbf":
			c.NotBefore, err = numericDate(v)
			c.HasNotBefore = true
		case "iat":
			c.IssuedAt, err = numericDate(v)
			c.HasIssuedAt = true
		default:
			var x any
			x, err = v.Decode()
			if err == nil {
				if c.Extra == nil {
					c.Extra = make(map[string]any)
				}
				c.Extra[string(name)] = x
			}
		}
		if err != nil {
			return ErrMalformed
		}
	}
	return nil
}

// text returns a string value without copying when it has no escapes.
func text(v strictjson.Value) (string, error) {
	if v.Kind() != strictjson.KindString {
		return "", ErrMalformed
	}
	if bytes.IndexByte(v.Raw(), '\\') >= 0 {
		return v.Text()
	}
	b, err := v.StringBytes(nil)
	if err != nil || len(b) == 0 {
		return "", err
	}
	return unsafe.String(&b[0], len(b)), nil
}

func checkAudience(v strictjson.Value) error {
	switch v.Kind() {
	case strictjson.KindString:
		return nil
	case strictjson.KindArray:
		a, _ := v.Elements()
		n := 0
		for a.Next() {
			if a.Value().Kind() != strictjson.KindString {
				return ErrMalformed
			}
			n++
		}
		if n == 0 {
			return ErrMalformed
		}
		return nil
	}
	return ErrMalformed
}

func numericDate(v strictjson.Value) (time.Time, error) {
	f, err := v.Float()
	if err != nil || f < 0 || f > maxNumericDate || math.IsNaN(f) {
		return time.Time{}, ErrMalformed
	}
	return time.UnixMilli(int64(math.Round(f * 1000))), nil
}

// HasAudience reports whether the aud claim (a string or an array of
// strings) contains one of want. It does not allocate.
func (c *Claims) HasAudience(want []string) bool {
	switch c.aud.Kind() {
	case strictjson.KindString:
		for _, w := range want {
			if c.aud.EqualString(w) {
				return true
			}
		}
	case strictjson.KindArray:
		a, _ := c.aud.Elements()
		for a.Next() {
			for _, w := range want {
				if a.Value().EqualString(w) {
					return true
				}
			}
		}
	}
	return false
}

// Scopes splits the scope claim on spaces (RFC 6749 §3.3). The strings
// alias c.Scope.
func (c *Claims) Scopes() []string {
	if c.Scope == "" {
		return nil
	}
	n := strings.Count(c.Scope, " ") + 1
	out := make([]string, 0, n)
	for s := range strings.SplitSeq(c.Scope, " ") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
