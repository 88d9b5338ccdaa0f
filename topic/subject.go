package topic

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSubjectLen is the longest subject or pattern, in bytes.
const MaxSubjectLen = 2048

// MaxGroupLen is the longest queue group name, in bytes.
const MaxGroupLen = 120

// ValidSubject checks a subject to publish on: tokens separated by '.',
// each non-empty, with no wildcard token ("*" or ">"), no white space or
// control characters, valid UTF-8, at most MaxSubjectLen bytes. The rules
// are NATS's: "orders.eu.created" is a subject, "orders..created",
// ".orders" and "orders.*" are not.
func ValidSubject(subject string) error {
	return check(subject, false)
}

// ValidPattern checks a subscription pattern: a subject whose tokens may
// also be "*" (any one token) or, as the last token only, ">" (one or more
// tokens). "orders.*.created" and "chat.>" are patterns; "chat.>.x",
// "a.b*" (a literal token "b*", valid) and "a..b" (invalid) show the
// edges.
func ValidPattern(pattern string) error {
	return check(pattern, true)
}

func check(s string, pattern bool) error {
	what := "subject"
	if pattern {
		what = "pattern"
	}
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidSubject, what)
	case len(s) > MaxSubjectLen:
		return fmt.Errorf("%w: %s %q... is %d bytes, at most %d", ErrInvalidSubject, what, s[:32], len(s), MaxSubjectLen)
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '.':
			if err := checkToken(s, start, i, pattern, what); err != nil {
				return err
			}
			start = i + 1
			i++
			continue
		case c > ' ' && c < 0x7f: // printable ASCII: the common case
			i++
			continue
		case c < utf8.RuneSelf:
			return fmt.Errorf("%w: %s %q has %q at byte %d (no white space or control characters)", ErrInvalidSubject, what, s, c, i)
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%w: %s %q is not valid UTF-8 at byte %d", ErrInvalidSubject, what, s, i)
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: %s %q has %q at byte %d (no white space or control characters)", ErrInvalidSubject, what, s, r, i)
		}
		i += size
	}
	return checkToken(s, start, len(s), pattern, what)
}

func checkToken(s string, start, end int, pattern bool, what string) error {
	tok := s[start:end]
	switch {
	case tok == "":
		return fmt.Errorf("%w: %s %q has an empty token at byte %d", ErrInvalidSubject, what, s, start)
	case tok == "*" && !pattern:
		return fmt.Errorf("%w: subject %q has the wildcard '*' (wildcards are for patterns)", ErrInvalidSubject, s)
	case tok == ">" && !pattern:
		return fmt.Errorf("%w: subject %q has the wildcard '>' (wildcards are for patterns)", ErrInvalidSubject, s)
	case tok == ">" && end != len(s):
		return fmt.Errorf("%w: pattern %q has '>' before its last token", ErrInvalidSubject, s)
	}
	return nil
}

// ValidGroup checks a queue group name: 1 to MaxGroupLen bytes of valid
// UTF-8 without white space or control characters.
func ValidGroup(group string) error {
	switch {
	case group == "":
		return fmt.Errorf("%w: empty queue group", ErrInvalidGroup)
	case len(group) > MaxGroupLen:
		return fmt.Errorf("%w: %q... is %d bytes, at most %d", ErrInvalidGroup, group[:32], len(group), MaxGroupLen)
	case !utf8.ValidString(group):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidGroup, group)
	}
	if i := strings.IndexFunc(group, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("%w: %q has white space or a control character at byte %d", ErrInvalidGroup, group, i)
	}
	return nil
}

// Match reports whether subject matches pattern, by NATS's rules: tokens
// compare equal byte for byte, "*" matches any one token, a final ">"
// matches one or more tokens. Both must be valid (ValidPattern,
// ValidSubject); Match does not check.
func Match(pattern, subject string) bool {
	for {
		pi := strings.IndexByte(pattern, '.')
		ptok := pattern
		if pi >= 0 {
			ptok = pattern[:pi]
		}
		if ptok == ">" {
			return subject != ""
		}
		if subject == "" {
			return false
		}
		si := strings.IndexByte(subject, '.')
		stok := subject
		if si >= 0 {
			stok = subject[:si]
		}
		if ptok != "*" && ptok != stok {
			return false
		}
		switch {
		case pi < 0 && si < 0:
			return true
		case pi < 0 || si < 0:
			return false
		}
		pattern, subject = pattern[pi+1:], subject[si+1:]
	}
}
