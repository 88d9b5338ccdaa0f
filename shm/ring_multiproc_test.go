package shm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

// Parameters passed to helper processes.
const (
	envDir     = "SHM_DIR"
	envRing    = "SHM_RING"
	envID      = "SHM_ID"
	envCount   = "SHM_COUNT"
	envMaxPay  = "SHM_MAXPAYLOAD"
	envPauseAt = "SHM_PAUSE_AT" // record index whose push (or pop) pauses in the hook
	envMode    = "SHM_MODE"     // "hang": block forever; "wait": block until a line on stdin
	envOut     = "SHM_OUT"
	envBatch   = "SHM_BATCH" // producers push this many records per PushBatch
)

func init() {
	helpers["ring-producer"] = helperProducer
	helpers["ring-consumer"] = helperConsumer
}

func openHelperRing() (*Dir, *Ring, error) {
	d, err := OpenDir(os.Getenv(envDir), nil)
	if err != nil {
		return nil, nil, err
	}
	r, err := OpenRing(d, os.Getenv(envRing))
	if err != nil {
		return nil, nil, err
	}
	return d, r, nil
}

// pauseHere prints "<what>" and blocks as the mode says.
func pauseHere(what string) {
	fmt.Println(what)
	if os.Getenv(envMode) == "wait" {
		bufio.NewReader(os.Stdin).ReadString('\n')
		return
	}
	select {}
}

