package ipamtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vflab/vflab/ipam"
)

// StoreContract runs the Store contract against fresh stores from open (each subtest gets its own).
// Network names are unique per subtest, so open may return stores sharing a backend.
func StoreContract(t *testing.T, open func(t *testing.T) ipam.Store) {
	ctx := context.Background()
	a := netip.MustParseAddr
	res := func(addr string, set int, id string) ipam.Reservation {
		return ipam.Reservation{Addr: a(addr), RangeSet: set, Owner: ipam.Owner{ContainerID: id, IfName: "eth0"},
			Pod: ipam.PodRef{Namespace: "ns", Name: "pod-" + id, UID: "uid-" + id}, Created: time.Unix(1700000000, 0).UTC()}
	}

	t.Run("reserve, lookup, release", func(t *testing.T) {
		s := open(t)
		const n = "contract-basic"
		if err := s.Reserve(ctx, n, nil); err != nil {
			t.Fatalf("empty reserve: %v", err)
		}
		if err := s.Reserve(ctx, n, []ipam.Reservation{res("10.0.0.5", 0, "c1"), res("fd00::5", 1, "c1")}); err != nil {
			t.Fatal(err)
		}
		owned, err := s.Owned(ctx, n, ipam.Owner{ContainerID: "c1", IfName: "eth0"})
		if err != nil || len(owned) != 2 {
			t.Fatalf("owned: %v %v", owned, err)
		}
		for _, r := range owned {
			if r.Pod.UID != "uid-c1" || !r.Created.Equal(time.Unix(1700000000, 0)) {
				t.Fatalf("metadata not kept: %+v", r)
			}
		}
		st, err := s.Load(ctx, n)
		if err != nil || len(st.Reservations) != 2 {
			t.Fatalf("load: %+v %v", st, err)
		}
		if st.LastReserved[0] != a("10.0.0.5") || st.LastReserved[1] != a("fd00::5") {
			t.Fatalf("cursors %v", st.LastReserved)
		}
		nets, err := s.Networks(ctx)
		if err != nil || !contains(nets, n) {
			t.Fatalf("networks %v %v", nets, err)
		}
		rel, err := s.Release(ctx, n, ipam.Owner{ContainerID: "c1", IfName: "eth0"})
		if err != nil || len(rel) != 2 {
			t.Fatalf("release: %v %v", rel, err)
		}
		rel, err = s.Release(ctx, n, ipam.Owner{ContainerID: "c1", IfName: "eth0"})
		if err != nil || len(rel) != 0 {
			t.Fatalf("second release: %v %v", rel, err)
		}
		if all, err := s.List(ctx, n); err != nil || len(all) != 0 {
			t.Fatalf("list after release: %v %v", all, err)
		}
		if owned, err := s.Owned(ctx, "contract-never-used", ipam.Owner{ContainerID: "x", IfName: "eth0"}); err != nil || len(owned) != 0 {
			t.Fatalf("owned on an unknown network: %v %v", owned, err)
		}
		if rel, err := s.Release(ctx, "contract-never-used", ipam.Owner{ContainerID: "x", IfName: "eth0"}); err != nil || len(rel) != 0 {
			t.Fatalf("release on an unknown network: %v %v", rel, err)
		}
	})

	t.Run("reserve is all or nothing", func(t *testing.T) {
		s := open(t)
		const n = "contract-atomic"
		if err := s.Reserve(ctx, n, []ipam.Reservation{res("10.0.0.7", 0, "holder")}); err != nil {
			t.Fatal(err)
		}
		err := s.Reserve(ctx, n, []ipam.Reservation{res("fd00::7", 1, "c2"), res("10.0.0.7", 0, "c2")})
		var inUse *ipam.AddressInUseError
		if !errors.As(err, &inUse) || !errors.Is(err, ipam.ErrAddressInUse) || inUse.Addr != a("10.0.0.7") {
			t.Fatalf("reserve of a held address: %v", err)
		}
		if inUse.Owner != (ipam.Owner{}) && inUse.Owner.ContainerID != "holder" {
			t.Fatalf("holder reported as %v", inUse.Owner)
		}
		if owned, _ := s.Owned(ctx, n, ipam.Owner{ContainerID: "c2", IfName: "eth0"}); len(owned) != 0 {
			t.Fatalf("half a reservation recorded: %v", owned)
		}
		if all, _ := s.List(ctx, n); len(all) != 1 {
			t.Fatalf("list %v", all)
		}
	})

	t.Run("one winner per address", func(t *testing.T) {
		s := open(t)
		const n = "contract-race"
		const racers = 8
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Reserve(ctx, n, []ipam.Reservation{res("10.0.0.9", 0, fmt.Sprint("r", i))})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ipam.ErrAddressInUse):
				t.Fatalf("racer failed with %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d racers won one address", wins)
		}
		if all, _ := s.List(ctx, n); len(all) != 1 {
			t.Fatalf("list %v", all)
		}
	})

	t.Run("allocator end to end", func(t *testing.T) {
		s := open(t)
		net := &ipam.Network{Name: "contract-add", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.1.0.0/29")}}}}
		var wg sync.WaitGroup
		got := make([][]ipam.Allocation, 8)
		errs := make([]error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = ipam.Add(ctx, s, net, ipam.Request{Owner: ipam.Owner{ContainerID: fmt.Sprint("a", i), IfName: "eth0"}})
			}()
		}
		wg.Wait()
		seen := map[netip.Addr]bool{}
		ok, full := 0, 0
		for i := range 8 {
			switch {
			case errs[i] == nil:
				if seen[got[i][0].Addr] {
					t.Fatalf("%s given twice", got[i][0].Addr)
				}
				seen[got[i][0].Addr] = true
				ok++
			case errors.Is(errs[i], ipam.ErrExhausted):
				full++
			default:
				t.Fatalf("add %d: %v", i, errs[i])
			}
		}
		if ok != 6 || full != 2 {
			t.Fatalf("a /29 gave %d addresses and refused %d, want 6 and 2", ok, full)
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
