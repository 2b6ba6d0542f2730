package clusterstore

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/vflab/vflab/ipam"
)

func TestSpan(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	for _, tc := range []struct {
		from, to string
		want     uint64
	}{
		{"10.0.0.1", "10.0.0.254", 254},
		{"10.0.0.0", "10.0.0.0", 1},
		{"10.0.0.5", "10.0.0.4", 0},
		{"fd00::", "fd00::ffff", 65536},
		{"fd00::", "fd00::ffff:ffff:ffff:ffff", 1 << 63},
		{"fd00::ffff:ffff:ffff:fff0", "fd00:0:0:1::f", 32},
	} {
		if got := span(a(tc.from), a(tc.to)); got != tc.want {
			t.Errorf("span(%s, %s) = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestSeedCursorSpreadsNodesOverBlocksInsideTheRange(t *testing.T) {
	t.Parallel()
	for _, cidr := range []string{"10.0.0.0/16", "10.1.0.0/22", "fd00:1::/64", "fd00:2::/112"} {
		n := ipam.Network{Name: "n", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix(cidr)}}}}
		nets, err := canonicalNetworks([]ipam.Network{n})
		if err != nil {
			t.Fatal(err)
		}
		set := nets["n"].RangeSets[0]
		blocks := map[netip.Addr]bool{}
		for i := range 16 {
			c, ok := seedCursor(fmt.Sprintf("node-%d", i), "n", 0, set)
			if !ok {
				t.Fatalf("%s: no seed", cidr)
			}
			if !set[0].Contains(c) {
				t.Fatalf("%s: cursor %s outside %s-%s", cidr, c, set[0].Start, set[0].End)
			}
			start, _ := blockOf(c.Next())
			blocks[start] = true
		}
		if min := 3; len(blocks) < min {
			t.Errorf("%s: 16 nodes start in only %d blocks", cidr, len(blocks))
		}
		again, _ := seedCursor("node-0", "n", 0, set)
		first, _ := seedCursor("node-0", "n", 0, set)
		if again != first {
			t.Errorf("%s: seed not deterministic", cidr)
		}
	}
	small := ipam.RangeSet{{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Start: netip.MustParseAddr("10.0.0.1"), End: netip.MustParseAddr("10.0.0.254")}}
	seen := map[netip.Addr]bool{}
	for i := range 8 {
		c, ok := seedCursor(fmt.Sprintf("node-%d", i), "n", 0, small)
		if !ok || !small[0].Contains(c) {
			t.Fatalf("single block: cursor %v %v", c, ok)
		}
		seen[c] = true
	}
	if len(seen) < 4 {
		t.Errorf("8 nodes in one block start at only %d places", len(seen))
	}
	one := ipam.RangeSet{{Subnet: netip.MustParsePrefix("10.0.0.0/30"), Start: netip.MustParseAddr("10.0.0.1"), End: netip.MustParseAddr("10.0.0.1")}}
	if _, ok := seedCursor("node-0", "n", 0, one); ok {
		t.Error("a single address has nothing to spread over")
	}
	if _, ok := seedCursor("", "n", 0, small); ok {
		t.Error("no node, no seed")
	}
}

func TestCanonicalRangesRejectsBadNetworks(t *testing.T) {
	t.Parallel()
	_, err := canonicalNetworks([]ipam.Network{{Name: "bad"}})
	if err == nil {
		t.Fatal("want an error for a network without ranges")
	}
}

func TestWindowCoversTheBlocksTheAllocatorSearches(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	full, half := bitmap{}, bitmap{}
	for i := range blockSize {
		full.set(i)
		if i < blockSize/2 {
			half.set(i)
		}
	}
	blk := func(start string, b bitmap) block { return block{start: a(start), bits: b} }
	starts := func(bs []block) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.start.String())
		}
		return out
	}
	low := bitmap{} // upper half used, lower half free
	for i := blockSize / 2; i < blockSize; i++ {
		low.set(i)
	}
	for _, tc := range []struct {
		name    string
		end     string // the range is 10.0.0.1 to end
		blocks  []block
		cursors map[int]netip.Addr
		want    []string
	}{
		{"from the cursor's block to enough free", "10.0.3.254", []block{blk("10.0.2.0", half), blk("10.0.0.0", full), blk("10.0.1.0", full), blk("10.0.3.0", half)},
			map[int]netip.Addr{0: a("10.0.1.5")}, []string{"10.0.1.0", "10.0.2.0"}},
		{"no cursor: from the lowest block", "10.0.3.254", []block{blk("10.0.2.0", half), blk("10.0.0.0", full), blk("10.0.1.0", full), blk("10.0.3.0", half)},
			nil, []string{"10.0.0.0", "10.0.1.0", "10.0.2.0"}},
		{"a missing block in range is free", "10.0.255.254", []block{blk("10.0.0.0", full), blk("10.0.5.0", full)},
			map[int]netip.Addr{0: a("10.0.0.3")}, []string{"10.0.0.0"}},
		{"wraps to the lowest block at the range end", "10.0.1.254", []block{blk("10.0.0.0", half), blk("10.0.1.0", full)},
			map[int]netip.Addr{0: a("10.0.1.9")}, []string{"10.0.1.0", "10.0.0.0"}},
		{"the address after the cursor is in a missing block: nothing to load", "10.0.255.254", []block{blk("10.0.0.0", full), blk("10.0.1.0", half)},
			map[int]netip.Addr{0: a("10.0.9.1")}, nil},
		{"a cursor at the range end wraps", "10.0.1.254", []block{blk("10.0.0.0", full), blk("10.0.1.0", half)},
			map[int]netip.Addr{0: a("10.0.1.254")}, []string{"10.0.1.0", "10.0.0.0"}},
		{"free only before the cursor: keep going", "10.0.2.254", []block{blk("10.0.0.0", full), blk("10.0.1.0", low), blk("10.0.2.0", full)},
			map[int]netip.Addr{0: a("10.0.1.200")}, []string{"10.0.1.0", "10.0.2.0", "10.0.0.0"}},
		{"past the range end is not free", "10.0.255.254", []block{blk("10.0.255.0", full), blk("10.0.0.0", half)},
			map[int]netip.Addr{0: a("10.0.255.3")}, []string{"10.0.255.0", "10.0.0.0"}},
		{"wrapping to a missing lowest block stops there: it is free", "10.0.3.254", []block{blk("10.0.1.0", full), blk("10.0.2.0", full), blk("10.0.3.0", full)},
			map[int]netip.Addr{0: a("10.0.3.254")}, []string{"10.0.3.0"}},
		{"all full: everything", "10.0.1.254", []block{blk("10.0.0.0", full), blk("10.0.1.0", full)},
			map[int]netip.Addr{0: a("10.0.1.1")}, []string{"10.0.1.0", "10.0.0.0"}},
	} {
		sets := []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.0.0.0/16"), Start: a("10.0.0.1"), End: a(tc.end)}}}
		if got := starts(window(tc.blocks, tc.cursors, sets)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: window = %v, want %v", tc.name, got, tc.want)
		}
	}
}
