package deviceplugin

import (
	"strings"
)

// Inventory is what the plugin needs from discovery: one consistent scan of the machine's PCI functions.
// deviceplugin/discovery implements it over the drivers (drivers/sriov, drivers/ib); tests use the
// hand-written stateful fake of deviceplugin/inventorytest.
type Inventory interface {
	Scan() (Snapshot, error)
}

// Snapshot is one scan of the machine.
type Snapshot struct {
	// Devices are the candidate functions: every VF of every SR-IOV PF (found through the PF's virtfn
	// links, so a VF whose netdev or RDMA device sits in a pod is still listed).
	Devices []Device
	// PFs are the SR-IOV physical functions present, by PCI address.
	PFs map[string]PF
	// Host-wide character devices.
	RDMACM   bool // /dev/infiniband/rdma_cm exists
	VhostNet bool // /dev/vhost-net exists
	Tun      bool // /dev/net/tun exists
}

// PF is a physical function as the scan saw it.
type PF struct {
	Address string
	Name    string // netdev name, "" if none
	Driver  string // "" when unbound
	NumVFs  int
}

// Device is one PCI function with everything selectors, health and Allocate need. IDs are lower-case hex
// without 0x, as in modalias and in the config.
type Device struct {
	PCIAddress string // the device ID kubelet sees
	Vendor     string // "15b3"
	DeviceID   string // "101e"
	Class      uint32 // 0x020000 Ethernet, 0x020700 InfiniBand, 0x12xxxx accelerator
	Driver     string // bound driver, "" when unbound
	NUMANode   int    // -1: no topology
	ACPIIndex  string
	PFName     string // the PF's netdev name
	PFAddress  string // the PF's PCI address
	VFIndex    int    // index among the PF's VFs
	LinkType   string // "ether" or "infiniband", from the PF (a VF in a pod has no host netdev)
	Netdev     string // the VF's netdev in the host view, "" if none (vfio, or moved into a pod)
	DDPProfile string
	VdpaType   string
	PKey       string // P_Key 0 of port 1 of the first RDMA device, e.g. "0xffff" (the pKeys selector)
	IOMMUGroup string // "" without IOMMU
	NoIOMMU    bool   // the group's name is vfio-noiommu
	UIO        string // "uio0" when bound to a uio driver
	// RDMA devices of the function (mlx5_N) and their character devices (/dev/infiniband/...).
	RDMADevices []string
	Uverbs      []string
	Umad        []string
	Issm        []string
	UCM         []string
	// Raw link and port state for health: operstate of the VF and PF netdevs ("" if none), and the first
	// port state of the VF's and PF's RDMA device ("4: ACTIVE", "" if none). PortGUIDSet tells whether
	// the VF's port has a non-zero GUID (until then an InfiniBand VF port is DOWN by design).
	OperState   string
	PFOperState string
	PortState   string
	PFPortState string
	PortGUIDSet bool
}

// IsRDMA reports whether the function has an RDMA device.
func (d *Device) IsRDMA() bool { return len(d.RDMADevices) > 0 }

// Health is a device's health with the reason when it is not healthy.
type Health struct {
	Healthy bool
	Reason  string
}

// HealthOf judges a scanned device. It is unhealthy while
//   - its driver is unbound;
//   - its PF's link is down (the PF netdev's operstate), or its PF's InfiniBand port is not active: the
//     rail itself is down;
//   - its own link is down below it (operstate lowerlayerdown or notpresent). A plain "down" is a VF
//     nobody has brought up yet — every fresh VF on a real host — and stays healthy;
//   - its own InfiniBand port is not active although the port has a GUID (without a GUID a VF port is
//     DOWN by design until the CNI assigns one).
//
// A VF without a host netdev or RDMA device (moved into a pod, or on vfio-pci) is judged by what remains
// visible. The PF vanishing is judged by the pool (see assign).
func HealthOf(d *Device) Health {
	switch {
	case d.Driver == "":
		return Health{Reason: "driver unbound"}
	case pfLinkDown(d.PFOperState):
		return Health{Reason: "PF " + d.PFName + " link " + d.PFOperState}
	case portDown(d.PFPortState):
		return Health{Reason: "PF port " + d.PFPortState}
	case lowerDown(d.OperState):
		return Health{Reason: "link " + d.Netdev + " " + d.OperState}
	case d.PortGUIDSet && portDown(d.PortState):
		return Health{Reason: "port " + d.PortState}
	}
	return Health{Healthy: true}
}

func pfLinkDown(operstate string) bool {
	switch strings.TrimSpace(operstate) {
	case "down", "lowerlayerdown", "notpresent":
		return true
	}
	return false
}

func lowerDown(operstate string) bool {
	switch strings.TrimSpace(operstate) {
	case "lowerlayerdown", "notpresent":
		return true
	}
	return false
}

// portDown: state is "<n>: <NAME>"; 0 NOP, 1 DOWN, 2 INIT, 3 ARMED count as down (not yet usable).
func portDown(state string) bool {
	state = strings.TrimSpace(state)
	if state == "" {
		return false
	}
	n, _, _ := strings.Cut(state, ":")
	switch n {
	case "4", "5":
		return false
	}
	return true
}
