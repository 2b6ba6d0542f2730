package ipam_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/memstore"
)

func slash29() *ipam.Network {
	return &ipam.Network{Name: "alloc", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.7.0.0/29")}}}}
}

func owner(i int) ipam.Owner { return ipam.Owner{ContainerID: fmt.Sprint("c", i), IfName: "eth0"} }

// Two allocators with their own (stale) pools over one store never hand out an address twice, and a
// release by one is found by the other once its pool says the range is full.
func TestAllocatorsWithStalePools(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	a, err := ipam.NewAllocator(s, slash29())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ipam.NewAllocator(s, slash29())
	seen := map[netip.Addr]ipam.Owner{}
	for i := range 6 { // hosts .1-.6, alternating allocators
		al := []*ipam.Allocator{a, b}[i%2]
		got, err := al.Add(ctx, ipam.Request{Owner: owner(i)})
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		if prev, dup := seen[got[0].Addr]; dup {
			t.Fatalf("%s given to %s and %s", got[0].Addr, prev, owner(i))
		}
		seen[got[0].Addr] = owner(i)
	}
	if _, err := a.Add(ctx, ipam.Request{Owner: owner(99)}); !errors.Is(err, ipam.ErrExhausted) {
		t.Fatalf("full: %v", err)
	}
	// b releases c1 through the store directly (as another process would); a's pool does not know.
	rel, err := ipam.Del(ctx, s, "alloc", owner(1))
	if err != nil || len(rel) != 1 {
		t.Fatalf("del: %v %v", rel, err)
	}
	got, err := a.Add(ctx, ipam.Request{Owner: owner(7)})
	if err != nil || got[0].Addr != rel[0].Addr {
		t.Fatalf("after a release elsewhere: %v %v, want %s", got, err, rel[0].Addr)
	}
	// Del through the allocator frees the address in its own pool at once.
	if _, err := a.Del(ctx, owner(7)); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Add(ctx, ipam.Request{Owner: owner(8)}); err != nil || got[0].Addr != rel[0].Addr {
		t.Fatalf("after own release: %v %v", got, err)
	}
}

// Goroutines share one allocator while another allocator competes: every address of a /24 is given out
// exactly once, the surplus requests see exhaustion.
func TestAllocatorConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	n := &ipam.Network{Name: "conc", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.8.0.0/24")}}}}
	shared, _ := ipam.NewAllocator(s, n)
	other, _ := ipam.NewAllocator(s, n)
	var mu sync.Mutex
	seen := map[netip.Addr]bool{}
	full := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			al := shared
			if g == 7 {
				al = other
			}
			for i := range 40 {
				got, err := al.Add(ctx, ipam.Request{Owner: owner(g*1000 + i)})
				mu.Lock()
				switch {
				case errors.Is(err, ipam.ErrExhausted):
					full++
				case err != nil:
					t.Errorf("add: %v", err)
				case seen[got[0].Addr]:
					t.Errorf("%s given twice", got[0].Addr)
				default:
					seen[got[0].Addr] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 254 || full != 8*40-254 {
		t.Fatalf("%d addresses given, %d refusals; want 254 and %d", len(seen), full, 8*40-254)
	}
}
