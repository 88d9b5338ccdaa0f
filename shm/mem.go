package shm

import (
	"fmt"
	"unsafe"
)

// This file holds every conversion of mapped memory into typed views. The
// rest of the package works on the []uint32, []uint64 and []byte slices made
// here, so each access is bounds-checked by Go, and every atomic operation
// goes through sync/atomic on a *uint32 or *uint64 taken from such a slice.
//
// Why these conversions are safe:
//   - The memory comes from mmap (or MapViewOfFile) and stays mapped until
//     the owning Segment is closed; Segment and Ring refuse to close while an
//     operation holds a reference, so no view outlives its mapping.
//   - Mappings start on a page boundary and every offset handed to these
//     helpers is checked to be a multiple of the element size, so 64-bit
//     atomics are 8-byte aligned even on 386 and arm, where Go does not
//     align them for us (and align64 does not apply to mapped memory).
//   - The element types hold no pointers, so the garbage collector never
//     needs to scan or move this memory.

// u64s views b as a slice of uint64. It panics when b is misaligned or its
// length is not a multiple of 8; callers check offsets before calling.
func u64s(b []byte) []uint64 {
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 || len(b)%8 != 0 {
		panic(fmt.Sprintf("shm: internal error: u64 view of %d bytes at misaligned address", len(b)))
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
}

// u32s views b as a slice of uint32, with the same rules as u64s.
func u32s(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 || len(b)%4 != 0 {
		panic(fmt.Sprintf("shm: internal error: u32 view of %d bytes at misaligned address", len(b)))
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// addrRange returns the address range [lo, hi) that b covers, used only to
// tell whether a fault address lies inside one of our mappings.
func addrRange(b []byte) (lo, hi uintptr) {
	if len(b) == 0 {
		return 0, 0
	}
	lo = uintptr(unsafe.Pointer(&b[0]))
	return lo, lo + uintptr(len(b))
}
