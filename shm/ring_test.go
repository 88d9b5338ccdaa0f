package shm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestRing(t testing.TB, d *Dir, cfg RingConfig) *Ring {
	t.Helper()
	r, err := CreateRing(d, "ring", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRingPushPopSizes(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 256, CellSize: 64})
	// 48 bytes fit the first cell, each further cell holds 56.
	for _, size := range []int{0, 1, 47, 48, 49, 104, 105, 1000, r.MaxRecord()} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rec := bytes.Repeat([]byte{byte(size)}, size)
			for lap := 0; lap < 20; lap++ { // many laps: wrap and padding
				if err := r.TryPush(rec); err != nil {
					t.Fatalf("lap %d: push: %v", lap, err)
				}
				got, err := r.TryPop(nil)
				if err != nil {
					t.Fatalf("lap %d: pop: %v", lap, err)
				}
				if !bytes.Equal(got, rec) {
					t.Fatalf("lap %d: got %d bytes, want %d", lap, len(got), size)
				}
			}
		})
	}
	if _, err := r.TryPop(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("pop from empty ring: %v, want ErrEmpty", err)
	}
}

func TestRingTooLarge(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 64, MaxRecord: 100})
	err := r.TryPush(make([]byte, 101))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("push 101 bytes into MaxRecord 100: %v, want ErrTooLarge", err)
	}
	if err := r.Push(context.Background(), make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Push: %v, want ErrTooLarge", err)
	}
	if err := r.TryPush(make([]byte, 100)); err != nil {
		t.Fatalf("push exactly MaxRecord: %v", err)
	}
}

func TestRingFullAndDeadline(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 16, CellSize: 64, MaxRecord: 48})
	rec := make([]byte, 48) // one cell each
	for i := 0; i < 16; i++ {
		if err := r.TryPush(rec); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if err := r.TryPush(rec); !errors.Is(err, ErrFull) {
		t.Fatalf("push into full ring: %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := r.Push(ctx, rec)
	if !errors.Is(err, ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Push with deadline into full ring: %v, want ErrFull and DeadlineExceeded", err)
	}
	if n := r.Len(); n != 16 {
		t.Fatalf("Len = %d, want 16", n)
	}
	// A blocked Push completes once a consumer makes room.
	done := make(chan error, 1)
	go func() { done <- r.Push(context.Background(), rec) }()
	time.Sleep(5 * time.Millisecond)
	if _, err := r.TryPop(nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked Push: %v", err)
	}
}

func TestRingPopDeadlineAndCancel(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.Pop(ctx, nil); !errors.Is(err, ErrEmpty) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop on empty ring with deadline: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := r.Pop(ctx2, nil); done <- err }()
	time.Sleep(5 * time.Millisecond)
	cancel2()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Pop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled Pop did not return")
	}
}

func TestRingCloseWakesWaiters(t *testing.T) {
	d := openTestDir(t)
	r, err := CreateRing(d, "ring", &RingConfig{Cells: 16})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := r.Pop(context.Background(), nil); done <- err }()
	time.Sleep(5 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Pop after Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.TryPush(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryPush after Close: %v", err)
	}
}

