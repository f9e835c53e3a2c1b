// Package strictjson is a small, strict JSON reader for JOSE headers and JWT
// claims, the JSON that authkit decodes on every authenticated request.
//
// It accepts exactly the RFC 8259 grammar and, on top of it, refuses input
// that ordinary decoders let through and that parser-differential attacks
// rely on:
//
//   - invalid UTF-8 anywhere, including inside strings after unescaping
//     (a lone surrogate escape such as "\ud800" is refused);
//   - an object with two member names that are equal, or equal under Unicode
//     case folding ("alg" and "ALG"), at any nesting level;
//   - nesting deeper than MaxDepth and input longer than MaxSize;
//   - anything but white space after the value;
//   - a byte order mark, NaN, Infinity, leading zeros, a leading '+'.
//
// A document is validated completely before any of it is handed out:
// NewObject, Valid and Decode all fail without yielding anything when any part of the
// input is bad, so a caller never acts on a prefix of a malformed document.
//
// # Reading an object
//
// Object iterates the members of one object. Reading a flat object whose
// strings contain no escape sequences allocates nothing: names and string
// values are returned as sub-slices of the input, and the duplicate check
// keeps up to 16 names per object in a fixed array on the stack (larger
// objects fall back to a map). Reading a name with escape sequences costs
// one allocation; a string value with escape sequences costs none when read
// with Value.StringBytes into a large enough buffer.
//
//	o, err := strictjson.NewObject(data)
//	if err != nil {
//		return err
//	}
//	for o.Next() {
//		switch string(o.Name()) {
//		case "exp":
//			exp, err := o.Value().Float()
//			…
//		}
//	}
//
// Decode and DecodeUseNumber build the generic Go form (map[string]any,
// []any, string, float64 or json.Number, bool, nil) that encoding/json would,
// for application claims.
//
// # Errors
//
// Every error is one of the package's sentinels (ErrSyntax, ErrUTF8,
// ErrDuplicateName, ErrDepth, ErrTooLarge, ErrTrailingData, ErrType,
// ErrRange), returned unwrapped so that the error path does not allocate
// either. Errors never contain any of the input.
package strictjson

import (
	"encoding/json"
	"errors"
	"hash/maphash"
	"math"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	// MaxDepth is the deepest nesting of objects and arrays accepted. The top
	// level value, when it is an object or an array, is at depth 1.
	MaxDepth = 32
	// MaxSize is the largest input, in bytes, accepted by every function of
	// the package.
	MaxSize = 1 << 20

	// smallNames is how many member names per object are kept in a fixed
	// array for the duplicate check before falling back to a map.
	smallNames = 16
)

var (
	// ErrSyntax reports input that does not follow the RFC 8259 grammar.
	ErrSyntax = errors.New("strictjson: syntax error")
	// ErrUTF8 reports invalid UTF-8, either raw bytes or a lone surrogate
	// escape inside a string.
	ErrUTF8 = errors.New("strictjson: invalid UTF-8")
	// ErrDuplicateName reports an object with two member names that are
	// equal under Unicode case folding.
	ErrDuplicateName = errors.New("strictjson: duplicate member name")
	// ErrDepth reports nesting deeper than MaxDepth.
	ErrDepth = errors.New("strictjson: nesting too deep")
	// ErrTooLarge reports input longer than MaxSize.
	ErrTooLarge = errors.New("strictjson: input too large")
	// ErrTrailingData reports non-white-space bytes after the value.
	ErrTrailingData = errors.New("strictjson: trailing data after value")
	// ErrType reports a value of another kind than the one asked for, such
	// as Value.Float on a string, or NewObject on an array.
	ErrType = errors.New("strictjson: unexpected value kind")
	// ErrRange reports a number that does not fit the Go type asked for.
	ErrRange = errors.New("strictjson: number out of range")
)

// Kind is the kind of a JSON value.
type Kind uint8

// The kinds of JSON values. KindInvalid is the Kind of the zero Value.
const (
	KindInvalid Kind = iota
	KindString
	KindNumber
	KindObject
	KindArray
	KindTrue
	KindFalse
	KindNull
)

