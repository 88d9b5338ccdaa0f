package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestThrottled(t *testing.T) {
	var buf bytes.Buffer
	l := &Throttled{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	for range 3 * PerSecond {
		l.Warn("bad frame", "n", 1)
	}
	if got := strings.Count(buf.String(), "bad frame"); got != PerSecond {
		t.Fatalf("%d lines in one second, want %d", got, PerSecond)
	}
	l.mu.Lock()
	l.start = time.Now().Add(-2 * time.Second) // a second later
	l.mu.Unlock()
	buf.Reset()
	l.Error("again")
	if s := buf.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, "suppressed=20") {
		t.Fatalf("next line %q, want the 20 suppressed counted", s)
	}
	var nilLog Throttled
	nilLog.Warn("discarded") // no logger: nothing happens
}
