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
func Preferred(policy config.Policy, available []*Device, mustInclude []string, size int) []string {
	byID := make(map[string]*Device, len(available))
	for _, d := range available {
		byID[d.PCIAddress] = d
	}
	chosen := make([]string, 0, size)
	taken := map[string]bool{}
	perPF := map[string]int{}
	numaCount := map[int]int{}
	for _, id := range mustInclude {
		if taken[id] {
			continue
		}
		taken[id] = true
		chosen = append(chosen, id)
		if d := byID[id]; d != nil {
			perPF[d.PFAddress]++
			numaCount[d.NUMANode]++
		}
	}
	if len(chosen) >= size {
		return chosen
	}
	var free []*Device
	for _, d := range available {
		if !taken[d.PCIAddress] {
			free = append(free, d)
		}
	}
	if len(numaCount) == 0 {
		for _, d := range free {
			numaCount[d.NUMANode]++
		}
	}
	home, best := -1, -1
	for n, c := range numaCount {
		if c > best || (c == best && n < home) {
			home, best = n, c
		}
	}
	// Tiers: the home node, then the others in order.
	tiers := map[int][]*Device{}
	for _, d := range free {
		tiers[d.NUMANode] = append(tiers[d.NUMANode], d)
	}
	order := slices.Sorted(func(yield func(int) bool) {
		for n := range tiers {
			if n != home && !yield(n) {
				return
			}
		}
	})
	order = append([]int{home}, order...)
	for _, n := range order {
		need := size - len(chosen)
		if need <= 0 {
			break
		}
		for _, d := range pick(policy, tiers[n], perPF, need) {
			chosen = append(chosen, d.PCIAddress)
			perPF[d.PFAddress]++
		}
	}
	return chosen
}

// pick chooses up to need devices of one NUMA node.
func pick(policy config.Policy, devs []*Device, used map[string]int, need int) []*Device {
	groups := map[string][]*Device{}
	for _, d := range devs {
		groups[d.PFAddress] = append(groups[d.PFAddress], d)
	}
	pfs := make([]string, 0, len(groups))
	for pf, g := range groups {
		slices.SortFunc(g, func(a, b *Device) int {
			return cmp.Or(cmp.Compare(a.VFIndex, b.VFIndex), cmp.Compare(a.PCIAddress, b.PCIAddress))
		})
		pfs = append(pfs, pf)
	}
	slices.Sort(pfs)
	var out []*Device
	if policy == config.Spread {
		// Round-robin over PFs, least used first.
		slices.SortStableFunc(pfs, func(a, b string) int { return cmp.Compare(used[a], used[b]) })
		next := map[string]int{}
		for len(out) < need {
			progress := false
			for _, pf := range pfs {
				if len(out) == need {
					break
				}
				if i := next[pf]; i < len(groups[pf]) {
					out = append(out, groups[pf][i])
					next[pf] = i + 1
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
	remaining := slices.Clone(pfs)
	take := func(pf string) {
		for _, d := range groups[pf] {
			if len(out) == need {
				break
			}
			out = append(out, d)
		}
		remaining = slices.DeleteFunc(remaining, func(p string) bool { return p == pf })
	}
	inUse := slices.DeleteFunc(slices.Clone(pfs), func(pf string) bool { return used[pf] == 0 })
	slices.SortStableFunc(inUse, func(a, b string) int { return cmp.Compare(used[b], used[a]) })
	for _, pf := range inUse {
		take(pf)
	}
	for len(out) < need && len(remaining) > 0 {
		k := need - len(out)
		fit := ""
		for _, pf := range remaining {
			if n := len(groups[pf]); n >= k && (fit == "" || n < len(groups[fit])) {
				fit = pf
			}
		}
		if fit == "" {
			for _, pf := range remaining {
				if fit == "" || len(groups[pf]) > len(groups[fit]) {
					fit = pf
				}
			}
		}
		take(fit)
	}
	return out
}
