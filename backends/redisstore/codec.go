package redisstore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"time"
)

// Times are stored as decimal microseconds since the Unix epoch: exact,
// zone-free, and comparable inside Lua scripts, whose numbers are doubles
// and so hold every microsecond between the years 1685 and 2255 exactly.
// The zero time is stored as the empty string.

var (
	minTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

// clampTime keeps t within years 1 to 9999, whose microseconds fit an
// int64 with room to spare.
func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}

// micros returns t in microseconds, rounded down.
func micros(t time.Time) int64 { return clampTime(t).UnixMicro() }

// microsCeil returns t in microseconds, rounded up: used for revocation
// untils and cutoffs, which must never end earlier than asked.
func microsCeil(t time.Time) int64 {
	t = clampTime(t)
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// fmtTime encodes t (the zero time as "").
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(micros(t), 10)
}

// timeArg is fmtTime as a script argument: the microseconds as an int64,
// which go-redis writes without making a string, or "" for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return ""
	}
	return micros(t)
}

// fmtTimeCeil is fmtTime rounding up.
func fmtTimeCeil(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(microsCeil(t), 10)
}

// fmtMicros encodes a microsecond count.
func fmtMicros(us int64) string { return strconv.FormatInt(us, 10) }

var errCorrupt = errors.New("redisstore: stored value does not decode")

// parseTime decodes what fmtTime wrote; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errCorrupt
	}
	return time.UnixMicro(us).UTC(), nil
}

// pxat returns the native expiry, in Unix milliseconds, of an entry whose
// logical expiry is t: t plus the margin, and never before 1 (Redis
// refuses 0 and negative times).
func pxat(t time.Time, margin time.Duration) int64 {
	ms := clampTime(t).UnixMilli() + margin.Milliseconds() + 1 // +1: round up
	if ms < 1 {
		ms = 1
	}
	return ms
}

// b64 is the encoding of identities inside key names and hash tags: its
// alphabet has no ':', '{' or '}', so keys built from it are unambiguous
// and every hash tag is exactly the identity.
var b64 = base64.RawURLEncoding

func enc(s string) string { return b64.EncodeToString([]byte(s)) }

func encBytes(b []byte) string { return b64.EncodeToString(b) }

func dec(s string) (string, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return "", errCorrupt
	}
	return string(b), nil
}

// nonceLen is the length of the random nonce every writing call carries,
// so that a command go-redis retries after a lost reply recognises its own
// earlier effect instead of reporting a conflict or a reuse.
const nonceLen = 16

func newNonce() string {
	var b [nonceLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return string(b[:])
}

// strList encodes a list of strings, binary-safe: a uvarint count, then
// each string as a uvarint length and its bytes.
func appendStrList(b []byte, list []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, s := range list {
		b = appendStr(b, s)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes what the append functions wrote.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) bytes() []byte {
	s := r.str()
	if s == "" {
		return nil
	}
	return []byte(s)
}

func (r *reader) strList() []string {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) { // each string takes at least one byte
		r.err = errCorrupt
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.str())
	}
	if r.err != nil {
		return nil
	}
	return out
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	return r.err
}
