package sriov

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/vflab/vflab/drivers/internal/sysfs"
)

// Paths of the PCI bus in sysfs.
const (
	PCIDevices   = "/sys/bus/pci/devices"
	PCIDrivers   = "/sys/bus/pci/drivers"
	DriversProbe = "/sys/bus/pci/drivers_probe"
)

// Link types, as netlink's EncapType and the device plugin's linkTypes selector name them.
const (
	LinkEther      = "ether"
	LinkInfiniBand = "infiniband"
)

// Function is one network PCI function: a PF, a VF or a plain NIC function.
type Function struct {
	Address  string `json:"address"`  // BDF, e.g. 0000:3b:00.0
	Vendor   string `json:"vendor"`   // 0x15b3
	Device   string `json:"device"`   // 0x101b
	Class    string `json:"class"`    // 0x020700
	Driver   string `json:"driver"`   // mlx5_core, vfio-pci; empty when unbound
	NUMANode int    `json:"numaNode"` // -1 = no topology
	// Netdevs are the names under <bdf>/net/ (none on vfio-pci, or while moved into a pod).
	Netdevs []string `json:"netdevs,omitempty"`
	// LinkType is ether or infiniband: from net/<if>/type, else the RDMA port's link layer, else (VFs)
	// the PF's.
	LinkType string `json:"linkType,omitempty"`
	// RDMADevices are the names under <bdf>/infiniband/ (mlx5_3, ibp59s0f0v1, ...).
	RDMADevices []string `json:"rdmaDevices,omitempty"`
}

// PF is an SR-IOV physical function and its VFs.
type PF struct {
	Function
	TotalVFs  int    `json:"totalVFs"`
	NumVFs    int    `json:"numVFs"`
	Autoprobe bool   `json:"autoprobe"`
	VFDevice  string `json:"vfDevice,omitempty"` // sriov_vf_device, e.g. 101e
	VFs       []VF   `json:"vfs"`                // by index
}

// VF is a virtual function: its PF and its index there.
type VF struct {
	Function
	PF    string `json:"pf"`
	Index int    `json:"index"`
}

// Inventory is everything one discovery found. Lookups by address are map reads.
type Inventory struct {
	PFs []PF `json:"pfs"`
	// Others are network functions without SR-IOV (no sriov_totalvfs) and not VFs.
	Others []Function `json:"others,omitempty"`

	pfs map[string]int    // PF address -> index in PFs
	vfs map[string][2]int // VF address -> (PF index, VF index)
}

// PF returns the PF at address.
func (inv *Inventory) PF(address string) (*PF, bool) {
	i, ok := inv.pfs[address]
	if !ok {
		return nil, false
	}
	return &inv.PFs[i], true
}

// VF returns the VF at address (its PF and index are in the result).
func (inv *Inventory) VF(address string) (*VF, bool) {
	ref, ok := inv.vfs[address]
	if !ok {
		return nil, false
	}
	return &inv.PFs[ref[0]].VFs[ref[1]], true
}

// VFAt returns VF index of the PF at pf; the error wraps ErrVFNotFound.
func (inv *Inventory) VFAt(pf string, index int) (*VF, error) {
	p, ok := inv.PF(pf)
	if !ok {
		return nil, fmt.Errorf("pf %s: %w", pf, ErrVFNotFound)
	}
	if index < 0 || index >= len(p.VFs) {
		return nil, fmt.Errorf("pf %s has %d VFs, no vf %d: %w", pf, len(p.VFs), index, ErrVFNotFound)
	}
	return &p.VFs[index], nil
}

