package sriov

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
)

// VLANProto802_1Q is the default VLAN protocol (ETH_P_8021Q); 802.1ad is 0x88a8.
const (
	VLANProto802_1Q  = 0x8100
	VLANProto802_1AD = 0x88a8
)

// VLAN is a VF's port VLAN: ID 0 = none, QoS 0-7, Proto 0x8100 or 0x88a8.
type VLAN struct {
	ID    int `json:"id"`
	QoS   int `json:"qos"`
	Proto int `json:"proto"`
}

// Rate is a VF's transmit rate limits in Mbps (0 = no limit).
type Rate struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// VFSettings is what to change on a VF; nil fields are left as they are.
type VFSettings struct {
	MAC       net.HardwareAddr
	VLAN      *VLAN
	Spoofchk  *bool
	Trust     *bool
	LinkState *uint32 // netlink.VF_LINK_STATE_AUTO, _ENABLE, _DISABLE
	Rate      *Rate
}

// Validate checks the settings without touching anything; the error names the field and value.
func (s VFSettings) Validate() error {
	if s.MAC != nil && len(s.MAC) != 6 {
		return fmt.Errorf("vf settings: mac %q is not 6 bytes", s.MAC)
	}
	if v := s.VLAN; v != nil {
		if v.ID < 0 || v.ID > 4094 {
			return fmt.Errorf("vf settings: vlan %d out of range 0-4094", v.ID)
		}
		if v.QoS < 0 || v.QoS > 7 {
			return fmt.Errorf("vf settings: vlan qos %d out of range 0-7", v.QoS)
		}
		if v.Proto != 0 && v.Proto != VLANProto802_1Q && v.Proto != VLANProto802_1AD {
			return fmt.Errorf("vf settings: vlan proto %#x is neither 802.1Q (0x8100) nor 802.1ad (0x88a8)", v.Proto)
		}
		if v.ID == 0 && v.QoS != 0 {
			return fmt.Errorf("vf settings: vlan qos %d needs a vlan id", v.QoS)
		}
	}
	if s.LinkState != nil && *s.LinkState > netlink.VF_LINK_STATE_DISABLE {
		return fmt.Errorf("vf settings: link state %d is not auto (0), enable (1) or disable (2)", *s.LinkState)
	}
	if r := s.Rate; r != nil {
		if r.Min < 0 || r.Max < 0 {
			return fmt.Errorf("vf settings: rate min %d max %d must not be negative", r.Min, r.Max)
		}
		if r.Max != 0 && r.Min > r.Max {
			return fmt.Errorf("vf settings: min rate %d above max rate %d", r.Min, r.Max)
		}
	}
	return nil
}

// VFState is a VF's PF-side state as the PF reports it (netlink.VfInfo), in a form that stores as JSON.
type VFState struct {
	MAC       string `json:"mac"`
	Vlan      int    `json:"vlan"`
	Qos       int    `json:"qos"`
	VlanProto int    `json:"vlanProto"`
	Spoofchk  bool   `json:"spoofchk"`
	Trust     bool   `json:"trust"`
	LinkState uint32 `json:"linkState"`
	MinTxRate int    `json:"minTxRate"`
	MaxTxRate int    `json:"maxTxRate"`
}

func stateOf(vi netlink.VfInfo) VFState {
	proto := vi.VlanProto
	if proto == 0 {
		proto = VLANProto802_1Q
	}
	mac := vi.Mac
	if len(mac) == 0 {
		mac = make(net.HardwareAddr, 6)
	}
	return VFState{
		MAC: mac.String(), Vlan: vi.Vlan, Qos: vi.Qos, VlanProto: proto, Spoofchk: vi.Spoofchk,
		Trust: vi.Trust == 1, LinkState: vi.LinkState, MinTxRate: int(vi.MinTxRate), MaxTxRate: int(vi.MaxTxRate),
	}
}

// Snapshot is a VF's state before ConfigureVF changed it, and which settings it changed. Store it (it is
// JSON) and hand it to RestoreVF to undo exactly those changes.
type Snapshot struct {
	PF      string   `json:"pf"` // the PF's netdev
	VF      int      `json:"vf"`
	Before  VFState  `json:"before"`
	Changed []string `json:"changed"` // of "vlan", "mac", "rate", "spoofchk", "trust", "state", in order applied
}

// VFState returns the PF-side state of VF vf of the PF netdev pf.
func (d *Driver) VFState(pf string, vf int) (VFState, error) {
	_, vi, err := d.vfInfo(pf, vf)
	if err != nil {
		return VFState{}, err
	}
	return stateOf(vi), nil
}

func (d *Driver) vfInfo(pf string, vf int) (netlink.Link, netlink.VfInfo, error) {
	if d.vfs == nil {
		return nil, netlink.VfInfo{}, fmt.Errorf("vf %d of %s: no VF configuration boundary (read-only driver)", vf, pf)
	}
	link, err := d.vfs.LinkByName(pf)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) || errors.Is(err, os.ErrNotExist) {
			return nil, netlink.VfInfo{}, fmt.Errorf("vf %d of %s: pf %w: %w", vf, pf, ErrDeviceGone, err)
		}
		return nil, netlink.VfInfo{}, fmt.Errorf("vf %d of %s: %w", vf, pf, err)
	}
	for _, vi := range link.Attrs().Vfs {
		if vi.ID == vf {
			return link, vi, nil
		}
	}
	return nil, netlink.VfInfo{}, fmt.Errorf("vf %d of %s (pf has %d VFs): %w", vf, pf, len(link.Attrs().Vfs), ErrVFNotFound)
}

