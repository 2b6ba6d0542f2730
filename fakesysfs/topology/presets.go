package topology

import (
	"fmt"
	"sort"
	"strings"
)

// preset is one built-in node shape.
type preset struct {
	description string
	node        func() Node // a fresh value on every call: callers may change it
}

// presets are the built-in nodes. Each starts with VFs enabled so that a rendered tree shows them.
var presets = map[string]preset{
	"laptop": {
		description: "small dev node: 1 InfiniBand ConnectX-6 HCA + 1 Ethernet ConnectX-6 Dx NIC, 4 of 8 VFs each",
		node: func() Node {
			return Node{
				Name:            "laptop",
				NUMANodes:       1,
				CPUsPerNUMANode: 8,
				IOMMU:           true,
				NICs: []NIC{
					{Model: "ConnectX-6", PCIAddress: "0000:3b:00.0", NUMANode: 0, Ports: []Port{
						{LinkLayer: InfiniBand, TotalVFs: 8, NumVFs: 4},
					}},
					{Model: "ConnectX-6 Dx", PCIAddress: "0000:5e:00.0", NUMANode: 0, Ports: []Port{
						{LinkLayer: Ethernet, TotalVFs: 8, NumVFs: 4},
					}},
				},
			}
		},
	},
	"gpu-8rail": {
		description: "8-rail AI server (DGX H100 style): 8 InfiniBand ConnectX-7 HCAs over 2 NUMA nodes, 4 of 16 VFs each, + 1 dual-port Ethernet ConnectX-7, MLNX_OFED",
		node: func() Node {
			// PCI addresses and NUMA placement of the compute rails (ibp24s0 ... ibp220s0) and the dual-port
			// storage NIC (enp170s0f0np0, enp170s0f1np1) follow the DGX H100 layout.
			rail := func(addr string, numa int) NIC {
				return NIC{Model: "ConnectX-7", PCIAddress: addr, NUMANode: numa, Ports: []Port{
					{LinkLayer: InfiniBand, TotalVFs: 16, NumVFs: 4},
				}}
			}
			return Node{
				Name:            "gpu-8rail",
				NUMANodes:       2,
				CPUsPerNUMANode: 56,
				OFED:            true,
				NICs: []NIC{
					rail("0000:18:00.0", 0), rail("0000:40:00.0", 0), rail("0000:4f:00.0", 0), rail("0000:5e:00.0", 0),
					rail("0000:9a:00.0", 1), rail("0000:c0:00.0", 1), rail("0000:ce:00.0", 1), rail("0000:dc:00.0", 1),
					{Model: "ConnectX-7", PCIAddress: "0000:aa:00.0", NUMANode: 1, Ports: []Port{
						{LinkLayer: Ethernet, TotalVFs: 8, NumVFs: 2},
						{LinkLayer: Ethernet, TotalVFs: 8, NumVFs: 2},
					}},
				},
			}
		},
	},
	"dual-cx6": {
		// One VPI card with one port of each link layer: the shape where a single adapter must be handled
		// per port (separate PFs, VF ranges, fabrics and RDMA devices), and the only preset with two PFs
		// on one device whose ports differ.
		description: "one dual-port ConnectX-6 (VPI): port 0 InfiniBand, port 1 Ethernet, 2 of 8 VFs each",
		node: func() Node {
			return Node{
				Name:            "dual-cx6",
				NUMANodes:       1,
				CPUsPerNUMANode: 16,
				NICs: []NIC{
					{Model: "ConnectX-6", PCIAddress: "0000:4b:00.0", NUMANode: 0, Ports: []Port{
						{LinkLayer: InfiniBand, TotalVFs: 8, NumVFs: 2},
						{LinkLayer: Ethernet, TotalVFs: 8, NumVFs: 2},
					}},
				},
			}
		},
	},
}

// Presets returns the names of the built-in nodes, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Preset returns a fresh copy of the built-in node name, named name.
func Preset(name string) (Node, error) {
	p, ok := presets[name]
	if !ok {
		return Node{}, fmt.Errorf("unknown preset %q (valid: %s)", name, strings.Join(quoteAll(Presets()), ", "))
	}
	return p.node(), nil
}

// PresetDescription returns the one-line description of a built-in node, or "" for an unknown name.
func PresetDescription(name string) string {
	return presets[name].description
}

// ClusterOf returns a cluster named after the preset with nodes copies of it, all cabled to the preset's
// fabrics: named <preset>-0 .. <preset>-(nodes-1), or just <preset> when nodes is 1.
func ClusterOf(presetName string, nodes int) (Cluster, error) {
	if _, err := Preset(presetName); err != nil {
		return Cluster{}, err
	}
	if nodes < 1 {
		return Cluster{}, fmt.Errorf("cluster of %q: %d nodes, need at least 1", presetName, nodes)
	}
	c := Cluster{Name: presetName, Nodes: []ClusterNode{{Name: presetName, Count: nodes, Preset: presetName}}}
	return c, c.Validate()
}
