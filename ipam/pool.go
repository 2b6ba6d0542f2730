package ipam

import (
	"fmt"
	"net/netip"
)

// Pool is the allocator's working state for one network: which addresses are taken, per range, and the
// round-robin cursor per range set. It is built from a store's State, is pure (no I/O, no clock) and is not
// safe for concurrent use.
type Pool struct {
	net  Network
	sets []setPool
}

type setPool struct {
	ranges []*rangePool
	last   netip.Addr // last reserved address (round-robin cursor), zero if none
}

type rangePool struct {
	r     Range
	start u128
	last  u128 // offset of r.End
	is4   bool
	excl  spanSet // offsets never handed out: network, broadcast, gateway, exclusions
	used  *bitmap // used or excluded offsets
	n     int     // reservations marked (not counting excluded addresses)
}

// NewPool validates a copy of n and builds its pool from st (nil means empty). Reservations outside the
// network's ranges are ignored; reservations on excluded addresses stay reserved but are never reissued.
func NewPool(n *Network, st *State) (*Pool, error) {
	nc := n.clone()
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{net: nc, sets: make([]setPool, len(nc.RangeSets))}
	for si, set := range nc.RangeSets {
		for _, r := range set {
			p.sets[si].ranges = append(p.sets[si].ranges, newRangePool(r))
		}
	}
	if st != nil {
		for _, res := range st.Reservations {
			p.Mark(res.Addr)
		}
		for si, a := range st.LastReserved {
			if si >= 0 && si < len(p.sets) {
				p.sets[si].last = a.Unmap()
			}
		}
	}
	return p, nil
}

func (n *Network) clone() Network {
	c := *n
	c.RangeSets = make([]RangeSet, len(n.RangeSets))
	for i, set := range n.RangeSets {
		c.RangeSets[i] = make(RangeSet, len(set))
		for j, r := range set {
			r.Exclude = append([]Exclusion(nil), r.Exclude...)
			c.RangeSets[i][j] = r
		}
	}
	return c
}

func newRangePool(r Range) *rangePool {
	rp := &rangePool{r: r, start: u128From(r.Start), is4: r.Start.Is4(), used: newBitmap()}
	rp.last = u128From(r.End).sub(rp.start)
	excludeAddr := func(from, to netip.Addr) {
		// clip to [Start, End]
		if to.Less(r.Start) || r.End.Less(from) {
			return
		}
		if from.Less(r.Start) {
			from = r.Start
		}
		if r.End.Less(to) {
			to = r.End
		}
		rp.excl.addSpan(span{u128From(from).sub(rp.start), u128From(to).sub(rp.start)})
	}
	excludeAddr(r.Subnet.Addr(), r.Subnet.Addr())
	if rp.is4 {
		b := lastAddr(r.Subnet)
		excludeAddr(b, b)
	}
	if r.Gateway.IsValid() {
		excludeAddr(r.Gateway, r.Gateway)
	}
	for _, e := range r.Exclude {
		excludeAddr(e.From, e.To)
	}
	// Past-the-end offsets of the last block are "excluded" too, so a block can become full.
	if endOfBlock := rp.last.shr(blockShift).inc().shl(blockShift); endOfBlock != (u128{}) && rp.last.inc().less(endOfBlock) {
		rp.fill(rp.last.inc(), endOfBlock.sub(u128{lo: 1}))
	} else if endOfBlock == (u128{}) && !rp.last.isMax() {
		rp.fill(rp.last.inc(), u128{hi: ^uint64(0), lo: ^uint64(0)})
	}
	for _, sp := range rp.excl {
		rp.fill(sp.from, sp.to)
	}
	return rp
}

// fill sets every offset from..to in the bitmap: partial blocks bit by bit, whole blocks at once.
func (rp *rangePool) fill(from, to u128) {
	c := from
	for !to.less(c) {
		bi, i := split(c)
		blockEnd := bi.shl(blockShift).add(u128{lo: blockBits - 1})
		if i == 0 && !to.less(blockEnd) {
			// whole blocks: from bi to the last block wholly inside
			lastBlock, li := split(to)
			if li != blockBits-1 {
				lastBlock = lastBlock.sub(u128{lo: 1})
			}
			rp.used.markBlocks(bi, lastBlock)
			if lastBlock == maxBlock() {
				return
			}
			c = lastBlock.inc().shl(blockShift)
			continue
		}
		rp.used.mark(c)
		if c == to {
			return
		}
		c = c.inc()
	}
}

func (rp *rangePool) offset(a netip.Addr) u128 { return u128From(a).sub(rp.start) }

func (rp *rangePool) excluded(off u128) bool { return rp.excl.find(off) >= 0 }

// locate finds the range set and range holding a.
func (p *Pool) locate(a netip.Addr) (int, *rangePool) {
	a = a.Unmap()
	for si := range p.sets {
		for _, rp := range p.sets[si].ranges {
			if rp.r.Contains(a) {
				return si, rp
			}
		}
	}
	return -1, nil
}

// Mark records a as taken. It reports false when a is outside every range or already taken.
func (p *Pool) Mark(a netip.Addr) bool {
	_, rp := p.locate(a)
	if rp == nil {
		return false
	}
	off := rp.offset(a.Unmap())
	if rp.excluded(off) {
		return false
	}
	if rp.used.mark(off) {
		rp.n++
		return true
	}
	return false
}

