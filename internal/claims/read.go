package claims

import (
	"bytes"
	"errors"
	"slices"
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
	Scope     string // the scope claim when it is a string
	SessionID string

	// The NumericDates, read exactly from their decimal text to the
	// millisecond, rounded towards the safe side: exp and iat down (never
	// later than written: a token never outlives its exp, nor escapes a
	// cutoff at or after its iat), nbf up (never earlier than written).
	ExpiresAt    time.Time
	NotBefore    time.Time
	IssuedAt     time.Time
	HasExpiry    bool
	HasNotBefore bool
	HasIssuedAt  bool
	// TokenTypeOK reports that the Rules' token-type claim holds the
	// expected value (always true without a token-type rule).
	TokenTypeOK bool

	// Extra holds the application claims, or nil when there are none.
	Extra map[string]any

	aud        strictjson.Value
	scopes     strictjson.Value // the scope claim when it is an array
	scopeRank  int              // 1 + the index in Rules.Scopes of the claim read; 0: none
	clientRank int              // likewise for Rules.Clients
	seen       uint64           // bit i: Rules.table[i] was present
	hasSub     bool             // a "sub" claim was present
}

// Rules say how a claims set is read: which claims hold the subject, the
// scopes (and in which JSON shapes), the client and the token type, and
// which claims must be present. The zero Rules, and a nil *Rules, are the
// RFC 9068 rules authkit's issuer writes to. Build others with NewRules.
type Rules struct {
	subject       string // "" is "sub"
	scopes        []string
	scopeString   bool
	scopeArray    bool
	clients       []string
	tokenType     string
	tokenTypeWant string
	// table holds every name the rules read besides the registered ones
	// the parser's switch handles; seen bits index it.
	table []string
	// custom is set when some name of table is not one the parser's
	// switch handles, so that application claims must be looked up in it.
	custom bool
	// required are indexes into table of claims that must be present.
	required []int
	// consumed are the names read into a principal's fields (scope,
	// client, subject, token type claims): never application claims.
	consumed []string
	needIAT  bool
	needJTI  bool
	needNBF  bool
	needSID  bool
	// needISS, needSUB and needAUD: Required names iss, sub or aud. The
	// verifier requires them itself unless the profile lets iss or aud be
	// missing, or reads the subject from another claim.
	needISS bool
	needSUB bool
	needAUD bool
}

// RuleSpec is what NewRules compiles.
type RuleSpec struct {
	Subject        string   // claim naming the subject; "" is "sub"
	Scopes         []string // scope claims, the first present is read
	ScopeString    bool     // a space-separated string is accepted
	ScopeArray     bool     // an array of strings is accepted
	Clients        []string // client claims, the first present is read
	TokenType      string   // a claim that must hold TokenTypeValue, or ""
	TokenTypeValue string
	Required       []string // further claims that must be present
}

var defaultRules = NewRules(RuleSpec{Subject: "sub", Scopes: []string{"scope"}, ScopeString: true, Clients: []string{"client_id"},
	Required: []string{"iat", "jti", "client_id"}})

// IsAccessTokenType reports whether typ names an RFC 9068 access token
// ("at+jwt", or its full media type; compared without regard to case,
// RFC 7515 §4.1.9).
func IsAccessTokenType(typ string) bool {
	return IsType(typ, TypeAccessToken)
}

// IsType reports whether the JWS typ names the media type want, written
// in full or without its "application/" prefix, compared without regard
// to case (RFC 7515 §4.1.9).
func IsType(typ, want string) bool {
	typ, want = bareType(typ), bareType(want)
	return want != "" && strings.EqualFold(typ, want)
}

// bareType is a media type without its "application/" prefix (any case).
func bareType(t string) string {
	const app = "application/"
	if len(t) > len(app) && strings.EqualFold(t[:len(app)], app) {
		return t[len(app):]
	}
	return t
}

// maxNumericDate is 9999-12-31T23:59:59Z: later values are refused.
const maxNumericDate = 253402300799

