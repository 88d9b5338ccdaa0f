package shm

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lease is a process's proof of life inside a Dir: a lock file
// ("lease-<id>") that the process holds with an exclusive flock
// (LockFileEx on Windows) for as long as it lives. The kernel drops the
// lock when the process dies, however it dies, so another process can tell
// a dead owner from a live one without trusting pids. The file also records
// the pid and process start time, the second check used when the lock file
// itself has gone missing.
//
// A process has one lease per Dir; Dir.Lease returns it.
type Lease struct {
	dir   *Dir
	id    uint64
	f     *fileSys
	pid   int
	start uint64
	// unlinked: the file was removed when the Dir closed, before the
	// last ring handle let go of the lease.
	unlinked bool
}

// ID returns the lease's identifier, unique within the directory.
func (l *Lease) ID() uint64 { return l.id }

// PID returns the pid of the process holding the lease.
func (l *Lease) PID() int { return l.pid }

// StartTime returns the holding process's start time in the platform's
// units (clock ticks since boot on Linux), or 0 when unknown.
func (l *Lease) StartTime() uint64 { return l.start }

// LeaseName returns the file name of the lease with the given id.
func LeaseName(id uint64) string { return fmt.Sprintf("lease-%016x", id) }

// ParseLeaseName returns the id encoded in a lease file name.
func ParseLeaseName(name string) (uint64, bool) {
	h, ok := strings.CutPrefix(name, "lease-")
	if !ok || len(h) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(h, 16, 64)
	return id, err == nil && id != 0
}

// Lease returns this process's lease in d, creating and locking the lease
// file on first use. The lease is released when d is closed and no ring
// opened through d is still open.
func (d *Dir) Lease() (*Lease, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leaseLocked()
}

// leaseLocked is Lease with d.mu held.
func (d *Dir) leaseLocked() (*Lease, error) {
	if d.closed {
		return nil, fmt.Errorf("%w: dir %s", ErrClosed, d.path)
	}
	if d.lease != nil {
		return d.lease, nil
	}
	l, err := d.newLease()
	if err != nil {
		return nil, err
	}
	d.lease = l
	return l, nil
}

// acquireLease returns the lease and counts a user that keeps it alive.
func (d *Dir) acquireLease() (*Lease, error) {
	// One critical section: a Close between taking the lease and
	// counting the user would release the lease under it.
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.leaseLocked()
	if err != nil {
		return nil, err
	}
	d.leaseRefs++
	return l, nil
}

// releaseLease drops a user of the lease; the last one after Close
// releases it.
func (d *Dir) releaseLease() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.leaseRefs--
	if d.closed && d.leaseRefs == 0 && d.lease != nil {
		d.lease.release()
		d.lease = nil
	}
}

func (d *Dir) newLease() (*Lease, error) {
	pid := os.Getpid()
	start, _ := procStartTime(pid)
	for range 8 {
		id := randomID()
		tmp := d.tmpName()
		f, err := d.sys.create(tmp, 0)
		if err != nil {
			return nil, err
		}
		ok, err := f.tryLock()
		if err != nil || !ok {
			f.close()
			d.sys.remove(tmp)
			if err == nil {
				err = fmt.Errorf("shm: lock new lease file %s: held by another process", tmp)
			}
			return nil, err
		}
		if err := f.write(fmt.Appendf(nil, "%d %d\n", pid, start)); err != nil {
			f.close()
			d.sys.remove(tmp)
			return nil, fmt.Errorf("shm: write lease %s: %w", tmp, err)
		}
		// Publish only once locked: a prober that finds the name always
		// finds it locked while we live.
		if err := d.sys.publish(tmp, LeaseName(id)); err != nil {
			f.close()
			if errors.Is(err, ErrExist) {
				continue
			}
			return nil, err
		}
		return &Lease{dir: d, id: id, f: f, pid: pid, start: start}, nil
	}
	return nil, fmt.Errorf("shm: lease in %s: no free id after 8 tries", d.path)
}

// release unlocks and removes the lease file.
func (l *Lease) release() error {
	var err error
	if !l.unlinked {
		err = l.dir.sys.remove(LeaseName(l.id))
	}
	l.f.unlock()
	if e := l.f.close(); err == nil {
		err = e
	}
	return err
}

// randomID returns a random non-zero 63-bit id (the top bit stays free for
// callers that tag ids).
func randomID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]) >> 1; id != 0 {
			return id
		}
	}
}

// Alive reports whether the process holding lease id is alive. The lease
// file's lock decides: held means alive, free means dead (the kernel frees
// it only when its holder exits). When the lease file is missing, the
// process is alive only if pid still runs and, when start is not zero,
// started at start.
func (d *Dir) Alive(id uint64, pid int, start uint64) (bool, error) {
	if err := d.checkOpen(); err != nil {
		return false, err
	}
	defer d.ops.RUnlock()
	if l := d.currentLease(); l != nil && l.id == id {
		return true, nil
	}
	f, err := d.sys.openLock(LeaseName(id))
	if errors.Is(err, ErrNotFound) {
		return pidAlive(pid, start), nil
	}
	if err != nil {
		return false, err
	}
	defer f.close()
	got, err := f.tryLock()
	if err != nil {
		return false, err
	}
	if got {
		f.unlock()
		return false, nil
	}
	return true, nil
}

func (d *Dir) currentLease() *Lease {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lease
}

// RemoveLease removes the lease file of a dead process. It refuses (and
// reports false) when the lease is still held.
func (d *Dir) RemoveLease(id uint64) (bool, error) {
	if err := d.checkOpen(); err != nil {
		return false, err
	}
	defer d.ops.RUnlock()
	f, err := d.sys.openLock(LeaseName(id))
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.close()
	got, err := f.tryLock()
	if err != nil || !got {
		return false, err
	}
	defer f.unlock()
	if err := d.sys.remove(LeaseName(id)); err != nil && !os.IsNotExist(err) {
		return false, err
	}
	return true, nil
}

// pidAlive reports whether a process with this pid exists and, when start
// is not zero, started at start. A zero pid is never alive.
func pidAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := procStartTime(pid)
	if err != nil {
		return false
	}
	return start == 0 || st == 0 || st == start
}

// probeCache remembers liveness answers: a dead lease stays dead, a live
// one is asked again after aliveTTL.
type probeCache struct {
	mu sync.Mutex
	m  map[uint64]probeResult
}

type probeResult struct {
	alive bool
	at    time.Time
}

const aliveTTL = 20 * time.Millisecond

// aliveCached is Alive with the cache in front; errors count as alive (we
// never reclaim on a guess).
func (d *Dir) aliveCached(id uint64, pid int, start uint64) bool {
	now := time.Now()
	d.probes.mu.Lock()
	r, ok := d.probes.m[id]
	d.probes.mu.Unlock()
	if ok && (!r.alive || now.Sub(r.at) < aliveTTL) {
		return r.alive
	}
	alive, err := d.Alive(id, pid, start)
	if err != nil {
		alive = true
	}
	d.probes.mu.Lock()
	if d.probes.m == nil || len(d.probes.m) > 4096 {
		d.probes.m = make(map[uint64]probeResult)
	}
	d.probes.m[id] = probeResult{alive: alive, at: now}
	d.probes.mu.Unlock()
	return alive
}
