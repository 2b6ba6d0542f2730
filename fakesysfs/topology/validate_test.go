package topology

import (
	"strings"
	"testing"
)

// validNode is a small node every Validate case starts from.
func validNode() Node {
	return Node{
		Name:      "n1",
		NUMANodes: 2,
		NICs: []NIC{
			{Model: "ConnectX-6", PCIAddress: "0000:3b:00.0", NUMANode: 0, Ports: []Port{
				{LinkLayer: InfiniBand, TotalVFs: 8, NumVFs: 4},
				{LinkLayer: Ethernet, TotalVFs: 8},
			}},
			{Model: "ConnectX-6 Dx", PCIAddress: "0000:5e:00.0", NUMANode: 1, Ports: []Port{
				{LinkLayer: Ethernet, TotalVFs: 8, NumVFs: 2},
			}},
		},
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*Node){
		"base":             func(*Node) {},
		"no numa topology": func(n *Node) { n.NICs[0].NUMANode = -1 },
		"default numa":     func(n *Node) { n.NUMANodes = 0; n.NICs[1].NUMANode = 0 },
		"all overrides": func(n *Node) {
			p := &n.NICs[0].Ports[0]
			p.Netdev, p.MTU, p.State, p.Rate, p.Fabric = "ib-a", 2044, "DOWN", "56 Gb/sec (4X FDR)", "hdr-a"
			p.NodeGUID = "0002:c903:00f9:bfa0"
			e := &n.NICs[1].Ports[0]
			e.Netdev, e.MAC, e.MTU, e.NodeGUID = "eth-a", "0c:42:a1:16:05:4c", 9000, "0c:42:a1:03:00:16:05:4c"
			n.NICs[0].FirmwareVersion, n.NICs[0].BoardID = "20.35.1012", "MT_0000000222"
		},
		"half rate":     func(n *Node) { n.NICs[0].Ports[0].Rate = "2.5 Gb/sec (1X SDR)" },
		"old sdr rate":  func(n *Node) { n.NICs[0].Ports[0].Rate = "10 Gb/sec (4X)" },
		"zero VFs":      func(n *Node) { n.NICs[0].Ports[0].TotalVFs, n.NICs[0].Ports[0].NumVFs = 0, 0 },
		"max VFs":       func(n *Node) { n.NICs[1].Ports[0].TotalVFs = MaxTotalVFs },
		"guid hex form": func(n *Node) { n.NICs[0].Ports[0].NodeGUID = "0x0002C90300F9BFA0" },
	} {
		n := validNode()
		mutate(&n)
		if err := n.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Node)
		want   []string // substrings of the error, each must appear
	}{
		{"no name", func(n *Node) { n.Name = "" }, []string{"name: required"}},
		{"bad name", func(n *Node) { n.Name = "Node_1" }, []string{`name: "Node_1" is not a DNS label`}},
		{"negative numa", func(n *Node) { n.NUMANodes = -1 }, []string{"numaNodes: -1 is out of range 0..64"}},
		{"too many numa", func(n *Node) { n.NUMANodes = 65 }, []string{"numaNodes: 65 is out of range"}},
		{"cpus", func(n *Node) { n.CPUsPerNUMANode = -4 }, []string{"cpusPerNumaNode: -4 is out of range 0..1024"}},
		{"no nics", func(n *Node) { n.NICs = nil }, []string{"nics: at least one NIC is required"}},
		{"unknown model", func(n *Node) { n.NICs[1].Model = "ConnectX-9" }, []string{
			`nics[1].model: unknown model "ConnectX-9" (valid: "ConnectX-4", "ConnectX-4 Lx", "ConnectX-5", "ConnectX-6", "ConnectX-6 Dx", "ConnectX-7")`}},
		{"no pci address", func(n *Node) { n.NICs[0].PCIAddress = "" }, []string{"nics[0].pciAddress: required"}},
		{"bad pci address", func(n *Node) { n.NICs[0].PCIAddress = "3b:00.0" }, []string{`nics[0].pciAddress: "3b:00.0" is not a PCI address`}},
		{"upper-case pci address", func(n *Node) { n.NICs[0].PCIAddress = "0000:3B:00.0" }, []string{`nics[0].pciAddress: "0000:3B:00.0" is not a PCI address`}},
		{"pci device too big", func(n *Node) { n.NICs[0].PCIAddress = "0000:3b:20.0" }, []string{"device 0x20 exceeds 0x1f"}},
		{"pci function not 0", func(n *Node) { n.NICs[0].PCIAddress = "0000:3b:00.1" }, []string{"nics[0].pciAddress: 0000:3b:00.1: must be function 0"}},
		{"duplicate pci address", func(n *Node) { n.NICs[1].PCIAddress = "0000:3b:00.0" }, []string{
			"nics[1].pciAddress: PCI function 0000:3b:00.0 of nics[1].ports[0] is also used by nics[0].ports[0]"}},
		{"pci function claimed by a VF", func(n *Node) { n.NICs[1].PCIAddress = "0000:3b:01.0" }, []string{
			"nics[0].ports[0].totalVFs: VF 6 would be PCI function 0000:3b:01.0, already used by nics[1].ports[0]"}},
		{"VFs beyond bus ff", func(n *Node) { n.NICs[1].PCIAddress = "0000:ff:1f.0" }, []string{"nics[1].ports[0].totalVFs: VF 7 would sit beyond bus ff"}},
		{"numa too big", func(n *Node) { n.NICs[1].NUMANode = 2 }, []string{"nics[1].numaNode: 2 is not -1 or below numaNodes 2"}},
		{"numa below -1", func(n *Node) { n.NICs[1].NUMANode = -2 }, []string{"nics[1].numaNode: -2 is not -1"}},
		{"bad firmware", func(n *Node) { n.NICs[0].FirmwareVersion = "20.35" }, []string{`nics[0].firmwareVersion: "20.35" is not of the form`}},
		{"bad board id", func(n *Node) { n.NICs[0].BoardID = "MT 0000" }, []string{`nics[0].boardId: "MT 0000" is not a PSID`}},
		{"no ports", func(n *Node) { n.NICs[1].Ports = nil }, []string{"nics[1].ports: at least one port is required"}},
		{"too many ports", func(n *Node) {
			n.NICs[1].Ports = append(n.NICs[1].Ports, Port{LinkLayer: Ethernet}, Port{LinkLayer: Ethernet})
		}, []string{"nics[1].ports: 3 ports, but a ConnectX-6 Dx has at most 2"}},
		{"no link layer", func(n *Node) { n.NICs[0].Ports[0].LinkLayer = "" }, []string{"nics[0].ports[0].linkLayer: required"}},
		{"bad link layer", func(n *Node) { n.NICs[0].Ports[0].LinkLayer = "infiniband" }, []string{`nics[0].ports[0].linkLayer: "infiniband" is not InfiniBand or Ethernet`}},
		{"link layer not supported", func(n *Node) { n.NICs[1].Ports[0].LinkLayer = InfiniBand }, []string{
			"nics[1].ports[0].linkLayer: InfiniBand: a ConnectX-6 Dx supports only Ethernet"}},
		{"link layer not supported lx", func(n *Node) {
			n.NICs[1].Model = "ConnectX-4 Lx"
			n.NICs[1].Ports[0].LinkLayer = InfiniBand
		}, []string{"a ConnectX-4 Lx supports only Ethernet"}},
		{"bad netdev", func(n *Node) { n.NICs[0].Ports[0].Netdev = "ib/0" }, []string{`nics[0].ports[0].netdev: "ib/0" contains a character`}},
		{"long netdev", func(n *Node) { n.NICs[0].Ports[0].Netdev = "ibp59s0f0npxxxxx" }, []string{"is 16 bytes, interface names are at most 15"}},
		{"dot netdev", func(n *Node) { n.NICs[0].Ports[0].Netdev = ".." }, []string{`".." is not a valid interface name`}},
		{"duplicate netdev", func(n *Node) { n.NICs[0].Ports[1].Netdev = "eth0"; n.NICs[1].Ports[0].Netdev = "eth0" }, []string{
			"nics[1].ports[0].netdev: netdev eth0 is also used by nics[0].ports[1].netdev"}},
		{"netdev equal to a derived name", func(n *Node) { n.NICs[1].Ports[0].Netdev = "ibp59s0f0" }, []string{
			"nics[1].ports[0].netdev: netdev ibp59s0f0 (derived from the PCI address when not given) is also the netdev of nics[0].ports[0].netdev"}},
		{"netdev equal to a VF's name", func(n *Node) { n.NICs[1].Ports[0].Netdev = "enp59s0f1v3" }, []string{
			"nics[0].ports[1].totalVFs: VF 3 would be named enp59s0f1v3, the netdev of nics[1].ports[0].netdev"}},
		{"totalVFs negative", func(n *Node) { n.NICs[0].Ports[0].TotalVFs = -1 }, []string{"nics[0].ports[0].totalVFs: -1 is out of range 0..255"}},
		{"totalVFs too big", func(n *Node) { n.NICs[1].Ports[0].TotalVFs = 256 }, []string{"nics[1].ports[0].totalVFs: 256 is out of range 0..255"}},
		{"numVFs too big", func(n *Node) { n.NICs[1].Ports[0].NumVFs = 9 }, []string{"nics[1].ports[0].numVFs: 9 exceeds totalVFs 8"}},
		{"numVFs negative", func(n *Node) { n.NICs[1].Ports[0].NumVFs = -1 }, []string{"nics[1].ports[0].numVFs: -1 is negative"}},
		{"mtu eth", func(n *Node) { n.NICs[1].Ports[0].MTU = 10000 }, []string{"nics[1].ports[0].mtu: 10000 is out of range 68..9978 for Ethernet"}},
		{"mtu ib", func(n *Node) { n.NICs[0].Ports[0].MTU = 100 }, []string{"nics[0].ports[0].mtu: 100 is out of range 256..65520 for InfiniBand"}},
		{"state", func(n *Node) { n.NICs[0].Ports[0].State = "4: ACTIVE" }, []string{`nics[0].ports[0].state: "4: ACTIVE" is not ACTIVE or DOWN`}},
		{"rate format", func(n *Node) { n.NICs[0].Ports[0].Rate = "200G" }, []string{`nics[0].ports[0].rate: "200G" is not of the form`}},
		{"rate arithmetic", func(n *Node) { n.NICs[0].Ports[0].Rate = "200 Gb/sec (4X EDR)" }, []string{
			`nics[0].ports[0].rate: "200 Gb/sec (4X EDR)": 4X EDR is 100 Gb/sec`}},
		{"rate fdr", func(n *Node) { n.NICs[0].Ports[0].Rate = "14 Gb/sec (4X FDR)" }, []string{"4X FDR is 56 Gb/sec"}},
		{"rate width", func(n *Node) { n.NICs[0].Ports[0].Rate = "150 Gb/sec (3X HDR)" }, []string{"width 3X is not one of"}},
		{"fabric name", func(n *Node) { n.NICs[0].Ports[0].Fabric = "IB_A" }, []string{`nics[0].ports[0].fabric: "IB_A" is not a DNS label`}},
		{"fabric link layers", func(n *Node) { n.NICs[1].Ports[0].Fabric = "ib0" }, []string{
			`nics[1].ports[0].fabric: "ib0" is InfiniBand (nics[0].ports[0]) but this port is Ethernet`}},
		{"mac on ib", func(n *Node) { n.NICs[0].Ports[0].MAC = "0c:42:a1:16:05:4c" }, []string{"nics[0].ports[0].mac: an InfiniBand port has no MAC"}},
		{"bad mac", func(n *Node) { n.NICs[1].Ports[0].MAC = "0c:42:a1:16:05" }, []string{`nics[1].ports[0].mac: "0c:42:a1:16:05" is not a 6-byte MAC`}},
		{"multicast mac", func(n *Node) { n.NICs[1].Ports[0].MAC = "01:00:5e:00:00:01" }, []string{"nics[1].ports[0].mac: 01:00:5e:00:00:01 is a multicast address"}},
		{"zero mac", func(n *Node) { n.NICs[1].Ports[0].MAC = "00:00:00:00:00:00" }, []string{"is the zero address"}},
		{"duplicate mac", func(n *Node) {
			n.NICs[0].Ports[1].MAC = "0c:42:a1:16:05:4c"
			n.NICs[1].Ports[0].MAC = "0C:42:A1:16:05:4C"
		}, []string{
			"nics[1].ports[0].mac: MAC 0c:42:a1:16:05:4c is also used by nics[0].ports[1].mac"}},
		{"bad guid", func(n *Node) { n.NICs[0].Ports[0].NodeGUID = "0002:c903:00f9" }, []string{`nics[0].ports[0].nodeGUID: GUID "0002:c903:00f9"`}},
		{"bad guid groups", func(n *Node) { n.NICs[0].Ports[0].NodeGUID = "00002:c903:0f9:bfa0" }, []string{"group 0 is not 4 hex digits"}},
		{"non-hex guid", func(n *Node) { n.NICs[0].Ports[0].NodeGUID = "0x0002c90300f9bfzz" }, []string{"not hexadecimal"}},
		{"zero guid", func(n *Node) { n.NICs[0].Ports[0].NodeGUID = "0000:0000:0000:0000" }, []string{"is the zero GUID"}},
		{"duplicate guid", func(n *Node) {
			n.NICs[0].Ports[0].NodeGUID = "0002:c903:00f9:bfa0"
			n.NICs[1].Ports[0].NodeGUID = "00:02:c9:03:00:f9:bf:a0"
		}, []string{"nics[1].ports[0].nodeGUID: GUID 00:02:c9:03:00:f9:bf:a0 is also used by nics[0].ports[0].nodeGUID"}},
		{"several problems at once", func(n *Node) {
			n.Name = ""
			n.NICs[1].Ports[0].NumVFs = 9
			n.NICs[0].Model = "ConnectX-3"
		}, []string{"name: required", "nics[1].ports[0].numVFs: 9 exceeds totalVFs 8", `nics[0].model: unknown model "ConnectX-3"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := validNode()
			tt.mutate(&n)
			err := n.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateVFAddressesOfDualPort(t *testing.T) {
	t.Parallel()
	// PF0 0000:3b:00.0 has offset 2 (VFs 00.2-01.1), PF1 0000:3b:00.1 offset 1+8 (VFs 01.2-02.1): a NIC at
	// 0000:3b:02.0 collides with PF1's VF 6, one at 0000:3b:03.0 does not.
	n := validNode()
	n.NICs[1].PCIAddress = "0000:3b:02.0"
	if err := n.Validate(); err == nil || !strings.Contains(err.Error(), "nics[0].ports[1].totalVFs: VF 6 would be PCI function 0000:3b:02.0") {
		t.Errorf("Validate() = %v, want PF1's VF 6 colliding at 0000:3b:02.0", err)
	}
	n.NICs[1].PCIAddress = "0000:3b:03.0"
	if err := n.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestParseGUID(t *testing.T) {
	t.Parallel()
	want := "00:02:c9:03:00:f9:bf:a0"
	for _, in := range []string{"0002:c903:00f9:bfa0", "00:02:c9:03:00:f9:bf:a0", "0x0002c90300f9bfa0", "0002C90300F9BFA0"} {
		got, err := ParseGUID(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseGUID(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0002:c903:00f9", "00-02-c9-03-00-f9-bf-a0", "0x0002c90300f9bfa", "00:02:c9:03:00:f9"} {
		if got, err := ParseGUID(in); err == nil {
			t.Errorf("ParseGUID(%q) = %v, want an error", in, got)
		}
	}
}

func TestClusterValidate(t *testing.T) {
	t.Parallel()
	inline := validNode()
	inline.Name = ""
	tests := []struct {
		name string
		c    Cluster
		want []string
	}{
		{"no name", Cluster{Nodes: []ClusterNode{{Name: "a", Preset: "laptop"}}}, []string{"name: required"}},
		{"bad name", Cluster{Name: "Lab", Nodes: []ClusterNode{{Name: "a", Preset: "laptop"}}}, []string{`name: "Lab" is not a DNS label`}},
		{"no nodes", Cluster{Name: "c"}, []string{"nodes: at least one node is required"}},
		{"node without name", Cluster{Name: "c", Nodes: []ClusterNode{{Preset: "laptop"}}}, []string{"nodes[0].name: required"}},
		{"bad count", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Preset: "laptop", Count: -1}}}, []string{"nodes[0].count: -1 is out of range"}},
		{"too many nodes", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Preset: "laptop", Count: 600}, {Name: "b", Preset: "laptop", Count: 401}}}, []string{"nodes: 1001 nodes, at most 1000"}},
		{"no source", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a"}}}, []string{"nodes[0]: exactly one of preset, file and node must be set (0 are)"}},
		{"two sources", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Preset: "laptop", File: "x.yaml"}}}, []string{"(2 are)"}},
		{"unknown preset", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Preset: "dgx"}}}, []string{`nodes[0].preset: unknown preset "dgx" (valid: "dual-cx6", "gpu-8rail", "laptop")`}},
		{"duplicate names", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Preset: "laptop", Count: 2}, {Name: "a-1", Preset: "laptop"}}}, []string{
			`nodes[1].name: node "a-1" is also defined by nodes[0]`}},
		{"bad inline node", Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Node: func() *Node { n := validNode(); n.NICs[0].Ports[0].NumVFs = 9; return &n }()}}}, []string{
			"nodes[0].node.nics[0].ports[0].numVFs: 9 exceeds totalVFs 8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
	ok := Cluster{Name: "c", Nodes: []ClusterNode{{Name: "a", Preset: "laptop", Count: 3}, {Name: "b", Node: &inline}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}