// String returns the kind's name, such as "string".
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindObject:
		return "object"
	case KindArray:
		return "array"
	case KindTrue:
		return "true"
	case KindFalse:
		return "false"
	case KindNull:
		return "null"
	}
	return "invalid"
}

// Valid reports whether data is one strict JSON value (see the package
// documentation), returning nil or one of the package's errors.
func Valid(data []byte) error {
	return validate(data)
}

func validate(data []byte) error {
	if len(data) > MaxSize {
		return ErrTooLarge
	}
	s := scanner{data: data}
	s.pos = skipWS(data, 0)
	if err := s.value(0); err != nil {
		return err
	}
	if skipWS(data, s.pos) != len(data) {
		return ErrTrailingData
	}
	return nil
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

// scanner validates a document. Every other part of the package reads only
// documents the scanner has accepted.
type scanner struct {
	data []byte
	pos  int
}

// nameRef locates one member name (its contents, without quotes) for the
// duplicate check.
type nameRef struct {
	start, end int32
	hash       uint32
	esc        bool
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(d []byte, i int) int {
	for i < len(d) && isWS(d[i]) {
		i++
	}
	return i
}

func (s *scanner) value(depth int) error {
	d := s.data
	if s.pos >= len(d) {
		return ErrSyntax
	}
	switch c := d[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return ErrSyntax
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return ErrSyntax
	}
	s.pos += len(lit)
	return nil
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	end, ok := scanNumber(s.data, s.pos)
	if !ok {
		return ErrSyntax
	}
	s.pos = end
	return nil
}

// scanNumber returns the end of the number starting at i and whether one
// was there. The number is the longest prefix matching the grammar; what
// follows it is the caller's business.
func scanNumber(d []byte, i int) (int, bool) {
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i++
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return i, false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return i, false
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	return i, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// str validates the string starting at s.pos (a '"') and moves past it. It
// reports whether the string contains escape sequences.
func (s *scanner) str() (esc bool, err error) {
	d := s.data
	i := s.pos + 1
	for i < len(d) {
		c := d[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				s.pos = i + 1
				return esc, nil
			case c == '\\':
				n, err := escapeLen(d, i)
				if err != nil {
					return false, err
				}
				esc = true
				i += n
			case c < 0x20:
				return false, ErrSyntax
			default:
				i++
			}
			continue
		}
		r, size := utf8.DecodeRune(d[i:])
		if r == utf8.RuneError && size == 1 {
			return false, ErrUTF8
		}
		i += size
	}
	return false, ErrSyntax
}

// escapeLen validates the escape sequence at d[i] (a '\\') and returns its
// length. A \u escape of a surrogate must be a high surrogate immediately
// followed by a \u escape of a low surrogate.
func escapeLen(d []byte, i int) (int, error) {
	if i+1 >= len(d) {
		return 0, ErrSyntax
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		return 0, ErrSyntax
	}
	r, ok := hex4(d, i+2)
	if !ok {
		return 0, ErrSyntax
	}
	switch {
	case r < 0xD800 || r > 0xDFFF:
		return 6, nil
	case r >= 0xDC00:
		return 0, ErrUTF8 // lone low surrogate
	}
	if i+7 >= len(d) || d[i+6] != '\\' || d[i+7] != 'u' {
		return 0, ErrUTF8 // high surrogate not followed by a \u escape
	}
	r2, ok := hex4(d, i+8)
	if !ok {
		return 0, ErrSyntax
	}
	if r2 < 0xDC00 || r2 > 0xDFFF {
		return 0, ErrUTF8
	}
	return 12, nil
}

// hex4 decodes the four hex digits at d[i:i+4].
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (s *scanner) array(depth int) error {
	if depth > MaxDepth {
		return ErrDepth
	}
	d := s.data
	s.pos = skipWS(d, s.pos+1)
	if s.pos < len(d) && d[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		s.pos = skipWS(d, s.pos)
		if s.pos >= len(d) {
			return ErrSyntax
		}
		switch d[s.pos] {
		case ',':
			s.pos = skipWS(d, s.pos+1)
		case ']':
			s.pos++
			return nil
		default:
			return ErrSyntax
		}
	}
}

func (s *scanner) object(depth int) error {
	if depth > MaxDepth {
		return ErrDepth
	}
	d := s.data
	s.pos = skipWS(d, s.pos+1)
	if s.pos < len(d) && d[s.pos] == '}' {
		s.pos++
		return nil
	}
	var (
		small [smallNames]nameRef
		n     int
		big   bigNames
	)
	for {
		if s.pos >= len(d) || d[s.pos] != '"' {
			return ErrSyntax
		}
		start := s.pos + 1
		esc, err := s.str()
		if err != nil {
			return err
		}
		ref := nameRef{start: int32(start), end: int32(s.pos - 1), esc: esc}
		ref.hash = foldHash(d[start : s.pos-1])
		if big.slots == nil {
			for j := range n {
				if small[j].hash == ref.hash && equalFold(d, small[j], ref) {
					return ErrDuplicateName
				}
			}
			if n < len(small) {
				small[n] = ref
				n++
			} else {
				big.init(d, small[:])
			}
		}
		if big.slots != nil && !big.add(d, ref) {
			return ErrDuplicateName
		}

		s.pos = skipWS(d, s.pos)
		if s.pos >= len(d) || d[s.pos] != ':' {
			return ErrSyntax
		}
		s.pos = skipWS(d, s.pos+1)
		if err := s.value(depth); err != nil {
			return err
		}
		s.pos = skipWS(d, s.pos)
		if s.pos >= len(d) {
			return ErrSyntax
		}
		switch d[s.pos] {
		case ',':
			s.pos = skipWS(d, s.pos+1)
		case '}':
			s.pos++
			return nil
		default:
			return ErrSyntax
		}
	}
}

// ---------------------------------------------------------------------------
// Case-insensitive names
//
// Two names are duplicates when they are equal rune by rune under Unicode
// simple case folding (the relation bytes.EqualFold uses). Each rune is
// mapped to the smallest member of its folding orbit, so "k", "K" and the
// Kelvin sign U+212A all become 'K'; names are equal exactly when their
// mapped rune sequences are.
// ---------------------------------------------------------------------------

func canonFold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// nextRune decodes the rune at s[i] of validated string contents (escape
// sequences included) and returns it with the index after it.
func nextRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c == '\\' {
		switch s[i+1] {
		case 'u':
			r, _ := hex4(s, i+2)
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(s, i+8)
				return utf16.DecodeRune(r, r2), i + 12
			}
			return r, i + 6
		case 'b':
			return '\b', i + 2
		case 'f':
			return '\f', i + 2
		case 'n':
			return '\n', i + 2
		case 'r':
			return '\r', i + 2
		case 't':
			return '\t', i + 2
		default: // '"', '\\', '/'
			return rune(s[i+1]), i + 2
		}
	}
	if c < utf8.RuneSelf {
		return rune(c), i + 1
	}
	r, n := utf8.DecodeRune(s[i:])
	return r, i + n
}

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

