package memstore

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/vflab/vflab/ipam"
)

var _ ipam.Store = (*Store)(nil)

// Store keeps reservations in maps: an address index and an owner index per network, updated together.
type Store struct {
	mu   sync.Mutex
	nets map[string]*network
	// Fail, when set, is called at the start of every operation with its name ("load", "reserve",
	// "owned", "release", "list", "networks"); a non-nil result fails the operation unchanged.
	Fail func(op string) error
}

type network struct {
	byAddr  map[netip.Addr]ipam.Reservation
	byOwner map[ipam.Owner][]netip.Addr
	last    map[int]netip.Addr
}

// New returns an empty store.
func New() *Store { return &Store{nets: map[string]*network{}} }

func (s *Store) net(name string, create bool) *network {
	n := s.nets[name]
	if n == nil && create {
		n = &network{byAddr: map[netip.Addr]ipam.Reservation{}, byOwner: map[ipam.Owner][]netip.Addr{}, last: map[int]netip.Addr{}}
		s.nets[name] = n
	}
	return n
}

func (s *Store) fail(op string) error {
	if s.Fail != nil {
		return s.Fail(op)
	}
	return nil
}

// Load implements ipam.Store.
func (s *Store) Load(_ context.Context, network string) (*ipam.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail("load"); err != nil {
		return nil, err
	}
	st := &ipam.State{LastReserved: map[int]netip.Addr{}}
	n := s.net(network, false)
	if n == nil {
		return st, nil
	}
	st.Reservations = n.sorted()
	for k, v := range n.last {
		st.LastReserved[k] = v
	}
	return st, nil
}

// Reserve implements ipam.Store: all or nothing.
func (s *Store) Reserve(_ context.Context, network string, rs []ipam.Reservation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail("reserve"); err != nil {
		return err
	}
	n := s.net(network, true)
	seen := map[netip.Addr]bool{}
	for _, r := range rs {
		if held, ok := n.byAddr[r.Addr]; ok {
			return &ipam.AddressInUseError{Addr: r.Addr, Owner: held.Owner}
		}
		if seen[r.Addr] {
			return &ipam.AddressInUseError{Addr: r.Addr, Owner: r.Owner}
		}
		seen[r.Addr] = true
	}
	for _, r := range rs {
		n.byAddr[r.Addr] = r
		n.byOwner[r.Owner] = append(n.byOwner[r.Owner], r.Addr)
		n.last[r.RangeSet] = r.Addr
	}
	return nil
}

// Owned implements ipam.Store.
func (s *Store) Owned(_ context.Context, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail("owned"); err != nil {
		return nil, err
	}
	n := s.net(network, false)
	if n == nil {
		return nil, nil
	}
	var out []ipam.Reservation
	for _, a := range n.byOwner[owner] {
		out = append(out, n.byAddr[a])
	}
	return out, nil
}

// Release implements ipam.Store.
func (s *Store) Release(_ context.Context, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail("release"); err != nil {
		return nil, err
	}
	n := s.net(network, false)
	if n == nil {
		return nil, nil
	}
	var out []ipam.Reservation
	for _, a := range n.byOwner[owner] {
		out = append(out, n.byAddr[a])
		delete(n.byAddr, a)
	}
	delete(n.byOwner, owner)
	return out, nil
}

// List implements ipam.Store.
func (s *Store) List(_ context.Context, network string) ([]ipam.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail("list"); err != nil {
		return nil, err
	}
	n := s.net(network, false)
	if n == nil {
		return nil, nil
	}
	return n.sorted(), nil
}

// Networks implements ipam.Store.
func (s *Store) Networks(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail("networks"); err != nil {
		return nil, err
	}
	var out []string
	for name, n := range s.nets {
		if len(n.byAddr) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (n *network) sorted() []ipam.Reservation {
	out := make([]ipam.Reservation, 0, len(n.byAddr))
	for _, r := range n.byAddr {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}
