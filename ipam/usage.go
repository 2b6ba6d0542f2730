package ipam

import (
	"context"
	"fmt"
	"math/bits"
	"net/netip"
)

// UsageBlockBits is how many consecutive addresses one UsageBlock covers; a block's Base is aligned to it.
const UsageBlockBits = 4096

// UsageBlock records which of UsageBlockBits consecutive addresses are reserved: bit i%64 of Bits[i/64]
// stands for Base+i.
type UsageBlock struct {
	Base netip.Addr
	Bits [UsageBlockBits / 64]uint64
}

// Usage is a compact record of which addresses of a network are reserved, plus the round-robin cursors:
// what a store that keeps one hands a fresh allocator instead of every reservation (State), so building
// a Pool costs O(range/64) word operations whatever the fill. Blocks do not depend on the network's
// ranges; reserved addresses outside them are ignored, like in NewPool. The zero value is empty.
type Usage struct {
	Blocks       []UsageBlock
	LastReserved map[int]netip.Addr

	idx map[netip.Addr]int // Base -> index in Blocks, built on first use
}

// UsageLoader is an optional extension of Store: a store that keeps a Usage current lets an Allocator
// load it instead of the whole State. It must describe exactly the reservations Load would return.
type UsageLoader interface {
	LoadUsage(ctx context.Context, network string) (*Usage, error)
}

// UsageBase returns the base address of the usage block holding a.
func UsageBase(a netip.Addr) netip.Addr {
	a = a.Unmap()
	u := u128From(a)
	u.lo &^= UsageBlockBits - 1
	return u.addr(a.Is4())
}

func (u *Usage) index() {
	if u.idx != nil && len(u.idx) == len(u.Blocks) {
		return
	}
	u.idx = make(map[netip.Addr]int, len(u.Blocks))
	for i, b := range u.Blocks {
		u.idx[b.Base] = i
	}
}

func usageBit(a netip.Addr) (base netip.Addr, word int, bit uint64) {
	a = a.Unmap()
	i := int(u128From(a).lo & (UsageBlockBits - 1))
	return UsageBase(a), i / 64, uint64(1) << (uint(i) % 64)
}

// Has reports whether a is recorded as reserved.
func (u *Usage) Has(a netip.Addr) bool {
	u.index()
	base, w, bit := usageBit(a)
	i, ok := u.idx[base]
	return ok && u.Blocks[i].Bits[w]&bit != 0
}

// Set records a as reserved; it reports whether it was not.
func (u *Usage) Set(a netip.Addr) bool {
	u.index()
	base, w, bit := usageBit(a)
	i, ok := u.idx[base]
	if !ok {
		u.Blocks = append(u.Blocks, UsageBlock{Base: base})
		i = len(u.Blocks) - 1
		u.idx[base] = i
	}
	if u.Blocks[i].Bits[w]&bit != 0 {
		return false
	}
	u.Blocks[i].Bits[w] |= bit
	return true
}

// Clear records a as free; it reports whether it was reserved. A block left empty is dropped.
func (u *Usage) Clear(a netip.Addr) bool {
	u.index()
	base, w, bit := usageBit(a)
	i, ok := u.idx[base]
	if !ok || u.Blocks[i].Bits[w]&bit == 0 {
		return false
	}
	u.Blocks[i].Bits[w] &^= bit
	for _, x := range u.Blocks[i].Bits {
		if x != 0 {
			return true
		}
	}
	last := len(u.Blocks) - 1
	u.Blocks[i] = u.Blocks[last]
	u.Blocks = u.Blocks[:last]
	delete(u.idx, base)
	if i < last {
		u.idx[u.Blocks[i].Base] = i
	}
	return true
}

// Count returns how many addresses are recorded as reserved.
func (u *Usage) Count() int {
	n := 0
	for _, b := range u.Blocks {
		for _, w := range b.Bits {
			n += bits.OnesCount64(w)
		}
	}
	return n
}

// UsageOf returns the Usage of st (nil means empty): what a store keeping one must hold for st.
func UsageOf(st *State) *Usage {
	u := &Usage{LastReserved: map[int]netip.Addr{}}
	if st == nil {
		return u
	}
	for _, r := range st.Reservations {
		u.Set(r.Addr)
	}
	for k, v := range st.LastReserved {
		u.LastReserved[k] = v
	}
	return u
}

// NewPoolFromUsage validates a copy of n and builds its pool from u (nil means empty); the result is the
// pool NewPool builds from a State with the same reservations and cursors.
func NewPoolFromUsage(n *Network, u *Usage) (*Pool, error) {
	p, err := NewPool(n, nil)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return p, nil
	}
	for bi := range u.Blocks {
		b := &u.Blocks[bi]
		if !b.Base.IsValid() || UsageBase(b.Base) != b.Base.Unmap() {
			return nil, fmt.Errorf("ipam: usage block base %s is not aligned to %d addresses", b.Base, UsageBlockBits)
		}
		base := u128From(b.Base.Unmap())
		is4 := b.Base.Unmap().Is4()
		for si := range p.sets {
			for _, rp := range p.sets[si].ranges {
				if rp.is4 != is4 {
					continue
				}
				for wi, w := range b.Bits {
					if w != 0 {
						rp.orWord(base.add(u128{lo: uint64(wi) * 64}), w)
					}
				}
			}
		}
	}
	for si, a := range u.LastReserved {
		if si >= 0 && si < len(p.sets) {
			p.sets[si].last = a.Unmap()
		}
	}
	return p, nil
}

// orWord marks the reserved addresses abs..abs+63 (bit i is abs+i, abs aligned to 64) that fall inside
// the range; excluded addresses are already set and so are not counted.
func (rp *rangePool) orWord(abs u128, w uint64) {
	end := rp.start.add(rp.last)
	if end.less(abs) || abs.add(u128{lo: 63}).less(rp.start) {
		return
	}
	var off u128
	if abs.less(rp.start) {
		w >>= rp.start.sub(abs).lo // < 64
	} else {
		off = abs.sub(rp.start)
	}
	if room := rp.last.sub(off); room.hi == 0 && room.lo < 63 {
		w &= uint64(1)<<(room.lo+1) - 1
	}
	rp.n += rp.used.orBits(off, w)
}

// orBits sets the bits off+i for every set bit i of w and returns how many were clear.
func (m *bitmap) orBits(off u128, w uint64) int {
	if w == 0 {
		return 0
	}
	s := off.lo & 63
	base := u128{hi: off.hi, lo: off.lo &^ 63}
	n := m.orWord(base, w<<s)
	if s != 0 {
		if rest := w >> (64 - s); rest != 0 && (base.hi != ^uint64(0) || base.lo != ^uint64(63)) {
			n += m.orWord(base.add(u128{lo: 64}), rest)
		}
	}
	return n
}

// orWord sets the bits of w in the 64-aligned word at base and returns how many were clear.
func (m *bitmap) orWord(base u128, w uint64) int {
	if w == 0 {
		return 0
	}
	bi, i := split(base)
	if m.full.find(bi) >= 0 {
		return 0
	}
	b := m.blocks[bi]
	if b == nil {
		b = &block{}
		m.blocks[bi] = b
	}
	nw := w &^ b.w[i/64]
	if nw == 0 {
		return 0
	}
	b.w[i/64] |= nw
	c := bits.OnesCount64(nw)
	b.count += c
	m.set = m.set.add(u128{lo: uint64(c)})
	m.lastBlk = nil
	if b.count == blockBits {
		delete(m.blocks, bi)
		m.full.add(bi)
	}
	return c
}
