package topology

// LinkLayer is the link layer of one NIC port, as /sys/class/infiniband/<dev>/ports/1/link_layer prints it.
type LinkLayer string

const (
	InfiniBand LinkLayer = "InfiniBand"
	Ethernet   LinkLayer = "Ethernet"
)

// Node describes one simulated host: its NUMA layout and its NICs. The same Node always renders the
// same sysfs tree (see fakesysfs), so it is the unit of golden tests and of the simulated cluster.
type Node struct {
	// Name is the node's name (Kubernetes node name, sandbox namespace suffix). Required.
	Name string `json:"name"`
	// NUMANodes is the number of NUMA nodes (default 1). NIC numaNode values must be below it.
	NUMANodes int `json:"numaNodes,omitempty"`
	// CPUsPerNUMANode sets local_cpulist/local_cpus of devices (default 8).
	CPUsPerNUMANode int `json:"cpusPerNumaNode,omitempty"`
	// OFED adds the MLNX_OFED per-VF sriov/<vf>/{node,port,policy} files and mlx5_num_vfs.
	OFED bool `json:"ofed,omitempty"`
	// IOMMU gives every PCI function an iommu_group (and /dev/vfio/<N> when bound to vfio-pci).
	IOMMU bool `json:"iommu,omitempty"`
	// NICs are the node's Mellanox/NVIDIA adapters.
	NICs []NIC `json:"nics"`
}

// NIC is one adapter: one PCI device with one function (PF) per port.
type NIC struct {
	// Model is a key of Models ("ConnectX-4", "ConnectX-4 Lx", "ConnectX-5", "ConnectX-6", "ConnectX-6 Dx", "ConnectX-7").
	Model string `json:"model"`
	// PCIAddress is the BDF of port 0's PF, function 0, e.g. "0000:3b:00.0". Port p is function p.
	PCIAddress string `json:"pciAddress"`
	// NUMANode is the NUMA node the adapter hangs off (-1 = no topology).
	NUMANode int `json:"numaNode"`
	// FirmwareVersion overrides the model's default fw_ver.
	FirmwareVersion string `json:"firmwareVersion,omitempty"`
	// BoardID overrides the model's default PSID (board_id).
	BoardID string `json:"boardId,omitempty"`
	// Ports, one per PF; a model limits how many it has.
	Ports []Port `json:"ports"`
}

// Port is one PF: its link layer, netdev, VF capacity and fabric.
type Port struct {
	// LinkLayer is InfiniBand or Ethernet.
	LinkLayer LinkLayer `json:"linkLayer"`
	// Netdev is the PF's netdev name (e.g. "ibp59s0f0", "enp59s0f0np0"). Default: derived from the PCI address
	// the way systemd names it.
	Netdev string `json:"netdev,omitempty"`
	// TotalVFs is sriov_totalvfs (0 = SR-IOV disabled in firmware: no sriov_* files).
	TotalVFs int `json:"totalVFs"`
	// NumVFs is the initial sriov_numvfs (≤ TotalVFs).
	NumVFs int `json:"numVFs,omitempty"`
	// MTU of the PF netdev (default 1500 Ethernet, 4092 InfiniBand).
	MTU int `json:"mtu,omitempty"`
	// State of the port: "ACTIVE" (default) or "DOWN".
	State string `json:"state,omitempty"`
	// Rate overrides the model's default port rate, e.g. "400 Gb/sec (4X NDR)".
	Rate string `json:"rate,omitempty"`
	// Fabric names the InfiniBand subnet or Ethernet segment this port is cabled to (default: "ib0" for
	// InfiniBand, "eth0" for Ethernet). Pods on VFs of the same fabric reach each other in the sandbox.
	Fabric string `json:"fabric,omitempty"`
	// MAC is the PF's permanent MAC (Ethernet). Default: derived from the node name and PCI address.
	MAC string `json:"mac,omitempty"`
	// NodeGUID is the PF's node GUID (InfiniBand and RoCE), any form drivers/ib parses. Default: derived
	// from the node name and PCI address.
	NodeGUID string `json:"nodeGUID,omitempty"`
}

// Cluster describes several nodes sharing fabrics.
type Cluster struct {
	// Name prefixes every namespace and resource the sandbox creates for the cluster. Required.
	Name string `json:"name"`
	// Nodes of the cluster, in order.
	Nodes []ClusterNode `json:"nodes"`
}

// ClusterNode is one node, or Count copies of one, taken from a preset, a file or given inline.
type ClusterNode struct {
	// Name of the node; with Count > 1 the copies are named Name-0 .. Name-(Count-1).
	Name string `json:"name"`
	// Count of identical nodes (default 1). Copies differ only in name and so in MACs and GUIDs.
	Count int `json:"count,omitempty"`
	// Exactly one of Preset, File, Node.
	Preset string `json:"preset,omitempty"`
	File   string `json:"file,omitempty"`
	Node   *Node  `json:"node,omitempty"`
}