// Unmark frees a. Excluded addresses stay unavailable.
func (p *Pool) Unmark(a netip.Addr) bool {
	_, rp := p.locate(a)
	if rp == nil {
		return false
	}
	off := rp.offset(a.Unmap())
	if rp.excluded(off) {
		return false
	}
	if rp.used.clear(off) {
		rp.n--
		return true
	}
	return false
}

// Used reports whether a is taken or never available (excluded, network, broadcast, gateway).
func (p *Pool) Used(a netip.Addr) bool {
	_, rp := p.locate(a)
	return rp == nil || rp.used.has(rp.offset(a.Unmap()))
}

// Reserved counts the addresses marked taken (excluded addresses not included).
func (p *Pool) Reserved() int {
	n := 0
	for si := range p.sets {
		for _, rp := range p.sets[si].ranges {
			n += rp.n
		}
	}
	return n
}

// Allocate chooses one address per range set for req without changing the pool: static requests first
// (each must be free and fall in a distinct range set), then a free address per remaining set, by the
// network's policy. Commit the result after the store accepted it.
func (p *Pool) Allocate(req Request) ([]Reservation, error) {
	out := make([]Reservation, len(p.sets))
	have := make([]bool, len(p.sets))
	for _, ip := range req.IPs {
		ip = ip.Unmap()
		si, rp := p.locate(ip)
		if rp == nil {
			return nil, fmt.Errorf("requested address %s: %w of network %q", ip, ErrNotInRange, p.net.Name)
		}
		if have[si] {
			return nil, fmt.Errorf("requested address %s: range set %d already has requested address %s: %w",
				ip, si, out[si].Addr, ErrInvalidConfig)
		}
		off := rp.offset(ip)
		if rp.excluded(off) {
			return nil, fmt.Errorf("requested address %s is excluded (network, broadcast, gateway or exclude): %w",
				ip, ErrNotInRange)
		}
		if rp.used.has(off) {
			return nil, &AddressInUseError{Addr: ip}
		}
		out[si] = p.reservation(si, ip, req)
		have[si] = true
	}
	for si := range p.sets {
		if have[si] {
			continue
		}
		a, ok := p.next(si)
		if !ok {
			return nil, &ExhaustedError{Network: p.net.Name, RangeSet: si}
		}
		out[si] = p.reservation(si, a, req)
	}
	return out, nil
}

func (p *Pool) reservation(si int, a netip.Addr, req Request) Reservation {
	return Reservation{Addr: a, RangeSet: si, Owner: req.Owner, Pod: req.Pod, Created: req.Now}
}

// Commit marks rs taken and advances the round-robin cursors to them.
func (p *Pool) Commit(rs []Reservation) {
	for _, r := range rs {
		p.Mark(r.Addr)
		if r.RangeSet >= 0 && r.RangeSet < len(p.sets) {
			p.sets[r.RangeSet].last = r.Addr.Unmap()
		}
	}
}

// LastReserved returns the round-robin cursor of range set si (zero if none).
func (p *Pool) LastReserved(si int) netip.Addr { return p.sets[si].last }

// next finds a free address in range set si by the policy.
func (p *Pool) next(si int) (netip.Addr, bool) {
	set := &p.sets[si]
	first := 0
	var from u128
	cursorRange := -1
	if p.net.Policy != LowestFree && set.last.IsValid() {
		for ri, rp := range set.ranges {
			if rp.r.Contains(set.last) {
				cursorRange = ri
				break
			}
		}
	}
	if cursorRange >= 0 {
		rp := set.ranges[cursorRange]
		c := rp.offset(set.last)
		if c != rp.last {
			if off, ok := rp.used.nextClear(c.inc(), rp.last); ok {
				return off.add(rp.start).addr(rp.is4), true
			}
		}
		first = cursorRange + 1
		// then the following ranges, wrapping, and finally the cursor range's head
		for k := 0; k < len(set.ranges); k++ {
			ri := (first + k) % len(set.ranges)
			rp := set.ranges[ri]
			limit := rp.last
			if ri == cursorRange {
				limit = c
			}
			if off, ok := rp.used.nextClear(from, limit); ok {
				return off.add(rp.start).addr(rp.is4), true
			}
		}
		return netip.Addr{}, false
	}
	for _, rp := range set.ranges {
		if off, ok := rp.used.nextClear(from, rp.last); ok {
			return off.add(rp.start).addr(rp.is4), true
		}
	}
	return netip.Addr{}, false
}

// Allocation completes r with its range's prefix length and gateway; ok is false when r.Addr is in no range
// of the network (the configuration changed since it was reserved).
func (p *Pool) Allocation(r Reservation) (Allocation, bool) {
	return p.net.Allocation(r)
}

// Allocation completes r with its range's prefix length and gateway from n (which must be validated).
func (n *Network) Allocation(r Reservation) (Allocation, bool) {
	a := r.Addr.Unmap()
	for si, set := range n.RangeSets {
		for _, rg := range set {
			if rg.Subnet.Contains(a) {
				r.RangeSet = si // stores that cannot know it (host-local files) leave it -1
				return Allocation{Reservation: r, Prefix: netip.PrefixFrom(a, rg.Subnet.Bits()), Gateway: rg.Gateway}, true
			}
		}
	}
	return Allocation{Reservation: r, Prefix: netip.PrefixFrom(a, a.BitLen())}, false
}