// foldHash hashes the case-folded runes of validated string contents.
func foldHash(s []byte) uint32 {
	h := uint32(fnvOffset)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && c != '\\' {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			h = (h ^ uint32(c)) * fnvPrime
			i++
			continue
		}
		var r rune
		r, i = nextRune(s, i)
		h = (h ^ uint32(canonFold(r))) * fnvPrime
	}
	return h
}

func equalFold(d []byte, a, b nameRef) bool {
	x, y := d[a.start:a.end], d[b.start:b.end]
	if !a.esc && !b.esc && len(x) == len(y) {
		// Fast path; different lengths may still fold equal (U+212A is
		// three bytes, 'k' one), so those take the rune loop below.
		eq := true
		for i := range x {
			if x[i] != y[i] {
				eq = false
				break
			}
		}
		if eq {
			return true
		}
	}
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		var r1, r2 rune
		r1, i = nextRune(x, i)
		r2, j = nextRune(y, j)
		if r1 != r2 && canonFold(r1) != canonFold(r2) {
			return false
		}
	}
	return i == len(x) && j == len(y)
}

// bigNames is the duplicate check of an object with more than smallNames
// members: an open-addressing table of the names, keyed by a 64-bit hash
// of their case-folded runes under a seed of this object's own, so that
// an attacker cannot choose names that collide. Adding a name allocates
// nothing but the table's growth (a map of folded strings cost one
// allocation per name). Names are compared only when their hashes are
// equal: in effect, only a duplicate is.
type bigNames struct {
	seed  maphash.Seed
	n     int
	slots []bigSlot // len a power of two, at most three quarters full
}

