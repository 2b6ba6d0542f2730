package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vflab/vflab/drivers"
	"github.com/vflab/vflab/fakesysfs"
)

// VFConfig is the simulated PF-side VF configuration (drivers.VFConfig): what `ip link set <pf> vf N ...`
// does on a ConnectX adapter, recorded as the PF's VF state in the node's fake kernel, so that every
// process of the node reads back what any of them set. Values the kernel or mlx5 refuse get the same
// errno (wrapped): a VF index beyond sriov_numvfs, VLAN > 4095 or QoS > 7 and min rate > max rate give
// EINVAL, a VLAN protocol other than 802.1Q gives EPROTONOSUPPORT (mlx5 legacy SR-IOV supports no
// 802.1ad), an all-zero or malformed GUID gives EINVAL. Settings an IPoIB PF has no operation for
// (MAC, VLAN, spoofchk, trust, rate) and GUIDs on an Ethernet PF give EOPNOTSUPP. A MAC set on an
// Ethernet VF shows at once as its netdev's address (mlx5), on the real link too when links is given.
type VFConfig struct {
	k     *fakesysfs.Kernel
	links *Netdevs
}

var _ drivers.VFConfig = (*VFConfig)(nil)

// NewVFConfig returns the VF configuration of the node whose fake kernel is k. links, when not nil, are
// the node's real links (MAC changes are applied to the live VF netdev); drivers' unit tests pass nil.
func NewVFConfig(k *fakesysfs.Kernel, links *Netdevs) *VFConfig {
	return &VFConfig{k: k, links: links}
}

// pfInfo is what the VF operations need to know about a PF.
type pfInfo struct {
	pci string
	ib  bool
}

// resolve finds the PF netdev name through the fake sysfs.
func (c *VFConfig) resolve(name string) (pfInfo, error) {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return pfInfo{}, fmt.Errorf("link %q not found: %w", name, unix.ENODEV)
	}
	dir := "/sys/class/net/" + name
	pci, err := c.deviceOf(dir)
	if err != nil {
		return pfInfo{}, fmt.Errorf("link %s not found: %w", name, errors.Join(err, unix.ENODEV))
	}
	t, err := c.readInt(dir + "/type")
	if err != nil {
		return pfInfo{}, fmt.Errorf("link %s: %w", name, err)
	}
	return pfInfo{pci: pci, ib: t == arphrdInfiniband}, nil
}

// deviceOf returns the PCI address of the device a /sys/class/net/<if> entry belongs to, resolving the
// class link and the relative device link the way the kernel's path walk does.
func (c *VFConfig) deviceOf(dir string) (string, error) {
	real := dir
	if t, err := c.readlink(dir); err == nil {
		real = resolveLink(dir, t)
	}
	t, err := c.readlink(real + "/device")
	if err != nil {
		return "", err
	}
	return path.Base(resolveLink(real+"/device", t)), nil
}

// resolveLink is the path a symlink at p with target t points to.
func resolveLink(p, t string) string {
	if path.IsAbs(t) {
		return path.Clean(t)
	}
	return path.Join(path.Dir(p), t)
}

func (c *VFConfig) readlink(p string) (string, error) {
	lr, ok := afero.Fs(c.k).(afero.LinkReader)
	if !ok {
		return "", fmt.Errorf("readlink %s: %w", p, unix.ENOSYS)
	}
	return lr.ReadlinkIfPossible(p)
}

