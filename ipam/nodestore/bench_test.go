package nodestore

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vflab/vflab/ipam"
)

// fillNetwork writes host-local reservation files for the first n addresses of 10.20.0.0/16 and lets one
// store call build the index, usage and owner files from them.
func fillNetwork(b *testing.B, dir string, n int) *ipam.Network {
	b.Helper()
	nw := &ipam.Network{Name: "bench", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.20.0.0/16")}}}}
	netDir := filepath.Join(dir, nw.Name)
	if err := os.MkdirAll(netDir, 0o755); err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("10.20.0.1")
	for i := range n {
		if err := os.WriteFile(filepath.Join(netDir, a.String()), []byte(fmt.Sprintf("fill%d\r\neth0", i)), 0o600); err != nil {
			b.Fatal(err)
		}
		a = a.Next()
	}
	if _, err := New(dir, nil).LoadUsage(context.Background(), nw.Name); err != nil {
		b.Fatal(err)
	}
	return nw
}

// stateOnly hides the store's UsageLoader, so the allocator loads every reservation (the path before
// the usage file).
type stateOnly struct{ ipam.Store }

// BenchmarkFreshAddDel is one CNI ADD and one DEL, each by a fresh Store (a new vflab-ipam process), on a
// /16 filled to 1%, 50% and 99%. Run with TMPDIR=/dev/shm to leave the disk out of it.
func BenchmarkFreshAddDel(b *testing.B) {
	ctx := context.Background()
	for _, fill := range []int{1, 50, 99} {
		dir := b.TempDir()
		nw := fillNetwork(b, dir, (1<<16-2)*fill/100)
		for _, mode := range []string{"usage", "state"} {
			b.Run(fmt.Sprintf("fill=%d%%/%s", fill, mode), func(b *testing.B) {
				i := 0
				for b.Loop() {
					owner := ipam.Owner{ContainerID: fmt.Sprint("bench", i), IfName: "eth0"}
					i++
					var s ipam.Store = New(dir, nil)
					if mode == "state" {
						s = stateOnly{s}
					}
					if _, err := ipam.Add(ctx, s, nw, ipam.Request{Owner: owner, Now: time.Unix(1700000000, 0)}); err != nil {
						b.Fatal(err)
					}
					if _, err := ipam.Del(ctx, New(dir, nil), nw.Name, owner); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
