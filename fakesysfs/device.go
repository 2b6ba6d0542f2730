package fakesysfs

import (
	"fmt"
	"strings"

	"github.com/vflab/vflab/fakesysfs/topology"
)

// Drivers the fake kernel knows.
const (
	driverMLX5 = "mlx5_core"
	driverVFIO = "vfio-pci"
)

// moduleOf is the module directory name of a driver.
var moduleOf = map[string]string{driverMLX5: "mlx5_core", driverVFIO: "vfio_pci"}

// device is one PCI function the node can have: a PF, or a VF a PF may enable.
type device struct {
	bdf      string
	dir      string // /sys/devices/.../<bdf>
	nic      topology.NIC
	nicIndex int
	port     int
	vf       int // -1 for a PF
	pfBDF    string
}

func (d device) isVF() bool { return d.vf >= 0 }

func (d device) spec() topology.Port { return d.nic.Ports[d.port] }

func (d device) model() topology.Model { return topology.Models[d.nic.Model] }

func (d device) deviceID() uint16 {
	if d.isVF() {
		return d.model().VFDevice
	}
	return d.model().PFDevice
}

func (d device) class() uint32 {
	if d.spec().LinkLayer == topology.InfiniBand {
		return 0x020700
	}
	return 0x020000
}

func parseBDF(s string) (domain, bus, dev, fn int, err error) {
	var rest string
	n, _ := fmt.Sscanf(s, "%04x:%02x:%02x.%1x%s", &domain, &bus, &dev, &fn, &rest)
	if n != 4 || len(s) != 12 {
		return 0, 0, 0, 0, fmt.Errorf("%q is not a PCI address", s)
	}
	return domain, bus, dev, fn, nil
}

func formatRID(domain, rid int) string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", domain, rid>>8, (rid&0xff)>>3, rid&7)
}

// parentDir is the directory PFs and VFs of a NIC sit in: the root port bridge above their bus.
func parentDir(nic topology.NIC) string {
	domain, bus, _, _, _ := parseBDF(nic.PCIAddress)
	if bus == 0 {
		return fmt.Sprintf("/sys/devices/pci%04x:00", domain)
	}
	return fmt.Sprintf("/sys/devices/pci%04x:%02x/%04x:%02x:00.0", domain, bus-1, domain, bus-1)
}

// vfBDF is the address of VF i of port p (sysfs.md §4.1).
func vfBDF(nic topology.NIC, p, i int) string {
	domain, bus, dev, _, _ := parseBDF(nic.PCIAddress)
	offset, stride := topology.VFOffsetStride(nic, p)
	rid := bus<<8 | dev<<3 | p
	return formatRID(domain, rid+offset+stride*i)
}

// index computes the functions the node can have; the node never changes, so neither does the index.
func (k *Kernel) index() {
	k.devs = k.listDevices()
	k.byBDF = make(map[string]int, len(k.devs))
	for i, d := range k.devs {
		k.byBDF[d.bdf] = i
	}
}

// listDevices lists every function the node can have, PFs first (in NIC and port order), then each
// port's possible VFs.
func (k *Kernel) listDevices() []device {
	var pfs, vfs []device
	for i, nic := range k.node.NICs {
		parent := parentDir(nic)
		for p, port := range nic.Ports {
			pf := topology.PFAddress(nic, p)
			pfs = append(pfs, device{bdf: pf, dir: parent + "/" + pf, nic: nic, nicIndex: i, port: p, vf: -1, pfBDF: pf})
			for v := range port.TotalVFs {
				b := vfBDF(nic, p, v)
				vfs = append(vfs, device{bdf: b, dir: parent + "/" + b, nic: nic, nicIndex: i, port: p, vf: v, pfBDF: pf})
			}
		}
	}
	return append(pfs, vfs...)
}

// device finds the function at bdf among those the node can have (whether present or not).
func (k *Kernel) device(bdf string) (device, bool) {
	i, ok := k.byBDF[bdf]
	if !ok {
		return device{}, false
	}
	return k.devs[i], true
}

// pfPort finds the PF at bdf.
func (k *Kernel) pfPort(bdf string) (device, bool) {
	d, ok := k.device(bdf)
	if !ok || d.isVF() {
		return device{}, false
	}
	return d, true
}

// deviceByDir finds the function whose directory is dir.
func (k *Kernel) deviceByDir(dir string) (device, bool) {
	i := strings.LastIndexByte(dir, '/')
	if i < 0 {
		return device{}, false
	}
	d, ok := k.device(dir[i+1:])
	if !ok || d.dir != dir {
		return device{}, false
	}
	return d, true
}

// portIndex is the position of a port among all the node's ports (used for LIDs).
func (k *Kernel) portIndex(d device) int {
	n := 0
	for i, nic := range k.node.NICs {
		for p := range nic.Ports {
			if i == d.nicIndex && p == d.port {
				return n
			}
			n++
		}
	}
	return n
}
