package vfstub

import (
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/vflab/vflab/drivers"
)

// VFs is an in-memory PF-side VF table keyed by PF netdev name.
type VFs struct {
	mu    sync.Mutex
	pfs   map[string][]netlink.VfInfo
	guids map[string]map[int][2]net.HardwareAddr
	fail  map[string]error
	encap map[string]string
}

var _ drivers.VFConfig = (*VFs)(nil)

// New returns an empty table.
func New() *VFs {
	return &VFs{pfs: map[string][]netlink.VfInfo{}, guids: map[string]map[int][2]net.HardwareAddr{}, fail: map[string]error{}, encap: map[string]string{}}
}

// SetPF gives the PF netdev pf n VFs in their default state (zero MAC, no VLAN, spoofchk on, trust off,
// link state auto), replacing whatever it had.
func (v *VFs) SetPF(pf string, n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vfs := make([]netlink.VfInfo, n)
	for i := range vfs {
		vfs[i] = netlink.VfInfo{ID: i, Mac: make(net.HardwareAddr, 6), Spoofchk: true, LinkState: netlink.VF_LINK_STATE_AUTO}
	}
	v.pfs[pf] = vfs
	v.guids[pf] = map[int][2]net.HardwareAddr{}
}

// SetEncap sets the PF's link type as netlink reports it in EncapType ("ether", "infiniband").
func (v *VFs) SetEncap(pf, encap string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.encap[pf] = encap
}

// RemovePF makes the PF vanish.
func (v *VFs) RemovePF(pf string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.pfs, pf)
}

// Fail makes every later call of method (e.g. "LinkSetVfTrust") fail with err; nil clears it.
func (v *VFs) Fail(method string, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		delete(v.fail, method)
		return
	}
	v.fail[method] = err
}

// VF returns the state of one VF.
func (v *VFs) VF(pf string, vf int) (netlink.VfInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vfs, ok := v.pfs[pf]
	if !ok || vf < 0 || vf >= len(vfs) {
		return netlink.VfInfo{}, false
	}
	return vfs[vf], true
}

// GUIDs returns the node and port GUID set on a VF (nil when unset).
func (v *VFs) GUIDs(pf string, vf int) (net.HardwareAddr, net.HardwareAddr) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.guids[pf][vf]
	return g[0], g[1]
}

// LinkByName returns a copy of the PF with its VF list.
func (v *VFs) LinkByName(name string) (netlink.Link, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fail["LinkByName"]; err != nil {
		return nil, err
	}
	vfs, ok := v.pfs[name]
	if !ok {
		return nil, fmt.Errorf("link %s not found: %w", name, syscall.ENODEV)
	}
	l := &netlink.Device{LinkAttrs: netlink.NewLinkAttrs()}
	l.Name = name
	l.EncapType = v.encap[name]
	if l.EncapType == "" {
		l.EncapType = "ether"
	}
	l.Vfs = append([]netlink.VfInfo(nil), vfs...)
	return l, nil
}

func (v *VFs) update(method string, pf netlink.Link, vf int, f func(*netlink.VfInfo)) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fail[method]; err != nil {
		return err
	}
	vfs, ok := v.pfs[pf.Attrs().Name]
	if !ok {
		return fmt.Errorf("%s: link %s: %w", method, pf.Attrs().Name, syscall.ENODEV)
	}
	if vf < 0 || vf >= len(vfs) {
		return fmt.Errorf("%s: vf %d: %w", method, vf, syscall.EINVAL)
	}
	f(&vfs[vf])
	return nil
}

// LinkSetVfHardwareAddr implements drivers.VFConfig.
func (v *VFs) LinkSetVfHardwareAddr(pf netlink.Link, vf int, hw net.HardwareAddr) error {
	return v.update("LinkSetVfHardwareAddr", pf, vf, func(i *netlink.VfInfo) { i.Mac = append(net.HardwareAddr(nil), hw...) })
}

// LinkSetVfVlanQosProto implements drivers.VFConfig.
func (v *VFs) LinkSetVfVlanQosProto(pf netlink.Link, vf, vlan, qos, proto int) error {
	return v.update("LinkSetVfVlanQosProto", pf, vf, func(i *netlink.VfInfo) { i.Vlan, i.Qos, i.VlanProto = vlan, qos, proto })
}

// LinkSetVfSpoofchk implements drivers.VFConfig.
func (v *VFs) LinkSetVfSpoofchk(pf netlink.Link, vf int, check bool) error {
	return v.update("LinkSetVfSpoofchk", pf, vf, func(i *netlink.VfInfo) { i.Spoofchk = check })
}

// LinkSetVfTrust implements drivers.VFConfig.
func (v *VFs) LinkSetVfTrust(pf netlink.Link, vf int, state bool) error {
	return v.update("LinkSetVfTrust", pf, vf, func(i *netlink.VfInfo) {
		i.Trust = 0
		if state {
			i.Trust = 1
		}
	})
}

// LinkSetVfState implements drivers.VFConfig.
func (v *VFs) LinkSetVfState(pf netlink.Link, vf int, state uint32) error {
	return v.update("LinkSetVfState", pf, vf, func(i *netlink.VfInfo) { i.LinkState = state })
}

// LinkSetVfRate implements drivers.VFConfig.
func (v *VFs) LinkSetVfRate(pf netlink.Link, vf, minRate, maxRate int) error {
	return v.update("LinkSetVfRate", pf, vf, func(i *netlink.VfInfo) {
		i.MinTxRate, i.MaxTxRate = uint32(minRate), uint32(maxRate)
	})
}

// LinkSetVfGUID implements drivers.VFConfig.
func (v *VFs) LinkSetVfGUID(pf netlink.Link, vf int, guid net.HardwareAddr, guidType int) error {
	if guidType != nl.IFLA_VF_IB_NODE_GUID && guidType != nl.IFLA_VF_IB_PORT_GUID {
		return fmt.Errorf("LinkSetVfGUID: guid type %d: %w", guidType, syscall.EINVAL)
	}
	return v.update("LinkSetVfGUID", pf, vf, func(*netlink.VfInfo) {
		g := v.guids[pf.Attrs().Name][vf]
		if guidType == nl.IFLA_VF_IB_NODE_GUID {
			g[0] = append(net.HardwareAddr(nil), guid...)
		} else {
			g[1] = append(net.HardwareAddr(nil), guid...)
		}
		v.guids[pf.Attrs().Name][vf] = g
	})
}
