package drivers

import (
	"net"

	"github.com/vishvananda/netlink"
)

// VFConfig is the second boundary (shared/DESIGN.md): configuring a VF through its PF, what
// `ip link set <pf> vf N ...` does, and reading the PF's VF list back through LinkByName(pf).Attrs().Vfs.
// Its methods mirror *netlink.Handle, so on hardware the handle itself implements it; in simulation the
// sandbox records the same state in the node's fake kernel.
type VFConfig interface {
	// LinkByName returns the PF link; Attrs().Vfs holds its VFs' state.
	LinkByName(name string) (netlink.Link, error)
	// LinkSetVfHardwareAddr is `ip link set $pf vf $vf mac $hw`.
	LinkSetVfHardwareAddr(pf netlink.Link, vf int, hw net.HardwareAddr) error
	// LinkSetVfVlanQosProto is `ip link set $pf vf $vf vlan $vlan qos $qos proto $proto`.
	LinkSetVfVlanQosProto(pf netlink.Link, vf, vlan, qos, proto int) error
	// LinkSetVfSpoofchk is `ip link set $pf vf $vf spoofchk on|off`.
	LinkSetVfSpoofchk(pf netlink.Link, vf int, check bool) error
	// LinkSetVfTrust is `ip link set $pf vf $vf trust on|off`.
	LinkSetVfTrust(pf netlink.Link, vf int, state bool) error
	// LinkSetVfState is `ip link set $pf vf $vf state auto|enable|disable` (netlink.VF_LINK_STATE_*).
	LinkSetVfState(pf netlink.Link, vf int, state uint32) error
	// LinkSetVfRate is `ip link set $pf vf $vf min_tx_rate $min max_tx_rate $max` (Mbps, 0 = no limit).
	LinkSetVfRate(pf netlink.Link, vf, minRate, maxRate int) error
	// LinkSetVfGUID is `ip link set $pf vf $vf node_guid|port_guid $guid`; guidType is
	// nl.IFLA_VF_IB_NODE_GUID or nl.IFLA_VF_IB_PORT_GUID (github.com/vishvananda/netlink/nl).
	LinkSetVfGUID(pf netlink.Link, vf int, guid net.HardwareAddr, guidType int) error
}

var _ VFConfig = (*netlink.Handle)(nil)
