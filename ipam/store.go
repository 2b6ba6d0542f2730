package ipam

import "context"

// Store keeps the reservations of every network. It is consumer-side and small on purpose: the node store
// implements it on disk, the cluster store on etcd, memstore in memory for tests.
//
// Every method is scoped to one network by name. Implementations must be safe for concurrent use by
// several processes (node) or nodes (cluster); the core never assumes its State is current — Reserve is
// the arbiter.
type Store interface {
	// Load returns the network's reservations and round-robin cursors: the state the allocator builds a
	// Pool from. It may be stale by the time Reserve runs.
	Load(ctx context.Context, network string) (*State, error)

	// Reserve records rs — all for one owner, at most one per range set — atomically: either every
	// address was free and all are recorded (and LastReserved advanced to them), or nothing changed.
	// An address held by anyone (including the same owner) fails with an *AddressInUseError. On etcd
	// this is one transaction conditioned on each address key being absent.
	Reserve(ctx context.Context, network string, rs []Reservation) error

	// Owned returns the reservations owner holds in the network; none is an empty result, not an error.
	Owned(ctx context.Context, network string, owner Owner) ([]Reservation, error)

	// Release removes every reservation of owner and returns what it removed; an owner with none is
	// not an error (DEL is idempotent), a failing store is.
	Release(ctx context.Context, network string, owner Owner) ([]Reservation, error)

	// List returns every reservation of the network (GC, reconciler, audits).
	List(ctx context.Context, network string) ([]Reservation, error)

	// Networks names every network that holds reservations (the reconciler walks them).
	Networks(ctx context.Context) ([]string, error)
}
