package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// PerSecond is how many lines a Throttled logger writes in any one
// second.
const PerSecond = 10

// Throttled writes at most PerSecond lines a second to Log. The lines it
// holds back are counted, and the next line it writes says how many
// ("suppressed" attribute). The zero value with Log set is ready to use;
// it is safe for concurrent use.
type Throttled struct {
	Log *slog.Logger

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// Warn logs at warning level, within the limit.
func (t *Throttled) Warn(msg string, args ...any) { t.log(slog.LevelWarn, msg, args) }

// Error logs at error level, within the limit.
func (t *Throttled) Error(msg string, args ...any) { t.log(slog.LevelError, msg, args) }

func (t *Throttled) log(level slog.Level, msg string, args []any) {
	t.mu.Lock()
	if now := time.Now(); now.Sub(t.start) > time.Second {
		t.start, t.n = now, 0
	}
	t.n++
	if t.n > PerSecond {
		t.suppressed++
		t.mu.Unlock()
		return
	}
	if t.suppressed > 0 {
		args = append(args[:len(args):len(args)], "suppressed", t.suppressed)
		t.suppressed = 0
	}
	t.mu.Unlock()
	if t.Log != nil {
		t.Log.Log(context.Background(), level, msg, args...)
	}
}
