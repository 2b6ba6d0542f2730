package sandbox

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vflab/vflab/fakesysfs"
)

// newVFConfigKernel returns an in-memory kernel of testNode with 2 VFs per port, its VF configuration and
// the names of its first Ethernet and InfiniBand PFs.
func newVFConfigKernel(t *testing.T) (*fakesysfs.Kernel, *VFConfig, string, string) {
	t.Helper()
	k, err := fakesysfs.New(testNode("n0", 2))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := k.Netdevs()
	if err != nil {
		t.Fatal(err)
	}
	var eth, ib string
	for _, s := range specs {
		switch {
		case s.PF && s.Fabric == "eth0":
			eth = s.Name
		case s.PF && s.Fabric == "ib0":
			ib = s.Name
		}
	}
	if eth == "" || ib == "" {
		t.Fatalf("no PFs in %+v", specs)
	}
	return k, NewVFConfig(k, nil), eth, ib
}

func TestVFConfigLinkByName(t *testing.T) {
	t.Parallel()
	k, c, eth, ib := newVFConfigKernel(t)
	if _, err := c.LinkByName("nope0"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("LinkByName(nope0) = %v, want ENODEV", err)
	}
	l, err := c.LinkByName(eth)
	if err != nil {
		t.Fatal(err)
	}
	a := l.Attrs()
	specs, _ := k.Netdevs()
	var spec fakesysfs.NetdevSpec
	for _, s := range specs {
		if s.Name == eth {
			spec = s
		}
	}
	if a.Name != eth || a.EncapType != "ether" || a.MTU != 1500 || a.HardwareAddr.String() != spec.Address.String() || a.Index <= 0 {
		t.Errorf("eth PF attrs = name %s encap %s mtu %d addr %s index %d, want %s ether 1500 %s >0", a.Name, a.EncapType, a.MTU, a.HardwareAddr, a.Index, eth, spec.Address)
	}
	if len(a.Vfs) != 2 || a.Vfs[1].ID != 1 || a.Vfs[0].VlanProto != unix.ETH_P_8021Q || len(a.Vfs[0].Mac) != 6 {
		t.Errorf("eth PF vfs = %+v", a.Vfs)
	}
	l, err = c.LinkByName(ib)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.(*netlink.IPoIB); !ok || l.Attrs().EncapType != "infiniband" || len(l.Attrs().HardwareAddr) != 20 || l.Attrs().MTU != 4092 {
		t.Errorf("ib PF = %T encap %s addr %s mtu %d", l, l.Attrs().EncapType, l.Attrs().HardwareAddr, l.Attrs().MTU)
	}
}

func TestVFConfigRecords(t *testing.T) {
	t.Parallel()
	k, c, eth, ib := newVFConfigKernel(t)
	pf, _ := c.LinkByName(eth)
	ipf, _ := c.LinkByName(ib)
	mac := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	node, port := net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}, net.HardwareAddr{8, 7, 6, 5, 4, 3, 2, 1}
	for _, err := range []error{
		c.LinkSetVfHardwareAddr(pf, 1, mac),
		c.LinkSetVfVlanQosProto(pf, 1, 4095, 7, unix.ETH_P_8021Q),
		c.LinkSetVfSpoofchk(pf, 1, false),
		c.LinkSetVfTrust(pf, 1, true),
		c.LinkSetVfState(pf, 1, netlink.VF_LINK_STATE_DISABLE),
		c.LinkSetVfRate(pf, 1, 100, 1000),
		c.LinkSetVfGUID(ipf, 0, node, nl.IFLA_VF_IB_NODE_GUID),
		c.LinkSetVfGUID(ipf, 0, port, nl.IFLA_VF_IB_PORT_GUID),
		c.LinkSetVfState(ipf, 0, netlink.VF_LINK_STATE_ENABLE),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Read back through a fresh LinkByName, as another caller would.
	l, err := c.LinkByName(eth)
	if err != nil {
		t.Fatal(err)
	}
	got := l.Attrs().Vfs[1]
	want := netlink.VfInfo{ID: 1, Mac: mac, Vlan: 4095, Qos: 7, VlanProto: unix.ETH_P_8021Q, TxRate: 1000, Spoofchk: false,
		LinkState: netlink.VF_LINK_STATE_DISABLE, MaxTxRate: 1000, MinTxRate: 100, Trust: 1}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) || got.Mac.String() != want.Mac.String() || got.Trust != 1 || got.MinTxRate != 100 || got.Qos != 7 {
		t.Errorf("vf 1 = %+v, want %+v", got, want)
	}
	if l.Attrs().Vfs[0].Vlan != 0 {
		t.Errorf("vf 0 changed: %+v", l.Attrs().Vfs[0])
	}
	vfs, err := k.VFs(pciOf(t, k, ib))
	if err != nil {
		t.Fatal(err)
	}
	if vfs[0].NodeGUID.String() != node.String() || vfs[0].PortGUID.String() != port.String() || vfs[0].LinkState != netlink.VF_LINK_STATE_ENABLE {
		t.Errorf("ib vf 0 = %+v", vfs[0])
	}
}

func pciOf(t *testing.T, k *fakesysfs.Kernel, name string) string {
	t.Helper()
	specs, err := k.Netdevs()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Name == name {
			return s.PCIAddress
		}
	}
	t.Fatalf("no netdev %s", name)
	return ""
}