// NewRules compiles s. The caller has validated the names (non-empty,
// no duplicates within a list).
func NewRules(s RuleSpec) *Rules {
	r := &Rules{subject: s.Subject, scopes: s.Scopes, scopeString: s.ScopeString, scopeArray: s.ScopeArray,
		clients: s.Clients, tokenType: s.TokenType, tokenTypeWant: s.TokenTypeValue}
	if r.subject == "" {
		r.subject = "sub"
	}
	add := func(n string) int {
		for i, t := range r.table {
			if t == n {
				return i
			}
		}
		r.table = append(r.table, n)
		if !switchName(n) {
			r.custom = true
		}
		return len(r.table) - 1
	}
	for _, n := range s.Scopes {
		add(n)
	}
	for _, n := range s.Clients {
		add(n)
	}
	if r.subject != "sub" {
		add(r.subject)
	}
	if r.tokenType != "" {
		add(r.tokenType)
	}
	r.consumed = slices.Clone(r.table)
	for _, n := range s.Required {
		switch n {
		case "exp":
			// Always required by the verifier.
		case "iss":
			r.needISS = true
		case "sub":
			r.needSUB = true
		case "aud":
			r.needAUD = true
		case "iat":
			r.needIAT = true
		case "jti":
			r.needJTI = true
		case "nbf":
			r.needNBF = true
		case "sid":
			r.needSID = true
		default:
			r.required = append(r.required, add(n))
		}
	}
	if len(r.table) > 64 {
		r.table = r.table[:64] // validated by the caller: never this many
	}
	return r
}

// switchName reports whether Parse's switch handles name itself.
func switchName(n string) bool {
	switch n {
	case "iss", "sub", "jti", "client_id", "scope", "sid", "aud", "exp", "nbf", "iat":
		return true
	}
	return false
}

func (r *Rules) index(name string) int {
	for i, t := range r.table {
		if t == name {
			return i
		}
	}
	return -1
}

// readNames are the claims ParseWith reads into fields whatever the rules.
var readNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "scope", "client_id"}