// Discover reads the machine's network PCI functions. It lists /sys/bus/pci/devices once, reads each
// network function's attributes once, and maps VFs to PFs through the PFs' virtfnN links (one readlink
// each), so its cost is linear in the number of devices. A device that vanishes while being read is left
// out.
func (d *Driver) Discover() (*Inventory, error) {
	names, err := sysfs.List(d.fs, PCIDevices)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	type entry struct {
		fn      Function
		entries map[string]bool // names in the function's directory
	}
	funcs := make(map[string]*entry, len(names))
	var order []string
	for _, bdf := range names {
		class, err := sysfs.ReadString(d.fs, path.Join(PCIDevices, bdf, "class"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("discover %s: %w", bdf, err)
		}
		if !isNetworkClass(class) {
			continue
		}
		fn, entries, err := d.readFunction(bdf, class)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("discover %s: %w", bdf, err)
		}
		funcs[bdf] = &entry{fn: fn, entries: entries}
		order = append(order, bdf)
	}

	inv := &Inventory{pfs: map[string]int{}, vfs: map[string][2]int{}}
	isVF := map[string]bool{}
	for _, bdf := range order {
		e := funcs[bdf]
		if !e.entries["sriov_totalvfs"] {
			continue
		}
		pf, err := d.readPF(e.fn, e.entries)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("discover %s: %w", bdf, err)
		}
		for idx, vfAddr := range pf.vfAddrs {
			vf := VF{Function: Function{Address: vfAddr, NUMANode: -1}, PF: bdf, Index: idx}
			if ve, ok := funcs[vfAddr]; ok {
				vf.Function = ve.fn
			}
			if vf.LinkType == "" {
				vf.LinkType = pf.LinkType
			}
			isVF[vfAddr] = true
			pf.VFs = append(pf.VFs, vf)
		}
		inv.pfs[bdf] = len(inv.PFs)
		inv.PFs = append(inv.PFs, pf.PF)
	}
	for pi := range inv.PFs {
		for vi, vf := range inv.PFs[pi].VFs {
			inv.vfs[vf.Address] = [2]int{pi, vi}
		}
	}
	for _, bdf := range order {
		e := funcs[bdf]
		if e.entries["sriov_totalvfs"] || isVF[bdf] || e.entries["physfn"] {
			continue
		}
		inv.Others = append(inv.Others, e.fn)
	}
	return inv, nil
}

// isNetworkClass: PCI base class 0x02 (network controller) or 0x0c06 (InfiniBand serial bus).
func isNetworkClass(class string) bool {
	c := strings.TrimPrefix(strings.ToLower(class), "0x")
	return strings.HasPrefix(c, "02") && len(c) == 6 || strings.HasPrefix(c, "0c06")
}

// ReadFunction reads one PCI function's attributes.
func (d *Driver) ReadFunction(bdf string) (Function, error) {
	dir := path.Join(PCIDevices, bdf)
	class, err := sysfs.ReadString(d.fs, path.Join(dir, "class"))
	if err != nil {
		return Function{}, gone(bdf, err)
	}
	fn, _, err := d.readFunction(bdf, class)
	if err != nil {
		return Function{}, gone(bdf, err)
	}
	return fn, nil
}

// readFunction reads the attributes of the function at bdf, whose class was read already, and returns
// them with the set of names in its directory (one listing serves both).
func (d *Driver) readFunction(bdf, class string) (Function, map[string]bool, error) {
	dir := path.Join(PCIDevices, bdf)
	ls, err := sysfs.List(d.fs, dir)
	if err != nil {
		return Function{}, nil, err
	}
	entries := make(map[string]bool, len(ls))
	for _, n := range ls {
		entries[n] = true
	}
	fn, err := d.readAttrs(bdf, class, entries)
	return fn, entries, err
}

func (d *Driver) readAttrs(bdf, class string, entries map[string]bool) (Function, error) {
	dir := path.Join(PCIDevices, bdf)
	fn := Function{Address: bdf, Class: class, NUMANode: -1}
	var err error
	if fn.Vendor, err = sysfs.ReadString(d.fs, path.Join(dir, "vendor")); err != nil {
		return fn, err
	}
	if fn.Device, err = sysfs.ReadString(d.fs, path.Join(dir, "device")); err != nil {
		return fn, err
	}
	if entries["numa_node"] {
		if fn.NUMANode, err = sysfs.ReadInt(d.fs, path.Join(dir, "numa_node")); err != nil {
			return fn, err
		}
	}
	if entries["driver"] {
		drv, _, err := sysfs.LinkBase(d.fs, path.Join(dir, "driver"))
		if err != nil {
			return fn, err
		}
		fn.Driver = drv
	}
	if entries["net"] {
		if fn.Netdevs, err = sysfs.List(d.fs, path.Join(dir, "net")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fn, err
		}
		for _, nd := range fn.Netdevs {
			t, err := sysfs.ReadInt(d.fs, path.Join(dir, "net", nd, "type"))
			if err != nil {
				continue // moved or renamed while we read
			}
			fn.LinkType = linkTypeOf(t)
			break
		}
	}
	if entries["infiniband"] {
		if fn.RDMADevices, err = sysfs.List(d.fs, path.Join(dir, "infiniband")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fn, err
		}
		if fn.LinkType == "" {
			fn.LinkType = d.rdmaLinkType(dir, fn.RDMADevices)
		}
	}
	if fn.LinkType == "" {
		fn.LinkType = linkTypeOfClass(class)
	}
	return fn, nil
}

