package secretcache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Entry flag bits.
const (
	flagRef       uint32 = 1 << iota // read since the CLOCK hand last passed
	flagDead                         // removed from the index
	flagByVersion                    // the entry selects a version id, not a stage
)

// Key separators. Secret ids cannot contain control characters, so a key
// never collides with a plain secret id.
const (
	sepStage   = "\x00"
	sepVersion = "\x01"
)

// entry is one cached (secret id, stage or version id). Its mutable parts
// are atomics: the state pointer is replaced as a whole, never changed in
// place.
type entry struct {
	key   string                 // id, or id+sepStage+stage, or id+sepVersion+versionID
	next  atomic.Pointer[entry]  // bucket chain; rewritten only under index.mu
	st    atomic.Pointer[state]  // nil until the first fetch completes
	fl    atomic.Pointer[flight] // the fetch running for this entry, if any
	flags atomic.Uint32
	idLen uint32
}

func (e *entry) id() string { return e.key[:e.idLen] }

// sel returns the stage or version id the entry selects.
func (e *entry) sel() string {
	if int(e.idLen) == len(e.key) {
		return StageCurrent
	}
	return e.key[e.idLen+1:]
}

func (e *entry) has(f uint32) bool { return e.flags.Load()&f != 0 }

// index maps keys to entries. Lookups take no lock: they walk an immutable
// bucket array through atomic pointers. Writers serialize on mu. A lookup
// racing a writer may miss an entry that exists (a chain being relinked by
// grow) or find one just removed (flagDead); callers treat both as a miss
// and retry under mu, which is authoritative.
type index struct {
	seed maphash.Seed
	tab  atomic.Pointer[table]

	mu   sync.Mutex
	n    int // live entries; guarded by mu
	hand int // CLOCK hand, a bucket number; guarded by mu
}

type table struct {
	buckets []atomic.Pointer[entry]
	mask    uint64
}

func newTable(size int) *table {
	return &table{buckets: make([]atomic.Pointer[entry], size), mask: uint64(size - 1)}
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	ix.tab.Store(newTable(64))
	return ix
}

// load returns the entry for key, or nil. It may rarely return nil for an
// entry that exists, or a dead entry; see index.
func (ix *index) load(key string) *entry {
	t := ix.tab.Load()
	h := maphash.String(ix.seed, key)
	for e := t.buckets[h&t.mask].Load(); e != nil; e = e.next.Load() {
		if e.key == key {
			return e
		}
	}
	return nil
}

// loadBytes is load for a key held in a byte slice, without converting it.
func (ix *index) loadBytes(key []byte) *entry {
	t := ix.tab.Load()
	h := maphash.Bytes(ix.seed, key)
	for e := t.buckets[h&t.mask].Load(); e != nil; e = e.next.Load() {
		if e.key == string(key) {
			return e
		}
	}
	return nil
}

// loadLocked is load without races with writers. ix.mu must be held.
func (ix *index) loadLocked(key string) *entry {
	return ix.load(key)
}

// loadLive returns the live entries among keys, except skip. It takes mu,
// so unlike load it never misses an entry that exists.
func (ix *index) loadLive(keys []string, skip *entry) []*entry {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []*entry
	for _, k := range keys {
		if e := ix.loadLocked(k); e != nil && e != skip && !e.has(flagDead) {
			out = append(out, e)
		}
	}
	return out
}

// getOrCreate returns the live entry for key, creating it with the given
// flags if needed. To stay within maxEntries it evicts entries, CLOCK
// fashion, and returns how many.
func (ix *index) getOrCreate(key string, idLen int, flags uint32, maxEntries int) (e *entry, evicted int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e := ix.loadLocked(key); e != nil {
		return e, 0
	}
	// A new entry starts unreferenced: only a second read (a hit) marks it,
	// so a scan of many one-off ids evicts those ids, not the hot ones.
	e = &entry{key: key, idLen: uint32(idLen)}
	e.flags.Store(flags)
	t := ix.tab.Load()
	if ix.n >= len(t.buckets) {
		t = ix.grow(t)
	}
	b := &t.buckets[maphash.String(ix.seed, key)&t.mask]
	e.next.Store(b.Load())
	b.Store(e)
	ix.n++
	for ix.n > maxEntries && ix.evictOne(e) {
		evicted++
	}
	return e, evicted
}

// grow doubles the bucket array and publishes it. Entries are relinked in
// place, so a concurrent lookup in the old array may miss (never loop: new
// links only point to entries relinked earlier).
func (ix *index) grow(old *table) *table {
	t := newTable(2 * len(old.buckets))
	var chain []*entry
	for i := range old.buckets {
		chain = chain[:0]
		for e := old.buckets[i].Load(); e != nil; e = e.next.Load() {
			chain = append(chain, e)
		}
		for _, e := range chain {
			b := &t.buckets[maphash.String(ix.seed, e.key)&t.mask]
			e.next.Store(b.Load())
			b.Store(e)
		}
	}
	ix.tab.Store(t)
	ix.hand = 0
	return t
}

// evictOne removes one entry other than keep: the first, from the CLOCK
// hand on, not referenced since the hand last passed it. It clears the
// reference bits it passes. ix.mu must be held.
func (ix *index) evictOne(keep *entry) bool {
	t := ix.tab.Load()
	// Two full sweeps clear every reference bit, so the loop ends.
	for range 2*len(t.buckets) + 1 {
		b := &t.buckets[ix.hand]
		for e := b.Load(); e != nil; e = e.next.Load() {
			if e == keep {
				continue
			}
			if e.has(flagRef) {
				e.flags.And(^flagRef)
				continue
			}
			ix.unlinkLocked(t, e)
			return true
		}
		ix.hand = (ix.hand + 1) & int(t.mask)
	}
	return false
}

// unlinkLocked removes e from its chain and marks it dead. ix.mu must be
// held. e.next is left intact so lookups standing on e can go on.
func (ix *index) unlinkLocked(t *table, e *entry) {
	b := &t.buckets[maphash.String(ix.seed, e.key)&t.mask]
	if b.Load() == e {
		b.Store(e.next.Load())
	} else {
		for p := b.Load(); p != nil; p = p.next.Load() {
			if p.next.Load() == e {
				p.next.Store(e.next.Load())
				break
			}
		}
	}
	e.flags.Or(flagDead)
	ix.n--
}

// removeID removes every entry of secret id and returns how many. It costs
// a walk over the whole index.
func (ix *index) removeID(id string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.tab.Load()
	var doomed []*entry
	for i := range t.buckets {
		for e := t.buckets[i].Load(); e != nil; e = e.next.Load() {
			if e.id() == id {
				doomed = append(doomed, e)
			}
		}
	}
	for _, e := range doomed {
		ix.unlinkLocked(t, e)
	}
	return len(doomed)
}

// len returns the number of live entries.
func (ix *index) len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.n
}
