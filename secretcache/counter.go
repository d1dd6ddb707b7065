package secretcache

import (
	"sync/atomic"
	"unsafe"
)

// counterStripes is the number of cells of a stripedCounter; a power of two.
const counterStripes = 32

// stripedCounter is a counter for the hit path. One shared atomic would
// bounce its cache line between cores on every read and stop reads from
// scaling, so increments go to one of several cells, each on its own cache
// lines, picked by the calling goroutine's stack address: goroutines
// running at the same time have distinct stacks, so they mostly use
// distinct cells. The pick is only a hint; any cell is correct.
type stripedCounter struct {
	cells [counterStripes]struct {
		n atomic.Uint64
		_ [120]byte // two cache lines apart: adjacent-line prefetch
	}
}

func (s *stripedCounter) add() {
	var marker byte
	// The stack address is only hashed, never dereferenced or kept.
	p := uint64(uintptr(unsafe.Pointer(&marker)))
	i := (p >> 10) * 0x9e3779b97f4a7c15 >> (64 - 5)
	s.cells[i&(counterStripes-1)].n.Add(1)
}

func (s *stripedCounter) load() uint64 {
	var n uint64
	for i := range s.cells {
		n += s.cells[i].n.Load()
	}
	return n
}
