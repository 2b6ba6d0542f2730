package discovery

import (
	"strconv"
	"strings"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// Inventory scans the machine whose filesystem is rooted at "/" of fs, through the drivers.
type Inventory struct {
	pci  *sriov.Driver
	rdma *ib.Driver
}

var _ deviceplugin.Inventory = (*Inventory)(nil)

// New returns an Inventory reading fs (read-only: no VF configuration is needed).
func New(fs afero.Fs) *Inventory {
	pci := sriov.New(fs, nil)
	return &Inventory{pci: pci, rdma: ib.New(fs, nil, pci)}
}

// Scan discovers every VF of every SR-IOV PF.
func (inv *Inventory) Scan() (deviceplugin.Snapshot, error) {
	found, err := inv.pci.Discover()
	if err != nil {
		return deviceplugin.Snapshot{}, err
	}
	host := inv.pci.HostDevices()
	snap := deviceplugin.Snapshot{
		PFs:      make(map[string]deviceplugin.PF, len(found.PFs)),
		RDMACM:   inv.rdma.RDMACM() != "",
		VhostNet: host.VhostNet,
		Tun:      host.Tun,
	}
	for i := range found.PFs {
		pf := &found.PFs[i]
		name := first(pf.Netdevs)
		snap.PFs[pf.Address] = deviceplugin.PF{Address: pf.Address, Name: name, Driver: pf.Driver, NumVFs: pf.NumVFs}
		// Best effort, as for the VFs below: what could not be read stays empty.
		pfDet, _ := inv.pci.Details(&pf.Function)
		pfRDMA, _ := inv.rdma.Summary(pf.Address)
		for j := range pf.VFs {
			d := inv.device(&pf.VFs[j], pf, name)
			d.PFOperState, d.PFPortState = pfDet.OperState, pfRDMA.PortState
			snap.Devices = append(snap.Devices, d)
		}
	}
	return snap, nil
}

// device describes a VF of the discovery. Its details are read best effort: a file that vanished
// (the VF disabled while we read) or could not be read leaves its field empty, and the device's health
// says so.
func (inv *Inventory) device(vf *sriov.VF, pf *sriov.PF, pfName string) deviceplugin.Device {
	class, _ := strconv.ParseUint(strings.TrimPrefix(vf.Class, "0x"), 16, 32)
	d := deviceplugin.Device{
		PCIAddress: vf.Address,
		Vendor:     strings.TrimPrefix(vf.Vendor, "0x"),
		DeviceID:   strings.TrimPrefix(vf.Device, "0x"),
		Class:      uint32(class),
		Driver:     vf.Driver,
		NUMANode:   vf.NUMANode,
		PFName:     pfName,
		PFAddress:  pf.Address,
		VFIndex:    vf.Index,
		LinkType:   vf.LinkType,
		Netdev:     first(vf.Netdevs),
	}
	if d.LinkType == "" {
		d.LinkType = pf.LinkType
	}
	det, _ := inv.pci.Details(&vf.Function)
	d.OperState, d.ACPIIndex = det.OperState, det.ACPIIndex
	d.IOMMUGroup, d.NoIOMMU, d.UIO = det.IOMMUGroup, det.NoIOMMU, det.UIO
	rdma, _ := inv.rdma.Summary(vf.Address)
	d.RDMADevices, d.PortState, d.PKey, d.PortGUIDSet = rdma.Devices, rdma.PortState, rdma.PKey0, rdma.PortGUIDSet
	d.Uverbs, d.Umad, d.Issm = rdma.Uverbs, rdma.Umad, rdma.Issm
	return d
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
