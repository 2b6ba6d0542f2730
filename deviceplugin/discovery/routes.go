package discovery

import (
	"fmt"
	"net"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/deviceplugin"
)

// Routes reads which links carry the IPv4 default route of one network namespace (the node's host
// namespace, where a VF's netdev lives until the CNI moves it into a pod), over netlink.
type Routes struct {
	h *netlink.Handle
}

var _ deviceplugin.Routes = (*Routes)(nil)

// NewRoutes reads routes through h (netlink.NewHandle for the caller's namespace); the caller owns h.
func NewRoutes(h *netlink.Handle) *Routes { return &Routes{h: h} }

// DefaultRouteLinks returns the names of the links the main table's IPv4 default routes leave by,
// every next hop of a multipath route included, sorted.
func (r *Routes) DefaultRouteLinks() ([]string, error) {
	routes, err := r.h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("default routes: %w", err)
	}
	var idx []int
	for i := range routes {
		rt := &routes[i]
		if !isDefault(rt.Dst) {
			continue
		}
		if rt.LinkIndex > 0 {
			idx = append(idx, rt.LinkIndex)
		}
		for _, nh := range rt.MultiPath {
			if nh.LinkIndex > 0 {
				idx = append(idx, nh.LinkIndex)
			}
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	names := make([]string, 0, len(idx))
	for _, i := range idx {
		l, err := r.h.LinkByIndex(i)
		if err != nil {
			return nil, fmt.Errorf("default routes: link %d: %w", i, err)
		}
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names, nil
}

// isDefault: netlink reports a default route with no destination or as 0.0.0.0/0.
func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0 && dst.IP.IsUnspecified()
}
