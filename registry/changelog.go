package registry

import (
	"errors"
	"fmt"

	"github.com/shmactor/shmactor/shm"
)

// The changelog is a small shared segment that tells every node what
// changed in the namespace directory:
//
//	  0  generation (u64): how many changes have been logged
//	128  doorbell: rung after every change
//	256  logSlots entries of logEntry bytes:
//	       0  seq (u64): the generation this entry records; 0 while written
//	       8  length (u16) of the file name
//	      10  the file name that changed (at most logName bytes)
//
// A writer takes the next generation with an atomic add, writes the entry
// seqlock-style (seq 0, name, seq = generation), and rings the doorbell.
// A reader that has seen generation g reads entries g+1... and re-reads
// each named file; if an entry has been overwritten (it fell more than
// logSlots behind) or is not written yet (a writer died mid-way), the
// reader rescans the whole directory instead.
const (
	kindChangelog = shm.KindUser + 0x10
	clGen         = 0
	clBell        = 128
	clLog         = 256
	logSlots      = 512
	logEntry      = 256
	logName       = logEntry - 10
	clBodySize    = clLog + logSlots*logEntry
)

type changelog struct {
	seg  *shm.Segment
	gen  shm.Word64
	bell shm.Doorbell
}

func openChangelog(d *shm.Dir) (*changelog, error) {
	seg, err := d.OpenSegment(changelogName, kindChangelog)
	if errors.Is(err, shm.ErrNotFound) {
		seg, err = d.CreateSegment(changelogName, kindChangelog, clBodySize, nil)
		if errors.Is(err, shm.ErrExist) { // another node created it first
			seg, err = d.OpenSegment(changelogName, kindChangelog)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("registry: changelog: %w", err)
	}
	if len(seg.Body()) < clBodySize {
		seg.Close()
		return nil, fmt.Errorf("registry: changelog: %w: %d-byte body, want %d", shm.ErrCorrupt, len(seg.Body()), clBodySize)
	}
	c := &changelog{seg: seg}
	c.gen, _ = seg.Word64(clGen)
	c.bell, _ = seg.Doorbell(clBell)
	return c, nil
}

// log records that file changed and wakes the watchers.
func (c *changelog) log(file string) error {
	return c.seg.Do(func() error {
		c.append(file)
		return nil
	})
}

func (c *changelog) append(file string) {
	g := c.gen.Add(1)
	off := clLog + int(g%logSlots)*logEntry
	seq, _ := c.seg.Word64(off)
	seq.Store(0)
	body := c.seg.Body()[off : off+logEntry]
	n := copy(body[10:], file)
	body[8], body[9] = byte(n>>8), byte(n)
	seq.Store(g)
	c.bell.RingAlways(1 << 30)
}

// generation returns the current generation.
func (c *changelog) generation() (g uint64, err error) {
	err = c.seg.Do(func() error {
		g = c.gen.Load()
		return nil
	})
	return g, err
}

// entry returns the file name logged as generation g, or false if that
// entry has been overwritten or is not complete (or the segment faults).
func (c *changelog) entry(g uint64) (name string, ok bool) {
	c.seg.Do(func() error {
		name, ok = c.read(g)
		return nil
	})
	return name, ok
}

func (c *changelog) read(g uint64) (string, bool) {
	off := clLog + int(g%logSlots)*logEntry
	seq, _ := c.seg.Word64(off)
	if seq.Load() != g {
		return "", false
	}
	body := c.seg.Body()[off : off+logEntry]
	n := int(body[8])<<8 | int(body[9])
	if n > logName {
		return "", false
	}
	name := string(body[10 : 10+n])
	if seq.Load() != g {
		return "", false
	}
	return name, true
}
