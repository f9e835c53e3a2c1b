// Package textsafe decides whether text that authkit stores and later
// shows (subjects, token names, user names) is safe to print: valid UTF-8
// with no character that can rewrite a log line or a terminal.
package textsafe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r must not appear in such text: a control
// character (C0, DEL and C1, among them NEL and the terminal's CSI), a
// bidirectional control (the overrides and isolates, which reorder how
// the text around them reads), or the Unicode line and paragraph
// separators.
func Unsafe(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// Valid reports whether s is valid UTF-8 without an Unsafe character.
func Valid(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if Unsafe(r) {
			return false
		}
	}
	return true
}

// Clean returns s with invalid UTF-8 and every Unsafe character replaced
// by U+FFFD, for text recorded as it came (a User-Agent header) rather
// than refused.
func Clean(s string) string {
	if Valid(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Unsafe(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// Clip returns s cut to at most n bytes, at a character boundary (s is
// UTF-8: Clean's result, say).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
