package shm

import (
	"context"
	"testing"
	"time"
)

// A spin that finds its thread descheduled halves the spin budget, as
// the package doc says, even when the wait then ends as soon as it
// parks: a short wait must not undo the halving (it used to double the
// budget instead).
func TestSpinDescheduledHalvesBudget(t *testing.T) {
	r := newTestRing(t, openTestDir(t), RingConfig{Cells: 64})
	const limit, budget = 2 * time.Millisecond, 400 * time.Microsecond
	r.SetSpin(limit)
	r.poll[1].Store(int64(budget))
	calls := 0
	err := r.await(context.Background(), true, func(slow bool) (bool, error) {
		calls++
		switch {
		case slow:
			return false, nil // parked: the wait is over at once
		case calls == 3: // the first poll of the spin
			// The thread is off its CPU for a while.
			for start := time.Now(); time.Since(start) < 2*descheduled; {
			}
		}
		return false, errAgain
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(r.poll[1].Load()); got > budget/2 {
		t.Fatalf("spin budget %v after a descheduled spin, want at most %v", got, budget/2)
	}
}
