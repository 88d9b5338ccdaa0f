package seal

// window is a sliding replay window over sequence numbers (RFC 6479): it
// remembers the highest number seen and which of the WindowSize numbers
// up to it have been seen. Numbers above the top slide the window;
// numbers inside it are accepted once; numbers below it are refused.
// It is not safe for concurrent use; the peer's mutex guards it.
type window struct {
	top  uint64 // highest sequence number accepted; 0 = none yet
	bits [windowWords]uint64
}

const (
	windowWords = 64
	// WindowSize is how far behind the newest envelope from a peer an
	// older one may arrive and still be accepted. The bitmap has 64 words;
	// one stays free so the oldest and newest words never share a slot.
	WindowSize = (windowWords - 1) * 64 // 4032
)

// check reports whether seq would be accepted, without recording it.
func (w *window) check(seq uint64) bool {
	switch {
	case seq == 0:
		return false // numbering starts at 1
	case seq > w.top:
		return true
	case w.top-seq >= WindowSize:
		return false
	}
	return w.bits[(seq/64)%windowWords]&(1<<(seq%64)) == 0
}

// accept records seq, which check has accepted.
func (w *window) accept(seq uint64) {
	if seq > w.top {
		// Clear the words the window slides over.
		from, to := w.top/64+1, seq/64
		if to-from+1 >= windowWords || w.top == 0 {
			clear(w.bits[:])
		} else {
			for i := from; i <= to; i++ {
				w.bits[i%windowWords] = 0
			}
		}
		w.top = seq
	}
	w.bits[(seq/64)%windowWords] |= 1 << (seq % 64)
}
