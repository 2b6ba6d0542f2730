package ipam

import (
	"context"
	"net/netip"
	"slices"
	"sort"
)

// testStore is a minimal in-package Store (memstore imports ipam, so the core's own tests use this one).
// stale makes Load return an empty state, as if other allocators reserved after it.
type testStore struct {
	byAddr map[netip.Addr]Reservation
	last   map[int]netip.Addr
	stale  bool
	fail   func(op string) error
}

func newTestStore() *testStore {
	return &testStore{byAddr: map[netip.Addr]Reservation{}, last: map[int]netip.Addr{}}
}

func (s *testStore) err(op string) error {
	if s.fail != nil {
		return s.fail(op)
	}
	return nil
}

func (s *testStore) Load(context.Context, string) (*State, error) {
	if err := s.err("load"); err != nil {
		return nil, err
	}
	st := &State{LastReserved: map[int]netip.Addr{}}
	if s.stale {
		return st, nil
	}
	for _, r := range s.byAddr {
		st.Reservations = append(st.Reservations, r)
	}
	for k, v := range s.last {
		st.LastReserved[k] = v
	}
	return st, nil
}

func (s *testStore) Reserve(_ context.Context, _ string, rs []Reservation) error {
	if err := s.err("reserve"); err != nil {
		return err
	}
	for _, r := range rs {
		if h, ok := s.byAddr[r.Addr]; ok {
			return &AddressInUseError{Addr: r.Addr, Owner: h.Owner}
		}
	}
	for _, r := range rs {
		s.byAddr[r.Addr] = r
		s.last[r.RangeSet] = r.Addr
	}
	return nil
}

func (s *testStore) Owned(_ context.Context, _ string, o Owner) ([]Reservation, error) {
	if err := s.err("owned"); err != nil {
		return nil, err
	}
	var out []Reservation
	for _, r := range s.byAddr {
		if r.Owner == o {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RangeSet < out[j].RangeSet })
	return out, nil
}

func (s *testStore) Release(_ context.Context, _ string, o Owner) ([]Reservation, error) {
	if err := s.err("release"); err != nil {
		return nil, err
	}
	var out []Reservation
	for a, r := range s.byAddr {
		if r.Owner == o {
			out = append(out, r)
			delete(s.byAddr, a)
		}
	}
	return out, nil
}

func (s *testStore) List(context.Context, string) ([]Reservation, error) {
	if err := s.err("list"); err != nil {
		return nil, err
	}
	var out []Reservation
	for _, r := range s.byAddr {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out, nil
}

func (s *testStore) Networks(context.Context) ([]string, error) {
	if len(s.byAddr) == 0 {
		return nil, nil
	}
	return []string{"net1"}, nil
}

func sortStrings(s []string) { slices.Sort(s) }
