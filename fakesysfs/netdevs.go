package fakesysfs

import (
	"net"

	"github.com/vflab/vflab/fakesysfs/topology"
)

// Netdevs makes the fake kernel's netdevs real. The sandbox implements it with real links in the node's
// host network namespace; without it (unit tests, benchmarks) the tree alone is the truth.
//
// The kernel calls Added and Removed while holding its lock, in whichever process caused the change
// (a sriov_numvfs write, a driver bind or unbind), so every process of a node sees one consistent kernel.
type Netdevs interface {
	// Lookup returns the live state of the netdev the tree records as name under PCI function pci.
	// ok is false while that netdev is not in the host namespace (moved into a pod): the kernel then
	// hides its net/<name> entries, as the real kernel does.
	Lookup(pci, name string) (live Netdev, ok bool, err error)
	// Added is called after the kernel created a netdev (VF enabled and probed, driver bound).
	Added(spec NetdevSpec) error
	// Removed is called when the kernel removes a netdev (VFs disabled, driver unbound).
	Removed(spec NetdevSpec) error
}

// Netdev is the live state of a real link, which overrides the tree's attribute files.
type Netdev struct {
	Name      string
	Address   net.HardwareAddr // Ethernet only; an IPoIB address always comes from the fake kernel
	MTU       int
	OperState string // "up", "down", "unknown", ... as /sys/class/net/<if>/operstate prints it
	Carrier   bool
	Ifindex   int
}

// NetdevSpec describes a netdev the kernel created or removed.
type NetdevSpec struct {
	PCIAddress string // BDF of the function owning it
	Name       string
	PF         bool // the PF's netdev (false: a VF's)
	LinkLayer  topology.LinkLayer
	Address    net.HardwareAddr // 6 bytes (Ethernet) or 20 bytes (IPoIB)
	MTU        int
	Fabric     string // from the PF's topology.Port
}

// VF is the PF-side state of one VF: what `ip link show <pf>` lists as "vf N ...". The kernel keeps it
// per PF; on hardware it lives in the NIC, here in the fake kernel so that every process sees it.
type VF struct {
	Index     int
	MAC       net.HardwareAddr // admin MAC; zero = unset
	Vlan      int
	Qos       int
	VlanProto int // 0x8100 (802.1Q, default) or 0x88a8 (802.1ad)
	Spoofchk  bool
	Trust     bool
	LinkState uint32           // netlink.VF_LINK_STATE_AUTO / ENABLE / DISABLE
	MinTxRate int              // Mbps
	MaxTxRate int              // Mbps
	NodeGUID  net.HardwareAddr // 8 bytes; zero = unset
	PortGUID  net.HardwareAddr // 8 bytes; zero = unset
}
