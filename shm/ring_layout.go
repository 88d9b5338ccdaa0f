package shm

import (
	"fmt"
	"time"
)

// Ring layout (offsets are bytes from the start of the segment body; see
// docs/shm-layout.md for the full picture).
//
//	   0  config line (read-only after creation): cells, cellSize, maxRecord,
//	      maxOwners, reclaimAfter, ownersOff, dataOff
//	 128  tail (u64)             producers' claim position, own line
//	 256  head (u64)             consumers' take position, own line
//	 384  consumer doorbell      seq u32, sleepers u32, own line
//	 512  producer doorbell      seq u32, sleepers u32, own line
//	 640  retired counters       u64 each, folded from departed owners
//	1024  owner table            maxOwners x 128 bytes
//	  ..  cells                  cells x cellSize, page aligned
//
// A cell starts with its 8-byte control word. The first cell of a record
// holds the word, the record length (u64) and the first cellSize-16 bytes;
// each further cell holds its word and the next cellSize-8 bytes. Words are
// never overwritten by record bytes, so no payload can forge one, and a
// small record shares its cache lines with its word.
const (
	rhCells     = 0
	rhCellSize  = 8
	rhMaxRecord = 16
	rhMaxOwners = 24
	rhReclaimNs = 32
	rhOwnersOff = 40
	rhDataOff   = 48
	rhTail      = 128
	rhHead      = 256
	rhConsDoor  = 384
	rhProdDoor  = 512
	rhRetired   = 640
	ringHdrSize = 1024
	ownerSize   = 128
	wordSize    = 8
	firstHeader = 16 // word + u64 length
)

// Owner entry fields, as uint64 indexes into the entry.
const (
	oLease       = 0 // lease id of the owning process; 0 free; top bit: being reaped
	oPid         = 1
	oStart       = 2
	oParkC       = 3 // goroutines of this owner parked on the consumer doorbell
	oParkP       = 4 // ... on the producer doorbell
	oPushed      = 5 // counters: oPushed..oCorrupt are folded into retired
	oPopped      = 6
	oReclaimed   = 7
	oQuarantined = 8
	oLost        = 9
	oFailed      = 10
	oCorrupt     = 11
	oCounters    = oPushed
	nCounters    = 7
	ownerWords   = ownerSize / 8
	reapBit      = 1 << 63
)

// Cell word: every transition of a cell is one CAS on this word.
//
//	bits  0-31  seq    low 32 bits of the ring position the state is for
//	bits 32-34  state  free, claimed, committed, taken, skipped, quarantined
//	bit  35     flag   taken: the record was a skip; quarantined: producers passed
//	bits 36-49  n-1    cells in the record (1..16384)
//	bits 50-63  owner  owner-table index of the claiming process (0 = none)
const (
	stFree        = 0 // free for the producer at position seq
	stClaimed     = 1 // claimed by owner, being written
	stCommitted   = 2 // complete, waiting for a consumer
	stTaken       = 3 // taken by owner (a consumer), being copied out
	stSkipped     = 4 // nothing to deliver: padding or a dead producer's claim
	stQuarantined = 5 // a stalled producer's claim, set aside until it returns

	maxCellsPerRecord = 1 << 14
	maxOwnerIndex     = 1<<14 - 1
)

func mkWord(seq uint32, st uint64, flag bool, n int, owner int) uint64 {
	w := uint64(seq) | st<<32 | uint64(n-1)<<36 | uint64(owner)<<50
	if flag {
		w |= 1 << 35
	}
	return w
}

func wSeq(w uint64) uint32   { return uint32(w) }
func wState(w uint64) uint64 { return (w >> 32) & 7 }
func wFlag(w uint64) bool    { return w&(1<<35) != 0 }
func wN(w uint64) int        { return int((w>>36)&(maxCellsPerRecord-1)) + 1 }
func wOwner(w uint64) int    { return int(w >> 50) }

// RingConfig fixes a ring's geometry when it is created. Zero fields take
// the defaults shown.
type RingConfig struct {
	// Cells is the number of cells, a power of two from 16 to 1<<24
	// (default 8192).
	Cells int
	// CellSize is the bytes per cell, a power of two from 64 to 4096
	// (default 256). A record of n bytes takes one cell when n <=
	// CellSize-16, and one more for each further CellSize-8 bytes.
	CellSize int
	// MaxRecord is the largest record accepted, in bytes (default 64 KiB,
	// or less when a quarter of the ring holds less). A record may span at
	// most a quarter of the ring and 16384 cells. A batch push claims up to
	// MaxRecord's worth of cells at once.
	MaxRecord int
	// MaxOwners bounds how many processes can have the ring open at once,
	// 2 to 16383 (default 256).
	MaxOwners int
	// ReclaimAfter is how long a claimed slot may stay uncommitted by a
	// live producer before consumers set it aside and move on (default 2s).
	// A dead producer's slot is reclaimed as soon as its death is seen.
	ReclaimAfter time.Duration
}