// helperProducer pushes SHM_COUNT records; the one at SHM_PAUSE_AT pauses
// between claim and commit. If that push is reclaimed it prints
// "reclaimed" and goes on with the rest.
func helperProducer() error {
	_, r, err := openHelperRing()
	if err != nil {
		return err
	}
	id := uint32(testproc.EnvInt(envID, 0))
	count := testproc.EnvInt(envCount, 0)
	pauseAt := testproc.EnvInt(envPauseAt, -1)
	maxPay := testproc.EnvInt(envMaxPay, 200)
	batch := max(testproc.EnvInt(envBatch, 1), 1)
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	fmt.Println("ready")
	for i := 0; i < count; {
		// With batching, the record at pauseAt starts its batch, so the
		// paused claim is exactly [pauseAt, pauseAt+batch).
		k := min(batch, count-i)
		if i < pauseAt && i+k > pauseAt {
			k = pauseAt - i
		}
		recs := make([][]byte, k)
		for j := range recs {
			recs[j] = makeRecord(id, uint32(i+j), rng.IntN(maxPay+1))
		}
		if i == pauseAt {
			hookClaimed = func() { hookClaimed = nil; pauseHere("claimed") }
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		n, err := r.PushBatch(ctx, recs)
		cancel()
		if i == pauseAt && errors.Is(err, ErrReclaimed) {
			fmt.Println("reclaimed", k)
			i += k
			continue
		}
		if err != nil {
			return fmt.Errorf("push %d: %w", i+n, err)
		}
		i += k
	}
	fmt.Println("done")
	return r.Close()
}

// helperConsumer pops until its stdin closes and the ring is empty,
// checking every record's checksum and per-producer order, and writes the
// (producer, seq) pairs it got to SHM_OUT. With SHM_PAUSE_AT=k it pauses
// after taking its k-th record, before copying it out.
func helperConsumer() error {
	_, r, err := openHelperRing()
	if err != nil {
		return err
	}
	var finish atomic.Bool
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		finish.Store(true)
	}()
	pauseAt := testproc.EnvInt(envPauseAt, -1)
	var out []byte
	last := map[uint32]int64{}
	var bad error
	taken := 0
	fmt.Println("ready")
	for {
		if taken == pauseAt {
			hookTaken = func() { hookTaken = nil; pauseHere("taken") }
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := r.PopBatch(ctx, 32, func(rec []byte) {
			taken++
			p, s, err := checkRecord(rec)
			if err != nil {
				bad = err
				return
			}
			if l, ok := last[p]; ok && int64(s) <= l {
				bad = fmt.Errorf("producer %d: record %d after %d", p, s, l)
			}
			last[p] = int64(s)
			out = binary.LittleEndian.AppendUint32(out, p)
			out = binary.LittleEndian.AppendUint32(out, s)
		})
		cancel()
		if bad != nil {
			return bad
		}
		if errors.Is(err, ErrEmpty) {
			if finish.Load() {
				break
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	if err := os.WriteFile(os.Getenv(envOut), out, 0o600); err != nil {
		return err
	}
	fmt.Println("done", len(out)/8)
	return r.Close()
}

// ringTest is the parent side of a multi-process ring test.
type ringTest struct {
	t         *testing.T
	dir       *Dir
	ring      *Ring
	consumers []*testproc.Proc
	outs      []string
}

func newRingTest(t *testing.T, cfg RingConfig) *ringTest {
	d := openTestDir(t)
	return &ringTest{t: t, dir: d, ring: newTestRing(t, d, cfg)}
}

func (rt *ringTest) env(extra ...string) []string {
	return append([]string{envDir + "=" + rt.dir.Path(), envRing + "=ring"}, extra...)
}

func (rt *ringTest) startConsumer(extra ...string) *testproc.Proc {
	out := filepath.Join(rt.t.TempDir(), fmt.Sprintf("consumer-%d", len(rt.outs)))
	p := testproc.Start(rt.t, "ring-consumer", rt.env(append(extra, envOut+"="+out)...)...)
	p.Expect(rt.t, "ready", time.Minute)
	rt.consumers = append(rt.consumers, p)
	rt.outs = append(rt.outs, out)
	return p
}

func (rt *ringTest) startProducer(id, count int, extra ...string) *testproc.Proc {
	env := rt.env(append(extra, fmt.Sprintf("%s=%d", envID, id), fmt.Sprintf("%s=%d", envCount, count))...)
	p := testproc.Start(rt.t, "ring-producer", env...)
	p.Expect(rt.t, "ready", time.Minute)
	return p
}

// waitPopped waits until the ring has delivered n records.
func (rt *ringTest) waitPopped(n uint64, timeout time.Duration) RingStats {
	rt.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := rt.ring.Stats()
		if err != nil {
			rt.t.Fatal(err)
		}
		if st.Popped >= n {
			return st
		}
		if time.Now().After(deadline) {
			rt.t.Fatalf("after %v: %d records popped, want %d (stats %+v)", timeout, st.Popped, n, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finish stops the consumers and checks that every record of producer p
// with seq < want[p], except those listed in skip, was delivered exactly
// once, and nothing else was.
func (rt *ringTest) finish(want map[uint32]int, skip map[[2]uint32]bool) {
	rt.t.Helper()
	for _, c := range rt.consumers {
		c.CloseStdin()
	}
	seen := map[[2]uint32]int{}
	for i, c := range rt.consumers {
		c.Expect(rt.t, "done", time.Minute)
		if err := c.Wait(time.Minute); err != nil {
			rt.t.Fatalf("consumer %d: %v\n%s", i, err, c.Stderr())
		}
		b, err := os.ReadFile(rt.outs[i])
		if err != nil {
			rt.t.Fatal(err)
		}
		for j := 0; j+8 <= len(b); j += 8 {
			seen[[2]uint32{binary.LittleEndian.Uint32(b[j:]), binary.LittleEndian.Uint32(b[j+4:])}]++
		}
	}
	total := 0
	for p, n := range want {
		for s := range n {
			k := [2]uint32{p, uint32(s)}
			switch c := seen[k]; {
			case skip[k] && c != 0:
				rt.t.Errorf("producer %d record %d should not have been delivered, got %d", p, s, c)
			case !skip[k] && c != 1:
				rt.t.Errorf("producer %d record %d delivered %d times", p, s, c)
			}
			if !skip[k] {
				total++
			}
			delete(seen, k)
		}
	}
	for k, c := range seen {
		rt.t.Errorf("unexpected record producer %d seq %d (x%d)", k[0], k[1], c)
	}
	if rt.t.Failed() {
		rt.t.FailNow()
	}
}

func scaled(n int) int {
	if testproc.Emulated() {
		return max(n/10, 1)
	}
	return n
}

func TestRingMultiProcess(t *testing.T) {
	per := scaled(100_000)
	for _, tc := range []struct{ p, c int }{{1, 1}, {1, 4}, {4, 1}, {4, 4}} {
		t.Run(fmt.Sprintf("%dx%d", tc.p, tc.c), func(t *testing.T) {
			rt := newRingTest(t, RingConfig{Cells: 4096})
			for range tc.c {
				rt.startConsumer()
			}
			want := map[uint32]int{}
			var ps []*testproc.Proc
			for i := range tc.p {
				ps = append(ps, rt.startProducer(i+1, per))
				want[uint32(i+1)] = per
			}
			for i, p := range ps {
				p.Expect(t, "done", 5*time.Minute)
				if err := p.Wait(time.Minute); err != nil {
					t.Fatalf("producer %d: %v", i, err)
				}
			}
			st := rt.waitPopped(uint64(tc.p*per), time.Minute)
			rt.finish(want, nil)
			if st.Pushed != uint64(tc.p*per) || st.Lost != 0 || st.Corrupt != 0 || st.Reclaimed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A producer killed with SIGKILL between claiming a slot and committing it
// must not wedge the ring: consumers skip the dead claim as soon as they
// see its owner's lease is free, and every committed record arrives once.
func TestRingProducerKilledBetweenClaimAndCommit(t *testing.T) {
	rt := newRingTest(t, RingConfig{Cells: 1024, ReclaimAfter: time.Hour})
	rt.startConsumer()
	a := rt.startProducer(1, 200, envPauseAt+"=100", envMode+"=hang")
	a.Expect(t, "claimed", time.Minute)
	b := rt.startProducer(2, scaled(5000))
	// B fills the ring behind A's claim; nothing of it can be delivered.
	time.Sleep(200 * time.Millisecond)
	if st, _ := rt.ring.Stats(); st.Popped != 100 {
		t.Fatalf("before the kill %d records were popped, want exactly A's first 100", st.Popped)
	}
	a.Kill()
	killed := time.Now()
	b.Expect(t, "done", time.Minute)
	st := rt.waitPopped(uint64(100+scaled(5000)), time.Minute)
	if took := time.Since(killed); took > 10*time.Second {
		t.Errorf("recovery after the kill took %v", took)
	}
	t.Logf("ring recovered %v after the kill", time.Since(killed))
	rt.finish(map[uint32]int{1: 100, 2: scaled(5000)}, nil)
	if st.Reclaimed != 1 {
		t.Fatalf("Reclaimed = %d, want 1 (stats %+v)", st.Reclaimed, st)
	}
}

// A producer killed in the middle of a batch claim loses the whole batch
// and nothing else: the claim is skipped as one unit.
func TestRingProducerKilledInBatch(t *testing.T) {
	rt := newRingTest(t, RingConfig{Cells: 2048, ReclaimAfter: time.Hour})
	rt.startConsumer()
	a := rt.startProducer(1, 400, envPauseAt+"=100", envMode+"=hang", envBatch+"=10")
	a.Expect(t, "claimed", time.Minute)
	b := rt.startProducer(2, scaled(3000), envBatch+"=7")
	a.Kill()
	b.Expect(t, "done", time.Minute)
	st := rt.waitPopped(uint64(100+scaled(3000)), time.Minute)
	rt.finish(map[uint32]int{1: 100, 2: scaled(3000)}, nil)
	if st.Reclaimed != 1 {
		t.Fatalf("Reclaimed = %d, want 1 (stats %+v)", st.Reclaimed, st)
	}
}

// A producer stopped with SIGSTOP between claim and commit for longer than
// the reclaim timeout has its slot quarantined: consumers go on. When it
// resumes, its commit fails with ErrReclaimed and the bytes it writes after
// waking land in the quarantined cells, corrupting nothing.
func TestRingProducerStoppedPastReclaim(t *testing.T) {
	rt := newRingTest(t, RingConfig{Cells: 1024, ReclaimAfter: 300 * time.Millisecond})
	rt.startConsumer()
	rt.startConsumer()
	a := rt.startProducer(1, 300, envPauseAt+"=100", envMode+"=wait")
	a.Expect(t, "claimed", time.Minute)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	bCount := scaled(5000)
	b := rt.startProducer(2, bCount)
	b.Expect(t, "done", time.Minute)
	rt.waitPopped(uint64(100+bCount), time.Minute) // consumers got past the stopped producer
	if err := a.Cont(); err != nil {
		t.Fatal(err)
	}
	a.Send("go")
	if got := a.Expect(t, "reclaimed", time.Minute); got != "1" {
		t.Fatalf("reclaimed %s records, want 1", got)
	}
	a.Expect(t, "done", time.Minute)
	st := rt.waitPopped(uint64(299+bCount), time.Minute)
	rt.finish(map[uint32]int{1: 300, 2: bCount}, map[[2]uint32]bool{{1, 100}: true})
	if st.Quarantined != 1 || st.FailedCommits != 1 || st.Corrupt != 0 {
		t.Fatalf("stats %+v: want 1 quarantined, 1 failed commit, 0 corrupt", st)
	}
	// The ring is whole: a full lap of fresh records goes through.
	for i := range 2000 {
		if err := rt.ring.Push(context.Background(), makeRecord(9, uint32(i), 100)); err != nil {
			t.Fatal(err)
		}
		rec, err := rt.ring.Pop(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p, s, err := checkRecord(rec); err != nil || p != 9 || s != uint32(i) {
			t.Fatalf("after recovery got %d/%d %v", p, s, err)
		}
	}
}

// A consumer killed after taking records but before releasing them must
// not wedge producers when they come round to its cells: they find its
// lease free and release the cells. Only the records it held (the span it
// took in one go) are lost, and counted.
func TestRingConsumerKilledAfterTake(t *testing.T) {
	rt := newRingTest(t, RingConfig{Cells: 64})
	x := rt.startConsumer(envPauseAt+"=0", envMode+"=hang")
	rt.consumers, rt.outs = nil, nil // x never reports
	count := scaled(3000)
	a := rt.startProducer(1, count)
	x.Expect(t, "taken", time.Minute)
	x.Kill()
	rt.startConsumer()
	a.Expect(t, "done", time.Minute)
	var st RingStats
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		st, _ = rt.ring.Stats()
		if st.Popped+st.Lost >= uint64(count) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: not all records accounted for", st)
		}
	}
	if st.Lost < 1 || st.Lost > 32 {
		t.Fatalf("Lost = %d, want the 1..32 records of the killed consumer's span (stats %+v)", st.Lost, st)
	}
	skip := map[[2]uint32]bool{}
	for s := range st.Lost {
		skip[[2]uint32{1, uint32(s)}] = true // x paused on its first take: the first records
	}
	rt.finish(map[uint32]int{1: count}, skip)
}