// bigSlot is one name of a bigNames table: end == 0 marks an empty slot
// (a name ends after its opening quote).
type bigSlot struct {
	hash       uint64
	start, end int32
}

// init makes b's table and adds refs, which hold no duplicates.
func (b *bigNames) init(d []byte, refs []nameRef) {
	b.seed = maphash.MakeSeed()
	b.slots = make([]bigSlot, 4*smallNames)
	for _, r := range refs {
		b.add(d, r)
	}
}

// add records r and reports false when an equal name was recorded before.
func (b *bigNames) add(d []byte, r nameRef) bool {
	return b.insert(d, r, b.sum(d[r.start:r.end]))
}

// insert is add with the name's hash given.
func (b *bigNames) insert(d []byte, r nameRef, hash uint64) bool {
	if 4*(b.n+1) > 3*len(b.slots) {
		old := b.slots
		b.slots = make([]bigSlot, 2*len(old))
		for _, s := range old {
			if s.end != 0 {
				b.put(s)
			}
		}
	}
	mask := uint64(len(b.slots) - 1)
	for i := hash & mask; ; i = (i + 1) & mask {
		s := &b.slots[i]
		if s.end == 0 {
			*s = bigSlot{hash: hash, start: r.start, end: r.end}
			b.n++
			return true
		}
		// esc true: equalFold compares rune by rune, escapes decoded.
		if s.hash == hash && equalFold(d, nameRef{start: s.start, end: s.end, esc: true}, r) {
			return false
		}
	}
}

// put places s, known to be absent, in the first free slot of its probe.
func (b *bigNames) put(s bigSlot) {
	mask := uint64(len(b.slots) - 1)
	i := s.hash & mask
	for b.slots[i].end != 0 {
		i = (i + 1) & mask
	}
	b.slots[i] = s
}

// sum hashes the case-folded runes of validated string contents, each
// written as UTF-8.
func (b *bigNames) sum(s []byte) uint64 {
	var buf [64]byte
	k := buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && c != '\\' {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			k = append(k, c)
			i++
			continue
		}
		var r rune
		r, i = nextRune(s, i)
		k = utf8.AppendRune(k, canonFold(r))
	}
	return maphash.Bytes(b.seed, k)
}

// foldKey returns the case-folded form of a name as a map key.
func foldKey(d []byte, r nameRef) string {
	s := d[r.start:r.end]
	k := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		var c rune
		c, i = nextRune(s, i)
		k = utf8.AppendRune(k, canonFold(c))
	}
	return string(k)
}

// ---------------------------------------------------------------------------
// Reading validated documents
// ---------------------------------------------------------------------------

// skipString returns the index after the closing quote of the validated
// string starting at d[i], and whether it contains escape sequences.
func skipString(d []byte, i int) (int, bool) {
	i++
	for j := i; j < len(d); j++ {
		switch d[j] {
		case '"':
			return j + 1, false
		case '\\':
			// Slow path: walk escape by escape.
			for k := j; k < len(d); {
				switch d[k] {
				case '"':
					return k + 1, true
				case '\\':
					k += 2
				default:
					k++
				}
			}
			return len(d), true
		}
	}
	return len(d), false
}

