package deviceplugin

import (
	"github.com/vflab/vflab/deviceplugin/config"
)

// ReasonDefaultRoute is the health reason of a device excluded because its netdev carries the host's
// IPv4 default route.
const ReasonDefaultRoute = "excluded: carries the host's IPv4 default route"

// Routes tells which host netdevs carry the IPv4 default route (see discovery.Routes).
type Routes interface {
	DefaultRouteLinks() ([]string, error)
}

// member is a device's place in a pool, from the previous assignment.
type member struct {
	pool string
	prep *prepared
}

// assign distributes a scan over the pools (by full resource name):
//   - a device held by a pod (allocated: ID → resource name) stays in that pool whatever its current
//     state, so a VF whose netdev or RDMA device sits in a pod is neither lost nor re-offered;
//   - otherwise it joins the first pool one of whose selectors it matches;
//   - a device that matched before and now matches no pool (driver unbound or rebinding, RDMA device
//     gone) stays in its pool, unhealthy, rather than vanishing from under kubelet; prev is reset when
//     the config changes, so an edited selector does drop devices;
//   - a device that vanished stays, unhealthy, while its PF is gone or unbound; it is dropped when its PF
//     is present (the VF count was lowered);
//   - a device no pod holds whose host netdev carries the IPv4 default route (defaultRoute: netdev
//     names) is excluded explicitly: it stays in its pool, unhealthy with that reason, so kubelet never
//     hands it out (a pod would take the node's uplink) and the exclusion shows in capacity versus
//     allocatable. Upstream drops such devices silently (#572, #189).
func assign(rs []config.Resource, snap *Snapshot, allocated map[string]string, prev map[string]member, defaultRoute map[string]bool) map[string]map[string]*prepared {
	out := make(map[string]map[string]*prepared, len(rs))
	idx := make(map[string]int, len(rs))
	for i := range rs {
		out[rs[i].FullName()] = map[string]*prepared{}
		idx[rs[i].FullName()] = i
	}
	seen := make(map[string]bool, len(snap.Devices))
	for _, d := range snap.Devices {
		seen[d.PCIAddress] = true
		pi, si := -1, -1
		if name, ok := allocated[d.PCIAddress]; ok {
			if i, ok := idx[name]; ok {
				pi, si = i, firstMatch(&rs[i], &d)
			}
		}
		if pi < 0 {
			pi, si = poolOf(rs, &d)
		}
		stray := false
		if pi < 0 {
			old, ok := prev[d.PCIAddress]
			i, exists := idx[old.pool]
			if !ok || !exists {
				continue
			}
			pi, si, stray = i, firstMatch(&rs[i], &old.prep.dev), true
		}
		var sel *config.Selector
		if si >= 0 {
			sel = &rs[pi].Selectors[si]
		}
		p := prepare(&rs[pi], sel, d, snap)
		_, held := allocated[d.PCIAddress]
		switch {
		case !held && d.Netdev != "" && defaultRoute[d.Netdev]:
			p.health = Health{Reason: ReasonDefaultRoute + " (" + d.Netdev + ")"}
		case stray && p.health.Healthy:
			p.health = Health{Reason: "no longer matches the selectors of " + rs[pi].FullName()}
		}
		out[rs[pi].FullName()][d.PCIAddress] = p
	}
	for id, old := range prev {
		if seen[id] {
			continue
		}
		pool, ok := out[old.pool]
		if !ok {
			continue
		}
		if pf, ok := snap.PFs[old.prep.dev.PFAddress]; ok && pf.Driver != "" {
			continue
		}
		gone := *old.prep
		gone.health = Health{Reason: "PF " + old.prep.dev.PFAddress + " gone"}
		pool[id] = &gone
	}
	return out
}

func poolOf(rs []config.Resource, d *Device) (int, int) {
	for i := range rs {
		if !classOK(rs[i].DeviceType, d.Class) {
			continue
		}
		if j := firstMatch(&rs[i], d); j >= 0 {
			return i, j
		}
	}
	return -1, -1
}

func firstMatch(r *config.Resource, d *Device) int {
	for j := range r.Selectors {
		if Matches(&r.Selectors[j], d) {
			return j
		}
	}
	return -1
}
