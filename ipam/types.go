package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Policy chooses which free address a dynamic allocation takes.
type Policy string

const (
	// RoundRobin continues after the last address reserved in the range set (host-local's
	// last_reserved_ip), wrapping around: recently released addresses are reused last.
	RoundRobin Policy = "round-robin"
	// LowestFree takes the lowest free address of the first range with one (whereabouts' behaviour).
	LowestFree Policy = "lowest-free"
)

// Network is the allocator's view of one IPAM network: a name that scopes reservations, and the range
// sets an attachment draws one address from each.
type Network struct {
	Name      string
	RangeSets []RangeSet
	Policy    Policy // "" means RoundRobin
	// Sources, when set, names where each range came from in the user's configuration (e.g.
	// "ipam.ranges[0][1]", "ipam.ipRanges[2]"), parallel to RangeSets; validation errors use these names.
	Sources [][]string
}

// RangeSet is an ordered list of ranges of one address family; an attachment gets one address from the
// set, from the first range that has a free one.
type RangeSet []Range

// Range is a pool of addresses inside Subnet, from Start to End inclusive. Zero Start and End mean the
// first and last usable addresses of the subnet. Gateway, when valid, is never handed out.
type Range struct {
	Subnet  netip.Prefix
	Start   netip.Addr
	End     netip.Addr
	Gateway netip.Addr
	Exclude []Exclusion
}

// Exclusion is an inclusive span of addresses never handed out: a CIDR, a single address or a start-end
// range all normalise to one.
type Exclusion struct {
	From, To netip.Addr
}

// ExclusionFromPrefix returns the exclusion covering every address of p.
func ExclusionFromPrefix(p netip.Prefix) Exclusion {
	p = p.Masked()
	return Exclusion{From: p.Addr(), To: lastAddr(p)}
}

// Owner identifies an attachment: the key ADD is idempotent on, inside one network.
type Owner struct {
	ContainerID string
	IfName      string
}

func (o Owner) String() string { return o.ContainerID + "/" + o.IfName }

// PodRef names the pod an attachment belongs to, for the reconciler. Any field may be empty when the
// runtime did not say (plain CNI, host-local data).
type PodRef struct {
	Namespace string
	Name      string
	UID       string
}

// Known reports whether the reference is complete enough for the reconciler to judge the pod.
func (p PodRef) Known() bool { return p.Namespace != "" && p.Name != "" }

func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

// Reservation is one address held by an owner: what stores persist.
type Reservation struct {
	Addr     netip.Addr
	RangeSet int // index of the range set in Network.RangeSets
	Owner    Owner
	Pod      PodRef
	Created  time.Time
}

// State is what a store loads for the allocator: every reservation of the network and, for round-robin,
// the last address reserved per range set (missing means none yet).
type State struct {
	Reservations []Reservation
	LastReserved map[int]netip.Addr
}

// Request asks for one address per range set for an attachment.
type Request struct {
	Owner Owner
	Pod   PodRef
	// IPs are static requests (CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips): each must fall in a
	// different range set, be free (or already held by Owner) and not excluded; range sets without one
	// get a dynamic address.
	IPs []netip.Addr
	// Now stamps the reservations' creation time (the core never reads the clock).
	Now time.Time
}

// Allocation is a reservation with the range it came from, ready to become a CNI IP config.
type Allocation struct {
	Reservation
	Prefix  netip.Prefix // Addr with the range's subnet length
	Gateway netip.Addr   // the range's gateway, zero if none
}

var (
	// ErrExhausted: a range set has no free address.
	ErrExhausted = errors.New("no free address")
	// ErrAddressInUse: an address (static request, or a concurrent reservation lost a race) is held by
	// someone else. Stores return an *AddressInUseError wrapping it from Reserve.
	ErrAddressInUse = errors.New("address already reserved")
	// ErrNotInRange: a requested address is in no range set of the network, or is excluded.
	ErrNotInRange = errors.New("address not in any range")
	// ErrInvalidConfig: a Network failed validation.
	ErrInvalidConfig = errors.New("invalid ipam config")
	// ErrNotFound: CHECK found no reservation for the owner.
	ErrNotFound = errors.New("no reservation")
)

// AddressInUseError says which address a Store.Reserve could not take; it matches ErrAddressInUse.
type AddressInUseError struct {
	Addr  netip.Addr
	Owner Owner // the holder, when the store knows it
}

func (e *AddressInUseError) Error() string {
	if e.Owner != (Owner{}) {
		return fmt.Sprintf("address %s already reserved by %s", e.Addr, e.Owner)
	}
	return fmt.Sprintf("address %s already reserved", e.Addr)
}

func (e *AddressInUseError) Is(target error) bool { return target == ErrAddressInUse }

// ExhaustedError names the network and range set that ran out; it matches ErrExhausted.
type ExhaustedError struct {
	Network  string
	RangeSet int
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("network %q range set %d: no free address", e.Network, e.RangeSet)
}

func (e *ExhaustedError) Is(target error) bool { return target == ErrExhausted }