func (c *VFConfig) readString(p string) (string, error) {
	b, err := afero.ReadFile(c.k, p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (c *VFConfig) readInt(p string) (int, error) {
	s, err := c.readString(p)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return int(v), nil
}

// LinkByName returns the PF netdev name with its VFs' state in Attrs().Vfs, like
// `ip link show $name`. The link is built from the fake sysfs (and so from the live link when the
// kernel is wired to the sandbox); it is a *netlink.IPoIB for InfiniBand, a *netlink.Device otherwise.
// An unknown name gives an error wrapping ENODEV.
func (c *VFConfig) LinkByName(name string) (netlink.Link, error) {
	pf, err := c.resolve(name)
	if err != nil {
		return nil, err
	}
	dir := "/sys/class/net/" + name
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if attrs.MTU, err = c.readInt(dir + "/mtu"); err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	if attrs.Index, err = c.readInt(dir + "/ifindex"); err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	addr, err := c.readString(dir + "/address")
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	if attrs.HardwareAddr, err = net.ParseMAC(addr); err != nil {
		return nil, fmt.Errorf("link %s: address %q: %w", name, addr, err)
	}
	if op, err := c.readString(dir + "/operstate"); err == nil {
		attrs.OperState = parseOperState(op)
	}
	attrs.EncapType = "ether"
	if pf.ib {
		attrs.EncapType = "infiniband"
	}
	vfs, err := c.k.VFs(pf.pci)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	attrs.Vfs = make([]netlink.VfInfo, len(vfs))
	for i, v := range vfs {
		attrs.Vfs[i] = vfInfo(v)
	}
	if pf.ib {
		return &netlink.IPoIB{LinkAttrs: attrs}, nil
	}
	return &netlink.Device{LinkAttrs: attrs}, nil
}

func parseOperState(s string) netlink.LinkOperState {
	switch s {
	case "up":
		return netlink.OperUp
	case "down":
		return netlink.OperDown
	case "dormant":
		return netlink.OperDormant
	case "notpresent":
		return netlink.OperNotPresent
	case "lowerlayerdown":
		return netlink.OperLowerLayerDown
	case "testing":
		return netlink.OperTesting
	}
	return netlink.OperUnknown
}

// vfInfo is the netlink shape of one VF's state, as the kernel reports it for mlx5.
func vfInfo(v fakesysfs.VF) netlink.VfInfo {
	mac := make(net.HardwareAddr, 6)
	if len(v.MAC) == 6 {
		copy(mac, v.MAC)
	}
	proto := v.VlanProto
	if proto == 0 {
		proto = unix.ETH_P_8021Q
	}
	info := netlink.VfInfo{
		ID: v.Index, Mac: mac, Vlan: v.Vlan, Qos: v.Qos, VlanProto: proto,
		TxRate: v.MaxTxRate, Spoofchk: v.Spoofchk, LinkState: v.LinkState,
		MaxTxRate: uint32(v.MaxTxRate), MinTxRate: uint32(v.MinTxRate),
	}
	if v.Trust {
		info.Trust = 1
	}
	return info
}

// update checks the PF and VF index, then changes the VF's state under the kernel lock.
func (c *VFConfig) update(op string, link netlink.Link, vf int, needIB, needEth bool, fn func(*fakesysfs.VF) error) (pfInfo, error) {
	if link == nil || link.Attrs() == nil {
		return pfInfo{}, fmt.Errorf("%s: no link: %w", op, unix.EINVAL)
	}
	name := link.Attrs().Name
	pf, err := c.resolve(name)
	if err != nil {
		return pf, fmt.Errorf("%s on %s: %w", op, name, err)
	}
	if (needIB && !pf.ib) || (needEth && pf.ib) {
		return pf, fmt.Errorf("%s on %s: %w", op, name, unix.EOPNOTSUPP)
	}
	vfs, err := c.k.VFs(pf.pci)
	if err != nil {
		return pf, fmt.Errorf("%s on %s: %w", op, name, err)
	}
	if vf < 0 || vf >= len(vfs) {
		return pf, fmt.Errorf("%s on %s: vf %d (the PF has %d): %w", op, name, vf, len(vfs), unix.EINVAL)
	}
	if err := c.k.UpdateVF(pf.pci, vf, fn); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return pf, fmt.Errorf("%s on %s vf %d: %w", op, name, vf, errors.Join(err, unix.EINVAL))
		}
		return pf, fmt.Errorf("%s on %s vf %d: %w", op, name, vf, err)
	}
	return pf, nil
}

// LinkSetVfHardwareAddr sets the admin MAC of a VF.
// Equivalent to: `ip link set $pf vf $vf mac $hw`.
func (c *VFConfig) LinkSetVfHardwareAddr(pf netlink.Link, vf int, hw net.HardwareAddr) error {
	if len(hw) != 6 || hw[0]&1 == 1 {
		return fmt.Errorf("set vf %d mac %s: %w", vf, hw, unix.EINVAL)
	}
	// An all-zero MAC clears the admin MAC (what a restore of a VF that had none writes): mlx5 accepts it
	// and leaves the VF netdev's own address alone, so it is recorded as unset and not pushed to the link.
	var mac net.HardwareAddr
	if !bytes.Equal(hw, make(net.HardwareAddr, 6)) {
		mac = append(net.HardwareAddr(nil), hw...)
	}
	info, err := c.update("set vf mac", pf, vf, false, true, func(v *fakesysfs.VF) error {
		v.MAC = mac
		return nil
	})
	if err != nil || c.links == nil || mac == nil {
		return err
	}
	// The VF's netdev takes the new address at once (mlx5), if it is at home.
	link := fmt.Sprintf("/sys/bus/pci/devices/%s/virtfn%d", info.pci, vf)
	target, err := c.readlink(link)
	if err != nil {
		return nil // no VF function: nothing to update
	}
	if _, err := c.links.SetAddress(path.Base(resolveLink(link, target)), mac); err != nil {
		return fmt.Errorf("set vf %d mac: %w", vf, err)
	}
	return nil
}