// rdmaLinkType is the link type of the first of the function's RDMA devices (in its directory dir)
// whose port 1 reports a known link layer; "" when none does.
func (d *Driver) rdmaLinkType(dir string, devs []string) string {
	for _, dev := range devs {
		ll, err := sysfs.ReadString(d.fs, path.Join(dir, "infiniband", dev, "ports", "1", "link_layer"))
		if err != nil {
			continue
		}
		switch ll {
		case "InfiniBand":
			return LinkInfiniBand
		case "Ethernet":
			return LinkEther
		}
	}
	return ""
}

// linkTypeOfClass maps the PCI class to a link type where it says: 0x0200xx Ethernet, 0x0207xx
// InfiniBand (a VPI adapter's 0x0280xx says nothing).
func linkTypeOfClass(class string) string {
	switch c := strings.TrimPrefix(strings.ToLower(class), "0x"); {
	case strings.HasPrefix(c, "0200"):
		return LinkEther
	case strings.HasPrefix(c, "0207"):
		return LinkInfiniBand
	}
	return ""
}

// linkTypeOf maps an ARPHRD type (net/<if>/type) to a link type.
func linkTypeOf(arphrd int) string {
	switch arphrd {
	case 1:
		return LinkEther
	case 32:
		return LinkInfiniBand
	}
	return "arphrd" + strconv.Itoa(arphrd)
}

type pfRead struct {
	PF
	vfAddrs []string
}

func (d *Driver) readPF(fn Function, entries map[string]bool) (pfRead, error) {
	dir := path.Join(PCIDevices, fn.Address)
	pf := pfRead{PF: PF{Function: fn}}
	var err error
	if pf.TotalVFs, err = sysfs.ReadInt(d.fs, path.Join(dir, "sriov_totalvfs")); err != nil {
		return pf, err
	}
	if pf.NumVFs, err = sysfs.ReadInt(d.fs, path.Join(dir, "sriov_numvfs")); err != nil {
		return pf, err
	}
	if entries["sriov_drivers_autoprobe"] {
		ap, err := sysfs.ReadString(d.fs, path.Join(dir, "sriov_drivers_autoprobe"))
		if err != nil {
			return pf, err
		}
		pf.Autoprobe = ap == "1"
	}
	if entries["sriov_vf_device"] {
		if pf.VFDevice, err = sysfs.ReadString(d.fs, path.Join(dir, "sriov_vf_device")); err != nil {
			return pf, err
		}
	}
	var idx []int
	for name := range entries {
		if n, ok := virtfnIndex(name); ok {
			idx = append(idx, n)
		}
	}
	sort.Ints(idx)
	for i, n := range idx {
		if n != i {
			break // VFs still appearing (or going): report the contiguous ones
		}
		vf, ok, err := sysfs.LinkBase(d.fs, path.Join(dir, "virtfn"+strconv.Itoa(n)))
		if err != nil {
			return pf, err
		}
		if !ok {
			return pf, &os.PathError{Op: "readlink", Path: path.Join(dir, "virtfn"+strconv.Itoa(n)), Err: os.ErrNotExist}
		}
		pf.vfAddrs = append(pf.vfAddrs, vf)
	}
	return pf, nil
}

func virtfnIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "virtfn")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// gone wraps err with ErrDeviceGone when the device's files vanished.
func gone(bdf string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w: %w", bdf, ErrDeviceGone, err)
	}
	return fmt.Errorf("%s: %w", bdf, err)
}
