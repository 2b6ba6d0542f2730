package clusterstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/vflab/vflab/ipam"
)

// Spreading nodes over a range. Round-robin cursors are per node; a node without one yet would start at
// the head of the range, where every other node starts too, and all would fight over the same addresses
// and the same block bitmap. When the store knows a network's ranges (Config.Networks), a node's first
// cursor is instead placed at a block chosen by hashing the node's name, so nodes fill different blocks
// and rarely touch the same bitmap (soft affinity: no claim to record, nothing to reclaim; the address
// keys stay the arbiter and a full block simply spills into the next free addresses).

// canonicalRanges validates copies of the hinted networks and returns their range sets by network name.
func canonicalRanges(nets []ipam.Network) (map[string][]ipam.RangeSet, error) {
	out := make(map[string][]ipam.RangeSet, len(nets))
	for _, n := range nets {
		c := n
		c.RangeSets = make([]ipam.RangeSet, len(n.RangeSets))
		for i, set := range n.RangeSets {
			c.RangeSets[i] = append(ipam.RangeSet(nil), set...)
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("cluster store: networks: %w", err)
		}
		out[n.Name] = c.RangeSets
	}
	return out, nil
}

// seedCursor returns the cursor a node starts with in range set si: the address just before a block
// picked by hashing (node, network, si) over the set's first range, or false when there is nothing to
// spread over.
func seedCursor(node, network string, si int, set ipam.RangeSet) (netip.Addr, bool) {
	if node == "" || len(set) == 0 {
		return netip.Addr{}, false
	}
	r := set[0]
	size := span(r.Start, r.End)
	if size < 2*blockSize {
		return netip.Addr{}, false // one block or less: nothing to spread over
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", node, network, si)
	target := addOffset(r.Start, h.Sum64()%size)
	start, _ := blockOf(target)
	if start.Less(r.Start) {
		start = r.Start
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
