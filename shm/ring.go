package shm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Ring is a bounded multi-producer, multi-consumer queue of variable-length
// records in a segment. Any number of goroutines in any number of processes
// may push and pop; records from one producer goroutine are taken in the
// order it pushed them.
//
// Each cell starts with a 64-bit word that says which lap of the ring it
// belongs to, its state, how many cells its record spans and the
// owner-table index of the process working on it. Every change of a cell
// is one CAS on that word, so a process that dies (or stalls) in the middle
// of a push or pop leaves a word that names it; the next process that finds
// the word in its way checks the owner's lease and, when the owner is dead,
// finishes or undoes its work. See docs/shm-layout.md for the protocol.
//
// A Ring handle is safe for concurrent use by many goroutines.
type Ring struct {
	seg   *Segment
	dir   *Dir
	lease *Lease
	g     ringGeometry

	hdr    []uint64
	cons   Doorbell // consumers wait here for records
	prod   Doorbell // producers wait here for room
	owners []uint64
	data   []byte   // the cells
	cw     []uint64 // the cells as words; cell i's word is cw[i*stride]
	stride int
	mask   uint64
	cells  uint32
	me     int
	my     []uint64

	spin    atomic.Int64    // most nanoseconds to spin before parking
	poll    [2]atomic.Int64 // producers' and consumers' spin budgets, adapted (ring_wait.go)
	closed  atomic.Bool
	scratch sync.Pool

	stallMu    sync.Mutex
	stallW     uint64
	stallIdx   int
	stallSince time.Time
}

// DefaultSpin is the longest a blocked Push or Pop spins before it parks;
// how long it really spins adapts to the waits it has seen (Ring.SetSpin).
const DefaultSpin = 50 * time.Microsecond

const (
	maxIter      = 1 << 20                // bound on one attempt's retries
	suspectAfter = time.Millisecond       // stall length before probing the owner
	parkMax      = 100 * time.Millisecond // longest park without a re-check
	parkHurry    = 2 * time.Millisecond   // park while something suspicious is pending
)

// errAgain is internal: nothing ready (pop) or no room (push) right now.
var errAgain = errors.New("shm: again")

