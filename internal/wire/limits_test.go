package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The encoder's checks match the decoder's limits: what CheckHeader and
// CheckStringMap pass, the decoder takes; what they refuse, it refuses.
func TestLimitsMatchDecoder(t *testing.T) {
	long := strings.Repeat("x", MaxString+1)
	many := map[string]string{}
	for i := range MaxMeta + 1 {
		many[fmt.Sprint(i)] = ""
	}
	full := map[string]string{}
	for i := range MaxMeta {
		full[fmt.Sprint(i)] = strings.Repeat("v", MaxString)
	}
	d := NewDecoder(NewRegistry())
	for _, tc := range []struct {
		name string
		h    Header
		meta map[string]string
		ok   bool
	}{
		{name: "at the limits", h: Header{Kind: KindUser, Target: strings.Repeat("t", MaxString)}, meta: full, ok: true},
		{name: "long target", h: Header{Kind: KindUser, Target: long}},
		{name: "long sender id", h: Header{Kind: KindUser, SenderID: long}},
		{name: "long type", h: Header{Kind: KindUser, Type: long}},
		{name: "long meta value", h: Header{Kind: KindUser}, meta: map[string]string{"k": long}},
		{name: "long meta key", h: Header{Kind: KindUser}, meta: map[string]string{long: "v"}},
		{name: "too many entries", h: Header{Kind: KindUser}, meta: many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checked := CheckHeader(&tc.h)
			if checked == nil {
				checked = CheckStringMap(tc.meta)
			}
			b := AppendHeader(nil, &tc.h)
			_, _, decoded := d.Header(b)
			if decoded == nil && tc.meta != nil {
				_, _, decoded = d.StringMap(AppendStringMap(nil, tc.meta))
			}
			if (checked == nil) != tc.ok || (decoded == nil) != tc.ok {
				t.Fatalf("check: %v, decode: %v; want ok=%v", checked, decoded, tc.ok)
			}
			if !tc.ok && !errors.Is(checked, ErrTooLarge) {
				t.Fatalf("check: %v, want ErrTooLarge", checked)
			}
		})
	}
}
