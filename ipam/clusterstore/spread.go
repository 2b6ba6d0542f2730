package clusterstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"

	"github.com/vflab/vflab/ipam"
)

// Spreading nodes over a range. Round-robin cursors are per node; a node without one yet would start at
// the head of the range, where every other node starts too, and all would fight over the same addresses
// and the same block bitmap. When the store knows a network's ranges (Config.Networks), a node's first
// cursor is instead placed at a block chosen by hashing the node's name, so nodes fill different blocks
// and rarely touch the same bitmap (soft affinity: no claim to record, nothing to reclaim; the address
// keys stay the arbiter and a full block simply spills into the next free addresses).

// canonicalNetworks validates copies of the hinted networks and returns them by name.
func canonicalNetworks(nets []ipam.Network) (map[string]ipam.Network, error) {
	out := make(map[string]ipam.Network, len(nets))
	for _, n := range nets {
		c := n
		c.RangeSets = make([]ipam.RangeSet, len(n.RangeSets))
		for i, set := range n.RangeSets {
			c.RangeSets[i] = append(ipam.RangeSet(nil), set...)
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("cluster store: networks: %w", err)
		}
		out[n.Name] = c
	}
	return out, nil
}

// seedCursor returns the cursor a node starts with in range set si: the address just before one picked by
// hashing (node, network, si) over the set's first range — the head of a block when the range spans
// several — or false when there is nothing to spread over.
func seedCursor(node, network string, si int, set ipam.RangeSet) (netip.Addr, bool) {
	if node == "" || len(set) == 0 {
		return netip.Addr{}, false
	}
	r := set[0]
	size := span(r.Start, r.End)
	if size < 2 {
		return netip.Addr{}, false // nothing to spread over
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%s\x00%d", node, network, si) // a hash.Hash write never fails
	start := addOffset(r.Start, h.Sum64()%size)
	if size >= 2*blockSize {
		// several blocks: start at the head of one, so that each node fills its own bitmap
		start, _ = blockOf(start)
		if start.Less(r.Start) {
			start = r.Start
		}
	}
	cursor := start.Prev()
	if !cursor.IsValid() || cursor.Less(r.Start) {
		cursor = r.Start
	}
	return cursor, true
}

// span is the number of addresses from a to b inclusive, saturating at 2^63 (a huge IPv6 range needs no
// more to spread over).
func span(a, b netip.Addr) uint64 {
	const limit = 1 << 63
	ah, al := halves(a)
	bh, bl := halves(b)
	if bh < ah || (bh == ah && bl < al) {
		return 0
	}
	if bh-ah > 1 || (bh-ah == 1 && bl >= al) {
		return limit
	}
	d := bl - al // wraps correctly when bh == ah+1 and bl < al
	if d >= limit-1 {
		return limit
	}
	return d + 1
}

func halves(a netip.Addr) (uint64, uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func addOffset(a netip.Addr, off uint64) netip.Addr {
	hi, lo := halves(a)
	nlo := lo + off
	if nlo < lo {
		hi++
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], nlo)
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}

// block is one block bitmap as read by Load.
type block struct {
	set   int
	start netip.Addr
	bits  bitmap
}

// windowFree is how many free addresses Load's window covers beyond the cursor, so that the allocator
// finds a usable one inside it even when some are excluded or outside the range.
const windowFree = 64

// window returns, per range set, the blocks the round-robin allocator will look at: from the block holding
// the set's cursor forward in address order (wrapping to the lowest block) until windowFree usable free
// addresses lie after the cursor, or until a missing block (entirely free) inside the set's ranges follows.
// Free bits count only where the address is inside one of the set's ranges (the network address, IPv4
// broadcast and addresses past a range's end are never handed out). When the address right after the cursor
// lies in a missing block, the window is empty: the allocator takes that address. Exclusions are not consulted: an
// excluded address counted as free only makes the window end early, which costs a retry, never a
// duplicate. When the free addresses are fewer than windowFree, the window is every block: exact.
func window(blocks []block, cursors map[int]netip.Addr, sets []ipam.RangeSet) []block {
	bySet := map[int][]block{}
	for _, b := range blocks {
		bySet[b.set] = append(bySet[b.set], b)
	}
	var out []block
	for set, bs := range bySet {
		if set < 0 || set >= len(sets) {
			out = append(out, bs...) // not in the hinted network: keep everything
			continue
		}
		inSet := func(a netip.Addr) bool {
			for _, r := range sets[set] {
				if r.Contains(a) {
					return true
				}
			}
			return false
		}
		slices.SortFunc(bs, func(x, y block) int { return x.start.Compare(y.start) })
		first := 0
		cursor, hasCursor := cursors[set]
		if hasCursor && cursor.Next().IsValid() && inSet(cursor.Next()) {
			nb, _ := blockOf(cursor.Next())
			if _, found := slices.BinarySearchFunc(bs, nb, func(b block, a netip.Addr) int { return b.start.Compare(a) }); !found {
				continue // the address after the cursor lies in a missing block: free, the allocator takes it
			}
		}
		if hasCursor {
			cb, _ := blockOf(cursor)
			first, _ = slices.BinarySearchFunc(bs, cb, func(b block, a netip.Addr) int { return b.start.Compare(a) })
			if first == len(bs) {
				first = 0
			}
			hasCursor = bs[first].start == cb // the cursor's own block leads the window
		}
		free := 0
		for k := range len(bs) {
			b := bs[(first+k)%len(bs)]
			out = append(out, b)
			for i := range blockSize {
				if b.bits.has(i) {
					continue
				}
				a := addrInBlock(b.start, i)
				if k == 0 && hasCursor && !cursor.Less(a) {
					continue // at or before the cursor: searched last
				}
				if inSet(a) {
					free++
				}
			}
			if free >= windowFree {
				break
			}
			ni := (first + k + 1) % len(bs)
			after := addOffset(b.start, blockSize)
			if ni == 0 {
				// wrapping: the allocator goes on at the set's lowest address, whose block may be missing
				lo := lowest(sets[set])
				if nb, _ := blockOf(lo); bs[0].start != nb {
					break // that block is entirely free
				}
			} else if bs[ni].start != after && inSet(after) {
				break // the missing block after b is entirely free and in range
			}
		}
	}
	return out
}

// lowest is the first address of a range set (where a round-robin allocation wraps to).
func lowest(set ipam.RangeSet) netip.Addr {
	lo := set[0].Start
	for _, r := range set[1:] {
		if r.Start.Less(lo) {
			lo = r.Start
		}
	}
	return lo
}