func TestVFConfigRejects(t *testing.T) {
	t.Parallel()
	k, c, eth, ib := newVFConfigKernel(t)
	pf, _ := c.LinkByName(eth)
	ipf, _ := c.LinkByName(ib)
	guid := net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	tests := []struct {
		name string
		call func() error
		want unix.Errno
	}{
		{"vlan 4096", func() error { return c.LinkSetVfVlanQosProto(pf, 0, 4096, 0, unix.ETH_P_8021Q) }, unix.EINVAL},
		{"vlan -1", func() error { return c.LinkSetVfVlanQosProto(pf, 0, -1, 0, unix.ETH_P_8021Q) }, unix.EINVAL},
		{"qos 8", func() error { return c.LinkSetVfVlanQosProto(pf, 0, 10, 8, unix.ETH_P_8021Q) }, unix.EINVAL},
		{"proto 802.1ad", func() error { return c.LinkSetVfVlanQosProto(pf, 0, 10, 0, unix.ETH_P_8021AD) }, unix.EPROTONOSUPPORT},
		{"proto bogus", func() error { return c.LinkSetVfVlanQosProto(pf, 0, 10, 0, 0x1234) }, unix.EPROTONOSUPPORT},
		{"vf index beyond numvfs", func() error { return c.LinkSetVfTrust(pf, 2, true) }, unix.EINVAL},
		{"negative vf index", func() error { return c.LinkSetVfSpoofchk(pf, -1, true) }, unix.EINVAL},
		{"min rate above max", func() error { return c.LinkSetVfRate(pf, 0, 200, 100) }, unix.EINVAL},
		{"link state 3", func() error { return c.LinkSetVfState(pf, 0, 3) }, unix.EINVAL},
		{"multicast mac", func() error { return c.LinkSetVfHardwareAddr(pf, 0, net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}) }, unix.EINVAL},
		{"short mac", func() error { return c.LinkSetVfHardwareAddr(pf, 0, net.HardwareAddr{2, 0}) }, unix.EINVAL},
		{"all-zero guid", func() error { return c.LinkSetVfGUID(ipf, 0, make(net.HardwareAddr, 8), nl.IFLA_VF_IB_NODE_GUID) }, unix.EINVAL},
		{"6-byte guid", func() error { return c.LinkSetVfGUID(ipf, 0, mac, nl.IFLA_VF_IB_PORT_GUID) }, unix.EINVAL},
		{"bad guid type", func() error { return c.LinkSetVfGUID(ipf, 0, guid, 99) }, unix.EINVAL},
		{"guid on ethernet", func() error { return c.LinkSetVfGUID(pf, 0, guid, nl.IFLA_VF_IB_NODE_GUID) }, unix.EOPNOTSUPP},
		{"mac on ipoib", func() error { return c.LinkSetVfHardwareAddr(ipf, 0, mac) }, unix.EOPNOTSUPP},
		{"vlan on ipoib", func() error { return c.LinkSetVfVlanQosProto(ipf, 0, 10, 0, unix.ETH_P_8021Q) }, unix.EOPNOTSUPP},
		{"unknown pf", func() error {
			return c.LinkSetVfTrust(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "nope0"}}, 0, true)
		}, unix.ENODEV},
	}
	before, _ := k.VFs(pciOf(t, k, eth))
	ibBefore, _ := k.VFs(pciOf(t, k, ib))
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	after, _ := k.VFs(pciOf(t, k, eth))
	ibAfter, _ := k.VFs(pciOf(t, k, ib))
	if len(before) != len(after) || len(ibBefore) != len(ibAfter) {
		t.Fatal("VF count changed")
	}
	for i := range before {
		if fmt.Sprintf("%+v", before[i]) != fmt.Sprintf("%+v", after[i]) || fmt.Sprintf("%+v", ibBefore[i]) != fmt.Sprintf("%+v", ibAfter[i]) ||
			ibAfter[i].NodeGUID.String() != ibBefore[i].NodeGUID.String() {
			t.Errorf("rejected calls changed vf %d: %+v -> %+v", i, before[i], after[i])
		}
	}
}

// TestVFConfigClearMAC: an all-zero MAC clears the admin MAC (what restoring a VF that had none writes),
// as mlx5 accepts; it is recorded as unset, so the live VF netdev keeps its own address.
func TestVFConfigClearMAC(t *testing.T) {
	t.Parallel()
	k, c, eth, _ := newVFConfigKernel(t)
	pf, _ := c.LinkByName(eth)
	if err := c.LinkSetVfHardwareAddr(pf, 1, net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}); err != nil {
		t.Fatal(err)
	}
	if err := c.LinkSetVfHardwareAddr(pf, 1, make(net.HardwareAddr, 6)); err != nil {
		t.Fatalf("clearing the admin MAC: %v", err)
	}
	vfs, err := k.VFs(pciOf(t, k, eth))
	if err != nil {
		t.Fatal(err)
	}
	if vfs[1].MAC != nil {
		t.Errorf("vf 1 admin MAC = %v after clearing, want unset", vfs[1].MAC)
	}
	l, err := c.LinkByName(eth)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Attrs().Vfs[1].Mac.String(); got != "00:00:00:00:00:00" {
		t.Errorf("vf 1 reads mac %s, want 00:00:00:00:00:00", got)
	}
}
