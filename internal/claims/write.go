// Package claims writes and strictly reads the claims set of authkit's
// access tokens (the RFC 9068 profile).
package claims

import (
	"strconv"
	"time"
)

// TypeAccessToken is the JWS "typ" of an access token (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// Fields are the claims an access token carries.
type Fields struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	TokenID   string
	ClientID  string
	Scopes    []string
	SessionID string
	// Extra is a JSON object of application claims (names disjoint from
	// the registered ones), or nil.
	Extra []byte
}

// Append writes f as a compact JSON object to b. exp and nbf are whole
// seconds (nbf is iat rounded down); iat keeps millisecond precision
// (RFC 7519 §2 allows a fractional NumericDate) so that a logout-all
// cutoff can tell a token issued just before it from one issued just after.
func Append(b []byte, f Fields) []byte {
	b = append(b, `{"iss":`...)
	b = appendString(b, f.Issuer)
	b = append(b, `,"sub":`...)
	b = appendString(b, f.Subject)
	b = append(b, `,"aud":`...)
	if len(f.Audience) == 1 {
		b = appendString(b, f.Audience[0])
	} else {
		b = append(b, '[')
		for i, a := range f.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, f.ExpiresAt.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = AppendMillis(b, f.IssuedAt)
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, f.IssuedAt.Unix(), 10)
	b = append(b, `,"jti":`...)
	b = appendString(b, f.TokenID)
	b = append(b, `,"client_id":`...)
	b = appendString(b, f.ClientID)
	if len(f.Scopes) > 0 {
		b = append(b, `,"scope":"`...)
		for i, s := range f.Scopes {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, s...) // scope tokens never need escaping (RFC 6749 §3.3)
		}
		b = append(b, '"')
	}
	if f.SessionID != "" {
		b = append(b, `,"sid":`...)
		b = appendString(b, f.SessionID)
	}
	if len(f.Extra) > 2 { // "{}" adds nothing
		b = append(b, ',')
		b = append(b, f.Extra[1:len(f.Extra)-1]...)
	}
	return append(b, '}')
}

// AppendMillis writes t as a NumericDate with millisecond precision,
// without a fraction when it has none.
func AppendMillis(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	b = strconv.AppendInt(b, sec, 10)
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. s is valid UTF-8 (callers check).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
