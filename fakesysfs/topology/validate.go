package topology

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Limits of what the fake kernel simulates. They are generous for real hardware shapes and keep a
// rendered tree small enough to reason about.
const (
	// MaxNUMANodes is the largest numaNodes a node may declare.
	MaxNUMANodes = 64
	// MaxCPUsPerNUMANode is the largest cpusPerNumaNode a node may declare.
	MaxCPUsPerNUMANode = 1024
	// MaxTotalVFs is the largest sriov_totalvfs a port may declare (mlx5 firmware NUM_OF_VFS is at most
	// 127 on ConnectX-4/5 and larger on later models; the fake keeps every VF of a PF on one PCI bus range).
	MaxTotalVFs = 255
	// MaxClusterNodes is the largest number of nodes a cluster expands to.
	MaxClusterNodes = 1000
)

var (
	// nameRE is a DNS-1123 label: node and cluster names end up in namespace and Kubernetes object names.
	nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// fabricRE names a fabric (used in namespace and bridge names by the sandbox).
	fabricRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// bdfRE is a PCI address as sysfs spells it: lower-case hex, domain:bus:device.function.
	bdfRE = regexp.MustCompile(`^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$`)
	// fwRE is mlx5's fw_ver ("%d.%d.%04d").
	fwRE = regexp.MustCompile(`^[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{4,5}$`)
	// boardIDRE is a PSID (board_id): at most 16 printable characters without spaces.
	boardIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,16}$`)
	// rateRE is the kernel's ports/<p>/rate format.
	rateRE = regexp.MustCompile(`^([0-9]+)(\.5)? Gb/sec \(([0-9]+)X ?(SDR|DDR|QDR|FDR10|FDR|EDR|HDR|NDR|XDR)?\)$`)
)

// laneRate is the per-lane rate of an InfiniBand speed in tenths of Gb/s, as the kernel's rate_show
// computes it (drivers/infiniband/core/sysfs.c).
var laneRate = map[string]int{"SDR": 25, "": 25, "DDR": 50, "QDR": 100, "FDR10": 100, "FDR": 140, "EDR": 250, "HDR": 500, "NDR": 1000, "XDR": 2000}

// linkWidths are the widths ib_width_enum_to_int knows.
var linkWidths = []int{1, 2, 4, 8, 12}

// portStates are the values Port.State accepts.
var portStates = []string{"ACTIVE", "DOWN"}

// ModelNames returns the names of Models, sorted.
func ModelNames() []string {
	names := make([]string, 0, len(Models))
	for name := range Models {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// pciFunc is one PCI function address, comparable and orderable.
type pciFunc struct {
	domain   uint16
	bus      uint8
	device   uint8
	function uint8
}

func (a pciFunc) String() string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", a.domain, a.bus, a.device, a.function)
}

// rid is the PCI requester ID of the function within its domain (bus<<8 | devfn).
func (a pciFunc) rid() int { return int(a.bus)<<8 | int(a.device)<<3 | int(a.function) }

// parsePCIFunc parses a BDF as sysfs spells it ("0000:3b:00.0"); device must be below 0x20.
func parsePCIFunc(s string) (pciFunc, error) {
	m := bdfRE.FindStringSubmatch(s)
	if m == nil {
		return pciFunc{}, fmt.Errorf("%q is not a PCI address of the form dddd:bb:dd.f (lower-case hex)", s)
	}
	dom, _ := strconv.ParseUint(m[1], 16, 16)
	bus, _ := strconv.ParseUint(m[2], 16, 8)
	dev, _ := strconv.ParseUint(m[3], 16, 8)
	fn, _ := strconv.ParseUint(m[4], 16, 8)
	if dev > 0x1f {
		return pciFunc{}, fmt.Errorf("%q: device %#x exceeds 0x1f", s, dev)
	}
	return pciFunc{domain: uint16(dom), bus: uint8(bus), device: uint8(dev), function: uint8(fn)}, nil
}

// ParseGUID parses an InfiniBand GUID in any of the forms vflab accepts: sysfs node_guid
// ("0002:c903:00f9:bfa0"), eight colon-separated bytes ("00:02:c9:03:00:f9:bf:a0", as ip link and the
// OFED sriov files print it) or 16 hex digits with an optional 0x prefix. Upper and lower case are accepted.
func ParseGUID(s string) (net.HardwareAddr, error) {
	hexDigits := ""
	switch {
	case len(s) == 19 && strings.Count(s, ":") == 3:
		for i, g := range strings.Split(s, ":") {
			if len(g) != 4 {
				return nil, fmt.Errorf("GUID %q: group %d is not 4 hex digits", s, i)
			}
		}
		hexDigits = strings.ReplaceAll(s, ":", "")
	case len(s) == 23 && strings.Count(s, ":") == 7:
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 8 {
			return nil, fmt.Errorf("GUID %q is not 8 colon-separated hex bytes", s)
		}
		return hw, nil
	default:
		hexDigits = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
		if len(hexDigits) != 16 {
			return nil, fmt.Errorf("GUID %q: want 0002:c903:00f9:bfa0, 00:02:c9:03:00:f9:bf:a0 or 0x0002c90300f9bfa0", s)
		}
	}
	v, err := strconv.ParseUint(hexDigits, 16, 64)
	if err != nil {
		return nil, fmt.Errorf("GUID %q: not hexadecimal", s)
	}
	hw := make(net.HardwareAddr, 8)
	for i := range 8 {
		hw[i] = byte(v >> (56 - 8*i))
	}
	return hw, nil
}

// validIfname reports why name is not a valid Linux interface name (dev_valid_name), or "".
func validIfname(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "is not a valid interface name"
	case len(name) > 15:
		return fmt.Sprintf("is %d bytes, interface names are at most 15", len(name))
	case strings.ContainsAny(name, "/:") || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return "contains a character not allowed in interface names (/, :, whitespace or non-ASCII)"
	}
	return ""
}

// checkRate reports whether rate has the kernel's format and consistent arithmetic (rate = width × lane rate).
func checkRate(rate string) error {
	m := rateRE.FindStringSubmatch(rate)
	if m == nil {
		return fmt.Errorf("%q is not of the form \"400 Gb/sec (4X NDR)\"", rate)
	}
	gbps, _ := strconv.Atoi(m[1])
	tenths := gbps * 10
	if m[2] != "" {
		tenths += 5
	}
	width, _ := strconv.Atoi(m[3])
	if !slices.Contains(linkWidths, width) {
		return fmt.Errorf("%q: width %dX is not one of 1X, 2X, 4X, 8X, 12X", rate, width)
	}
	if want := width * laneRate[m[4]]; want != tenths {
		speed := m[4]
		if speed == "" {
			speed = "SDR"
		}
		return fmt.Errorf("%q: %dX %s is %d%s Gb/sec", rate, width, speed, want/10, map[bool]string{true: ".5"}[want%10 != 0])
	}
	return nil
}

// nodeCheck collects a node's problems.
type nodeCheck struct {
	prefix string // field path prefix ("" for a node on its own, "nodes[2].node." inside a cluster)
	errs   []error
}

func (c *nodeCheck) add(field, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s%s: %s", c.prefix, field, fmt.Sprintf(format, args...)))
}

// Validate reports every problem of the node description, each naming its field path, e.g.
// `nics[1].ports[0].numVFs: 9 exceeds totalVFs 8`. The node is usable by fakesysfs when it returns nil.
func (n Node) Validate() error {
	c := &nodeCheck{}
	n.check(c)
	return errors.Join(c.errs...)
}

func (n Node) check(c *nodeCheck) {
	defer n.checkNetdevNames(c)
	switch {
	case n.Name == "":
		c.add("name", "required")
	case len(n.Name) > 63 || !nameRE.MatchString(n.Name):
		c.add("name", "%q is not a DNS label (lower-case letters, digits and '-', at most 63)", n.Name)
	}
	numa := n.NUMANodes
	switch {
	case numa < 0 || numa > MaxNUMANodes:
		c.add("numaNodes", "%d is out of range 0..%d (0 means 1)", numa, MaxNUMANodes)
		numa = MaxNUMANodes // keep checking NICs against the widest layout
	case numa == 0:
		numa = 1
	}
	if n.CPUsPerNUMANode < 0 || n.CPUsPerNUMANode > MaxCPUsPerNUMANode {
		c.add("cpusPerNumaNode", "%d is out of range 0..%d (0 means 8)", n.CPUsPerNUMANode, MaxCPUsPerNUMANode)
	}
	if len(n.NICs) == 0 {
		c.add("nics", "at least one NIC is required")
	}

	functions := map[pciFunc]funcOwner{} // PF and VF addresses -> who claimed them
	netdevs := map[string]string{}
	macs := map[string]string{}
	guids := map[string]string{}
	fabrics := map[string]fabricUse{}
	claim := func(seen map[string]string, key, field, what string) {
		if prev, ok := seen[key]; ok {
			c.add(field, "%s %s is also used by %s%s", what, key, c.prefix, prev)
			return
		}
		seen[key] = field
	}

	// PF functions of every NIC first, so that a VF range running into a PF is reported on the VF side.
	addrs := make([]pciFunc, len(n.NICs))
	addrOK := make([]bool, len(n.NICs))
	for i, nic := range n.NICs {
		nf := fmt.Sprintf("nics[%d]", i)
		addr, err := parsePCIFunc(nic.PCIAddress)
		switch {
		case nic.PCIAddress == "":
			c.add(nf+".pciAddress", "required")
			continue
		case err != nil:
			c.add(nf+".pciAddress", "%v", err)
			continue
		case addr.function != 0:
			c.add(nf+".pciAddress", "%s: must be function 0 (port p is function p)", nic.PCIAddress)
			continue
		}
		addrs[i], addrOK[i] = addr, true
		for p := range nic.Ports {
			pf := addr
			pf.function = uint8(p)
			if prev, ok := functions[pf]; ok {
				c.add(nf+".pciAddress", "PCI function %s of %s.ports[%d] is also used by %s%s", pf, nf, p, c.prefix, prev)
				continue
			}
			functions[pf] = funcOwner{nic: i, port: p, vf: -1}
		}
	}

	for i, nic := range n.NICs {
		nf := fmt.Sprintf("nics[%d]", i)
		model, known := Models[nic.Model]
		if !known {
			c.add(nf+".model", "unknown model %q (valid: %s)", nic.Model, strings.Join(quoteAll(ModelNames()), ", "))
		}
		addr, addrErr := addrs[i], !addrOK[i]
		if nic.NUMANode < -1 || nic.NUMANode >= numa {
			c.add(nf+".numaNode", "%d is not -1 or below numaNodes %d", nic.NUMANode, numa)
		}
		if nic.FirmwareVersion != "" && !fwRE.MatchString(nic.FirmwareVersion) {
			c.add(nf+".firmwareVersion", "%q is not of the form 28.39.2048", nic.FirmwareVersion)
		}
		if nic.BoardID != "" && !boardIDRE.MatchString(nic.BoardID) {
			c.add(nf+".boardId", "%q is not a PSID (1-16 letters, digits, '_', '.', '-')", nic.BoardID)
		}
		switch {
		case len(nic.Ports) == 0:
			c.add(nf+".ports", "at least one port is required")
		case known && len(nic.Ports) > model.MaxPorts:
			c.add(nf+".ports", "%d ports, but a %s has at most %d", len(nic.Ports), model.Name, model.MaxPorts)
		case len(nic.Ports) > 8:
			c.add(nf+".ports", "%d ports, but a PCI device has at most 8 functions", len(nic.Ports))
		}

		for p, port := range nic.Ports {
			pf := fmt.Sprintf("%s.ports[%d]", nf, p)
			switch port.LinkLayer {
			case InfiniBand, Ethernet:
				if known {
					if _, ok := model.Rate[port.LinkLayer]; !ok {
						c.add(pf+".linkLayer", "%s: a %s supports only %s", port.LinkLayer, model.Name, strings.Join(modelLinkLayers(model), ", "))
					}
				}
			case "":
				c.add(pf+".linkLayer", "required (InfiniBand or Ethernet)")
			default:
				c.add(pf+".linkLayer", "%q is not InfiniBand or Ethernet", port.LinkLayer)
			}
			if port.Netdev != "" {
				if why := validIfname(port.Netdev); why != "" {
					c.add(pf+".netdev", "%q %s", port.Netdev, why)
				} else {
					claim(netdevs, port.Netdev, pf+".netdev", "netdev")
				}
			}
			switch {
			case port.TotalVFs < 0 || port.TotalVFs > MaxTotalVFs:
				c.add(pf+".totalVFs", "%d is out of range 0..%d", port.TotalVFs, MaxTotalVFs)
			case port.NumVFs < 0:
				c.add(pf+".numVFs", "%d is negative", port.NumVFs)
			case port.NumVFs > port.TotalVFs:
				c.add(pf+".numVFs", "%d exceeds totalVFs %d", port.NumVFs, port.TotalVFs)
			}
			if port.MTU != 0 {
				lo, hi := 68, 9978 // mlx5e
				if port.LinkLayer == InfiniBand {
					lo, hi = 256, 65520 // IPoIB: datagram ≥ 256, connected ≤ 65520
				}
				if port.MTU < lo || port.MTU > hi {
					c.add(pf+".mtu", "%d is out of range %d..%d for %s", port.MTU, lo, hi, port.LinkLayer)
				}
			}
			if port.State != "" && !slices.Contains(portStates, port.State) {
				c.add(pf+".state", "%q is not ACTIVE or DOWN", port.State)
			}
			if port.Rate != "" {
				if err := checkRate(port.Rate); err != nil {
					c.add(pf+".rate", "%v", err)
				}
			}
			if port.Fabric != "" {
				if len(port.Fabric) > 32 || !fabricRE.MatchString(port.Fabric) {
					c.add(pf+".fabric", "%q is not a DNS label of at most 32 characters", port.Fabric)
				}
			}
			if port.LinkLayer == InfiniBand || port.LinkLayer == Ethernet {
				fabric := port.Fabric
				if fabric == "" {
					fabric = defaultFabric(port.LinkLayer)
				}
				if use, ok := fabrics[fabric]; ok && use.layer != port.LinkLayer {
					c.add(pf+".fabric", "%q is %s (%s%s) but this port is %s", fabric, use.layer, c.prefix, use.field, port.LinkLayer)
				} else if !ok {
					fabrics[fabric] = fabricUse{layer: port.LinkLayer, field: pf}
				}
			}
			if port.MAC != "" {
				hw, err := net.ParseMAC(port.MAC)
				switch {
				case port.LinkLayer == InfiniBand:
					c.add(pf+".mac", "an InfiniBand port has no MAC (set nodeGUID)")
				case err != nil || len(hw) != 6:
					c.add(pf+".mac", "%q is not a 6-byte MAC like 0c:42:a1:16:05:4c", port.MAC)
				case hw[0]&1 != 0:
					c.add(pf+".mac", "%s is a multicast address", hw)
				case isZero(hw):
					c.add(pf+".mac", "%s is the zero address", hw)
				default:
					claim(macs, hw.String(), pf+".mac", "MAC")
				}
			}
			if port.NodeGUID != "" {
				guid, err := ParseGUID(port.NodeGUID)
				switch {
				case err != nil:
					c.add(pf+".nodeGUID", "%v", err)
				case isZero(guid):
					c.add(pf+".nodeGUID", "%s is the zero GUID", guid)
				default:
					claim(guids, guid.String(), pf+".nodeGUID", "GUID")
				}
			}
			// Every VF the PF could ever enable must have a PCI function of its own.
			if !addrErr && port.TotalVFs > 0 && port.TotalVFs <= MaxTotalVFs {
				offset, stride := VFOffsetStride(nic, p)
				pfAddr := addr
				pfAddr.function = uint8(p)
				for v := range port.TotalVFs {
					rid := pfAddr.rid() + offset + stride*v
					if rid > 0xffff {
						c.add(pf+".totalVFs", "VF %d would sit beyond bus ff", v)
						break
					}
					vf := pciFunc{domain: addr.domain, bus: uint8(rid >> 8), device: uint8(rid&0xff) >> 3, function: uint8(rid & 7)}
					if prev, ok := functions[vf]; ok {
						c.add(pf+".totalVFs", "VF %d would be PCI function %s, already used by %s%s", v, vf, c.prefix, prev)
						break
					}
					functions[vf] = funcOwner{nic: i, port: p, vf: v}
				}
			}
		}
	}
}

// checkNetdevNames reports netdev names that would collide once defaults are filled in: a PF's name
// (given or derived from its PCI address) equal to another PF's, or to the name one of the VFs it
// could enable gets (<pf>v<N>). Names given twice are reported by check already.
func (n Node) checkNetdevNames(c *nodeCheck) {
	type owner struct{ field, given string }
	pfNames := map[string]owner{}
	for i, nic := range n.NICs {
		if _, err := parsePCIFunc(nic.PCIAddress); err != nil {
			continue
		}
		for p, port := range nic.Ports {
			name := port.Netdev
			if name == "" {
				name = DefaultNetdev(PFAddress(nic, p), len(nic.Ports), p, port.LinkLayer)
			}
			field := fmt.Sprintf("nics[%d].ports[%d].netdev", i, p)
			if prev, ok := pfNames[name]; ok {
				if prev.given == "" || port.Netdev == "" { // two given names: reported by check
					c.add(field, "netdev %s (derived from the PCI address when not given) is also the netdev of %s%s", name, c.prefix, prev.field)
				}
				continue
			}
			pfNames[name] = owner{field: field, given: port.Netdev}
		}
	}
	for i, nic := range n.NICs {
		for p, port := range nic.Ports {
			if port.TotalVFs <= 0 || port.TotalVFs > MaxTotalVFs {
				continue
			}
			pf := port.Netdev
			if pf == "" {
				pf = DefaultNetdev(PFAddress(nic, p), len(nic.Ports), p, port.LinkLayer)
			}
			for v := range port.TotalVFs {
				if prev, ok := pfNames[VFNetdev(pf, v)]; ok {
					c.add(fmt.Sprintf("nics[%d].ports[%d].totalVFs", i, p), "VF %d would be named %s, the netdev of %s%s", v, VFNetdev(pf, v), c.prefix, prev.field)
					break
				}
			}
		}
	}
}

// funcOwner names the port (vf < 0) or VF that uses a PCI function; formatted only for an error.
type funcOwner struct{ nic, port, vf int }

func (c funcOwner) String() string {
	if c.vf < 0 {
		return fmt.Sprintf("nics[%d].ports[%d]", c.nic, c.port)
	}
	return fmt.Sprintf("nics[%d].ports[%d] VF %d", c.nic, c.port, c.vf)
}

type fabricUse struct {
	layer LinkLayer
	field string
}

// defaultFabric is the fabric a port without one is cabled to.
func defaultFabric(l LinkLayer) string {
	if l == InfiniBand {
		return "ib0"
	}
	return "eth0"
}

func modelLinkLayers(m Model) []string {
	var out []string
	for _, l := range []LinkLayer{InfiniBand, Ethernet} {
		if _, ok := m.Rate[l]; ok {
			out = append(out, string(l))
		}
	}
	return out
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// Validate reports every problem of the cluster description: its own fields, each inline node (field
// paths like `nodes[1].node.nics[0].model`), unknown presets, duplicate node names, and fabrics used with
// two link layers. Nodes given by File are checked when the cluster is resolved (Cluster.Resolve).
func (cl Cluster) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case cl.Name == "":
		add("name", "required")
	case len(cl.Name) > 32 || !nameRE.MatchString(cl.Name):
		add("name", "%q is not a DNS label of at most 32 characters", cl.Name)
	}
	if len(cl.Nodes) == 0 {
		add("nodes", "at least one node is required")
	}
	names := map[string]string{}
	total := 0
	for _, cn := range cl.Nodes {
		total += max(cn.Count, 1)
	}
	if total > MaxClusterNodes {
		add("nodes", "%d nodes, at most %d", total, MaxClusterNodes)
		return errors.Join(errs...) // do not expand them
	}
	for i, cn := range cl.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		switch {
		case cn.Name == "":
			add(f+".name", "required")
		case len(cn.Name) > 58 || !nameRE.MatchString(cn.Name):
			add(f+".name", "%q is not a DNS label of at most 58 characters", cn.Name)
		}
		if cn.Count < 0 || cn.Count > 1000 {
			add(f+".count", "%d is out of range 0..1000 (0 means 1)", cn.Count)
		}
		for _, name := range cn.names() {
			if prev, ok := names[name]; ok {
				add(f+".name", "node %q is also defined by %s", name, prev)
				break
			}
			names[name] = f
		}
		set := 0
		for _, s := range []bool{cn.Preset != "", cn.File != "", cn.Node != nil} {
			if s {
				set++
			}
		}
		if set != 1 {
			add(f, "exactly one of preset, file and node must be set (%d are)", set)
		}
		if cn.Preset != "" {
			if _, ok := presets[cn.Preset]; !ok {
				add(f+".preset", "unknown preset %q (valid: %s)", cn.Preset, strings.Join(quoteAll(Presets()), ", "))
			}
		}
		if cn.Node != nil {
			c := &nodeCheck{prefix: f + ".node."}
			node := *cn.Node
			if node.Name == "" {
				node.Name = cn.Name // the cluster names its nodes
			}
			node.check(c)
			errs = append(errs, c.errs...)
		}
	}
	return errors.Join(errs...)
}

// names are the node names a ClusterNode expands to.
func (cn ClusterNode) names() []string {
	if cn.Count <= 1 {
		return []string{cn.Name}
	}
	out := make([]string, cn.Count)
	for k := range out {
		out[k] = fmt.Sprintf("%s-%d", cn.Name, k)
	}
	return out
}
