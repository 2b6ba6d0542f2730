package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// Validate checks the network and fills defaults in place: Start defaults to the subnet's first host
// (network+1), End to its last usable address (broadcast−1 for IPv4, the last address for IPv6). It
// rejects subnets with fewer than two host bits or host bits set, bounds outside the subnet, mixed
// families inside a range set, and overlapping ranges. Errors name the field, as
// "rangeSets[0][1].start: ...", and wrap ErrInvalidConfig.
func (n *Network) Validate() error {
	if n.Name == "" {
		return fmt.Errorf("%w: name: empty", ErrInvalidConfig)
	}
	switch n.Policy {
	case "", RoundRobin, LowestFree:
	default:
		return fmt.Errorf("%w: policy: %q is neither %q nor %q", ErrInvalidConfig, n.Policy, RoundRobin, LowestFree)
	}
	if len(n.RangeSets) == 0 {
		return fmt.Errorf("%w: rangeSets: no range", ErrInvalidConfig)
	}
	var all []Range
	var where []string
	for si, set := range n.RangeSets {
		if len(set) == 0 {
			return fmt.Errorf("%w: %s: empty range set", ErrInvalidConfig, strings.TrimSuffix(n.source(si, 0), "[0]"))
		}
		for ri := range set {
			field := n.source(si, ri)
			if err := set[ri].canonicalize(field); err != nil {
				return err
			}
			if set[ri].Subnet.Addr().Is4() != set[0].Subnet.Addr().Is4() {
				return fmt.Errorf("%w: %s.subnet: %s mixes address families in one range set",
					ErrInvalidConfig, field, set[ri].Subnet)
			}
			for k, o := range all {
				if set[ri].overlaps(o) {
					return fmt.Errorf("%w: %s: %s-%s overlaps %s (%s-%s)", ErrInvalidConfig, field,
						set[ri].Start, set[ri].End, where[k], o.Start, o.End)
				}
			}
			all = append(all, set[ri])
			where = append(where, field)
		}
	}
	return nil
}

func (n *Network) source(si, ri int) string {
	if si < len(n.Sources) && ri < len(n.Sources[si]) && n.Sources[si][ri] != "" {
		return n.Sources[si][ri]
	}
	return fmt.Sprintf("rangeSets[%d][%d]", si, ri)
}

func (r *Range) canonicalize(field string) error {
	if !r.Subnet.IsValid() {
		return fmt.Errorf("%w: %s.subnet: missing or not a CIDR", ErrInvalidConfig, field)
	}
	if r.Subnet.Addr().Is4In6() {
		r.Subnet = netip.PrefixFrom(r.Subnet.Addr().Unmap(), r.Subnet.Bits()-96)
	}
	if r.Subnet.Masked() != r.Subnet {
		return fmt.Errorf("%w: %s.subnet: %q has host bits set (network is %s)", ErrInvalidConfig, field, r.Subnet, r.Subnet.Masked())
	}
	if r.Subnet.Addr().BitLen()-r.Subnet.Bits() < 2 {
		return fmt.Errorf("%w: %s.subnet: %q has fewer than 2 host bits", ErrInvalidConfig, field, r.Subnet)
	}
	is4 := r.Subnet.Addr().Is4()
	network := r.Subnet.Addr()
	last := lastAddr(r.Subnet)
	inSubnet := func(name string, a netip.Addr) error {
		a = a.Unmap()
		if !r.Subnet.Contains(a) {
			return fmt.Errorf("%w: %s.%s: %s is not in subnet %s", ErrInvalidConfig, field, name, a, r.Subnet)
		}
		return nil
	}
	if r.Start.IsValid() {
		r.Start = r.Start.Unmap()
		if err := inSubnet("start", r.Start); err != nil {
			return err
		}
	} else {
		r.Start = network.Next()
	}
	switch {
	case r.End.IsValid():
		r.End = r.End.Unmap()
		if err := inSubnet("end", r.End); err != nil {
			return err
		}
	case is4:
		r.End = last.Prev()
	default:
		r.End = last
	}
	if r.End.Less(r.Start) {
		return fmt.Errorf("%w: %s: end %s is before start %s", ErrInvalidConfig, field, r.End, r.Start)
	}
	if r.Gateway.IsValid() {
		r.Gateway = r.Gateway.Unmap()
		if err := inSubnet("gateway", r.Gateway); err != nil {
			return err
		}
	}
	for i, e := range r.Exclude {
		ef := fmt.Sprintf("exclude[%d]", i)
		if !e.From.IsValid() || !e.To.IsValid() {
			return fmt.Errorf("%w: %s.%s: empty", ErrInvalidConfig, field, ef)
		}
		e.From, e.To = e.From.Unmap(), e.To.Unmap()
		if e.From.Is4() != is4 || e.To.Is4() != is4 {
			return fmt.Errorf("%w: %s.%s: %s-%s is not of the subnet's family", ErrInvalidConfig, field, ef, e.From, e.To)
		}
		if e.To.Less(e.From) {
			return fmt.Errorf("%w: %s.%s: end %s is before start %s", ErrInvalidConfig, field, ef, e.To, e.From)
		}
		r.Exclude[i] = e
	}
	return nil
}

func (r Range) overlaps(o Range) bool {
	if r.Start.Is4() != o.Start.Is4() {
		return false
	}
	return !r.End.Less(o.Start) && !o.End.Less(r.Start)
}

// Contains reports whether a is inside the range's start-end bounds.
func (r Range) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() == r.Start.Is4() && !a.Less(r.Start) && !r.End.Less(a)
}
