package ipam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// reloadAfterLosses is how many races an ADD loses before it reloads its allocator's pool.
const reloadAfterLosses = 8

// Allocator serves one network's ADDs and DELs from a Pool it keeps between calls, for long-lived callers
// (a node daemon, benchmarks): once warm, an allocation costs the same at 1% and at 99% full. The pool may
// be stale — other allocators reserve and release behind its back — but never wrongly so: Store.Reserve
// arbitrates (a lost race marks the address and picks again), and when the pool says a range set is full it
// is reloaded from the store once before ADD reports exhaustion. Safe for concurrent use; the store calls
// run outside its lock, so concurrent ADDs reach the store concurrently.
type Allocator struct {
	store Store
	net   Network

	mu   sync.Mutex
	pool *Pool
}

// NewAllocator validates n and returns an allocator that loads its pool on first use.
func NewAllocator(s Store, n *Network) (*Allocator, error) {
	nc := n.clone()
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	return &Allocator{store: s, net: nc}, nil
}

// Refresh drops the pool; the next ADD loads it from the store.
func (a *Allocator) Refresh() {
	a.mu.Lock()
	a.pool = nil
	a.mu.Unlock()
}

// loadLocked loads the pool; a.mu is held (loads are rare: first use and exhaustion).
func (a *Allocator) loadLocked(ctx context.Context) error {
	var p *Pool
	if ul, ok := a.store.(UsageLoader); ok {
		u, err := ul.LoadUsage(ctx, a.net.Name)
		if err != nil {
			return fmt.Errorf("ipam add %s: load usage: %w", a.net.Name, err)
		}
		if p, err = NewPoolFromUsage(&a.net, u); err != nil {
			return err
		}
	} else {
		st, err := a.store.Load(ctx, a.net.Name)
		if err != nil {
			return fmt.Errorf("ipam add %s: load: %w", a.net.Name, err)
		}
		if p, err = NewPool(&a.net, st); err != nil {
			return err
		}
	}
	a.pool = p
	return nil
}

// Add reserves one address per range set for req.Owner, idempotently (see the package Add).
func (a *Allocator) Add(ctx context.Context, req Request) ([]Allocation, error) {
	n := &a.net
	held, err := a.store.Owned(ctx, n.Name, req.Owner)
	if err != nil {
		return nil, fmt.Errorf("ipam add %s: look up %s: %w", n.Name, req.Owner, err)
	}
	if len(held) > 0 {
		return allocations(n, held)
	}
	fresh := false // the pool was loaded during this call: reloading it on exhaustion would not help
	losses := 0
	for range maxAttempts {
		a.mu.Lock()
		if a.pool == nil {
			if err := a.loadLocked(ctx); err != nil {
				a.mu.Unlock()
				return nil, err
			}
			fresh = true
		}
		p := a.pool
		rs, err := p.Allocate(req)
		if errors.Is(err, ErrExhausted) && !fresh {
			a.pool, fresh = nil, true
			a.mu.Unlock()
			continue
		}
		if err != nil {
			a.mu.Unlock()
			return nil, fmt.Errorf("ipam add %s for %s: %w", n.Name, req.Owner, err)
		}
		var tentative []Reservation // marked now so concurrent ADDs of this allocator pick others
		for _, r := range rs {
			if p.Mark(r.Addr) {
				tentative = append(tentative, r)
			}
		}
		a.mu.Unlock()

		err = a.store.Reserve(ctx, n.Name, rs)

		a.mu.Lock()
		if err == nil {
			if a.pool != nil {
				a.pool.Commit(rs)
			}
			a.mu.Unlock()
			return allocations(n, rs)
		}
		var inUse *AddressInUseError
		lost := errors.As(err, &inUse)
		if a.pool == p { // undo the marks of addresses that may still be free
			for _, r := range tentative {
				if !lost || r.Addr != inUse.Addr {
					p.Unmark(r.Addr)
				}
			}
		}
		if lost && a.pool != nil {
			a.pool.Mark(inUse.Addr)
		}
		if lost {
			// Each loss costs a store round trip: a pool that keeps losing is stale (others reserved
			// behind it), so reload it rather than discover their reservations one at a time.
			if losses++; losses%reloadAfterLosses == 0 && a.pool == p {
				a.pool = nil
			}
		}
		a.mu.Unlock()
		if !lost {
			return nil, fmt.Errorf("ipam add %s for %s: reserve: %w", n.Name, req.Owner, err)
		}
		if inUse.Owner == req.Owner {
			// A concurrent ADD of the same attachment won: return what it holds.
			held, err := a.store.Owned(ctx, n.Name, req.Owner)
			if err != nil {
				return nil, fmt.Errorf("ipam add %s: look up %s: %w", n.Name, req.Owner, err)
			}
			if len(held) > 0 {
				return allocations(n, held)
			}
		}
		if slices.Contains(req.IPs, inUse.Addr) {
			return nil, fmt.Errorf("ipam add %s for %s: requested %w", n.Name, req.Owner, err)
		}
	}
	return nil, fmt.Errorf("ipam add %s for %s: lost %d races for an address", n.Name, req.Owner, maxAttempts)
}

// Del releases the owner's reservations (see the package Del) and frees them in the pool.
func (a *Allocator) Del(ctx context.Context, owner Owner) ([]Reservation, error) {
	rs, err := Del(ctx, a.store, a.net.Name, owner)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.pool != nil {
		for _, r := range rs {
			a.pool.Unmark(r.Addr)
		}
	}
	a.mu.Unlock()
	return rs, nil
}
