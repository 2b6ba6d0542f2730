package ipam

import (
	"math/bits"
	"sort"
)

const (
	blockShift = 12
	blockBits  = 1 << blockShift // addresses per block
	blockWords = blockBits / 64
)

// block is one bitmap block of blockBits addresses; a set bit is a used (or excluded) address.
type block struct {
	w     [blockWords]uint64
	count int
}

// nextZero returns the first clear bit at or after i, or -1.
func (b *block) nextZero(i int) int {
	for wi := i / 64; wi < blockWords; wi++ {
		w := ^b.w[wi]
		if wi == i/64 {
			w &= ^uint64(0) << (uint(i) % 64)
		}
		if w != 0 {
			return wi*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}

// span is an inclusive interval of u128 values.
type span struct{ from, to u128 }

// spanSet is a sorted set of disjoint, non-adjacent spans.
type spanSet []span

// find returns the index of the span containing v, or -1.
func (s spanSet) find(v u128) int {
	i := sort.Search(len(s), func(i int) bool { return !s[i].to.less(v) })
	if i < len(s) && !v.less(s[i].from) {
		return i
	}
	return -1
}

// add inserts v, merging with neighbours.
func (s *spanSet) add(v u128) {
	if s.find(v) >= 0 {
		return
	}
	ss := *s
	i := sort.Search(len(ss), func(i int) bool { return v.less(ss[i].from) })
	// ss[i-1] ends before v, ss[i] starts after v.
	joinLeft := i > 0 && ss[i-1].to.inc() == v
	joinRight := i < len(ss) && v.inc() == ss[i].from
	switch {
	case joinLeft && joinRight:
		ss[i-1].to = ss[i].to
		ss = append(ss[:i], ss[i+1:]...)
	case joinLeft:
		ss[i-1].to = v
	case joinRight:
		ss[i].from = v
	default:
		ss = append(ss, span{})
		copy(ss[i+1:], ss[i:])
		ss[i] = span{v, v}
	}
	*s = ss
}

// addSpan inserts a whole span, merging overlapping and adjacent spans (used when a pool is built).
func (s *spanSet) addSpan(sp span) {
	ss := append(*s, sp)
	sort.Slice(ss, func(i, j int) bool { return ss[i].from.less(ss[j].from) })
	out := ss[:1]
	for _, x := range ss[1:] {
		last := &out[len(out)-1]
		if last.to.isMax() || !last.to.inc().less(x.from) {
			if last.to.less(x.to) {
				last.to = x.to
			}
			continue
		}
		out = append(out, x)
	}
	*s = out
}

// remove deletes v, splitting its span.
func (s *spanSet) remove(v u128) {
	ss := *s
	i := ss.find(v)
	if i < 0 {
		return
	}
	sp := ss[i]
	switch {
	case sp.from == v && sp.to == v:
		ss = append(ss[:i], ss[i+1:]...)
	case sp.from == v:
		ss[i].from = v.inc()
	case sp.to == v:
		ss[i].to = v.sub(u128{lo: 1})
	default:
		ss = append(ss, span{})
		copy(ss[i+2:], ss[i+1:])
		ss[i] = span{sp.from, v.sub(u128{lo: 1})}
		ss[i+1] = span{v.inc(), sp.to}
	}
	*s = ss
}

// bitmap is a sparse two-level bitmap over offsets [0, 2^128): blocks that hold some but not all set bits
// live in a map, full blocks only in an interval set, empty blocks nowhere. Finding the next clear bit
// skips a run of full blocks in one binary search, so the cost does not grow with how full it is.
type bitmap struct {
	blocks map[u128]*block
	full   spanSet // indexes of full blocks
	set    u128    // number of set bits (saturating is not needed: ranges hold < 2^128 reservations)
	// last partial block marked: consecutive marks (building a pool from a state) skip the lookups
	lastIdx u128
	lastBlk *block
}

// maxBlock is the index of the last block of the 128-bit space.
func maxBlock() u128 { return u128{hi: ^uint64(0) >> blockShift, lo: ^uint64(0)} }

func newBitmap() *bitmap { return &bitmap{blocks: map[u128]*block{}} }

func split(off u128) (u128, int) { return off.shr(blockShift), int(off.lo & (blockBits - 1)) }

func (m *bitmap) has(off u128) bool {
	bi, i := split(off)
	if m.full.find(bi) >= 0 {
		return true
	}
	b := m.blocks[bi]
	return b != nil && b.w[i/64]&(1<<(uint(i)%64)) != 0
}

// mark sets off; it reports whether it was clear.
func (m *bitmap) mark(off u128) bool {
	bi, i := split(off)
	b := m.lastBlk
	if b == nil || bi != m.lastIdx {
		if m.full.find(bi) >= 0 {
			return false
		}
		b = m.blocks[bi]
		if b == nil {
			b = &block{}
			m.blocks[bi] = b
		}
		m.lastIdx, m.lastBlk = bi, b
	}
	bit := uint64(1) << (uint(i) % 64)
	if b.w[i/64]&bit != 0 {
		return false
	}
	b.w[i/64] |= bit
	b.count++
	m.set = m.set.inc()
	if b.count == blockBits {
		delete(m.blocks, bi)
		m.full.add(bi)
		m.lastBlk = nil
	}
	return true
}

// markBlocks sets every bit of the whole blocks from..to (excluded space: not counted in set).
func (m *bitmap) markBlocks(from, to u128) {
	m.lastBlk = nil
	for bi, b := range m.blocks {
		if !bi.less(from) && !to.less(bi) {
			m.set = m.set.sub(u128{lo: uint64(b.count)})
			delete(m.blocks, bi)
		}
	}
	m.full.addSpan(span{from, to})
}

// clear clears off; it reports whether it was set.
func (m *bitmap) clear(off u128) bool {
	bi, i := split(off)
	b := m.blocks[bi]
	if m.full.find(bi) >= 0 {
		m.full.remove(bi)
		b = &block{count: blockBits}
		for w := range b.w {
			b.w[w] = ^uint64(0)
		}
		m.blocks[bi] = b
	}
	if b == nil {
		return false
	}
	bit := uint64(1) << (uint(i) % 64)
	if b.w[i/64]&bit == 0 {
		return false
	}
	b.w[i/64] &^= bit
	b.count--
	m.set = m.set.sub(u128{lo: 1})
	if b.count == 0 {
		delete(m.blocks, bi)
		m.lastBlk = nil
	}
	return true
}

// nextClear returns the first clear offset in [from, last], if any.
func (m *bitmap) nextClear(from, last u128) (u128, bool) {
	c := from
	for !last.less(c) {
		bi, i := split(c)
		if k := m.full.find(bi); k >= 0 {
			end := m.full[k].to
			if end == maxBlock() {
				return u128{}, false
			}
			c = end.inc().shl(blockShift)
			continue
		}
		b := m.blocks[bi]
		if b == nil {
			return c, true
		}
		if z := b.nextZero(i); z >= 0 {
			c = bi.shl(blockShift).add(u128{lo: uint64(z)})
			if last.less(c) {
				return u128{}, false
			}
			return c, true
		}
		if bi == maxBlock() {
			return u128{}, false
		}
		c = bi.inc().shl(blockShift)
	}
	return u128{}, false
}