// skipValue returns the end of the validated value starting at d[i], its
// kind and, for strings, whether it contains escape sequences.
func skipValue(d []byte, i int) (int, Kind, bool) {
	switch d[i] {
	case '"':
		end, esc := skipString(d, i)
		return end, KindString, esc
	case '{', '[':
		k := KindObject
		if d[i] == '[' {
			k = KindArray
		}
		depth := 0
		for j := i; j < len(d); {
			switch d[j] {
			case '"':
				j, _ = skipString(d, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, k, false
				}
			}
			j++
		}
		return len(d), k, false
	case 't':
		return i + 4, KindTrue, false
	case 'f':
		return i + 5, KindFalse, false
	case 'n':
		return i + 4, KindNull, false
	}
	end, _ := scanNumber(d, i)
	return end, KindNumber, false
}

// Value is one JSON value inside a validated document. Values are obtained
// from Object and Array iterators; the zero Value has Kind KindInvalid and every
// accessor returns ErrType for it. A Value aliases the document it came
// from and stays valid as long as that memory is not modified.
type Value struct {
	raw  []byte
	kind Kind
	esc  bool // a string with escape sequences
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// Raw returns the value's JSON text exactly as it appears in the input
// (strings include their quotes). It aliases the input.
func (v Value) Raw() []byte { return v.raw }

// contents returns a string value's text between its quotes.
func (v Value) contents() ([]byte, error) {
	if v.kind != KindString || len(v.raw) < 2 {
		return nil, ErrType
	}
	return v.raw[1 : len(v.raw)-1], nil
}

// StringBytes returns the unescaped contents of a string value. When the
// string has no escape sequences the result aliases the input and nothing
// is copied or allocated; otherwise the string is unescaped into
// scratch[:0] (which is grown if too small). The result must not be
// modified when it may alias the input.
func (v Value) StringBytes(scratch []byte) ([]byte, error) {
	c, err := v.contents()
	if err != nil {
		return nil, err
	}
	if !v.esc {
		return c, nil
	}
	return appendUnescaped(scratch[:0], c), nil
}

// AppendString appends the unescaped contents of a string value to dst.
func (v Value) AppendString(dst []byte) ([]byte, error) {
	c, err := v.contents()
	if err != nil {
		return dst, err
	}
	if !v.esc {
		return append(dst, c...), nil
	}
	return appendUnescaped(dst, c), nil
}

// Text returns the unescaped contents of a string value as a new string.
func (v Value) Text() (string, error) {
	c, err := v.contents()
	if err != nil {
		return "", err
	}
	if !v.esc {
		return string(c), nil
	}
	return string(appendUnescaped(make([]byte, 0, len(c)), c)), nil
}

// EqualString reports whether v is a string whose unescaped contents equal
// s exactly (byte for byte, case-sensitive). It never allocates.
func (v Value) EqualString(s string) bool {
	c, err := v.contents()
	if err != nil {
		return false
	}
	if !v.esc {
		return string(c) == s
	}
	i, j := 0, 0
	for i < len(c) {
		if j >= len(s) {
			return false
		}
		var r rune
		r, i = nextRune(c, i)
		r2, n := utf8.DecodeRuneInString(s[j:])
		if r != r2 || (r2 == utf8.RuneError && n == 1) {
			return false
		}
		j += n
	}
	return j == len(s)
}

func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		// Copy the run up to the next escape in one go.
		j := i
		for j < len(s) && s[j] != '\\' {
			j++
		}
		dst = append(dst, s[i:j]...)
		if j == len(s) {
			break
		}
		var r rune
		r, i = nextRune(s, j)
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// Bool returns the value of true or false.
func (v Value) Bool() (bool, error) {
	switch v.kind {
	case KindTrue:
		return true, nil
	case KindFalse:
		return false, nil
	}
	return false, ErrType
}

// Float returns a number as a float64, rounded to the nearest one. A
// number too large for a float64 (such as 1e400) yields ErrRange.
func (v Value) Float() (float64, error) {
	if v.kind != KindNumber {
		return 0, ErrType
	}
	f, err := strconv.ParseFloat(string(v.raw), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, ErrRange
	}
	return f, nil
}

// Int returns a number written as an integer (no fraction, no exponent) as
// an int64. Other numbers yield ErrType, integers outside the int64 range
// ErrRange.
func (v Value) Int() (int64, error) {
	if v.kind != KindNumber || len(v.raw) == 0 {
		return 0, ErrType
	}
	d := v.raw
	neg := d[0] == '-'
	if neg {
		d = d[1:]
	}
	if len(d) == 0 {
		return 0, ErrType
	}
	var u uint64
	for _, c := range d {
		if !isDigit(c) {
			return 0, ErrType
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, ErrRange
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), nil
	case neg && u < 1<<63:
		return -int64(u), nil
	case neg && u == 1<<63:
		return math.MinInt64, nil
	}
	return 0, ErrRange
}

// Strings appends the elements of an array of strings to dst. Any element
// that is not a string yields ErrType.
func (v Value) Strings(dst []string) ([]string, error) {
	a, err := v.Elements()
	if err != nil {
		return dst, err
	}
	for a.Next() {
		s, err := a.Value().Text()
		if err != nil {
			return dst, err
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// Members returns an iterator over the members of an object value.
func (v Value) Members() (Object, error) {
	if v.kind != KindObject {
		return Object{}, ErrType
	}
	return Object{data: v.raw, pos: 1}, nil
}

// Elements returns an iterator over the elements of an array value.
func (v Value) Elements() (Array, error) {
	if v.kind != KindArray {
		return Array{}, ErrType
	}
	return Array{data: v.raw, pos: 1}, nil
}

// Decode returns the value in the generic form Decode (the function)
// describes.
func (v Value) Decode() (any, error) {
	if v.kind == KindInvalid {
		return nil, ErrType
	}
	return build(v.raw, 0, false)
}

// DecodeUseNumber is Decode with numbers as json.Number.
func (v Value) DecodeUseNumber() (any, error) {
	if v.kind == KindInvalid {
		return nil, ErrType
	}
	return build(v.raw, 0, true)
}

// Object iterates over the members of one JSON object, in input order.
// The zero Object is empty. Names and values alias the input, which must
// not be modified while they are in use.
//
// Object records positions, never slices, of its input between calls, so
// a document in a stack buffer stays on the stack while an Object on the
// stack reads it.
type Object struct {
	data      []byte
	pos       int // index of the next ',' or closing brace
	done      bool
	err       error
	nameStart int // current name's contents, escapes included
	nameEnd   int
	nameEsc   bool
	valStart  int
	valEnd    int
	valKind   Kind
	valEsc    bool
}

// NewObject validates data as a strict JSON document whose value is an
// object and returns an iterator positioned before its first member. It
// returns an error, and an Object that yields no member, unless the whole
// document is valid; a value of another kind yields ErrType.
//
// NewObject returns the Object by value rather than filling one through a
// pointer because Go's escape analysis moves anything stored through a
// pointer to the heap: this way a document in a stack buffer stays there.
func NewObject(data []byte) (Object, error) {
	start, err := objectStart(data)
	return Object{data: data, pos: start, err: err}, err
}

// objectStart validates data and returns the index after its opening
// brace; on error it returns len(data), where Next finds no member.
func objectStart(data []byte) (int, error) {
	if err := validate(data); err != nil {
		return len(data), err
	}
	i := skipWS(data, 0)
	if data[i] != '{' {
		return len(data), ErrType
	}
	return i + 1, nil
}

// Next moves to the next member and reports whether there is one.
func (o *Object) Next() bool {
	if o.done || o.data == nil {
		return false
	}
	d := o.data
	i := skipWS(d, o.pos)
	if i < len(d) && d[i] == ',' {
		i = skipWS(d, i+1)
	}
	if i >= len(d) || d[i] != '"' {
		o.done = true
		return false
	}
	end, esc := skipString(d, i)
	o.nameStart, o.nameEnd, o.nameEsc = i+1, end-1, esc
	i = skipWS(d, end) + 1 // ':'
	i = skipWS(d, i)
	vend, kind, vesc := skipValue(d, i)
	o.valStart, o.valEnd, o.valKind, o.valEsc = i, vend, kind, vesc
	o.pos = vend
	return true
}

// Name returns the current member's name, unescaped. It aliases the input
// when the name has no escape sequences, and is a new slice otherwise.
func (o *Object) Name() []byte {
	if o.data == nil {
		return nil
	}
	n := o.data[o.nameStart:o.nameEnd]
	if !o.nameEsc {
		return n
	}
	return appendUnescaped(make([]byte, 0, len(n)), n)
}

// AppendName appends the current member's unescaped name to dst: Name
// without an allocation when dst has room.
func (o *Object) AppendName(dst []byte) []byte {
	if o.data == nil {
		return dst
	}
	n := o.data[o.nameStart:o.nameEnd]
	if !o.nameEsc {
		return append(dst, n...)
	}
	return appendUnescaped(dst, n)
}

// Value returns the current member's value.
func (o *Object) Value() Value {
	if o.data == nil {
		return Value{}
	}
	return Value{raw: o.data[o.valStart:o.valEnd], kind: o.valKind, esc: o.valEsc}
}

// Err returns the error NewObject returned, if any.
func (o *Object) Err() error { return o.err }

// Array iterates over the elements of one JSON array. The zero Array is
// empty.
type Array struct {
	data     []byte
	pos      int
	done     bool
	valStart int
	valEnd   int
	valKind  Kind
	valEsc   bool
}

// Next moves to the next element and reports whether there is one.
func (a *Array) Next() bool {
	if a.done || a.data == nil {
		return false
	}
	d := a.data
	i := skipWS(d, a.pos)
	if i < len(d) && d[i] == ',' {
		i = skipWS(d, i+1)
	}
	if i >= len(d) || d[i] == ']' {
		a.done = true
		return false
	}
	end, kind, esc := skipValue(d, i)
	a.valStart, a.valEnd, a.valKind, a.valEsc = i, end, kind, esc
	a.pos = end
	return true
}

// Value returns the current element.
func (a *Array) Value() Value {
	if a.data == nil {
		return Value{}
	}
	return Value{raw: a.data[a.valStart:a.valEnd], kind: a.valKind, esc: a.valEsc}
}

// Decode validates data strictly and returns its value in the generic form
// encoding/json produces when decoding into an any: map[string]any for
// objects, []any for arrays, string, float64, bool and nil. A number too
// large for a float64 yields ErrRange.
func Decode(data []byte) (any, error) {
	if err := validate(data); err != nil {
		return nil, err
	}
	return build(data, skipWS(data, 0), false)
}

// DecodeUseNumber is Decode with numbers as json.Number, which keeps
// integers beyond 2^53 exact.
func DecodeUseNumber(data []byte) (any, error) {
	if err := validate(data); err != nil {
		return nil, err
	}
	return build(data, skipWS(data, 0), true)
}

// build converts the validated value at d[i].
func build(d []byte, i int, useNumber bool) (any, error) {
	switch d[i] {
	case '{':
		m := make(map[string]any)
		o := Object{data: d[i:], pos: 1}
		for o.Next() {
			x, err := build(o.Value().raw, 0, useNumber)
			if err != nil {
				return nil, err
			}
			m[string(o.Name())] = x
		}
		return m, nil
	case '[':
		s := []any{}
		a := Array{data: d[i:], pos: 1}
		for a.Next() {
			x, err := build(a.Value().raw, 0, useNumber)
			if err != nil {
				return nil, err
			}
			s = append(s, x)
		}
		return s, nil
	}
	end, kind, esc := skipValue(d, i)
	v := Value{raw: d[i:end], kind: kind, esc: esc}
	switch kind {
	case KindString:
		return v.Text()
	case KindNumber:
		if useNumber {
			return json.Number(v.raw), nil
		}
		return v.Float()
	case KindTrue:
		return true, nil
	case KindFalse:
		return false, nil
	}
	return nil, nil
}
