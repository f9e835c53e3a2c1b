package memory

// index is a hash index from a key (a token hash, a session ID, a
// subject) to a uint32 reference into one of the Store's arrays. It keeps
// no key: the caller hashes the key and, for each candidate, says whether
// the entry it references has that key. That costs 8 bytes a slot instead
// of the 40 to 56 of a Go map holding the key, and no pointer for the
// garbage collector to scan.
//
// The index is split into shards by the hash's top bits; each shard is an
// open-addressing table with linear probing and backward-shift deletion
// (no tombstones), kept at most three quarters full. A slot holds the low
// 32 bits of the key's hash beside the reference, so a probe compares
// entries without touching them, and growing rehashes without the keys.
// Growing one shard moves 1/64 of the entries, which bounds the pause a
// write that grows it takes under the Store's lock.
//
// Keys are hashed with hash/maphash under the Store's own random seed, so
// an attacker who chooses tokens, IDs or subjects cannot aim them at one
// chain.
type index struct {
	shards [indexShards]indexShard
}

const (
	indexShardBits = 6
	indexShards    = 1 << indexShardBits
	// indexMinSlots is the size of a shard's table at its first insert.
	indexMinSlots = 8
)

type indexShard struct {
	// slots holds hash<<32 | ref+1, or 0 when empty. len(slots) is a
	// power of two or zero.
	slots []uint64
	n     int
}

func (x *index) shard(h uint64) *indexShard { return &x.shards[h>>(64-indexShardBits)] }

func slotOf(h uint64, ref uint32) uint64 { return uint64(uint32(h))<<32 | (uint64(ref) + 1) }

func slotRef(v uint64) uint32 { return uint32(v) - 1 }

// find returns the reference of the entry with key hash h for which
// match(ref) is true.
func (x *index) find(h uint64, match func(ref uint32) bool) (uint32, bool) {
	sh := x.shard(h)
	if sh.n == 0 {
		return 0, false
	}
	mask := uint32(len(sh.slots) - 1)
	frag := uint32(h)
	for i := frag & mask; ; i = (i + 1) & mask {
		v := sh.slots[i]
		if v == 0 {
			return 0, false
		}
		if uint32(v>>32) == frag && match(slotRef(v)) {
			return slotRef(v), true
		}
	}
}

// insert adds ref under key hash h. The caller has checked that no entry
// with the same key is present.
func (x *index) insert(h uint64, ref uint32) {
	sh := x.shard(h)
	if (sh.n+1)*4 > len(sh.slots)*3 {
		sh.grow()
	}
	sh.place(slotOf(h, ref))
	sh.n++
}

// place puts v into the first empty slot of its chain.
func (sh *indexShard) place(v uint64) {
	mask := uint32(len(sh.slots) - 1)
	for i := uint32(v>>32) & mask; ; i = (i + 1) & mask {
		if sh.slots[i] == 0 {
			sh.slots[i] = v
			return
		}
	}
}

func (sh *indexShard) grow() {
	old := sh.slots
	sh.slots = make([]uint64, max(2*len(old), indexMinSlots))
	for _, v := range old {
		if v != 0 {
			sh.place(v)
		}
	}
}

// locate returns the position of the slot holding ref under key hash h.
func (sh *indexShard) locate(h uint64, ref uint32) (uint32, bool) {
	if sh.n == 0 {
		return 0, false
	}
	want := slotOf(h, ref)
	mask := uint32(len(sh.slots) - 1)
	for i := uint32(h) & mask; ; i = (i + 1) & mask {
		switch sh.slots[i] {
		case want:
			return i, true
		case 0:
			return 0, false
		}
	}
}

// remove deletes the entry ref under key hash h; it does nothing if there
// is none.
func (x *index) remove(h uint64, ref uint32) {
	sh := x.shard(h)
	i, ok := sh.locate(h, ref)
	if !ok {
		return
	}
	mask := uint32(len(sh.slots) - 1)
	// Backward shift: move later members of the chain into the hole when
	// their home slot does not lie strictly between the hole and them.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		v := sh.slots[j]
		if v == 0 {
			break
		}
		home := uint32(v>>32) & mask
		if (j-home)&mask >= (j-i)&mask {
			sh.slots[i] = v
			i = j
		}
	}
	sh.slots[i] = 0
	sh.n--
}

// replace makes the entry ref under key hash h reference to instead. The
// key of to must hash to h too.
func (x *index) replace(h uint64, ref, to uint32) {
	sh := x.shard(h)
	if i, ok := sh.locate(h, ref); ok {
		sh.slots[i] = slotOf(h, to)
	}
}

// len returns how many entries the index holds.
func (x *index) len() int {
	n := 0
	for i := range x.shards {
		n += x.shards[i].n
	}
	return n
}