// shadows reports whether name, a claim read into no field, differs only
// in case from one that is: a registered claim or one r reads.
func (r *Rules) shadows(name []byte) bool {
	// Folding is Unicode's, as encoding/json's and the duplicate check's:
	// "ſcp" is a case variant of "scp" though longer. An ASCII name can
	// only fold to a name of its own length.
	ascii := isASCII(name)
	folds := func(n string) bool { return (len(n) == len(name) || !ascii) && strings.EqualFold(n, string(name)) }
	return slices.ContainsFunc(readNames[:], folds) || slices.ContainsFunc(r.table, folds)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func rank(list []string, name string) int {
	for i, n := range list {
		if n == name {
			return i + 1
		}
	}
	return 0
}

// Parse reads payload strictly into c under the RFC 9068 rules. payload
// must not change afterwards (the verifier passes the bytes of an
// immutable string): c's strings alias it.
func Parse(payload []byte, c *Claims) error { return ParseWith(payload, c, nil) }

// ParseWith reads payload strictly into c under r (nil: the RFC 9068
// rules). A claim that r reads (a scope, client, subject or token-type
// claim) with the wrong JSON type is ErrMalformed, never taken as absent.
func ParseWith(payload []byte, c *Claims, r *Rules) error {
	if r == nil {
		r = defaultRules
	}
	o, err := strictjson.NewObject(payload)
	if err != nil {
		return ErrMalformed
	}
	c.TokenTypeOK = r.tokenType == ""
	for o.Next() {
		v := o.Value()
		var err error
		switch name := o.Name(); string(name) {
		case "iss":
			c.Issuer, err = text(v)
		case "sub":
			c.hasSub = true
			if r.subject == "sub" {
				c.Subject, err = text(v)
			} else if v.Kind() != strictjson.KindString {
				err = ErrMalformed
			}
		case "jti":
			c.TokenID, err = text(v)
		case "sid":
			c.SessionID, err = text(v)
		case "aud":
			err = checkAudience(v)
			c.aud = v
		case "exp":
			c.ExpiresAt, err = numericDate(v, false)
			c.HasExpiry = true
		case "nbf":
			c.NotBefore, err = numericDate(v, true)
			c.HasNotBefore = true
		case "iat":
			c.IssuedAt, err = numericDate(v, false)
			c.HasIssuedAt = true
		case "client_id", "scope":
			if i := r.index(string(name)); i >= 0 {
				err = c.ruled(r, i, r.table[i], v)
			} else if string(name) == "scope" {
				// Not this profile's scope claim: still a registered
				// name (RFC 8693 §4.2), never an application claim.
				err = checkScopeShape(v)
			} else {
				_, err = text(v)
			}
		default:
			if r.custom {
				if i := r.index(string(name)); i >= 0 {
					err = c.ruled(r, i, r.table[i], v)
					break
				}
			}
			if r.shadows(name) {
				// A case variant of a claim read into a field ("SUB",
				// "SCP"): never an application claim, or encoding/json,
				// which matches tags without regard to case, would decode
				// it into the application's field for the real one
				// (found by review).
				if _, err = v.Decode(); err == nil {
					break
				}
			}
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

// ruled reads a claim the rules name (r.table[i]).
func (c *Claims) ruled(r *Rules, i int, name string, v strictjson.Value) error {
	c.seen |= 1 << uint(i)
	if n := rank(r.scopes, name); n > 0 {
		switch {
		case v.Kind() == strictjson.KindString && r.scopeString:
			if c.scopeRank == 0 || n < c.scopeRank {
				s, err := text(v)
				if err != nil {
					return err
				}
				c.Scope, c.scopes, c.scopeRank = s, strictjson.Value{}, n
			}
		case v.Kind() == strictjson.KindArray && r.scopeArray:
			if err := checkStrings(v); err != nil {
				return err
			}
			if c.scopeRank == 0 || n < c.scopeRank {
				c.Scope, c.scopes, c.scopeRank = "", v, n
			}
		default:
			return ErrMalformed
		}
		return nil
	}
	if n := rank(r.clients, name); n > 0 {
		s, err := text(v)
		if err != nil {
			return err
		}
		if c.clientRank == 0 || n < c.clientRank {
			c.ClientID, c.clientRank = s, n
		}
		return nil
	}
	if name == r.subject {
		switch v.Kind() {
		case strictjson.KindString:
			s, err := text(v)
			c.Subject = s
			return err
		case strictjson.KindNumber:
			// simplejwt writes an integer primary key as a number: kept
			// as its decimal digits, exactly. Fractions are refused.
			if _, err := v.Int(); err != nil {
				return ErrMalformed
			}
			raw := v.Raw()
			c.Subject = unsafe.String(&raw[0], len(raw))
			return nil
		}
		return ErrMalformed
	}
	if name == r.tokenType {
		if v.Kind() != strictjson.KindString {
			return ErrMalformed
		}
		c.TokenTypeOK = v.EqualString(r.tokenTypeWant)
		return nil
	}
	// A required application claim: kept as one.
	x, err := v.Decode()
	if err != nil {
		return err
	}
	if c.Extra == nil {
		c.Extra = make(map[string]any)
	}
	c.Extra[name] = x
	return nil
}

// Missing returns the name of the first claim r requires beyond iss, sub,
// aud and exp (which the verifier checks itself) that c lacks, or "".
func (c *Claims) Missing(r *Rules) string {
	if r == nil {
		r = defaultRules
	}
	switch {
	case r.needIAT && !c.HasIssuedAt:
		return "iat"
	case r.needJTI && c.TokenID == "":
		return "jti"
	case r.needNBF && !c.HasNotBefore:
		return "nbf"
	case r.needSID && c.SessionID == "":
		return "sid"
	case r.needISS && c.Issuer == "":
		return "iss"
	case r.needSUB && !c.hasSub:
		return "sub"
	case r.needAUD && c.aud.Kind() != strictjson.KindString && c.aud.Kind() != strictjson.KindArray:
		return "aud"
	}
	for _, i := range r.required {
		if c.seen&(1<<uint(i)) == 0 {
			return r.table[i]
		}
	}
	return ""
}

func checkScopeShape(v strictjson.Value) error {
	switch v.Kind() {
	case strictjson.KindString:
		return nil
	case strictjson.KindArray:
		return checkStrings(v)
	}
	return ErrMalformed
}

func checkStrings(v strictjson.Value) error {
	a, err := v.Elements()
	if err != nil {
		return ErrMalformed
	}
	for a.Next() {
		if a.Value().Kind() != strictjson.KindString {
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

// numericDate reads a NumericDate (RFC 7519 §2: seconds since the epoch,
// maybe fractional) exactly from its decimal text, at millisecond
// precision: a fraction finer than that is dropped (rounded down), or
// rounded up when up is set. It never goes through a float64, whose
// rounding could put the date on the unsafe side of a comparison: an iat
// read as the nearest millisecond could land after a logout-all cutoff the
// token was issued before (found by review). Negative dates and dates after
// maxNumericDate are refused. It does not allocate.
func numericDate(v strictjson.Value, up bool) (time.Time, error) {
	if v.Kind() != strictjson.KindNumber {
		return time.Time{}, ErrMalformed
	}
	// v is a strict JSON number: -?int(.frac)?([eE][+-]?digits)?
	b := v.Raw()
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	i := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	intDigits := b[:i]
	var fracDigits []byte
	if i < len(b) && b[i] == '.' {
		j := i + 1
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		fracDigits, i = b[i+1:j], j
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if b[i] == '+' || b[i] == '-' {
			eneg = b[i] == '-'
			i++
		}
		for ; i < len(b); i++ {
			if exp < 1_000_000 { // saturates: far beyond any digit count that matters
				exp = exp*10 + int(b[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	// The digits d[0..n) of intDigits then fracDigits; digit k stands for
	// 10^(point-1-k).
	n := len(intDigits) + len(fracDigits)
	digit := func(k int) int64 {
		if k < len(intDigits) {
			return int64(intDigits[k] - '0')
		}
		return int64(fracDigits[k-len(intDigits)] - '0')
	}
	first := 0
	for first < n && digit(first) == 0 {
		first++
	}
	if first == n {
		return time.Unix(0, 0), nil // zero, however written (-0 too)
	}
	point := len(intDigits) + exp
	if neg || point-first > 12 { // maxNumericDate has 12 digits
		return time.Time{}, ErrMalformed
	}
	var secs, ms int64
	rest := false // a nonzero digit finer than the millisecond
	for k := first; k < n; k++ {
		switch d := digit(k); {
		case k < point:
			secs = secs*10 + d
		case k < point+3:
			ms += d * [3]int64{100, 10, 1}[k-point]
		case d != 0:
			rest = true
		}
	}
	for k := max(n, first); k < point; k++ { // integer digits written as an exponent
		secs *= 10
	}
	if secs > maxNumericDate || secs == maxNumericDate && (ms != 0 || rest) {
		return time.Time{}, ErrMalformed
	}
	if up && rest {
		ms++
	}
	return time.UnixMilli(secs*1000 + ms), nil
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

// SoleAudience reports whether the aud claim names exactly one audience
// and it is one of want: a string, or an array of one string. It does not
// allocate.
func (c *Claims) SoleAudience(want []string) bool {
	v := c.aud
	if v.Kind() == strictjson.KindArray {
		a, _ := v.Elements()
		if !a.Next() {
			return false
		}
		v = a.Value()
		if a.Next() {
			return false
		}
	}
	if v.Kind() != strictjson.KindString {
		return false
	}
	for _, w := range want {
		if v.EqualString(w) {
			return true
		}
	}
	return false
}

// Scopes returns the scopes: the scope claim split on spaces (RFC 6749
// §3.3), or the elements of an array-valued one. A value that is not an
// RFC 6749 scope-token (an element holding a space, a tab, a quote, a
// backslash or a character outside printable ASCII) is left out: no valid
// scope could ever have matched it, and kept it would turn into several
// scopes once the scopes are joined with spaces again (introspection, the
// golang-jwt adapter). The strings alias c.Scope or the payload.
func (c *Claims) Scopes() []string {
	if c.scopes.Kind() == strictjson.KindArray {
		a, _ := c.scopes.Elements()
		var out []string
		for a.Next() {
			s, err := text(a.Value())
			if err == nil && scopeToken(s) {
				out = append(out, s)
			}
		}
		return out
	}
	return SplitScope(c.Scope)
}

// SplitScope splits a space-separated scope string (RFC 6749 §3.3) on
// single spaces only, and leaves out every part that is not a scope-token
// (empty, or holding a tab, a newline, a quote, a backslash or a character
// outside printable ASCII), as Claims.Scopes does: it returns nil for "",
// and an empty slice when no part is a scope-token. The strings alias
// scope. The golang-jwt adapter's AccessClaims.Scopes uses it, so that it
// reads a scope claim exactly as the verifier does.
func SplitScope(scope string) []string {
	if scope == "" {
		return nil
	}
	n := strings.Count(scope, " ") + 1
	out := make([]string, 0, n)
	for s := range strings.SplitSeq(scope, " ") {
		if scopeToken(s) {
			out = append(out, s)
		}
	}
	return out
}

// scopeToken reports whether s is an RFC 6749 scope-token: one or more of
// %x21, %x23-5B and %x5D-7E.
func scopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// PeekIssuer returns the "iss" claim of payload, a claims set whose
// signature has not been checked yet, so that the verifier can choose the
// issuer whose keys check it. ok is false when payload is not a strict JSON
// object or its iss is absent or not a string. The string may alias
// payload.
func PeekIssuer(payload []byte) (iss string, ok bool) {
	o, err := strictjson.NewObject(payload)
	if err != nil {
		return "", false
	}
	for o.Next() {
		if string(o.Name()) == "iss" {
			s, err := text(o.Value())
			return s, err == nil && s != ""
		}
	}
	return "", false
}

// PeekExpiry returns the "exp" claim of payload, a claims set whose
// signature has not been checked: for a caller that only needs to know
// that a token has expired whoever made it, since an expired token is
// refused whatever else it holds. ok is false when payload is not a
// strict JSON object or its exp is absent or not a NumericDate.
func PeekExpiry(payload []byte) (exp time.Time, ok bool) {
	o, err := strictjson.NewObject(payload)
	if err != nil {
		return time.Time{}, false
	}
	for o.Next() {
		if string(o.Name()) == "exp" {
			t, err := numericDate(o.Value(), false)
			return t, err == nil
		}
	}
	return time.Time{}, false
}