// DefaultRingConfig returns the defaults.
func DefaultRingConfig() RingConfig {
	return RingConfig{Cells: 8192, CellSize: 256, MaxRecord: 64 << 10, MaxOwners: 256, ReclaimAfter: 2 * time.Second}
}

func (c RingConfig) withDefaults() RingConfig {
	d := DefaultRingConfig()
	if c.Cells == 0 {
		c.Cells = d.Cells
	}
	if c.CellSize == 0 {
		c.CellSize = d.CellSize
	}
	if c.MaxRecord == 0 {
		// 64 KiB, or the most a quarter of a smaller ring can hold.
		c.MaxRecord = d.MaxRecord
		if isPow2(c.Cells) && isPow2(c.CellSize) && c.CellSize >= 64 {
			c.MaxRecord = min(c.MaxRecord, min(c.Cells/4, maxCellsPerRecord)*(c.CellSize-wordSize)-wordSize)
		}
	}
	if c.MaxOwners == 0 {
		c.MaxOwners = d.MaxOwners
	}
	if c.ReclaimAfter == 0 {
		c.ReclaimAfter = d.ReclaimAfter
	}
	return c
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

// ringGeometry is a validated configuration with the derived offsets.
type ringGeometry struct {
	RingConfig
	cellShift int
	recCells  int // cells of the largest record, and of the largest claim
	ownersOff int
	dataOff   int
	bodySize  int
}

func (c RingConfig) geometry() (ringGeometry, error) {
	bad := func(format string, args ...any) (ringGeometry, error) {
		return ringGeometry{}, fmt.Errorf("%w: ring %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case !isPow2(c.Cells) || c.Cells < 16 || c.Cells > 1<<24:
		return bad("Cells %d: want a power of two from 16 to %d", c.Cells, 1<<24)
	case !isPow2(c.CellSize) || c.CellSize < 64 || c.CellSize > 4096:
		return bad("CellSize %d: want a power of two from 64 to 4096", c.CellSize)
	case c.MaxRecord < 1:
		return bad("MaxRecord %d: want at least 1", c.MaxRecord)
	case c.MaxOwners < 2 || c.MaxOwners > maxOwnerIndex:
		return bad("MaxOwners %d: want 2 to %d", c.MaxOwners, maxOwnerIndex)
	case c.ReclaimAfter < time.Millisecond:
		return bad("ReclaimAfter %v: want at least 1ms", c.ReclaimAfter)
	}
	g := ringGeometry{RingConfig: c}
	for 1<<g.cellShift < c.CellSize {
		g.cellShift++
	}
	g.recCells = g.cellsFor(c.MaxRecord)
	if g.recCells > c.Cells/4 || g.recCells > maxCellsPerRecord {
		return bad("MaxRecord %d needs %d cells of %d bytes: at most %d allowed with %d cells",
			c.MaxRecord, g.recCells, c.CellSize, min(c.Cells/4, maxCellsPerRecord), c.Cells)
	}
	g.ownersOff = ringHdrSize
	g.dataOff = roundUp(g.ownersOff+c.MaxOwners*ownerSize, pageSize)
	g.bodySize = g.dataOff + c.Cells*c.CellSize
	if uint64(g.bodySize)+HeaderSize > uint64(MaxSegmentSize) {
		return bad("of %d bytes exceeds the %d-byte segment limit", g.bodySize, uint64(MaxSegmentSize))
	}
	return g, nil
}

// cellsFor returns the cells a record of n bytes occupies.
func (g *ringGeometry) cellsFor(n int) int {
	first := g.CellSize - firstHeader
	if n <= first {
		return 1
	}
	more := g.CellSize - wordSize
	return 1 + (n-first+more-1)/more
}

// ValidRingConfig applies the defaults to cfg and checks it, returning
// the configuration a ring created with it would have.
func ValidRingConfig(cfg RingConfig) (RingConfig, error) {
	g, err := cfg.withDefaults().geometry()
	if err != nil {
		return RingConfig{}, err
	}
	return g.RingConfig, nil
}
