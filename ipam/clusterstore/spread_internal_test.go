package clusterstore

import (
	"fmt"
	"net/netip"
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
		ranges, err := canonicalRanges([]ipam.Network{n})
		if err != nil {
			t.Fatal(err)
		}
		set := ranges["n"][0]
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
	if _, ok := seedCursor("node-0", "n", 0, small); ok {
		t.Error("a single block has nothing to spread over")
	}
	if _, ok := seedCursor("", "n", 0, small); ok {
		t.Error("no node, no seed")
	}
}

func TestCanonicalRangesRejectsBadNetworks(t *testing.T) {
	t.Parallel()
	_, err := canonicalRanges([]ipam.Network{{Name: "bad"}})
	if err == nil {
		t.Fatal("want an error for a network without ranges")
	}
}