// ConfigureVF applies s to VF vf of the PF netdev pf, in the order sriov-cni uses (VLAN, MAC, rate,
// spoof check, trust, link state), and returns a snapshot of the state before. If a step fails, the steps
// already applied are undone and the error says which step failed. Invalid settings change nothing.
func (d *Driver) ConfigureVF(pf string, vf int, s VFSettings) (*Snapshot, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	link, vi, err := d.vfInfo(pf, vf)
	if err != nil {
		return nil, fmt.Errorf("configure %w", err)
	}
	snap := &Snapshot{PF: pf, VF: vf, Before: stateOf(vi)}
	type step struct {
		name string
		do   func() error
	}
	var steps []step
	if v := s.VLAN; v != nil {
		proto := v.Proto
		if proto == 0 {
			proto = VLANProto802_1Q
		}
		steps = append(steps, step{"vlan", func() error { return d.vfs.LinkSetVfVlanQosProto(link, vf, v.ID, v.QoS, proto) }})
	}
	if s.MAC != nil {
		steps = append(steps, step{"mac", func() error { return d.vfs.LinkSetVfHardwareAddr(link, vf, s.MAC) }})
	}
	if r := s.Rate; r != nil {
		steps = append(steps, step{"rate", func() error { return d.vfs.LinkSetVfRate(link, vf, r.Min, r.Max) }})
	}
	if s.Spoofchk != nil {
		on := *s.Spoofchk
		steps = append(steps, step{"spoofchk", func() error { return d.vfs.LinkSetVfSpoofchk(link, vf, on) }})
	}
	if s.Trust != nil {
		on := *s.Trust
		steps = append(steps, step{"trust", func() error { return d.vfs.LinkSetVfTrust(link, vf, on) }})
	}
	if s.LinkState != nil {
		st := *s.LinkState
		steps = append(steps, step{"state", func() error { return d.vfs.LinkSetVfState(link, vf, st) }})
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			err = fmt.Errorf("configure vf %d of %s: set %s: %w", vf, pf, st.name, d.vfErr(pf, vf, err))
			if len(snap.Changed) > 0 {
				if rerr := d.RestoreVF(snap); rerr != nil {
					return nil, errors.Join(err, fmt.Errorf("roll back: %w", rerr))
				}
			}
			return nil, err
		}
		snap.Changed = append(snap.Changed, st.name)
	}
	d.log.Debug("vf configured", "pf", pf, "vf", vf, "changed", snap.Changed)
	return snap, nil
}

// vfErr classifies a setter's failure: the PF or the VF vanished in the meantime.
func (d *Driver) vfErr(pf string, vf int, err error) error {
	if errors.Is(err, ErrDeviceGone) || errors.Is(err, ErrVFNotFound) {
		return err
	}
	if _, _, lerr := d.vfInfo(pf, vf); lerr != nil && (errors.Is(lerr, ErrDeviceGone) || errors.Is(lerr, ErrVFNotFound)) {
		return fmt.Errorf("%w (%w)", lerr, err)
	}
	return err
}

// RestoreVF puts back what the snapshot's ConfigureVF changed, in reverse order, and always the MAC on an
// Ethernet PF (a pod may have changed it from inside; InfiniBand VFs have GUIDs instead, see drivers/ib).
// It tries every step and returns all failures.
func (d *Driver) RestoreVF(s *Snapshot) error {
	link, _, err := d.vfInfo(s.PF, s.VF)
	if err != nil {
		return fmt.Errorf("restore %w", err)
	}
	b := s.Before
	changed := map[string]bool{"mac": !isInfiniBand(link)}
	for _, c := range s.Changed {
		changed[c] = true
	}
	var errs []error
	try := func(name string, f func() error) {
		if !changed[name] {
			return
		}
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("restore vf %d of %s: %s: %w", s.VF, s.PF, name, d.vfErr(s.PF, s.VF, err)))
		}
	}
	try("state", func() error { return d.vfs.LinkSetVfState(link, s.VF, b.LinkState) })
	try("trust", func() error { return d.vfs.LinkSetVfTrust(link, s.VF, b.Trust) })
	try("spoofchk", func() error { return d.vfs.LinkSetVfSpoofchk(link, s.VF, b.Spoofchk) })
	try("rate", func() error { return d.vfs.LinkSetVfRate(link, s.VF, b.MinTxRate, b.MaxTxRate) })
	try("mac", func() error {
		mac, err := net.ParseMAC(b.MAC)
		if err != nil {
			return fmt.Errorf("snapshot mac %q: %w", b.MAC, err)
		}
		return d.vfs.LinkSetVfHardwareAddr(link, s.VF, mac)
	})
	try("vlan", func() error { return d.vfs.LinkSetVfVlanQosProto(link, s.VF, b.Vlan, b.Qos, b.VlanProto) })
	return errors.Join(errs...)
}

// VFTarget returns the PF netdev and VF index VF configuration for the VF at bdf goes through.
func (inv *Inventory) VFTarget(bdf string) (string, int, error) {
	vf, ok := inv.VF(bdf)
	if !ok {
		return "", 0, fmt.Errorf("vf %s: %w", bdf, ErrVFNotFound)
	}
	pf, _ := inv.PF(vf.PF)
	if len(pf.Netdevs) == 0 {
		return "", 0, fmt.Errorf("vf %s: its pf %s has no netdev to configure it through", bdf, pf.Address)
	}
	return pf.Netdevs[0], vf.Index, nil
}

// isInfiniBand reports whether link is an IPoIB netdev (link/infiniband, 20-byte address).
func isInfiniBand(link netlink.Link) bool {
	a := link.Attrs()
	return a.EncapType == "infiniband" || len(a.HardwareAddr) == 20
}
