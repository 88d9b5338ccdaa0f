package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	long := strings.Repeat("tok.", 400) + "end" // 1603 bytes
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b", false},
		{"a.b", "a.b.c", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"a.*.c", "a.c", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*.*", "a.b", true},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c.d", true},
		{"a.>", "a", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{"*.>", "a", false},
		{"*.>", "a.b", true},
		{"a.*.>", "a.b.c", true},
		{"a.*.>", "a.b", false},
		{"a.b*", "a.b*", true},  // '*' inside a token is literal
		{"a.b*", "a.bc", false}, // ... and matches only itself
		{"a.*", "a.b*", true},
		{"ab", "a", false},
		{"a", "ab", false},
		{"a.bc", "a.b", false},
		{"*.b", "a.bc", false},
		{"zürich.*", "zürich.bahnhof", true},
		{"東京.>", "東京.駅.北", true},
		{"東京.*", "京都.駅", false},
		{"emoji.🚀", "emoji.🚀", true},
		{long, long, true},
		{strings.Repeat("*.", 400) + "*", long, true},
		{strings.Repeat("*.", 399) + "*", long, false},
		{"tok.>", long, true},
		{long[:len(long)-3] + "ENd", long, false},
	}
	for _, tt := range tests {
		name := tt.pattern + " ~ " + tt.subject
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			if err := ValidPattern(tt.pattern); err != nil {
				t.Fatalf("pattern invalid: %v", err)
			}
			if err := ValidSubject(tt.subject); err != nil {
				t.Fatalf("subject invalid: %v", err)
			}
			if got := Match(tt.pattern, tt.subject); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
			}
			if literal(tt.pattern) && Match(tt.pattern, tt.subject) != (tt.pattern == tt.subject) {
				t.Errorf("a literal pattern must match only itself")
			}
		})
	}
}

func TestValidSubjectAndPattern(t *testing.T) {
	tests := []struct {
		s                string
		subject, pattern bool
		reason           string // part of the error message: pattern's|subject's, or both's
	}{
		{"a", true, true, ""},
		{"a.b.c", true, true, ""},
		{"a.*.c", false, true, "wildcard '*'"},
		{"a.>", false, true, "wildcard '>'"},
		{">", false, true, "wildcard '>'"},
		{"*", false, true, "wildcard '*'"},
		{"", false, false, "empty"},
		{".", false, false, "empty token at byte 0"},
		{".a", false, false, "empty token at byte 0"},
		{"a.", false, false, "empty token at byte 2"},
		{"a..b", false, false, "empty token at byte 2"},
		{"a.>.b", false, false, "before its last token|wildcard '>'"},
		{">.a", false, false, "before its last token|wildcard '>'"},
		{"a b", false, false, "white space"},
		{"a\tb", false, false, "white space"},
		{"a\nb", false, false, "white space"},
		{"a\x00b", false, false, "control"},
		{"a\u00a0b", false, false, "white space"}, // no-break space
		{"a\u2003b", false, false, "white space"}, // em space
		{"a\xffb", false, false, "UTF-8"},
		{"a.b*", true, true, ""},
		{"a.>b", true, true, ""}, // '>' inside a token is literal
		{"zürich.bahnhof", true, true, ""},
		{"東京.駅", true, true, ""},
		{strings.Repeat("x", MaxSubjectLen), true, true, ""},
		{strings.Repeat("x", MaxSubjectLen+1), false, false, "at most 2048"},
	}
	for _, tt := range tests {
		name := tt.s
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				what string
				err  error
				ok   bool
			}{{"subject", ValidSubject(tt.s), tt.subject}, {"pattern", ValidPattern(tt.s), tt.pattern}} {
				if c.ok {
					if c.err != nil {
						t.Errorf("%s: unexpected error %v", c.what, c.err)
					}
					continue
				}
				if !errors.Is(c.err, ErrInvalidSubject) {
					t.Errorf("%s: err = %v, want ErrInvalidSubject", c.what, c.err)
					continue
				}
				reason := tt.reason
				if pr, sr, ok := strings.Cut(reason, "|"); ok {
					reason = pr
					if c.what == "subject" {
						reason = sr
					}
				}
				if reason != "" && !strings.Contains(c.err.Error(), reason) {
					t.Errorf("%s: error %q does not say %q", c.what, c.err, reason)
				}
			}
		})
	}
}

func TestValidGroup(t *testing.T) {
	for _, tt := range []struct {
		g  string
		ok bool
	}{
		{"workers", true}, {"w.1", true}, {"ärzte", true}, {"", false}, {"a b", false},
		{"a\x01", false}, {strings.Repeat("g", MaxGroupLen), true}, {strings.Repeat("g", MaxGroupLen+1), false}, {"\xfe", false},
	} {
		err := ValidGroup(tt.g)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidGroup)) {
			t.Errorf("ValidGroup(%.20q) = %v, want ok=%v", tt.g, err, tt.ok)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		target, pattern, group string
		ok                     bool
	}{
		{"p a.b", "a.b", "", true},
		{"p a.*", "a.*", "", true},
		{"q workers jobs.>", "jobs.>", "workers", true},
		{"q workers", "", "", false},
		{"p", "", "", false},
		{"p ", "", "", false},
		{"x a.b", "", "", false},
		{"p a..b", "", "", false},
		{"q  a", "", "", false},
		{"", "", "", false},
	} {
		p, g, err := parseTarget(tt.target)
		if (err == nil) != tt.ok || p != tt.pattern || g != tt.group {
			t.Errorf("parseTarget(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.target, p, g, err, tt.pattern, tt.group, tt.ok)
		}
		if tt.ok {
			if _, target := regName(p, g); target != tt.target {
				t.Errorf("regName(%q, %q) target %q, want %q", p, g, target, tt.target)
			}
		}
	}
}

// FuzzSubscriptionRecord feeds subscription records, as read from the
// namespace registry, to the parser and the matcher: neither may panic,
// and what parses must be valid and round-trip.
func FuzzSubscriptionRecord(f *testing.F) {
	for _, s := range []string{"p a.b", "p a.*.c", "p >", "q workers jobs.>", "q w a..b", "p \xff", "q  x", "p a.>.b", "p 東京.*"} {
		f.Add(s, "a.b.c")
	}
	f.Fuzz(func(t *testing.T, target, subject string) {
		p, g, err := parseTarget(target)
		if err != nil {
			return
		}
		if ValidPattern(p) != nil || (g != "" && ValidGroup(g) != nil) {
			t.Fatalf("parseTarget(%q) accepted an invalid pattern or group", target)
		}
		if _, again := regName(p, g); again != target {
			t.Fatalf("round trip %q -> %q", target, again)
		}
		if ValidSubject(subject) == nil {
			got := Match(p, subject)
			if literal(p) && got != (p == subject) {
				t.Fatalf("literal %q vs %q: %v", p, subject, got)
			}
			if p == ">" && !got {
				t.Fatalf("'>' must match %q", subject)
			}
		}
	})
}

// literal reports whether a pattern has no wildcard token.
func literal(pattern string) bool {
	for tok := range strings.SplitSeq(pattern, ".") {
		if tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}
