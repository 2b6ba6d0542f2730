package ipamtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vflab/vflab/ipam"
)

// model is the reference: owner → one address per range set, and which addresses are available at all.
type model struct {
	owners    map[ipam.Owner][]netip.Addr
	holder    map[netip.Addr]ipam.Owner
	available [][]netip.Addr // per range set, in order: every address the allocator may hand out
}

func (m *model) free(set int) []netip.Addr {
	var out []netip.Addr
	for _, a := range m.available[set] {
		if _, used := m.holder[a]; !used {
			out = append(out, a)
		}
	}
	return out
}

func (m *model) isAvailable(a netip.Addr) (int, bool) {
	for si, set := range m.available {
		for _, x := range set {
			if x == a {
				return si, true
			}
		}
	}
	return -1, false
}

func span(from, to string) []netip.Addr {
	var out []netip.Addr
	for a := netip.MustParseAddr(from); ; a = a.Next() {
		out = append(out, a)
		if a == netip.MustParseAddr(to) {
			return out
		}
	}
}

// Property runs ops seeded random ADDs (dynamic and static), DELs and GCs through ipam.Add/Del/GC on s
// against a reference model: no address is ever held twice, ADD is idempotent, exhaustion is reported
// exactly when the model has no free address, lowest-free picks exactly the model's lowest, and after
// every step the store holds exactly what the model says. Network "prop" must be empty in s.
func Property(t *testing.T, s ipam.Store, policy ipam.Policy, seed uint64, ops int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	n := &ipam.Network{Name: "prop", Policy: policy, RangeSets: []ipam.RangeSet{
		{
			{Subnet: netip.MustParsePrefix("10.0.0.0/28"), Gateway: netip.MustParseAddr("10.0.0.1"),
				Exclude: []ipam.Exclusion{{From: netip.MustParseAddr("10.0.0.5"), To: netip.MustParseAddr("10.0.0.7")}}},
			{Subnet: netip.MustParsePrefix("10.0.1.0/30")},
		},
		{{Subnet: netip.MustParsePrefix("fd00::/124"), Start: netip.MustParseAddr("fd00::4"),
			Exclude: []ipam.Exclusion{ipam.ExclusionFromPrefix(netip.MustParsePrefix("fd00::8/126"))}}},
	}}
	m := &model{owners: map[ipam.Owner][]netip.Addr{}, holder: map[netip.Addr]ipam.Owner{}, available: [][]netip.Addr{
		append(append(span("10.0.0.2", "10.0.0.4"), span("10.0.0.8", "10.0.0.14")...), span("10.0.1.1", "10.0.1.2")...),
		append(span("fd00::4", "fd00::7"), span("fd00::c", "fd00::f")...),
	}}
	owner := func() ipam.Owner {
		return ipam.Owner{ContainerID: fmt.Sprint("c", rng.IntN(24)), IfName: []string{"eth0", "net1"}[rng.IntN(2)]}
	}
	now := time.Unix(0, 0)
	for op := 0; op < ops; op++ {
		now = now.Add(time.Second)
		switch k := rng.IntN(10); {
		case k < 5: // dynamic ADD
			o := owner()
			got, err := ipam.Add(ctx, s, n, ipam.Request{Owner: o, Now: now})
			if held, ok := m.owners[o]; ok {
				if err != nil || fmt.Sprint(addrsOf(got)) != fmt.Sprint(held) {
					t.Fatalf("op %d: re-ADD %s = %v, %v; want %v", op, o, addrsOf(got), err, held)
				}
				continue
			}
			if len(m.free(0)) == 0 || len(m.free(1)) == 0 {
				if !errors.Is(err, ipam.ErrExhausted) {
					t.Fatalf("op %d: ADD %s on a full network: %v, %v", op, o, addrsOf(got), err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("op %d: ADD %s: %v", op, o, err)
			}
			for si, a := range addrsOf(got) {
				if policy == ipam.LowestFree && a != m.free(si)[0] {
					t.Fatalf("op %d: lowest-free ADD got %s, model's lowest is %s", op, a, m.free(si)[0])
				}
				if h, used := m.holder[a]; used {
					t.Fatalf("op %d: ADD %s got %s already held by %s", op, o, a, h)
				}
				if set, ok := m.isAvailable(a); !ok || set != si {
					t.Fatalf("op %d: ADD %s got unavailable address %s for set %d", op, o, a, si)
				}
				m.holder[a] = o
			}
			m.owners[o] = addrsOf(got)
		case k < 6: // static ADD of a random address of the first range
			o := owner()
			want := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(16))})
			got, err := ipam.Add(ctx, s, n, ipam.Request{Owner: o, IPs: []netip.Addr{want}, Now: now})
			if held, ok := m.owners[o]; ok {
				if err != nil || fmt.Sprint(addrsOf(got)) != fmt.Sprint(held) {
					t.Fatalf("op %d: static re-ADD %s = %v, %v; want %v", op, o, addrsOf(got), err, held)
				}
				continue
			}
			_, avail := m.isAvailable(want)
			_, used := m.holder[want]
			switch {
			case !avail:
				if !errors.Is(err, ipam.ErrNotInRange) {
					t.Fatalf("op %d: static %s (never available): %v", op, want, err)
				}
			case used:
				if !errors.Is(err, ipam.ErrAddressInUse) {
					t.Fatalf("op %d: static %s (held): %v", op, want, err)
				}
			case len(m.free(1)) == 0:
				if !errors.Is(err, ipam.ErrExhausted) {
					t.Fatalf("op %d: static %s with set 1 full: %v", op, want, err)
				}
			default:
				if err != nil || addrsOf(got)[0] != want {
					t.Fatalf("op %d: static %s: %v, %v", op, want, addrsOf(got), err)
				}
				for _, a := range addrsOf(got) {
					if _, used := m.holder[a]; used {
						t.Fatalf("op %d: duplicate %s", op, a)
					}
					m.holder[a] = o
				}
				m.owners[o] = addrsOf(got)
			}
		case k < 9: // DEL (twice sometimes)
			o := owner()
			for range 1 + rng.IntN(2) {
				if _, err := ipam.Del(ctx, s, n.Name, o); err != nil {
					t.Fatalf("op %d: DEL %s: %v", op, o, err)
				}
			}
			for _, a := range m.owners[o] {
				delete(m.holder, a)
			}
			delete(m.owners, o)
		default: // GC with a random valid list
			valid := map[ipam.Owner]bool{}
			for o := range m.owners {
				if rng.IntN(3) > 0 {
					valid[o] = true
				}
			}
			if _, err := ipam.GC(ctx, s, n.Name, func(o ipam.Owner) bool { return valid[o] }); err != nil {
				t.Fatalf("op %d: GC: %v", op, err)
			}
			for o, as := range m.owners {
				if !valid[o] {
					for _, a := range as {
						delete(m.holder, a)
					}
					delete(m.owners, o)
				}
			}
		}
		all, err := s.List(ctx, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(m.holder) {
			t.Fatalf("op %d: store holds %d reservations, model %d", op, len(all), len(m.holder))
		}
		for _, r := range all {
			if m.holder[r.Addr] != r.Owner {
				t.Fatalf("op %d: store has %s for %s, model says %s", op, r.Addr, r.Owner, m.holder[r.Addr])
			}
		}
	}
}

func addrsOf(as []ipam.Allocation) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		out = append(out, a.Addr)
	}
	return out
}