// LinkSetVfVlanQosProto sets the VLAN, priority and VLAN protocol of a VF.
// Equivalent to: `ip link set $pf vf $vf vlan $vlan qos $qos proto $proto`.
func (c *VFConfig) LinkSetVfVlanQosProto(pf netlink.Link, vf, vlan, qos, proto int) error {
	if vlan < 0 || vlan > 4095 || qos < 0 || qos > 7 {
		return fmt.Errorf("set vf %d vlan %d qos %d: %w", vf, vlan, qos, unix.EINVAL)
	}
	switch proto {
	case unix.ETH_P_8021Q:
	case unix.ETH_P_8021AD:
		return fmt.Errorf("set vf %d vlan proto 802.1ad: mlx5 supports 802.1Q only: %w", vf, unix.EPROTONOSUPPORT)
	default:
		return fmt.Errorf("set vf %d vlan proto %#x: %w", vf, proto, unix.EPROTONOSUPPORT)
	}
	_, err := c.update("set vf vlan", pf, vf, false, true, func(v *fakesysfs.VF) error {
		v.Vlan, v.Qos, v.VlanProto = vlan, qos, proto
		return nil
	})
	return err
}

// LinkSetVfSpoofchk turns MAC spoof checking of a VF on or off.
// Equivalent to: `ip link set $pf vf $vf spoofchk on|off`.
func (c *VFConfig) LinkSetVfSpoofchk(pf netlink.Link, vf int, check bool) error {
	_, err := c.update("set vf spoofchk", pf, vf, false, true, func(v *fakesysfs.VF) error {
		v.Spoofchk = check
		return nil
	})
	return err
}

// LinkSetVfTrust turns trusted mode of a VF on or off.
// Equivalent to: `ip link set $pf vf $vf trust on|off`.
func (c *VFConfig) LinkSetVfTrust(pf netlink.Link, vf int, state bool) error {
	_, err := c.update("set vf trust", pf, vf, false, true, func(v *fakesysfs.VF) error {
		v.Trust = state
		return nil
	})
	return err
}

// LinkSetVfState sets the link state policy of a VF (netlink.VF_LINK_STATE_AUTO/ENABLE/DISABLE).
// Equivalent to: `ip link set $pf vf $vf state auto|enable|disable`.
func (c *VFConfig) LinkSetVfState(pf netlink.Link, vf int, state uint32) error {
	if state > netlink.VF_LINK_STATE_DISABLE {
		return fmt.Errorf("set vf %d state %d: %w", vf, state, unix.EINVAL)
	}
	_, err := c.update("set vf state", pf, vf, false, false, func(v *fakesysfs.VF) error {
		v.LinkState = state
		return nil
	})
	return err
}

// LinkSetVfRate sets the minimum and maximum transmit rate of a VF in Mbps (0 = no limit).
// Equivalent to: `ip link set $pf vf $vf min_tx_rate $min max_tx_rate $max`.
func (c *VFConfig) LinkSetVfRate(pf netlink.Link, vf, minRate, maxRate int) error {
	if minRate < 0 || maxRate < 0 || (maxRate != 0 && minRate > maxRate) {
		return fmt.Errorf("set vf %d rate min %d max %d: %w", vf, minRate, maxRate, unix.EINVAL)
	}
	_, err := c.update("set vf rate", pf, vf, false, true, func(v *fakesysfs.VF) error {
		v.MinTxRate, v.MaxTxRate = minRate, maxRate
		return nil
	})
	return err
}

// LinkSetVfGUID sets the node or port GUID of an InfiniBand VF; guidType is nl.IFLA_VF_IB_NODE_GUID or
// nl.IFLA_VF_IB_PORT_GUID. It takes effect when the VF is (re)bound, as on mlx5.
// Equivalent to: `ip link set $pf vf $vf node_guid|port_guid $guid`.
func (c *VFConfig) LinkSetVfGUID(pf netlink.Link, vf int, guid net.HardwareAddr, guidType int) error {
	if guidType != nl.IFLA_VF_IB_NODE_GUID && guidType != nl.IFLA_VF_IB_PORT_GUID {
		return fmt.Errorf("set vf %d guid: type %d: %w", vf, guidType, unix.EINVAL)
	}
	if len(guid) != 8 || isZero(guid) {
		return fmt.Errorf("set vf %d guid %s: %w", vf, guid, unix.EINVAL)
	}
	g := append(net.HardwareAddr(nil), guid...)
	_, err := c.update("set vf guid", pf, vf, true, false, func(v *fakesysfs.VF) error {
		if guidType == nl.IFLA_VF_IB_NODE_GUID {
			v.NodeGUID = g
		} else {
			v.PortGUID = g
		}
		return nil
	})
	return err
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
