package discovery

import (
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// Inventory scans the machine whose filesystem is rooted at "/" of fs.
type Inventory struct {
	fs  afero.Fs
	pci *sriov.Driver
}

var _ deviceplugin.Inventory = (*Inventory)(nil)

// New returns an Inventory reading fs (read-only: no VF configuration is needed).
func New(fs afero.Fs) *Inventory {
	return &Inventory{fs: fs, pci: sriov.New(fs, nil)}
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
		var pfd deviceplugin.Device
		inv.readRDMA(&pfd, path.Join(sriov.PCIDevices, pf.Address))
		pfPort := pfd.PortState
		for j := range pf.VFs {
			d := inv.device(&pf.VFs[j], pf, name)
			d.PFOperState, d.PFPortState = pfOper, pfPort
			snap.Devices = append(snap.Devices, d)
		}
	}
	return snap, nil
}

// device describes a VF of the discovery. Its attributes are read best effort: a file that vanished
// (the VF disabled while we read) leaves its field empty.
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
	inv.readRDMA(&d, dir)
	return d
}

// readRDMA reads what the plugin needs of a function's RDMA devices — names, first port's state, P_Key 0
// and whether its GUID is set, and the char devices listed under the function (infiniband_verbs,
// infiniband_mad: exact per function, no ibdev substring matching) — a handful of reads per function
// instead of drivers/ib's full description (GID and P_Key tables), which the scan does not need.
func (inv *Inventory) readRDMA(d *deviceplugin.Device, dir string) {
	names := inv.list(path.Join(dir, "infiniband"))
	if len(names) == 0 {
		return
	}
	d.RDMADevices = names
	port := path.Join(dir, "infiniband", names[0], "ports", "1")
	d.PortState = inv.read(path.Join(port, "state"))
	d.PKey = inv.read(path.Join(port, "pkeys", "0"))
	if gid := inv.read(path.Join(port, "gids", "0")); len(gid) == 39 {
		iface := strings.ReplaceAll(gid[20:], ":", "")
		d.PortGUIDSet = strings.Trim(iface, "0") != "" && strings.Trim(iface, "f") != ""
	}
	for _, n := range inv.list(path.Join(dir, "infiniband_verbs")) {
		if strings.HasPrefix(n, "uverbs") {
			d.Uverbs = append(d.Uverbs, n)
		}
	}
	for _, n := range inv.list(path.Join(dir, "infiniband_mad")) {
		switch {
		case strings.HasPrefix(n, "umad"):
			d.Umad = append(d.Umad, n)
		case strings.HasPrefix(n, "issm"):
			d.Issm = append(d.Issm, n)
		}
	}
}

func (inv *Inventory) list(dir string) []string {
	f, err := inv.fs.Open(dir)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil
	}
	slices.Sort(names)
	return names
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
