package discovery

import (
	"errors"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// Inventory scans the machine whose filesystem is rooted at "/" of fs.
type Inventory struct {
	fs   afero.Fs
	pci  *sriov.Driver
	rdma *ib.Driver
}

var _ deviceplugin.Inventory = (*Inventory)(nil)

// New returns an Inventory reading fs (read-only: no VF configuration is needed).
func New(fs afero.Fs) *Inventory {
	pci := sriov.New(fs, nil)
	return &Inventory{fs: fs, pci: pci, rdma: ib.New(fs, nil, pci)}
}

// Scan discovers every VF of every SR-IOV PF.
func (inv *Inventory) Scan() (deviceplugin.Snapshot, error) {
	found, err := inv.pci.Discover()
	if err != nil {
		return deviceplugin.Snapshot{}, err
	}
	snap := deviceplugin.Snapshot{
		PFs:      make(map[string]deviceplugin.PF, len(found.PFs)),
		RDMACM:   inv.exists(ib.RDMACM),
		VhostNet: inv.exists("/dev/vhost-net"),
		Tun:      inv.exists("/dev/net/tun"),
	}
	for i := range found.PFs {
		pf := &found.PFs[i]
		name := first(pf.Netdevs)
		snap.PFs[pf.Address] = deviceplugin.PF{Address: pf.Address, Name: name, Driver: pf.Driver, NumVFs: pf.NumVFs}
		pfOper := inv.operstate(pf.Address, name)
		pfPort := ""
		if devs, err := inv.rdma.Devices(pf.Address); err == nil && len(devs) > 0 && len(devs[0].Ports) > 0 {
			pfPort = devs[0].Ports[0].State
		}
		for j := range pf.VFs {
			vf := &pf.VFs[j]
			d, err := inv.device(vf, pf, name)
			if errors.Is(err, sriov.ErrDeviceGone) || errors.Is(err, os.ErrNotExist) {
				continue // disabled while we read
			}
			if err != nil {
				return deviceplugin.Snapshot{}, err
			}
			d.PFOperState, d.PFPortState = pfOper, pfPort
			snap.Devices = append(snap.Devices, d)
		}
	}
	return snap, nil
}

func (inv *Inventory) device(vf *sriov.VF, pf *sriov.PF, pfName string) (deviceplugin.Device, error) {
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
	dir := path.Join(sriov.PCIDevices, vf.Address)
	d.OperState = inv.operstate(vf.Address, d.Netdev)
	d.ACPIIndex = inv.read(path.Join(dir, "acpi_index"))
	if g, err := inv.linkBase(path.Join(dir, "iommu_group")); err == nil {
		d.IOMMUGroup = g
		d.NoIOMMU = inv.read(path.Join("/sys/kernel/iommu_groups", g, "name")) == "vfio-noiommu"
	}
	if uios, err := afero.ReadDir(inv.fs, path.Join(dir, "uio")); err == nil && len(uios) > 0 {
		d.UIO = uios[0].Name()
	}
	devs, err := inv.rdma.Devices(vf.Address)
	if err != nil {
		return d, err
	}
	for _, rd := range devs {
		d.RDMADevices = append(d.RDMADevices, rd.Name)
		for _, c := range rd.CharDevices {
			switch c.Kind {
			case "uverbs":
				d.Uverbs = append(d.Uverbs, c.Name)
			case "umad":
				d.Umad = append(d.Umad, c.Name)
			case "issm":
				d.Issm = append(d.Issm, c.Name)
			}
		}
	}
	if len(devs) > 0 && len(devs[0].Ports) > 0 {
		p := devs[0].Ports[0]
		d.PortState = p.State
		d.PortGUIDSet = p.PortGUID.Valid()
		d.PKey = p.PKeys[0]
	}
	return d, nil
}

func (inv *Inventory) operstate(bdf, netdev string) string {
	if netdev == "" {
		return ""
	}
	return inv.read(path.Join(sriov.PCIDevices, bdf, "net", netdev, "operstate"))
}

func (inv *Inventory) read(p string) string {
	b, err := afero.ReadFile(inv.fs, p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (inv *Inventory) exists(p string) bool {
	_, err := inv.fs.Stat(p)
	return err == nil
}

func (inv *Inventory) linkBase(p string) (string, error) {
	lr, ok := inv.fs.(afero.LinkReader)
	if !ok {
		return "", errors.New("file system cannot read links")
	}
	target, err := lr.ReadlinkIfPossible(p)
	if err != nil {
		return "", err
	}
	return path.Base(target), nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