func TestRingPopBatch(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 256})
	for i := range 10 {
		if err := r.TryPush([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	n, err := r.PopBatch(context.Background(), 4, func(rec []byte) { got = append(got, rec...) })
	if err != nil || n != 4 || !bytes.Equal(got, []byte{0, 1, 2, 3}) {
		t.Fatalf("PopBatch(4) = %d, %v, %v", n, err, got)
	}
	got = got[:0]
	n, err = r.PopBatch(context.Background(), 100, func(rec []byte) { got = append(got, rec...) })
	if err != nil || n != 6 || !bytes.Equal(got, []byte{4, 5, 6, 7, 8, 9}) {
		t.Fatalf("PopBatch(100) = %d, %v, %v", n, err, got)
	}
	if _, err := r.PopBatch(context.Background(), 0, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("PopBatch(0): %v", err)
	}
}

func TestRingConfigErrors(t *testing.T) {
	d := openTestDir(t)
	for _, tc := range []struct {
		name string
		cfg  RingConfig
		want string
	}{
		{"cells not pow2", RingConfig{Cells: 100}, "Cells 100"},
		{"cells small", RingConfig{Cells: 8}, "Cells 8"},
		{"cellsize", RingConfig{CellSize: 100}, "CellSize 100"},
		{"record vs ring", RingConfig{Cells: 64, CellSize: 64, MaxRecord: 2000}, "MaxRecord 2000"},
		{"owners", RingConfig{MaxOwners: 1}, "MaxOwners 1"},
		{"reclaim", RingConfig{ReclaimAfter: time.Microsecond}, "ReclaimAfter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CreateRing(d, "bad", &tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("CreateRing(%+v) = %v, want ErrInvalidConfig naming %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestRingConcurrentInProcess(t *testing.T) {
	const producers, consumers, perProducer = 4, 4, 20000
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 1024, CellSize: 64, MaxRecord: 1000})
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for i := range perProducer {
				rec := makeRecord(uint32(p), uint32(i), rng.IntN(300))
				if err := r.Push(context.Background(), rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := make([][]bool, producers)
	for p := range seen {
		seen[p] = make([]bool, perProducer)
	}
	var mu sync.Mutex
	var cwg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	total := 0
	for range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			last := make([]int, producers)
			for i := range last {
				last[i] = -1
			}
			for {
				rec, err := r.Pop(ctx, nil)
				if err != nil {
					return
				}
				p, i, err := checkRecord(rec)
				if err != nil {
					t.Error(err)
					return
				}
				if int(i) <= last[p] {
					t.Errorf("producer %d: record %d after %d", p, i, last[p])
				}
				last[p] = int(i)
				mu.Lock()
				if seen[p][i] {
					t.Errorf("producer %d record %d delivered twice", p, i)
				}
				seen[p][i] = true
				total++
				if total == producers*perProducer {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cwg.Wait()
	if total != producers*perProducer {
		t.Fatalf("delivered %d of %d", total, producers*perProducer)
	}
	st, err := r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pushed != producers*perProducer || st.Popped != st.Pushed || st.Len != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// PushBatch keeps order and delivers each record once, across claims of
// many sizes and the ring's wrap-around.
func TestRingPushBatch(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 128, CellSize: 64})
	rng := rand.New(rand.NewPCG(3, 4))
	next, got := 0, 0
	for round := 0; round < 300; round++ {
		var batch [][]byte
		for range 1 + rng.IntN(40) {
			batch = append(batch, makeRecord(1, uint32(next), rng.IntN(300)))
			next++
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done := make(chan error, 1)
		go func() {
			n, err := r.PushBatch(ctx, batch)
			if err == nil && n != len(batch) {
				err = fmt.Errorf("pushed %d of %d", n, len(batch))
			}
			done <- err
		}()
		for got < next {
			_, err := r.PopBatch(ctx, 1+rng.IntN(20), func(rec []byte) {
				_, s, err := checkRecord(rec)
				if err != nil || int(s) != got {
					t.Fatalf("record %d: seq %d, %v", got, s, err)
				}
				got++
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	big := make([][]byte, 3)
	big[1] = make([]byte, r.MaxRecord()+1)
	if _, err := r.PushBatch(context.Background(), big); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "record 1") {
		t.Fatalf("batch with an oversized record: %v", err)
	}
	if n := r.Len(); n != 0 {
		t.Fatalf("oversized batch pushed %d records", n)
	}
}

// ReadRingStats reads a ring's counters without attaching: the same
// figures as Stats, and no owner added.
func TestReadRingStats(t *testing.T) {
	d := openTestDir(t)
	r := newTestRing(t, d, RingConfig{Cells: 64, CellSize: 64})
	for i := 0; i < 5; i++ {
		if err := r.TryPush([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.TryPop(nil); err != nil {
		t.Fatal(err)
	}
	want, err := r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadRingStats(d, "ring")
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got.Owners != 1 || got.Len != 4 {
		t.Fatalf("ReadRingStats %+v, Stats %+v", got, want)
	}
	if _, err := ReadRingStats(d, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a ring that is not there: %v, want ErrNotFound", err)
	}
}
