package ib

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"

	"github.com/vishvananda/netlink/nl"

	"github.com/vflab/vflab/drivers/internal/sysfs"
	"github.com/vflab/vflab/drivers/sriov"
)

// VFGUIDs are a VF's node and port GUID.
type VFGUIDs struct {
	Node GUID `json:"node"`
	Port GUID `json:"port"`
}

// ofedDir is the MLNX_OFED per-VF directory <pf>/sriov/<index> (sysfs.md §9.1), "" when absent.
func (d *Driver) ofedDir(loc sriov.Location) string {
	p := path.Join(sriov.PCIDevices, loc.PF, "sriov", strconv.Itoa(loc.Index))
	if sysfs.Exists(d.fs, path.Join(p, "node")) {
		return p
	}
	return ""
}

// VFGUIDs reads the GUIDs a VF has now: from the OFED sriov/<vf>/{node,port} files where present, else
// from the VF's own RDMA device (node_guid, and the port GUID in GID 0). A VF whose RDMA device is not
// there (unbound, vfio-pci, moved to a pod) reads as zero GUIDs.
func (d *Driver) VFGUIDs(vf string) (VFGUIDs, error) {
	loc, err := d.pci.Locate(vf)
	if err != nil {
		return VFGUIDs{}, fmt.Errorf("guids of %w", err)
	}
	if od := d.ofedDir(loc); od != "" {
		var g VFGUIDs
		if g.Node, err = d.readGUID(path.Join(od, "node")); err != nil {
			return VFGUIDs{}, fmt.Errorf("guids of vf %s: %w", vf, err)
		}
		if g.Port, err = d.readGUID(path.Join(od, "port")); err != nil {
			return VFGUIDs{}, fmt.Errorf("guids of vf %s: %w", vf, err)
		}
		return g, nil
	}
	devs, err := d.Devices(vf)
	if err != nil {
		return VFGUIDs{}, fmt.Errorf("guids of vf %s: %w", vf, err)
	}
	if len(devs) == 0 {
		return VFGUIDs{}, nil
	}
	g := VFGUIDs{Node: devs[0].NodeGUID}
	if len(devs[0].Ports) > 0 {
		g.Port = devs[0].Ports[0].PortGUID
	}
	return g, nil
}

// SetVFGUIDs sets the node and port GUID of the VF at vf through its PF — the OFED sriov/<vf>/ files
// (node, port, then policy Follow) where present, else netlink IFLA_VF_IB_NODE_GUID / PORT_GUID — and, when
// the VF is bound to mlx5_core (or any driver but vfio-pci), rebinds it so the GUIDs take effect. It
// returns the GUIDs the VF had before. A zero GUID is refused with an error wrapping ErrInvalidGUID and
// nothing is changed. GUIDs already set and in effect are left alone (no rebind).
func (d *Driver) SetVFGUIDs(vf string, want VFGUIDs) (VFGUIDs, error) {
	op := "set guids of vf " + vf
	if want.Node == 0 || want.Port == 0 {
		return VFGUIDs{}, fmt.Errorf("%s: node %s port %s: %w: zero means unset", op, want.Node, want.Port, ErrInvalidGUID)
	}
	loc, err := d.pci.Locate(vf)
	if err != nil {
		return VFGUIDs{}, fmt.Errorf("%s: %w", op, err)
	}
	before, err := d.VFGUIDs(vf)
	if err != nil {
		return VFGUIDs{}, fmt.Errorf("%s: %w", op, err)
	}
	if before == want {
		// Already set and, when the VF has an RDMA device, already in effect: no rebind needed.
		if devs, err := d.Devices(vf); err == nil && (len(devs) == 0 || devs[0].NodeGUID == want.Node &&
			len(devs[0].Ports) > 0 && devs[0].Ports[0].PortGUID == want.Port) {
			return before, nil
		}
	}
	if od := d.ofedDir(loc); od != "" {
		for _, w := range []struct{ file, value string }{
			{"node", want.Node.Colon()}, {"port", want.Port.Colon()}, {"policy", "Follow"},
		} {
			if err := sysfs.Write(d.fs, path.Join(od, w.file), w.value); err != nil {
				return before, fmt.Errorf("%s: ofed %s: %w", op, w.file, d.goneErr(loc, err))
			}
		}
	} else {
		if err := d.setNetlink(loc, want); err != nil {
			return before, fmt.Errorf("%s: %w", op, err)
		}
	}
	drv, err := d.pci.CurrentDriver(vf)
	if err != nil {
		return before, fmt.Errorf("%s: %w", op, err)
	}
	if drv != "" && drv != sriov.DriverVFIO {
		if err := d.pci.Rebind(vf); err != nil {
			return before, fmt.Errorf("%s: %w", op, err)
		}
	}
	d.log.Info("vf guids set", "vf", vf, "pf", loc.PF, "index", loc.Index, "node", want.Node, "port", want.Port, "rebound", drv != "" && drv != sriov.DriverVFIO)
	return before, nil
}

func (d *Driver) setNetlink(loc sriov.Location, want VFGUIDs) error {
	if d.vfs == nil {
		return errors.New("no VF configuration boundary (read-only driver)")
	}
	if loc.PFNetdev == "" {
		return fmt.Errorf("pf %s has no netdev to configure vf %d through", loc.PF, loc.Index)
	}
	link, err := d.vfs.LinkByName(loc.PFNetdev)
	if err != nil {
		return fmt.Errorf("pf %s: %w", loc.PFNetdev, d.goneErr(loc, err))
	}
	if err := d.vfs.LinkSetVfGUID(link, loc.Index, want.Node.HardwareAddr(), nl.IFLA_VF_IB_NODE_GUID); err != nil {
		return fmt.Errorf("node guid: %w", d.goneErr(loc, err))
	}
	if err := d.vfs.LinkSetVfGUID(link, loc.Index, want.Port.HardwareAddr(), nl.IFLA_VF_IB_PORT_GUID); err != nil {
		return fmt.Errorf("port guid: %w", d.goneErr(loc, err))
	}
	return nil
}

// goneErr adds ErrDeviceGone to err when the VF vanished meanwhile.
func (d *Driver) goneErr(loc sriov.Location, err error) error {
	if !sysfs.Exists(d.fs, path.Join(sriov.PCIDevices, loc.VF)) || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", sriov.ErrDeviceGone, err)
	}
	return err
}
