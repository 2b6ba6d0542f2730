package deviceplugin

import (
	"cmp"
	"slices"

	"github.com/vflab/vflab/deviceplugin/config"
)

// Preferred chooses size device IDs among available for one container: every must-include device first,
// then devices on the NUMA node of the must-include set (without one, the node with the most available
// devices), then the other nodes. Within a node, Pack fills the fewest PFs (PFs already in use first,
// then the smallest PF that still fits the rest, else the fullest), Spread takes one VF per PF (rail)
// before a second on any. The result is deterministic; it is shorter than size only when available is.
// It runs in O(n log n) with a handful of allocations (no per-device map entries).
func Preferred(policy config.Policy, available []*Device, mustInclude []string, size int) []string {
	chosen := make([]string, 0, max(size, len(mustInclude)))
	must := make(map[string]bool, len(mustInclude))
	for _, id := range mustInclude {
		if !must[id] {
			must[id] = true
			chosen = append(chosen, id)
		}
	}
	used := map[string]int{} // PF → devices already chosen on it
	var numaMust numaCounter
	free := make([]*Device, 0, len(available))
	for _, d := range available {
		if must[d.PCIAddress] {
			used[d.PFAddress]++
			numaMust.add(d.NUMANode)
			continue
		}
		free = append(free, d)
	}
	if len(chosen) >= size {
		return chosen
	}
	home := numaMust.top()
	if numaMust.empty() {
		var all numaCounter
		for _, d := range free {
			all.add(d.NUMANode)
		}
		home = all.top()
	}
	// One sort: the home node first, then the other nodes in order; within a node by PF and VF index.
	slices.SortFunc(free, func(a, b *Device) int {
		ah, bh := a.NUMANode != home, b.NUMANode != home
		if ah != bh {
			if ah {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.NUMANode, b.NUMANode), cmp.Compare(a.PFAddress, b.PFAddress),
			cmp.Compare(a.VFIndex, b.VFIndex), cmp.Compare(a.PCIAddress, b.PCIAddress))
	})
	for start := 0; start < len(free) && len(chosen) < size; {
		end := start
		for end < len(free) && free[end].NUMANode == free[start].NUMANode {
			end++
		}
		for _, d := range pick(policy, free[start:end], used, size-len(chosen)) {
			chosen = append(chosen, d.PCIAddress)
			used[d.PFAddress]++
		}
		start = end
	}
	return chosen
}

// numaCounter counts devices per NUMA node (-1 = none) without a map.
type numaCounter struct {
	counts []int // index node+1
	n      int
}

func (c *numaCounter) add(node int) {
	i := max(node+1, 0)
	if i >= len(c.counts) {
		c.counts = append(c.counts, make([]int, i+1-len(c.counts))...)
	}
	c.counts[i]++
	c.n++
}

func (c *numaCounter) empty() bool { return c.n == 0 }

// top is the node with the most devices, the lowest on ties (-1 when empty).
func (c *numaCounter) top() int {
	best, node := 0, -1
	for i, v := range c.counts {
		if v > best {
			best, node = v, i-1
		}
	}
	return node
}

// group is one PF's run of devices in a node, sorted by VF index.
type group struct {
	pf   string
	devs []*Device
	next int
}

// pick chooses up to need devices of one NUMA node; devs is sorted by PF then VF index.
func pick(policy config.Policy, devs []*Device, used map[string]int, need int) []*Device {
	var groups []*group
	for start := 0; start < len(devs); {
		end := start
		for end < len(devs) && devs[end].PFAddress == devs[start].PFAddress {
			end++
		}
		groups = append(groups, &group{pf: devs[start].PFAddress, devs: devs[start:end]})
		start = end
	}
	out := make([]*Device, 0, need)
	if policy == config.Spread {
		// Round-robin over PFs, least used first.
		slices.SortStableFunc(groups, func(a, b *group) int { return cmp.Compare(used[a.pf], used[b.pf]) })
		for len(out) < need {
			progress := false
			for _, g := range groups {
				if len(out) == need {
					break
				}
				if g.next < len(g.devs) {
					out = append(out, g.devs[g.next])
					g.next++
					progress = true
				}
			}
			if !progress {
				break
			}
		}
		return out
	}
	// Pack: PFs already in use (most used first), then best fit, else the fullest.
	take := func(g *group) {
		for _, d := range g.devs {
			if len(out) == need {
				break
			}
			out = append(out, d)
		}
		g.next = -1 // taken
	}
	inUse := slices.DeleteFunc(slices.Clone(groups), func(g *group) bool { return used[g.pf] == 0 })
	slices.SortStableFunc(inUse, func(a, b *group) int { return cmp.Compare(used[b.pf], used[a.pf]) })
	for _, g := range inUse {
		take(g)
	}
	for len(out) < need {
		k := need - len(out)
		var fit, fullest *group
		for _, g := range groups {
			if g.next < 0 {
				continue
			}
			if n := len(g.devs); n >= k && (fit == nil || n < len(fit.devs)) {
				fit = g
			}
			if fullest == nil || len(g.devs) > len(fullest.devs) {
				fullest = g
			}
		}
		switch {
		case fit != nil:
			take(fit)
		case fullest != nil:
			take(fullest)
		default:
			return out
		}
	}
	return out
}
