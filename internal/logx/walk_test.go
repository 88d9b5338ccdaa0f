package logx

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

// owner stands for a live object a logged value points to (protoactor's
// PID caches its process, which points to the System): its unexported
// state changes under its own lock.
type owner struct {
	mu    sync.Mutex
	state map[string]int
}

type pidLike struct {
	ID string
	p  *owner
}

// A logged value's unexported fields are not walked: they are other
// objects' live state, read without their locks (a data race, and a
// fatal "concurrent map iteration and map write" when a map changes).
func TestSummaryLeavesUnexportedAlone(t *testing.T) {
	o := &owner{state: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			o.mu.Lock()
			o.state[strconv.Itoa(i%100)] = i
			if i%100 == 99 {
				clear(o.state)
			}
			o.mu.Unlock()
		}
	}()
	h := Summarize(slog.DiscardHandler)
	for i := 0; i < 2000; i++ {
		r := slog.NewRecord(time.Time{}, slog.LevelInfo, "dead letter", 0)
		r.AddAttrs(slog.Any("pid", &pidLike{ID: "x", p: o}))
		h.Handle(context.Background(), r)
	}
	close(stop)
	wg.Wait()
	if got := Describe(&pidLike{ID: "abc", p: o}); got != "*logx.pidLike (3 bytes)" {
		t.Fatalf("Describe: %q", got)
	}
}
