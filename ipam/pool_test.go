package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func net1(policy Policy, sets ...RangeSet) *Network {
	return &Network{Name: "net1", Policy: policy, RangeSets: sets}
}

// drain allocates from p until exhaustion or max, committing each, and returns the addresses.
func drain(t *testing.T, p *Pool, max int) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for i := 0; i < max; i++ {
		rs, err := p.Allocate(Request{Owner: Owner{ContainerID: fmt.Sprint("c", i), IfName: "eth0"}})
		if errors.Is(err, ErrExhausted) {
			return out
		}
		if err != nil {
			t.Fatalf("allocate %d: %v", i, err)
		}
		p.Commit(rs)
		out = append(out, rs[0].Addr)
	}
	return out
}

func TestPoolAllocationOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		net  *Network
		max  int
		want []string
	}{{
		name: "ipv4 /29 skips network, gateway and broadcast",
		net:  net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/29"), Gateway: mustAddr("10.0.0.1")}}),
		max:  10,
		want: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"},
	}, {
		name: "ipv4 /30 without gateway hands out both hosts",
		net:  net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/30")}}),
		max:  10,
		want: []string{"10.0.0.1", "10.0.0.2"},
	}, {
		name: "exclusions: cidr, single, start-end",
		net: net1(LowestFree, RangeSet{{Subnet: mustPrefix("10.0.0.0/28"), Exclude: []Exclusion{
			ExclusionFromPrefix(mustPrefix("10.0.0.0/30")),
			{From: mustAddr("10.0.0.6"), To: mustAddr("10.0.0.6")},
			{From: mustAddr("10.0.0.8"), To: mustAddr("10.0.0.13")},
		}}}),
		max:  10,
		want: []string{"10.0.0.4", "10.0.0.5", "10.0.0.7", "10.0.0.14"},
	}, {
		name: "start and end bound the range; several ranges tried in order",
		net: net1("", RangeSet{
			{Subnet: mustPrefix("10.0.0.0/24"), Start: mustAddr("10.0.0.250"), End: mustAddr("10.0.0.251")},
			{Subnet: mustPrefix("10.0.1.0/24"), Start: mustAddr("10.0.1.10"), End: mustAddr("10.0.1.11")},
		}),
		max:  10,
		want: []string{"10.0.0.250", "10.0.0.251", "10.0.1.10", "10.0.1.11"},
	}, {
		name: "ipv6 all-ones is a host, network address is not",
		net:  net1("", RangeSet{{Subnet: mustPrefix("fd00::/126")}}),
		max:  10,
		want: []string{"fd00::1", "fd00::2", "fd00::3"},
	}, {
		name: "ipv6 range at the top of a /64",
		net: net1("", RangeSet{{Subnet: mustPrefix("fd00:0:0:1::/64"),
			Start: mustAddr("fd00:0:0:1:ffff:ffff:ffff:fffe")}}),
		max:  10,
		want: []string{"fd00:0:0:1:ffff:ffff:ffff:fffe", "fd00:0:0:1:ffff:ffff:ffff:ffff"},
	}, {
		name: "ipv6 top of the address space",
		net:  net1("", RangeSet{{Subnet: mustPrefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126")}}),
		max:  10,
		want: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPool(tt.net, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, p, tt.max)
			if fmt.Sprint(got) != fmt.Sprint(addrs(tt.want...)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = mustAddr(s)
	}
	return out
}

func TestPoolPolicies(t *testing.T) {
	t.Parallel()
	set := RangeSet{{Subnet: mustPrefix("10.0.0.0/29")}} // hosts .1-.6
	for _, tt := range []struct {
		policy Policy
		want   string
	}{{RoundRobin, "10.0.0.4"}, {LowestFree, "10.0.0.2"}} {
		t.Run(string(tt.policy), func(t *testing.T) {
			t.Parallel()
			p, err := NewPool(net1(tt.policy, set), nil)
			if err != nil {
				t.Fatal(err)
			}
			drain(t, p, 3) // .1 .2 .3
			p.Unmark(mustAddr("10.0.0.2"))
			rs, err := p.Allocate(Request{})
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Addr != mustAddr(tt.want) {
				t.Fatalf("got %s, want %s", rs[0].Addr, tt.want)
			}
		})
	}
}

func TestPoolRoundRobinWraps(t *testing.T) {
	t.Parallel()
	n := net1(RoundRobin, RangeSet{{Subnet: mustPrefix("10.0.0.0/29")}, {Subnet: mustPrefix("10.0.1.0/30")}})
	p, err := NewPool(n, &State{
		Reservations: []Reservation{{Addr: mustAddr("10.0.0.3")}},
		LastReserved: map[int]netip.Addr{0: mustAddr("10.0.1.2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, p, 20)
	// the cursor's own address was never reserved (only the cursor was kept), so it comes last
	want := addrs("10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.1.1", "10.0.1.2")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPoolStatic(t *testing.T) {
	t.Parallel()
	n := net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24"), Gateway: mustAddr("10.0.0.1")}},
		RangeSet{{Subnet: mustPrefix("fd00::/64")}})
	p, err := NewPool(n, &State{Reservations: []Reservation{{Addr: mustAddr("10.0.0.9")}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ips     []string
		wantErr error
		want    []string
	}{
		{ips: []string{"10.0.0.7"}, want: []string{"10.0.0.7", "fd00::1"}},
		{ips: []string{"fd00::7", "10.0.0.8"}, want: []string{"10.0.0.8", "fd00::7"}},
		{ips: []string{"10.0.0.9"}, wantErr: ErrAddressInUse},
		{ips: []string{"10.0.0.1"}, wantErr: ErrNotInRange},
		{ips: []string{"10.0.0.255"}, wantErr: ErrNotInRange},
		{ips: []string{"10.0.0.0"}, wantErr: ErrNotInRange},
		{ips: []string{"10.9.0.1"}, wantErr: ErrNotInRange},
		{ips: []string{"10.0.0.7", "10.0.0.8"}, wantErr: ErrInvalidConfig},
	} {
		t.Run(fmt.Sprint(tt.ips), func(t *testing.T) {
			var ips []netip.Addr
			for _, s := range tt.ips {
				ips = append(ips, mustAddr(s))
			}
			rs, err := p.Allocate(Request{IPs: ips})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []netip.Addr
			for _, r := range rs {
				got = append(got, r.Addr)
			}
			if fmt.Sprint(got) != fmt.Sprint(addrs(tt.want...)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		net  *Network
		want string // substring of the error, "" for none
	}{
		{"ok", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24")}}), ""},
		{"no name", &Network{RangeSets: []RangeSet{{{Subnet: mustPrefix("10.0.0.0/24")}}}}, "name"},
		{"bad policy", net1("random", RangeSet{{Subnet: mustPrefix("10.0.0.0/24")}}), "policy"},
		{"no ranges", net1(""), "rangeSets"},
		{"host bits", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.1/24")}}), "rangeSets[0][0].subnet: \"10.0.0.1/24\" has host bits set"},
		{"/31", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/31")}}), "fewer than 2 host bits"},
		{"/127", net1("", RangeSet{{Subnet: mustPrefix("fd00::/127")}}), "fewer than 2 host bits"},
		{"start outside", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24"), Start: mustAddr("10.0.1.1")}}), "rangeSets[0][0].start"},
		{"end before start", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24"), Start: mustAddr("10.0.0.9"), End: mustAddr("10.0.0.8")}}), "before start"},
		{"gateway outside", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24"), Gateway: mustAddr("10.0.1.1")}}), "gateway"},
		{"mixed family", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24")}, {Subnet: mustPrefix("fd00::/64")}}), "mixes address families"},
		{"overlap", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24")}}, RangeSet{{Subnet: mustPrefix("10.0.0.0/25")}}), "overlaps rangeSets[0][0]"},
		{"exclude family", net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24"), Exclude: []Exclusion{{From: mustAddr("fd00::1"), To: mustAddr("fd00::1")}}}}), "exclude[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.net.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !errors.Is(err, ErrInvalidConfig) || !contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want ErrInvalidConfig containing %q", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// A /64 (and a /8 of IPv6 space) costs memory only for the blocks in use, and a nearly full /16 still
// allocates without scanning.
func TestPoolLargeRanges(t *testing.T) {
	t.Parallel()
	for _, subnet := range []string{"fd00::/64", "fd00::/8", "::/0"} {
		p, err := NewPool(net1("", RangeSet{{Subnet: mustPrefix(subnet), Exclude: []Exclusion{
			ExclusionFromPrefix(mustPrefix("fd00::/120")),
		}}}), nil)
		if err != nil {
			t.Fatalf("%s: %v", subnet, err)
		}
		got := drain(t, p, 3)
		if len(got) != 3 || got[0] == mustAddr("fd00::1") {
			t.Fatalf("%s: got %v", subnet, got)
		}
		// at most: two for the unaligned exclusion, one for the allocations, one for the range's tail
		if len(p.sets[0].ranges[0].used.blocks) > 4 {
			t.Fatalf("%s: %d blocks materialised", subnet, len(p.sets[0].ranges[0].used.blocks))
		}
	}
}

func TestPoolFullSlash16(t *testing.T) {
	t.Parallel()
	p, err := NewPool(net1(LowestFree, RangeSet{{Subnet: mustPrefix("10.1.0.0/16")}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, p, 1<<17)
	if len(got) != 65534 {
		t.Fatalf("allocated %d addresses of a /16, want 65534", len(got))
	}
	if len(p.sets[0].ranges[0].used.blocks) != 0 || len(p.sets[0].ranges[0].used.full) != 1 {
		t.Fatalf("full /16: %d partial blocks, full spans %v", len(p.sets[0].ranges[0].used.blocks), p.sets[0].ranges[0].used.full)
	}
	p.Unmark(mustAddr("10.1.200.7"))
	rs, err := p.Allocate(Request{})
	if err != nil || rs[0].Addr != mustAddr("10.1.200.7") {
		t.Fatalf("after freeing one address: %v, %v", rs, err)
	}
}

func TestAddDelIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore()
	n := net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24")}}, RangeSet{{Subnet: mustPrefix("fd00::/64")}})
	req := Request{Owner: Owner{"c1", "net1"}, Pod: PodRef{"ns", "p", "u1"}, Now: time.Unix(100, 0)}
	a1, err := Add(ctx, s, n, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a1) != 2 || a1[0].Prefix.String() != "10.0.0.1/24" || a1[1].Prefix.String() != "fd00::1/64" {
		t.Fatalf("first add: %+v", a1)
	}
	a2, err := Add(ctx, s, n, req)
	if err != nil || fmt.Sprint(a1) != fmt.Sprint(a2) {
		t.Fatalf("second add: %+v %v, want %+v", a2, err, a1)
	}
	if _, err := Check(ctx, s, n, req.Owner); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := Del(ctx, s, n.Name, req.Owner); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Check(ctx, s, n, req.Owner); !errors.Is(err, ErrNotFound) {
		t.Fatalf("check after del: %v", err)
	}
	boom := errors.New("disk on fire")
	s.fail = func(string) error { return boom }
	if _, err := Del(ctx, s, n.Name, req.Owner); !errors.Is(err, boom) {
		t.Fatalf("del with a failing store: %v", err)
	}
}

func TestAddRetriesLostRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore()
	n := net1(LowestFree, RangeSet{{Subnet: mustPrefix("10.0.0.0/29")}})
	// Another allocator took .1 and .2 after our Load: Load shows nothing.
	s.stale = true
	for _, a := range []string{"10.0.0.1", "10.0.0.2"} {
		s.byAddr[mustAddr(a)] = Reservation{Addr: mustAddr(a), Owner: Owner{"other-" + a, "eth0"}}
	}
	got, err := Add(ctx, s, n, Request{Owner: Owner{"c1", "eth0"}})
	if err != nil || got[0].Addr != mustAddr("10.0.0.3") {
		t.Fatalf("got %v %v, want 10.0.0.3", got, err)
	}
	// A static request lost is an error, not a silent re-pick.
	_, err = Add(ctx, s, n, Request{Owner: Owner{"c2", "eth0"}, IPs: []netip.Addr{mustAddr("10.0.0.2")}})
	if !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("static lost race: %v", err)
	}
}

func TestGCAndReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore()
	n := net1("", RangeSet{{Subnet: mustPrefix("10.0.0.0/24")}})
	now := time.Unix(1000, 0)
	add := func(id string, pod PodRef, age time.Duration) {
		if _, err := Add(ctx, s, n, Request{Owner: Owner{id, "eth0"}, Pod: pod, Now: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	add("keep", PodRef{"ns", "a", "1"}, time.Hour)
	add("gone", PodRef{"ns", "b", "2"}, time.Hour)
	add("young", PodRef{"ns", "c", "3"}, time.Second)
	add("unknown", PodRef{}, time.Hour)
	add("recreated", PodRef{"ns", "a", "old-uid"}, time.Hour)
	alive := func(p PodRef) bool { return p == PodRef{"ns", "a", "1"} }
	rel, err := Reconcile(ctx, s, alive, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := owners(rel); got != "[gone recreated]" {
		t.Fatalf("reconcile released %s", got)
	}
	rel, err = GC(ctx, s, n.Name, func(o Owner) bool { return o.ContainerID == "keep" })
	if err != nil {
		t.Fatal(err)
	}
	if got := owners(rel); got != "[unknown young]" {
		t.Fatalf("gc released %s", got)
	}
	left, _ := s.List(ctx, n.Name)
	if got := owners(left); got != "[keep]" {
		t.Fatalf("left %s", got)
	}
}

func owners(rs []Reservation) string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.Owner.ContainerID)
	}
	sortStrings(ids)
	return fmt.Sprint(ids)
}
