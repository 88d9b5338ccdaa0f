package logx

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type big struct {
	Name string
	Data []byte
	Rows [][]byte
}

type small struct{ Address, ID string }

func TestSummarize(t *testing.T) {
	huge := &big{Name: "x", Data: make([]byte, 64<<20), Rows: [][]byte{make([]byte, 10), make([]byte, 10)}}
	for _, tc := range []struct {
		name string
		attr slog.Attr
		want string
	}{
		{"large struct", slog.Any("message", huge), "message=\"*logx.big (67108885 bytes)\""},
		{"large bytes", slog.Any("message", make([]byte, 1<<30)), "message=\"[]uint8 (1073741824 bytes)\""},
		{"small value kept", slog.Any("pid", &small{"shm://ns/1", "a"}), `pid="&{Address:shm://ns/1 ID:a}"`},
		{"error kept", slog.Any("err", errors.New("boom")), "err=boom"},
		{"long string cut", slog.String("s", strings.Repeat("a", 5000)), "(5000 bytes)"},
		{"group", slog.Group("g", slog.Any("m", make([]byte, 4096))), "g.m=\"[]uint8 (4096 bytes)\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			log := slog.New(Summarize(slog.NewTextHandler(&out, nil)))
			log.Info("dead letter", tc.attr)
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("logged %.300q, want it to contain %q", out.String(), tc.want)
			}
			if out.Len() > 2*MaxString {
				t.Fatalf("logged %d bytes", out.Len())
			}
		})
	}
	// WithAttrs is summarized too.
	var out bytes.Buffer
	slog.New(Summarize(slog.NewTextHandler(&out, nil))).With("m", make([]byte, 1<<20)).Info("x")
	if !strings.Contains(out.String(), "(1048576 bytes)") {
		t.Fatalf("With: %.200q", out.String())
	}
}