// CreateRing creates a ring segment called name in d and opens it. A nil
// cfg takes DefaultRingConfig.
func CreateRing(d *Dir, name string, cfg *RingConfig) (*Ring, error) {
	var c RingConfig
	if cfg != nil {
		c = *cfg
	}
	g, err := c.withDefaults().geometry()
	if err != nil {
		return nil, err
	}
	seg, err := d.CreateSegment(name, KindRing, g.bodySize, func(body []byte) error {
		h := u64s(body[:ringHdrSize])
		h[rhCells/8] = uint64(g.Cells)
		h[rhCellSize/8] = uint64(g.CellSize)
		h[rhMaxRecord/8] = uint64(g.MaxRecord)
		h[rhMaxOwners/8] = uint64(g.MaxOwners)
		h[rhReclaimNs/8] = uint64(g.ReclaimAfter)
		h[rhOwnersOff/8] = uint64(g.ownersOff)
		h[rhDataOff/8] = uint64(g.dataOff)
		cw := u64s(body[g.dataOff : g.dataOff+g.Cells*g.CellSize])
		for i := range g.Cells {
			cw[i*g.CellSize/8] = freeWord(uint32(i))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r, err := attachRing(d, seg)
	if err != nil {
		seg.Close()
		d.Remove(name)
		return nil, err
	}
	return r, nil
}

// OpenRing opens an existing ring, validating its header and geometry.
func OpenRing(d *Dir, name string) (*Ring, error) {
	seg, err := d.OpenSegment(name, KindRing)
	if err != nil {
		return nil, err
	}
	r, err := attachRing(d, seg)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return r, nil
}

func attachRing(d *Dir, seg *Segment) (r *Ring, err error) {
	if r, err = view(d, seg); err != nil {
		return nil, err
	}
	defer seg.guard(&err, faultOn())
	body, g := seg.Body(), r.g
	data := body[g.dataOff : g.dataOff+g.Cells*g.CellSize]
	r.data, r.cw = data, u64s(data)
	r.stride, r.mask, r.cells = g.CellSize/8, uint64(g.Cells-1), uint32(g.Cells)
	r.cons, _ = seg.Doorbell(rhConsDoor)
	r.prod, _ = seg.Doorbell(rhProdDoor)
	r.SetSpin(DefaultSpin)
	scratch := g.recCells * g.CellSize
	r.scratch.New = func() any { return &popScratch{buf: make([]byte, 0, scratch)} }
	if r.lease, err = d.acquireLease(); err != nil {
		return nil, err
	}
	return r.attach(d, seg)
}

// view checks seg's ring header and returns a Ring over it that is not
// attached: no lease, no owner entry; fit only for reading its header
// (attachRing completes it).
func view(d *Dir, seg *Segment) (r *Ring, err error) {
	defer seg.guard(&err, faultOn())
	body := seg.Body()
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: ring %s: %s", ErrCorrupt, seg.path(), fmt.Sprintf(format, args...))
	}
	if len(body) < ringHdrSize {
		return nil, corrupt("body of %d bytes has no room for the ring header", len(body))
	}
	h := u64s(body[:ringHdrSize])
	field := func(off int) int {
		v := atomic.LoadUint64(&h[off/8])
		if v > uint64(MaxSegmentSize) {
			return -1
		}
		return int(v)
	}
	rec := atomic.LoadUint64(&h[rhReclaimNs/8])
	c := RingConfig{Cells: field(rhCells), CellSize: field(rhCellSize), MaxRecord: field(rhMaxRecord), MaxOwners: field(rhMaxOwners), ReclaimAfter: time.Duration(min(rec, 1<<62))}
	g, err := c.geometry()
	if err != nil {
		return nil, corrupt("header geometry: %v", err)
	}
	if field(rhOwnersOff) != g.ownersOff || field(rhDataOff) != g.dataOff {
		return nil, corrupt("offsets %d/%d do not match geometry %d/%d", field(rhOwnersOff), field(rhDataOff), g.ownersOff, g.dataOff)
	}
	if g.bodySize > len(body) {
		return nil, fmt.Errorf("%w: ring %s needs %d body bytes, has %d", ErrTruncated, seg.path(), g.bodySize, len(body))
	}
	return &Ring{seg: seg, dir: d, g: g, hdr: h, owners: u64s(body[g.ownersOff : g.ownersOff+g.MaxOwners*ownerSize])}, nil
}

// ReadRingStats returns the counters of the ring called name without
// attaching to it: the segment is mapped read-only, and neither a lease
// nor an owner entry is taken, so tools can watch rings of a namespace
// they do not join.
func ReadRingStats(d *Dir, name string) (s RingStats, err error) {
	seg, err := d.OpenSegmentReadOnly(name, KindRing)
	if err != nil {
		return s, err
	}
	defer seg.Close()
	r, err := view(d, seg)
	if err != nil {
		return s, err
	}
	defer seg.guard(&err, faultOn())
	return r.counters(), nil
}

// attach takes an owner entry of r for this process (r.lease is held).
func (r *Ring) attach(d *Dir, seg *Segment) (_ *Ring, err error) {
	if r.me, err = r.attachOwner(); err != nil {
		d.releaseLease()
		return nil, err
	}
	r.my = r.owner(r.me)
	// The mapping and the owner entry are released when the segment is
	// unreachable. Every operation keeps it reachable until it returns
	// (its deferred fault guard refers to it), so no operation can run on
	// memory that is gone, without any per-operation reference counting.
	runtime.AddCleanup(seg, detach, &detacher{m: seg.m, cons: r.cons, prod: r.prod, retired: r.retired(), my: r.my, dir: d})
	return r, nil
}

// detacher holds what a ring handle's cleanup needs; it must not refer to
// the Segment or the Ring.
type detacher struct {
	m          *mapping
	cons, prod Doorbell
	retired    []uint64
	my         []uint64
	dir        *Dir
}

// detach folds the handle's counters into the ring, frees its owner entry,
// unmaps the segment and drops the handle's hold on the lease.
func detach(d *detacher) {
	func() {
		defer func() { recover() }() // a truncated segment: nothing left to tidy
		old := debug.SetPanicOnFault(true)
		defer debug.SetPanicOnFault(old)
		retireInto(d.my, d.retired, d.cons, d.prod)
		atomic.StoreUint64(&d.my[oLease], 0)
	}()
	d.m.unmap()
	d.dir.releaseLease()
}

// Name returns the ring's segment name.
func (r *Ring) Name() string { return r.seg.name }

// Config returns the ring's geometry.
func (r *Ring) Config() RingConfig { return r.g.RingConfig }

// MaxRecord returns the largest record the ring accepts.
func (r *Ring) MaxRecord() int { return r.g.MaxRecord }

// SetSpin sets the longest a blocked Push or Pop on this handle spins
// before it parks, and starts the adaptive budget there (see the package
// doc's Waiting); zero parks at once.
func (r *Ring) SetSpin(d time.Duration) {
	r.spin.Store(int64(max(d, 0)))
	for i := range r.poll {
		r.poll[i].Store(int64(max(d, 0)))
	}
}

func (r *Ring) owner(i int) []uint64 { return r.owners[i*ownerWords : (i+1)*ownerWords] }
func (r *Ring) word(idx int) *uint64 { return &r.cw[idx*r.stride] }
func (r *Ring) tail() *uint64        { return &r.hdr[rhTail/8] }
func (r *Ring) head() *uint64        { return &r.hdr[rhHead/8] }
func (r *Ring) retired() []uint64    { return r.hdr[rhRetired/8 : rhRetired/8+nCounters] }
func (r *Ring) path() string         { return r.seg.path() }
func (r *Ring) count(field int)      { atomic.AddUint64(&r.my[field], 1) }
func freeWord(seq uint32) uint64     { return mkWord(seq, stFree, false, 1, 0) }

func (r *Ring) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: ring %s: %s", ErrCorrupt, r.path(), fmt.Sprintf(format, args...))
}

// cellsOf validates the cell count of a word found at idx.
func (r *Ring) cellsOf(idx int, w uint64) (int, error) {
	n := wN(w)
	if n > r.g.recCells || idx+n > r.g.Cells {
		return 0, r.corrupt("cell %d word %#x spans %d cells", idx, w, n)
	}
	return n, nil
}

func (r *Ring) enter() error {
	if r.closed.Load() {
		return fmt.Errorf("%w: ring %s", ErrClosed, r.path())
	}
	if r.seg.broken.Load() {
		return fmt.Errorf("%w: ring %s is unusable after an earlier fault", ErrFault, r.path())
	}
	return nil
}

// ---- push ----

// Push appends rec to the ring, waiting while the ring is full until ctx is
// done (then it returns an error wrapping ErrFull and the context's error).
// A record longer than MaxRecord fails with ErrTooLarge.
func (r *Ring) Push(ctx context.Context, rec []byte) (err error) {
	if err := r.checkSize(len(rec)); err != nil {
		return err
	}
	if err := r.enter(); err != nil {
		return err
	}
	defer r.seg.guard(&err, faultOn())
	one := [1][]byte{rec}
	if _, _, err := r.tryPush(one[:]); err != errAgain {
		return err
	}
	_, err = r.pushWait(ctx, one[:])
	return err
}

// PushBatch appends recs in order, as Push does for each, claiming room for
// as many as fit with one operation. It returns how many it pushed; on an
// error the rest were not pushed. A batch costs little more than one push,
// so producers that have several records at hand should use it.
func (r *Ring) PushBatch(ctx context.Context, recs [][]byte) (n int, err error) {
	for i, rec := range recs {
		if err := r.checkSize(len(rec)); err != nil {
			return 0, fmt.Errorf("%w (record %d of the batch)", err, i)
		}
	}
	if err := r.enter(); err != nil {
		return 0, err
	}
	defer r.seg.guard(&err, faultOn())
	for n < len(recs) {
		k, _, err := r.tryPush(recs[n:])
		n += k
		if err == errAgain {
			k, err = r.pushWait(ctx, recs[n:])
			n += k
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pushWait waits for room and pushes a prefix of recs.
func (r *Ring) pushWait(ctx context.Context, recs [][]byte) (n int, err error) {
	err = r.await(ctx, false, func(slow bool) (bool, error) {
		k, blocked, err := r.tryPush(recs)
		n = k
		if err == errAgain && slow {
			return r.unblockPush(blocked), err
		}
		return false, err
	})
	if err == errAgain {
		err = fmt.Errorf("%w: push to %s: %w", ErrFull, r.path(), context.Cause(ctx))
	}
	return n, err
}

// TryPush appends rec if there is room now, else returns ErrFull.
func (r *Ring) TryPush(rec []byte) (err error) {
	if err := r.checkSize(len(rec)); err != nil {
		return err
	}
	if err := r.enter(); err != nil {
		return err
	}
	defer r.seg.guard(&err, faultOn())
	_, blocked, err := r.tryPush([][]byte{rec})
	if err == errAgain {
		r.unblockPush(blocked)
		return fmt.Errorf("%w: push to %s", ErrFull, r.path())
	}
	return err
}

func (r *Ring) checkSize(n int) error {
	if n > r.g.MaxRecord {
		return fmt.Errorf("%w: push to %s: %d bytes, max %d", ErrTooLarge, r.path(), n, r.g.MaxRecord)
	}
	return nil
}

// Test hooks, nil in production. hookClaimed runs between a producer's
// claim and its commit, hookTaken between a consumer's take and its release:
// the windows the crash tests kill or stop a process in.
var hookClaimed, hookTaken func()

// tryPush makes one attempt to push a prefix of recs (at least one record)
// with a single claim. It returns how many records it pushed; on errAgain,
// the index of the cell that is not yet free.
func (r *Ring) tryPush(recs [][]byte) (int, int, error) {
	tail := r.tail()
	first := r.g.cellsFor(len(recs[0]))
	for range maxIter {
		pos := atomic.LoadUint64(tail)
		idx := int(pos & r.mask)
		w := atomic.LoadUint64(r.word(idx))
		switch d := int32(wSeq(w) - uint32(pos)); {
		case d > 0:
			continue // stale tail
		case d < 0:
			return 0, idx, errAgain // the cell's previous lap is not consumed yet
		}
		if st := wState(w); st != stFree {
			if st == stQuarantined && !wFlag(w) {
				// Mark that producers have passed it this lap.
				if err := r.passQuarantine(idx, pos, w, w|1<<35, tail); err != nil {
					return 0, 0, err
				}
				continue
			}
			// Someone claimed pos but has not moved the tail yet: help.
			m, err := r.cellsOf(idx, w)
			if err != nil {
				return 0, 0, err
			}
			atomic.CompareAndSwapUint64(tail, pos, pos+uint64(m))
			continue
		}
		// How many of the records go in this claim: all that fit in one
		// claim before the end of the array.
		limit := min(r.g.recCells, r.g.Cells-idx)
		k, span := 1, first
		for k < len(recs) {
			c := r.g.cellsFor(len(recs[k]))
			if span+c > limit {
				break
			}
			k, span = k+1, span+c
		}
		// The cells after the first must be free for this lap too.
		j := 1
		for ; j < min(span, limit); j++ {
			if atomic.LoadUint64(r.word(idx+j)) != freeWord(uint32(pos)+uint32(j)) {
				break
			}
		}
		if j < first {
			// The first record does not fit here: the array ends, or a
			// quarantined slot starts, before it would. Fill the gap
			// with a skip record and try again behind it.
			if j < r.g.Cells-idx {
				bw := atomic.LoadUint64(r.word(idx + j))
				if !(wState(bw) == stQuarantined && !wFlag(bw) && wSeq(bw) == uint32(pos)+uint32(j)) {
					return 0, idx + j, errAgain
				}
			}
			if atomic.CompareAndSwapUint64(r.word(idx), w, mkWord(uint32(pos), stSkipped, false, j, 0)) {
				atomic.CompareAndSwapUint64(tail, pos, pos+uint64(j))
			}
			continue
		}
		for span > j { // claim only what is free
			k--
			span -= r.g.cellsFor(len(recs[k]))
		}
		claimed := mkWord(uint32(pos), stClaimed, false, span, r.me)
		if !atomic.CompareAndSwapUint64(r.word(idx), w, claimed) {
			continue
		}
		atomic.CompareAndSwapUint64(tail, pos, pos+uint64(span))
		if hookClaimed != nil {
			hookClaimed()
		}
		// Write the records. The words of the second and later records are
		// cells inside our claim that nobody else reads until the first
		// record is committed, so plain stores do; the commit CAS below
		// publishes them.
		c := idx
		for i := range k {
			n := r.g.cellsFor(len(recs[i]))
			r.copyIn(c, recs[i])
			if i > 0 {
				r.cw[c*r.stride] = mkWord(uint32(pos)+uint32(c-idx), stCommitted, false, n, 0)
			}
			c += n
		}
		if !atomic.CompareAndSwapUint64(r.word(idx), claimed, mkWord(uint32(pos), stCommitted, false, first, 0)) {
			r.lateCommit(idx, span)
			return 0, 0, fmt.Errorf("%w: push to %s (stalled longer than %v)", ErrReclaimed, r.path(), r.g.ReclaimAfter)
		}
		atomic.AddUint64(&r.my[oPushed], uint64(k))
		r.cons.Ring(1)
		return k, 0, nil
	}
	return 0, 0, errAgain
}

// copyIn writes rec's length and bytes into the cells starting at idx,
// around the cells' words.
func (r *Ring) copyIn(idx int, rec []byte) {
	cs := r.g.CellSize
	off := idx * cs
	binary.LittleEndian.PutUint64(r.data[off+wordSize:], uint64(len(rec)))
	n := copy(r.data[off+firstHeader:off+cs], rec)
	for rec = rec[n:]; len(rec) > 0; rec = rec[n:] {
		off += cs
		n = copy(r.data[off+wordSize:off+cs], rec)
	}
}

// passQuarantine moves a position (the tail for producers, the head for
// consumers) over a quarantined slot, after changing the slot's word to
// next; or, if the slot's owner is dead, returns the slot instead.
func (r *Ring) passQuarantine(idx int, pos, w, next uint64, at *uint64) error {
	n, err := r.cellsOf(idx, w)
	if err != nil {
		return err
	}
	if r.ownerDead(wOwner(w)) {
		r.returnQuarantine(idx, w)
		return nil
	}
	if atomic.CompareAndSwapUint64(r.word(idx), w, next) {
		atomic.CompareAndSwapUint64(at, pos, pos+uint64(n))
	}
	return nil
}

// lateCommit runs when a producer's commit CAS failed: its slot was
// reclaimed while it stalled. If the slot is still set aside for it, the
// producer hands the cells back now that it will not touch them again.
func (r *Ring) lateCommit(idx, n int) {
	r.count(oFailed)
	w := atomic.LoadUint64(r.word(idx))
	if wState(w) == stQuarantined && wOwner(w) == r.me && wN(w) == n {
		r.returnQuarantine(idx, w)
	}
}

// unblockPush looks at the cell a push is waiting for and clears it if a
// dead process holds it. It reports whether something suspicious is there,
// so the caller re-checks soon.
func (r *Ring) unblockPush(idx int) bool {
	w := atomic.LoadUint64(r.word(idx))
	switch wState(w) {
	case stTaken:
		r.resolveTaken(idx, w)
		return true
	case stQuarantined:
		if r.ownerDead(wOwner(w)) {
			r.returnQuarantine(idx, w)
		}
		return true
	}
	return false
}

// ---- pop ----

// Pop removes the next record and returns it appended to dst[:0], waiting
// while the ring is empty until ctx is done (then it returns an error
// wrapping ErrEmpty and the context's error). The record is copied out of
// shared memory before Pop returns.
func (r *Ring) Pop(ctx context.Context, dst []byte) (rec []byte, err error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.seg.guard(&err, faultOn())
	t, _, err := r.take(false, 1)
	if err == nil {
		return r.copyOne(dst, t)
	}
	if err != errAgain {
		return nil, err
	}
	err = r.await(ctx, true, func(slow bool) (bool, error) {
		var hurry bool
		t, hurry, err = r.take(slow, 1)
		return hurry, err
	})
	if err == errAgain {
		return nil, fmt.Errorf("%w: pop from %s: %w", ErrEmpty, r.path(), context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	return r.copyOne(dst, t)
}

// TryPop removes the next record if one is ready, else returns ErrEmpty.
func (r *Ring) TryPop(dst []byte) (rec []byte, err error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.seg.guard(&err, faultOn())
	t, _, err := r.take(true, 1)
	if err == errAgain {
		return nil, fmt.Errorf("%w: pop from %s", ErrEmpty, r.path())
	}
	if err != nil {
		return nil, err
	}
	return r.copyOne(dst, t)
}

// PopBatch waits like Pop for records, then takes up to max of those that
// are ready and calls fn with each, in ring order. The slice passed to fn
// is a private copy, valid only until fn returns. PopBatch returns how many
// records it delivered; a record found corrupt is dropped (and counted) and
// reported as an error after the good ones before it.
func (r *Ring) PopBatch(ctx context.Context, max int, fn func(rec []byte)) (n int, err error) {
	sc := r.scratch.Get().(*popScratch)
	defer r.scratch.Put(sc)
	return r.popSpans(ctx, "PopBatch", max, func(t taken) (int, error) { return r.copySpan(sc, t, fn) })
}

// PopBatchAppend waits like Pop for records, then takes up to max of
// those that are ready, in ring order, appending each record's bytes to
// buf and its length to lens: the records lie one after another in the
// returned buf from its old length on. It is PopBatch for a consumer that
// keeps the records past the call (no copy into a scratch buffer first).
// A record found corrupt is dropped (and counted) and reported as an error
// after the good ones before it.
func (r *Ring) PopBatchAppend(ctx context.Context, max int, buf []byte, lens []int) ([]byte, []int, error) {
	_, err := r.popSpans(ctx, "PopBatchAppend", max, func(t taken) (int, error) {
		n0 := len(lens)
		var err error
		buf, lens, err = r.copyRecords(t, buf, lens)
		return len(lens) - n0, err
	})
	return buf, lens, err
}

// popSpans waits like Pop for records, then takes spans of them, up to
// max records, handing each span to each, which copies its records out
// and reports how many it got.
func (r *Ring) popSpans(ctx context.Context, op string, max int, each func(taken) (int, error)) (n int, err error) {
	if max < 1 {
		return 0, fmt.Errorf("%w: %s max %d", ErrInvalidConfig, op, max)
	}
	if err := r.enter(); err != nil {
		return 0, err
	}
	defer r.seg.guard(&err, faultOn())
	t, _, err := r.take(false, max)
	if err == errAgain {
		err = r.await(ctx, true, func(slow bool) (bool, error) {
			var hurry bool
			var err error
			t, hurry, err = r.take(slow, max)
			return hurry, err
		})
	}
	if err == errAgain {
		return 0, fmt.Errorf("%w: pop from %s: %w", ErrEmpty, r.path(), context.Cause(ctx))
	}
	for err == nil {
		var k int
		k, err = each(t)
		n += k
		if err != nil || n >= max {
			break
		}
		if t, _, err = r.take(false, max-n); err == errAgain {
			err = nil
			break
		}
	}
	return n, err
}

// taken is a span of records a consumer has claimed: k records in n cells
// from cell idx, the first of them first cells long.
type taken struct {
	idx   int
	seq   uint32
	n     int
	first int
	k     int
}

// take claims up to max consecutive committed records for this consumer,
// skipping padding and quarantined slots. With slow set it also deals with
// a stalled or dead producer blocking the head, and reports hurry while
// one is.
func (r *Ring) take(slow bool, max int) (taken, bool, error) {
	head := r.head()
	stale := 0
	for range maxIter {
		pos := atomic.LoadUint64(head)
		idx := int(pos & r.mask)
		w := atomic.LoadUint64(r.word(idx))
		d := int32(wSeq(w) - uint32(pos))
		st := wState(w)
		if d == 0 {
			switch st {
			case stCommitted, stSkipped:
				n, err := r.cellsOf(idx, w)
				if err != nil {
					return taken{}, false, err
				}
				t := taken{idx: idx, seq: uint32(pos), n: n, first: n, k: 1}
				if st == stCommitted {
					// Take the committed records that follow too, as far
					// as one claim's worth of cells.
					for t.k < max {
						c := idx + t.n
						if c >= r.g.Cells {
							break
						}
						nw := atomic.LoadUint64(r.word(c))
						if wState(nw) != stCommitted || wSeq(nw) != uint32(pos)+uint32(t.n) {
							break
						}
						m, err := r.cellsOf(c, nw)
						if err != nil || t.n+m > r.g.recCells {
							break
						}
						t.n, t.k = t.n+m, t.k+1
					}
				}
				if !atomic.CompareAndSwapUint64(r.word(idx), w, mkWord(uint32(pos), stTaken, st == stSkipped, t.n, r.me)) {
					continue
				}
				atomic.CompareAndSwapUint64(head, pos, pos+uint64(t.n))
				if st == stSkipped {
					r.release(idx, uint32(pos), t.n)
					continue
				}
				return t, false, nil
			case stTaken:
				n, err := r.cellsOf(idx, w)
				if err != nil {
					return taken{}, false, err
				}
				atomic.CompareAndSwapUint64(head, pos, pos+uint64(n))
				continue
			case stClaimed:
				if slow {
					return taken{}, r.stalled(idx, w), errAgain
				}
				return taken{}, false, errAgain
			case stFree:
				return taken{}, false, errAgain
			case stQuarantined:
				if !wFlag(w) {
					return taken{}, false, errAgain // producers have not got here yet
				}
				// Re-arm it for the next lap's producers.
				next := mkWord(uint32(pos)+r.cells, stQuarantined, false, wN(w), wOwner(w))
				if err := r.passQuarantine(idx, pos, w, next, head); err != nil {
					return taken{}, false, err
				}
				continue
			default:
				return taken{}, false, r.corrupt("cell %d has state %d", idx, st)
			}
		}
		if d == int32(r.cells) && st == stQuarantined {
			// A consumer moved the quarantined slot to the next lap but
			// did not get to move the head: finish for it.
			n, err := r.cellsOf(idx, w)
			if err != nil {
				return taken{}, false, err
			}
			atomic.CompareAndSwapUint64(head, pos, pos+uint64(n))
			continue
		}
		if d < 0 {
			return taken{}, false, errAgain
		}
		// d > 0: our head is stale. If it does not move, the word is lying.
		if atomic.LoadUint64(head) == pos {
			if stale++; stale > 1<<12 {
				return taken{}, false, r.corrupt("cell %d word %#x is ahead of head %d", idx, w, pos)
			}
			runtime.Gosched()
		}
	}
	return taken{}, false, errAgain
}

// recordAt validates and returns the length of the record whose first cell
// is idx and which spans n cells.
func (r *Ring) recordAt(idx, n int) (int, error) {
	l := binary.LittleEndian.Uint64(r.data[idx*r.g.CellSize+wordSize:])
	if l > uint64(r.g.MaxRecord) || r.g.cellsFor(int(l)) != n {
		return 0, r.corrupt("record at cell %d claims %d bytes in %d cells", idx, l, n)
	}
	return int(l), nil
}

// copyOut appends the record at idx (l bytes) to dst.
func (r *Ring) copyOut(dst []byte, idx, l int) []byte {
	cs := r.g.CellSize
	off := idx * cs
	n := min(l, cs-firstHeader)
	dst = append(dst, r.data[off+firstHeader:off+firstHeader+n]...)
	for l -= n; l > 0; l -= n {
		off += cs
		n = min(l, cs-wordSize)
		dst = append(dst, r.data[off+wordSize:off+wordSize+n]...)
	}
	return dst
}

// copyOne copies out a single taken record and releases its cells.
func (r *Ring) copyOne(dst []byte, t taken) ([]byte, error) {
	if hookTaken != nil {
		hookTaken()
	}
	l, err := r.recordAt(t.idx, t.n)
	if err == nil {
		dst = r.copyOut(dst[:0], t.idx, l)
	}
	r.release(t.idx, t.seq, t.n)
	if err != nil {
		r.count(oCorrupt)
		return nil, err
	}
	r.count(oPopped)
	return dst, nil
}

// popScratch is PopBatch's per-call buffer: the records of a span, copied
// out of shared memory, and their lengths.
type popScratch struct {
	buf  []byte
	lens []int
}

// copySpan copies the records of a taken span into the scratch buffer,
// releases the cells, then hands the records to fn: fn may take its time
// without holding up producers.
func (r *Ring) copySpan(sc *popScratch, t taken, fn func([]byte)) (int, error) {
	buf, ls, err := r.copyRecords(t, sc.buf[:0], sc.lens[:0])
	sc.buf, sc.lens = buf, ls
	for _, l := range ls {
		fn(buf[:l:l])
		buf = buf[l:]
	}
	return len(ls), err
}

// copyRecords appends the records of a taken span to buf and their
// lengths to ls, and releases the cells.
func (r *Ring) copyRecords(t taken, buf []byte, ls []int) ([]byte, []int, error) {
	if hookTaken != nil {
		hookTaken()
	}
	k0 := len(ls)
	var err error
	for c, i := t.idx, 0; i < t.k; i++ {
		n := t.first
		if i > 0 {
			n = wN(r.cw[c*r.stride])
		}
		// The words were checked when the span was taken, but shared
		// memory can change under us: keep every record inside the span.
		if c+n > t.idx+t.n {
			err = r.corrupt("record at cell %d spans %d cells, past its span's end at %d", c, n, t.idx+t.n)
			break
		}
		l, e := r.recordAt(c, n)
		if e != nil {
			err = e
			break
		}
		buf = r.copyOut(buf, c, l)
		ls = append(ls, l)
		c += n
	}
	r.release(t.idx, t.seq, t.n)
	got := len(ls) - k0
	atomic.AddUint64(&r.my[oPopped], uint64(got))
	if err != nil {
		atomic.AddUint64(&r.my[oCorrupt], uint64(t.k-got))
	}
	return buf, ls, err
}

// release frees n cells from idx for the next lap. The later cells' words
// are plain stores; the atomic store of the first word publishes them, and
// producers look at the first word before the others.
func (r *Ring) release(idx int, seq uint32, n int) {
	next := seq + r.cells
	for j := 1; j < n; j++ {
		r.cw[(idx+j)*r.stride] = freeWord(next + uint32(j))
	}
	atomic.StoreUint64(r.word(idx), freeWord(next))
	r.prod.Ring(1 << 30)
}

// ---- stalls and dead owners ----

// stalled is called while a claimed, uncommitted record blocks the head.
// Once it has blocked for suspectAfter and its owner is dead, the claim is
// turned into a skip; once it has blocked for ReclaimAfter although the
// owner lives, it is quarantined: set aside, its cells kept from reuse
// until the owner returns them (a late commit fails) or dies.
func (r *Ring) stalled(idx int, w uint64) bool {
	now := time.Now()
	r.stallMu.Lock()
	if r.stallW != w || r.stallIdx != idx {
		r.stallW, r.stallIdx, r.stallSince = w, idx, now
		r.stallMu.Unlock()
		return true
	}
	since := now.Sub(r.stallSince)
	r.stallMu.Unlock()
	if since < suspectAfter {
		return true
	}
	if _, err := r.cellsOf(idx, w); err != nil {
		return true
	}
	s, n, q := wSeq(w), wN(w), wOwner(w)
	if r.ownerDead(q) {
		r.helpTail(s, n)
		if atomic.CompareAndSwapUint64(r.word(idx), w, mkWord(s, stSkipped, false, n, 0)) {
			r.count(oReclaimed)
		}
		return true
	}
	if since >= r.g.ReclaimAfter {
		r.helpTail(s, n)
		if atomic.CompareAndSwapUint64(r.word(idx), w, mkWord(s, stQuarantined, true, n, q)) {
			r.count(oQuarantined)
		}
	}
	return true
}

func (r *Ring) helpTail(seq uint32, n int) {
	if t := atomic.LoadUint64(r.tail()); uint32(t) == seq {
		atomic.CompareAndSwapUint64(r.tail(), t, t+uint64(n))
	}
}

func (r *Ring) helpHead(seq uint32, n int) {
	if h := atomic.LoadUint64(r.head()); uint32(h) == seq {
		atomic.CompareAndSwapUint64(r.head(), h, h+uint64(n))
	}
}

// resolveTaken releases a span that a dead consumer took but never
// released. Its records are lost with the consumer; Lost counts them.
func (r *Ring) resolveTaken(idx int, w uint64) {
	n, err := r.cellsOf(idx, w)
	if err != nil || !r.ownerDead(wOwner(w)) {
		return
	}
	s := wSeq(w)
	r.helpHead(s, n)
	// Steal it first, so exactly one process releases it.
	if !atomic.CompareAndSwapUint64(r.word(idx), w, mkWord(s, stTaken, wFlag(w), n, r.me)) {
		return
	}
	lost := 0
	if !wFlag(w) {
		// Count the records by their lengths; the first record's word
		// is gone, the later ones' words are still there.
		for c := idx; c < idx+n; lost++ {
			l := binary.LittleEndian.Uint64(r.data[c*r.g.CellSize+wordSize:])
			c += r.g.cellsFor(int(min(l, uint64(r.g.MaxRecord))))
		}
	}
	r.release(idx, s, n)
	atomic.AddUint64(&r.my[oLost], uint64(lost))
}

// returnQuarantine gives a quarantined slot back to the ring once its owner
// has finished with it or died: free for the lap it is waiting for when no
// producer has passed it yet, otherwise a skip record for the consumers.
func (r *Ring) returnQuarantine(idx int, w uint64) {
	n, err := r.cellsOf(idx, w)
	if err != nil {
		return
	}
	q := wOwner(w)
	for range 1000 {
		if wState(w) != stQuarantined || wOwner(w) != q || wN(w) != n {
			return
		}
		s := wSeq(w)
		var nw uint64
		if wFlag(w) {
			nw = mkWord(s, stSkipped, false, n, 0)
		} else {
			for j := 1; j < n; j++ {
				r.cw[(idx+j)*r.stride] = freeWord(s + uint32(j))
			}
			nw = freeWord(s)
		}
		if atomic.CompareAndSwapUint64(r.word(idx), w, nw) {
			r.prod.Ring(1 << 30)
			return
		}
		w = atomic.LoadUint64(r.word(idx))
	}
}

// ownerDead reports whether owner i's process is known to be dead.
func (r *Ring) ownerDead(i int) bool {
	if i == r.me {
		return false
	}
	if i <= 0 || i >= r.g.MaxOwners {
		return true
	}
	e := r.owner(i)
	l := atomic.LoadUint64(&e[oLease])
	if l == 0 || l&reapBit != 0 {
		return true
	}
	return !r.dir.aliveCached(l, int(min(atomic.LoadUint64(&e[oPid]), 1<<30)), atomic.LoadUint64(&e[oStart]))
}

// ---- owners ----

// attachOwner takes a free entry of the owner table for this handle,
// reaping entries of dead processes when the table is full.
func (r *Ring) attachOwner() (int, error) {
	for attempt := 0; attempt < 2; attempt++ {
		for i := 1; i < r.g.MaxOwners; i++ {
			e := r.owner(i)
			if atomic.LoadUint64(&e[oLease]) == 0 && atomic.CompareAndSwapUint64(&e[oLease], 0, r.lease.id) {
				atomic.StoreUint64(&e[oPid], uint64(r.lease.pid))
				atomic.StoreUint64(&e[oStart], r.lease.start)
				return i, nil
			}
		}
		r.me = -1
		r.reapOwners()
	}
	return 0, fmt.Errorf("%w: ring %s (%d)", ErrTooManyOwners, r.path(), r.g.MaxOwners-1)
}

// Recover reaps every owner whose process has died: claims it left
// uncommitted become skips, records it took but never released are freed
// (and counted as Lost), its quarantined slots are returned, and its
// counters are folded into the ring's totals. Push and Pop do this lazily
// for whatever blocks them; Recover does it for the whole ring. It returns
// the number of owners reaped.
func (r *Ring) Recover() (n int, err error) {
	if err := r.enter(); err != nil {
		return 0, err
	}
	defer r.seg.guard(&err, faultOn())
	return r.reapOwners(), nil
}

func (r *Ring) reapOwners() int {
	reaped := 0
	for i := 1; i < r.g.MaxOwners; i++ {
		if i == r.me {
			continue
		}
		e := r.owner(i)
		l := atomic.LoadUint64(&e[oLease])
		if l == 0 {
			continue
		}
		if l&reapBit == 0 {
			if !r.ownerDead(i) || !atomic.CompareAndSwapUint64(&e[oLease], l, l|reapBit) {
				continue
			}
			l |= reapBit
		}
		r.sweep(i)
		r.retire(e)
		if atomic.CompareAndSwapUint64(&e[oLease], l, 0) {
			reaped++
		}
	}
	return reaped
}

// sweep resolves every cell that names owner i, which is dead.
func (r *Ring) sweep(i int) {
	for idx := range r.g.Cells {
		w := atomic.LoadUint64(r.word(idx))
		if wOwner(w) != i {
			continue
		}
		switch wState(w) {
		case stClaimed:
			if n, err := r.cellsOf(idx, w); err == nil {
				r.helpTail(wSeq(w), n)
				if atomic.CompareAndSwapUint64(r.word(idx), w, mkWord(wSeq(w), stSkipped, false, n, 0)) {
					r.count(oReclaimed)
				}
			}
		case stTaken:
			r.resolveTaken(idx, w)
		case stQuarantined:
			r.returnQuarantine(idx, w)
		}
	}
}

// retire folds an owner entry's counters into the ring totals and removes
// its parked goroutines from the doorbells' sleeper counts.
func (r *Ring) retire(e []uint64) { retireInto(e, r.retired(), r.cons, r.prod) }

func retireInto(e, ret []uint64, cons, prod Doorbell) {
	for k := range nCounters {
		if v := atomic.SwapUint64(&e[oCounters+k], 0); v != 0 {
			atomic.AddUint64(&ret[k], v)
		}
	}
	cons.forget(atomic.SwapUint64(&e[oParkC], 0))
	prod.forget(atomic.SwapUint64(&e[oParkP], 0))
}

// ---- stats and close ----

// RingStats is a snapshot of a ring's counters, summed over every process
// that has used it.
type RingStats struct {
	Len           int    // records committed and not yet taken (approximate while busy)
	Owners        int    // processes with the ring open
	Head, Tail    uint64 // positions, in cells
	Pushed        uint64 // records pushed
	Popped        uint64 // records popped
	Reclaimed     uint64 // claims of dead producers skipped
	Quarantined   uint64 // claims of stalled producers set aside
	Lost          uint64 // records taken by consumers that died before finishing
	FailedCommits uint64 // pushes that failed with ErrReclaimed
	Corrupt       uint64 // records dropped because their length was invalid
}

// Stats returns the ring's counters.
func (r *Ring) Stats() (s RingStats, err error) {
	if err := r.enter(); err != nil {
		return s, err
	}
	defer r.seg.guard(&err, faultOn())
	return r.counters(), nil
}

// counters adds up the ring's counters: the retired ones and those of
// its live owners. The caller guards faults.
func (r *Ring) counters() (s RingStats) {
	var c [nCounters]uint64
	ret := r.retired()
	for k := range ret {
		c[k] = atomic.LoadUint64(&ret[k])
	}
	for i := 1; i < r.g.MaxOwners; i++ {
		e := r.owner(i)
		if atomic.LoadUint64(&e[oLease]) == 0 {
			continue
		}
		s.Owners++
		for k := range nCounters {
			c[k] += atomic.LoadUint64(&e[oCounters+k])
		}
	}
	s.Pushed, s.Popped = c[oPushed-oCounters], c[oPopped-oCounters]
	s.Reclaimed, s.Quarantined = c[oReclaimed-oCounters], c[oQuarantined-oCounters]
	s.Lost, s.FailedCommits, s.Corrupt = c[oLost-oCounters], c[oFailed-oCounters], c[oCorrupt-oCounters]
	s.Head, s.Tail = atomic.LoadUint64(r.head()), atomic.LoadUint64(r.tail())
	if gone := s.Popped + s.Lost + s.Corrupt; s.Pushed > gone {
		s.Len = int(s.Pushed - gone)
	}
	return s
}

// Backlog reports whether the ring holds cells claimed or committed and
// not yet taken: false once consumers have caught up with producers. It
// is two atomic loads, for a producer choosing between pushing now and
// packing more into its next record; a record may be taken or pushed as
// it returns.
func (r *Ring) Backlog() (busy bool) {
	if r.enter() != nil {
		return false
	}
	var err error
	defer r.seg.guard(&err, faultOn())
	return atomic.LoadUint64(r.tail()) != atomic.LoadUint64(r.head())
}

// Positions returns the ring's head and tail: how many cells consumers
// have taken, and producers have claimed, since the ring was made. Both
// only grow. A record claimed before tail was read has been taken (or
// skipped as lost) once head has reached that tail.
func (r *Ring) Positions() (head, tail uint64, err error) {
	if err := r.enter(); err != nil {
		return 0, 0, err
	}
	defer r.seg.guard(&err, faultOn())
	return atomic.LoadUint64(r.head()), atomic.LoadUint64(r.tail()), nil
}

// Len returns the number of records waiting in the ring (approximate while
// others push and pop).
func (r *Ring) Len() int {
	s, _ := r.Stats()
	return s.Len
}

// Close stops the handle: operations started after it fail with ErrClosed,
// and goroutines waiting in Push or Pop on this handle return ErrClosed.
// The handle's mapping and its entry in the ring's owner table are released
// once the handle is no longer referenced, which guarantees that no
// operation still runs on them. The ring itself stays for other processes;
// remove it with Dir.Remove. Closing twice is harmless.
func (r *Ring) Close() (err error) {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	defer r.seg.guard(&err, faultOn())
	r.wakeAll()
	return nil
}
