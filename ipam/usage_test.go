package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestUsageSetClear(t *testing.T) {
	t.Parallel()
	var u Usage
	a, b := mustAddr("10.0.15.255"), mustAddr("10.0.16.0")
	if !u.Set(a) || u.Set(a) || !u.Set(b) || !u.Has(a) || !u.Has(b) || u.Has(mustAddr("10.0.16.1")) {
		t.Fatalf("set/has: %+v", u.Count())
	}
	if len(u.Blocks) != 2 || u.Count() != 2 {
		t.Fatalf("blocks %d count %d, want 2 and 2", len(u.Blocks), u.Count())
	}
	if !u.Clear(a) || u.Clear(a) || u.Has(a) || len(u.Blocks) != 1 || !u.Has(b) {
		t.Fatalf("clear: blocks %d", len(u.Blocks))
	}
	if got := UsageBase(mustAddr("2001:db8::1:2345")); got != mustAddr("2001:db8::1:2000") {
		t.Fatalf("UsageBase = %s", got)
	}
	if got := UsageBase(mustAddr("::ffff:10.1.2.3")); got != mustAddr("10.1.0.0") {
		t.Fatalf("UsageBase mapped = %s", got)
	}
}

// TestPoolFromUsageMatchesState: a pool built from a Usage is the pool built from the same State, for
// ranges whose starts and ends fall anywhere in a word or block, with exclusions and reservations outside
// every range.
func TestPoolFromUsageMatchesState(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 11))
	for iter := range 60 {
		sub4 := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(iter), 0, 0}), 18+rng.IntN(9))
		sub6 := mustPrefix("2001:db8::/116")
		pick := func(p netip.Prefix, max int) netip.Addr {
			a := u128From(p.Masked().Addr()).add(u128{lo: uint64(rng.IntN(max))})
			return a.addr(p.Addr().Is4())
		}
		size4 := 1 << (32 - sub4.Bits())
		s1, s2 := pick(sub4, size4/2), pick(sub4, size4)
		if s2.Less(s1) {
			s1, s2 = s2, s1
		}
		if s1 == sub4.Masked().Addr() {
			s1 = s1.Next()
		}
		if s2.Less(s1) {
			s2 = s1
		}
		r4 := Range{Subnet: sub4, Start: s1, End: s2, Exclude: []Exclusion{{From: pick(sub4, size4), To: pick(sub4, size4)}}}
		if r4.Exclude[0].To.Less(r4.Exclude[0].From) {
			r4.Exclude[0].From, r4.Exclude[0].To = r4.Exclude[0].To, r4.Exclude[0].From
		}
		r4.Exclude = r4.Exclude[:rng.IntN(2)]
		n := &Network{Name: "n", RangeSets: []RangeSet{{r4}, {{Subnet: sub6, Start: mustAddr("2001:db8::3")}}}}
		if err := n.Validate(); err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		st := &State{LastReserved: map[int]netip.Addr{}}
		fill := rng.Float64()
		for i := 0; i < size4; i++ {
			if rng.Float64() < fill {
				a := u128From(sub4.Masked().Addr()).sub(u128{lo: 64}).add(u128{lo: uint64(i)})
				st.Reservations = append(st.Reservations, Reservation{Addr: a.addr(true)})
			}
		}
		for range 200 {
			st.Reservations = append(st.Reservations, Reservation{Addr: pick(sub6, 4096)})
		}
		if len(st.Reservations) > 0 {
			st.LastReserved[0] = st.Reservations[rng.IntN(len(st.Reservations))].Addr
		}
		want, err := NewPool(n, st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewPoolFromUsage(n, UsageOf(st))
		if err != nil {
			t.Fatal(err)
		}
		if got.Reserved() != want.Reserved() {
			t.Fatalf("iter %d: reserved %d, want %d", iter, got.Reserved(), want.Reserved())
		}
		for _, p := range []netip.Prefix{sub4, sub6} {
			for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
				if got.Used(a) != want.Used(a) {
					t.Fatalf("iter %d (%v): Used(%s) = %v, want %v", iter, r4, a, got.Used(a), want.Used(a))
				}
			}
		}
		for i := range 2 {
			ga, gok := got.next(i)
			wa, wok := want.next(i)
			if ga != wa || gok != wok {
				t.Fatalf("iter %d: next(%d) = %s %v, want %s %v", iter, i, ga, gok, wa, wok)
			}
		}
	}
}

func BenchmarkPoolFromUsage(b *testing.B) {
	n := &Network{Name: "n", RangeSets: []RangeSet{{{Subnet: mustPrefix("10.0.0.0/16")}}}}
	st := &State{}
	for a := mustAddr("10.0.0.1"); len(st.Reservations) < 65000; a = a.Next() {
		st.Reservations = append(st.Reservations, Reservation{Addr: a})
	}
	u := UsageOf(st)
	b.Run("state", func(b *testing.B) {
		for b.Loop() {
			_, _ = NewPool(n, st)
		}
	})
	b.Run("usage", func(b *testing.B) {
		for b.Loop() {
			_, _ = NewPoolFromUsage(n, u)
		}
	})
}
