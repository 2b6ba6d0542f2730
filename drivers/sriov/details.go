package sriov

import (
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/vflab/vflab/drivers/internal/sysfs"
)

// IOMMUGroups is where the kernel lists IOMMU groups (<group>/name is "vfio-noiommu" for the groups
// vfio makes in no-IOMMU mode).
const IOMMUGroups = "/sys/kernel/iommu_groups"

// Details are the attributes of a function that Discover leaves out, because only some consumers need
// them (the device plugin, for userspace drivers and health): each costs a read or two per function.
type Details struct {
	// IOMMUGroup is the number of the function's IOMMU group (<bdf>/iommu_group), "" without IOMMU.
	IOMMUGroup string `json:"iommuGroup,omitempty"`
	// NoIOMMU tells that the group is a vfio no-IOMMU group (its name is vfio-noiommu): the function
	// is then reached through /dev/vfio/noiommu-<group>.
	NoIOMMU bool `json:"noIOMMU,omitempty"`
	// UIO is the first uio device of a function bound to a uio driver (uio0), "" otherwise.
	UIO string `json:"uio,omitempty"`
	// ACPIIndex is the firmware's index of the function (<bdf>/acpi_index), "" when it has none.
	ACPIIndex string `json:"acpiIndex,omitempty"`
	// OperState is the operstate of the function's first netdev (up, down, ...), "" without netdev.
	OperState string `json:"operState,omitempty"`
}

// Details reads the details of the function fn (as Discover or ReadFunction returned it). It is best
// effort, as a device that vanishes while being read must not fail a scan: a file that is missing (no
// IOMMU, no uio driver, the netdev moved into a pod, the VF disabled meanwhile) leaves its field empty.
// Other read errors are returned, joined, with the fields that could be read.
func (d *Driver) Details(fn *Function) (Details, error) {
	// Each path is joined once, whole: the device plugin reads every function several times a second.
	var det Details
	var errs []error
	var err error
	if len(fn.Netdevs) > 0 {
		det.OperState, err = sysfs.ReadString(d.fs, path.Join(PCIDevices, fn.Address, "net", fn.Netdevs[0], "operstate"))
		errs = keep(errs, "operstate", fn.Address, err)
	}
	det.ACPIIndex, err = sysfs.ReadString(d.fs, path.Join(PCIDevices, fn.Address, "acpi_index"))
	errs = keep(errs, "acpi_index", fn.Address, err)
	group, ok, err := sysfs.LinkBase(d.fs, path.Join(PCIDevices, fn.Address, "iommu_group"))
	errs = keep(errs, "iommu_group", fn.Address, err)
	if ok {
		det.IOMMUGroup = group
		name, err := sysfs.ReadString(d.fs, path.Join(IOMMUGroups, group, "name"))
		errs = keep(errs, "iommu group name", fn.Address, err)
		det.NoIOMMU = name == "vfio-noiommu"
	}
	uios, err := sysfs.List(d.fs, path.Join(PCIDevices, fn.Address, "uio"))
	errs = keep(errs, "uio", fn.Address, err)
	if len(uios) > 0 {
		det.UIO = uios[0]
	}
	return det, errors.Join(errs...)
}

// Host character devices that userspace-driver and tap-based pods are given.
const (
	DevVhostNet = "/dev/vhost-net"
	DevTun      = "/dev/net/tun"
	// DevVFIO is the VFIO container device every vfio-pci user opens.
	DevVFIO = "/dev/vfio/vfio"
)

// VFIOGroupDevice returns the character device of IOMMU group group: /dev/vfio/<group>, or
// /dev/vfio/noiommu-<group> when the kernel runs VFIO without an IOMMU (the group's name is vfio-noiommu).
func VFIOGroupDevice(group string, noIOMMU bool) string {
	if noIOMMU {
		return "/dev/vfio/noiommu-" + group
	}
	return "/dev/vfio/" + group
}

// HostDevices tells which of the host-wide character devices that come with VFs used from userspace
// exist on the machine.
type HostDevices struct {
	VhostNet bool `json:"vhostNet"` // /dev/vhost-net (virtio/vDPA datapaths, DPDK's vhost)
	Tun      bool `json:"tun"`      // /dev/net/tun (tap interfaces, DPDK's exception path)
}

// HostDevices reports which host character devices exist.
func (d *Driver) HostDevices() HostDevices {
	return HostDevices{VhostNet: sysfs.Exists(d.fs, DevVhostNet), Tun: sysfs.Exists(d.fs, DevTun)}
}

// keep adds err, about what of the function at bdf, to errs unless it says the file is missing.
func keep(errs []error, what, bdf string, err error) []error {
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return errs
	}
	return append(errs, fmt.Errorf("%s of %s: %w", what, bdf, err))
}
