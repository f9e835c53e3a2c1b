package authkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrClaimsDecode is matched by the errors of Principal.DecodeClaims.
var ErrClaimsDecode = errors.New("authkit: claims do not decode")

// DecodeClaims decodes the principal's application claims — the members of
// the token's claims set that Claims has a key for — into v, a pointer, as
// encoding/json's Unmarshal would, but from the token's own JSON and under
// the verifier's strict rules: the claims set was refused at verification
// if it had duplicate or case-variant member names or invalid UTF-8, and is
// checked again here; numbers keep their precision (2^53+1 decodes exactly
// into an int64, a uint64 or a json.Number field, and a field of type any
// receives a json.Number, never a float64). Registered claims (iss, sub,
// aud, exp, …), names that differ from them only in case ("SUB", which
// encoding/json would match to a field tagged "sub"), and the claims the
// verification profile reads into the principal's fields (scope,
// client_id, …) and their case variants are left out.
//
// It works as well for a principal from the verify cache. For a principal
// that did not come from a verified JWT (an API token, Basic, or one built
// by hand), it decodes Claims as encoding/json encodes it; when Claims is
// nil too, v is left as it is. Every error matches ErrClaimsDecode.
func (p *Principal) DecodeClaims(v any) error {
	if p == nil {
		return fmt.Errorf("%w: nil Principal", ErrClaimsDecode)
	}
	var doc []byte
	switch {
	case p.ClaimsJSON != "":
		var err error
		if doc, err = applicationClaims(p.ClaimsJSON, p.Claims); err != nil {
			return fmt.Errorf("%w: %w", ErrClaimsDecode, err)
		}
	case p.Claims != nil:
		var err error
		if doc, err = json.Marshal(p.Claims); err != nil {
			return fmt.Errorf("%w: %w", ErrClaimsDecode, err)
		}
	default:
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrClaimsDecode, err)
	}
	return nil
}

// registeredNames are the claims never decoded by DecodeClaims: RFC 7519's,
// and those RFC 9068 reads into a Principal's fields.
var registeredNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "client_id"}

// isApplication reports whether name is an application claim: a key of
// the principal's Claims (which the verifier fills with exactly the
// application claims, leaving out those its profile reads into the other
// fields), and never a registered one, nor one that differs from a
// registered one only in case: encoding/json matches a struct field's tag
// without regard to case, so "SUB" would fill a field tagged "sub".
func isApplication(name string, app map[string]any) bool {
	for _, r := range registeredNames {
		if strings.EqualFold(name, r) {
			return false
		}
	}
	_, ok := app[name]
	return ok
}

// applicationClaims returns the JSON object of the application claims of
// the claims set payload (see isApplication), refusing duplicate or
// case-variant names at every depth.
func applicationClaims(payload string, app map[string]any) ([]byte, error) {
	if !utf8.ValidString(payload) {
		return nil, errors.New("claims set is not valid UTF-8")
	}
	d := json.NewDecoder(strings.NewReader(payload))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("claims set is not a JSON object")
	}
	out := make([]byte, 0, len(payload))
	out = append(out, '{')
	seen := make(map[string]bool)
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, err
		}
		if err := checkNames(raw, 0); err != nil {
			return nil, err
		}
		if f := foldName(name); seen[f] {
			return nil, fmt.Errorf("duplicate member %q", name)
		} else {
			seen[f] = true
		}
		if !isApplication(name, app) {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		n, _ := json.Marshal(name)
		out = append(append(append(out, n...), ':'), raw...)
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("data after the claims set")
	}
	return append(out, '}'), nil
}

// foldName is name under simple Unicode case folding, as the verifier's
// strict JSON reader compares member names.
func foldName(name string) string {
	return strings.Map(func(r rune) rune {
		// The smallest rune of r's fold orbit: one representative per class.
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, name)
}

// checkNames refuses duplicate or case-variant member names inside the
// JSON value raw.
func checkNames(raw json.RawMessage, depth int) error {
	if depth > 64 {
		return errors.New("claims nested too deeply")
	}
	switch {
	case len(raw) > 0 && raw[0] == '{':
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if _, err := d.Token(); err != nil {
			return err
		}
		seen := make(map[string]bool)
		for d.More() {
			tok, err := d.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			if f := foldName(name); seen[f] {
				return fmt.Errorf("duplicate member %q", name)
			} else {
				seen[f] = true
			}
			var v json.RawMessage
			if err := d.Decode(&v); err != nil {
				return err
			}
			if err := checkNames(v, depth+1); err != nil {
				return err
			}
		}
	case len(raw) > 0 && raw[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return err
		}
		for _, e := range elems {
			if err := checkNames(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
