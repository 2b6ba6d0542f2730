package ipam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxAttempts bounds how often Add re-picks after losing a race for an address (each loss marks the
// address taken, so every attempt makes progress).
const maxAttempts = 128

// Add reserves one address per range set of n for req.Owner and returns them. It is idempotent: if the owner
// already holds reservations in the network they are returned unchanged. Losing a race for an address
// (Store.Reserve says it is in use) marks it and picks again; a taken static request is an error.
func Add(ctx context.Context, s Store, n *Network, req Request) ([]Allocation, error) {
	al, err := NewAllocator(s, n)
	if err != nil {
		return nil, err
	}
	return al.Add(ctx, req)
}

func allocations(n *Network, rs []Reservation) ([]Allocation, error) {
	nc := n.clone()
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	out := make([]Allocation, 0, len(rs))
	for _, r := range rs {
		a, _ := nc.Allocation(r)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Allocation) int { return a.RangeSet - b.RangeSet })
	return out, nil
}

// Del releases every reservation of owner in the network. An owner without reservations is success; a
// store failure is returned.
func Del(ctx context.Context, s Store, network string, owner Owner) ([]Reservation, error) {
	rs, err := s.Release(ctx, network, owner)
	if err != nil {
		return nil, fmt.Errorf("ipam del %s for %s: %w", network, owner, err)
	}
	return rs, nil
}

// Check returns the owner's allocations, or an error wrapping ErrNotFound when it holds none, or
// ErrNotInRange when one is no longer inside the network's ranges.
func Check(ctx context.Context, s Store, n *Network, owner Owner) ([]Allocation, error) {
	held, err := s.Owned(ctx, n.Name, owner)
	if err != nil {
		return nil, fmt.Errorf("ipam check %s for %s: %w", n.Name, owner, err)
	}
	if len(held) == 0 {
		return nil, fmt.Errorf("ipam check %s: %w for %s", n.Name, ErrNotFound, owner)
	}
	nc := n.clone()
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	out := make([]Allocation, 0, len(held))
	for _, r := range held {
		a, ok := nc.Allocation(r)
		if !ok {
			return nil, fmt.Errorf("ipam check %s for %s: %s: %w", n.Name, owner, r.Addr, ErrNotInRange)
		}
		out = append(out, a)
	}
	return out, nil
}

// GC releases every reservation of the network whose owner valid rejects (CNI GC: valid reports whether
// an attachment is in cni.dev/valid-attachments). It returns what it released; it keeps going after a
// failed release and returns the errors joined.
func GC(ctx context.Context, s Store, network string, valid func(Owner) bool) ([]Reservation, error) {
	all, err := s.List(ctx, network)
	if err != nil {
		return nil, fmt.Errorf("ipam gc %s: list: %w", network, err)
	}
	var released []Reservation
	var errs []error
	done := map[Owner]bool{}
	for _, r := range all {
		if valid(r.Owner) || done[r.Owner] {
			continue
		}
		done[r.Owner] = true
		rs, err := s.Release(ctx, network, r.Owner)
		if err != nil {
			errs = append(errs, fmt.Errorf("ipam gc %s: release %s: %w", network, r.Owner, err))
			continue
		}
		released = append(released, rs...)
	}
	return released, errors.Join(errs...)
}

// Reconcile frees, in every network of the store, the reservations of pods alive says no longer exist.
// It never frees a reservation younger than grace (a pod may be Pending before the API server shows it)
// nor one without a known pod. alive receives the full PodRef, UID included, so a pod recreated under the
// same name does not keep its predecessor's address.
func Reconcile(ctx context.Context, s Store, alive func(PodRef) bool, grace time.Duration, now time.Time) ([]Reservation, error) {
	nets, err := s.Networks(ctx)
	if err != nil {
		return nil, fmt.Errorf("ipam reconcile: networks: %w", err)
	}
	var released []Reservation
	var errs []error
	for _, network := range nets {
		all, err := s.List(ctx, network)
		if err != nil {
			errs = append(errs, fmt.Errorf("ipam reconcile %s: list: %w", network, err))
			continue
		}
		// An owner is released only if every one of its reservations qualifies.
		keep := map[Owner]bool{}
		for _, r := range all {
			if !r.Pod.Known() || now.Sub(r.Created) < grace || alive(r.Pod) {
				keep[r.Owner] = true
			}
		}
		done := map[Owner]bool{}
		for _, r := range all {
			if keep[r.Owner] || done[r.Owner] {
				continue
			}
			done[r.Owner] = true
			if err := ctx.Err(); err != nil {
				return released, errors.Join(append(errs, err)...)
			}
			rs, err := s.Release(ctx, network, r.Owner)
			if err != nil {
				errs = append(errs, fmt.Errorf("ipam reconcile %s: release %s: %w", network, r.Owner, err))
				continue
			}
			released = append(released, rs...)
		}
	}
	return released, errors.Join(errs...)
}
