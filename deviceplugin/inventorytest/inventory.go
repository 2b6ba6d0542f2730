package inventorytest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/vflab/vflab/deviceplugin"
)

// Inventory is the fake. The zero value is an empty machine.
type Inventory struct {
	mu    sync.Mutex
	snap  deviceplugin.Snapshot
	err   error
	scans int
}

var _ deviceplugin.Inventory = (*Inventory)(nil)

// New returns an inventory holding snap.
func New(snap deviceplugin.Snapshot) *Inventory {
	return &Inventory{snap: clone(snap)}
}

// Scan returns a copy of the current machine, or the injected error.
func (f *Inventory) Scan() (deviceplugin.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans++
	if f.err != nil {
		return deviceplugin.Snapshot{}, f.err
	}
	return clone(f.snap), nil
}

// Scans counts Scan calls.
func (f *Inventory) Scans() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans
}

// Fail makes the next scans fail with err (nil: succeed again).
func (f *Inventory) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Update changes the machine.
func (f *Inventory) Update(fn func(*deviceplugin.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.snap)
}

// Device changes one device; it panics when the device does not exist (a test bug).
func (f *Inventory) Device(id string, fn func(*deviceplugin.Device)) {
	f.Update(func(s *deviceplugin.Snapshot) {
		for i := range s.Devices {
			if s.Devices[i].PCIAddress == id {
				fn(&s.Devices[i])
				return
			}
		}
		panic("inventorytest: no device " + id)
	})
}

// SetNumVFs shrinks or grows a PF's VFs (numbering as Rail does), like writing sriov_numvfs.
func (f *Inventory) SetNumVFs(r RailSpec, n int) {
	f.Update(func(s *deviceplugin.Snapshot) {
		s.Devices = slices.DeleteFunc(s.Devices, func(d deviceplugin.Device) bool { return d.PFAddress == r.PFAddress })
		r.VFs = n
		s.Devices = append(s.Devices, Rail(r)...)
		pf := s.PFs[r.PFAddress]
		pf.NumVFs = n
		s.PFs[r.PFAddress] = pf
	})
}

// RemovePF removes a PF and its VFs (PF driver unbound, device gone).
func (f *Inventory) RemovePF(addr string) {
	f.Update(func(s *deviceplugin.Snapshot) {
		s.Devices = slices.DeleteFunc(s.Devices, func(d deviceplugin.Device) bool { return d.PFAddress == addr })
		delete(s.PFs, addr)
	})
}

// RailSpec describes one PF and its VFs.
type RailSpec struct {
	PFName    string // e.g. "ibp59s0f0"
	PFAddress string // e.g. "0000:3b:00.0"; VFs get 0000:3b:00.2 onwards (function-space arithmetic)
	VFs       int
	NUMANode  int
	IB        bool   // InfiniBand (class 0x020700, link type infiniband) else Ethernet
	DeviceID  string // VF device ID, default "101e"
	Driver    string // default "mlx5_core"
	// FirstRDMA numbers the VFs' RDMA devices mlx5_<FirstRDMA+i> and their char devices; -1: no RDMA.
	FirstRDMA int
}

// Rail returns the VFs of one PF, healthy, with RDMA devices and char devices when FirstRDMA >= 0.
func Rail(r RailSpec) []deviceplugin.Device {
	if r.DeviceID == "" {
		r.DeviceID = "101e"
	}
	if r.Driver == "" {
		r.Driver = "mlx5_core"
	}
	var domain, bus, dev, fn int
	if _, err := fmt.Sscanf(r.PFAddress, "%04x:%02x:%02x.%1x", &domain, &bus, &dev, &fn); err != nil {
		panic("inventorytest: bad PF address " + r.PFAddress)
	}
	rid := bus<<8 | dev<<3 | fn
	class, link, port := uint32(0x020000), "ether", ""
	if r.IB {
		class, link, port = 0x020700, "infiniband", "4: ACTIVE"
	}
	out := make([]deviceplugin.Device, 0, r.VFs)
	for i := range r.VFs {
		v := rid + 2 + i
		d := deviceplugin.Device{
			PCIAddress: fmt.Sprintf("%04x:%02x:%02x.%x", domain, v>>8, (v&0xff)>>3, v&7),
			Vendor:     "15b3", DeviceID: r.DeviceID, Class: class, Driver: r.Driver, NUMANode: r.NUMANode,
			PFName: r.PFName, PFAddress: r.PFAddress, VFIndex: i, LinkType: link,
			Netdev: fmt.Sprintf("%sv%d", r.PFName, i), OperState: "up", PFOperState: "up",
			PortState: port, PFPortState: port, PortGUIDSet: r.IB,
		}
		if r.IB {
			d.PKey = "0xffff"
		}
		if r.FirstRDMA >= 0 {
			n := r.FirstRDMA + i
			d.RDMADevices = []string{fmt.Sprintf("mlx5_%d", n)}
			d.Uverbs = []string{fmt.Sprintf("uverbs%d", n)}
			if r.IB {
				d.Umad = []string{fmt.Sprintf("umad%d", n)}
				d.Issm = []string{fmt.Sprintf("issm%d", n)}
			}
		}
		out = append(out, d)
	}
	return out
}

// Machine builds a snapshot of several rails, with rdma_cm, vhost-net and tun present.
func Machine(rails ...RailSpec) deviceplugin.Snapshot {
	s := deviceplugin.Snapshot{PFs: map[string]deviceplugin.PF{}, RDMACM: true, VhostNet: true, Tun: true}
	for _, r := range rails {
		s.Devices = append(s.Devices, Rail(r)...)
		s.PFs[r.PFAddress] = deviceplugin.PF{Address: r.PFAddress, Name: r.PFName, Driver: "mlx5_core", NumVFs: r.VFs}
	}
	return s
}

func clone(s deviceplugin.Snapshot) deviceplugin.Snapshot {
	out := s
	out.Devices = make([]deviceplugin.Device, len(s.Devices))
	for i, d := range s.Devices {
		d.RDMADevices = slices.Clone(d.RDMADevices)
		d.Uverbs, d.Umad, d.Issm, d.UCM = slices.Clone(d.Uverbs), slices.Clone(d.Umad), slices.Clone(d.Issm), slices.Clone(d.UCM)
		out.Devices[i] = d
	}
	out.PFs = make(map[string]deviceplugin.PF, len(s.PFs))
	for k, v := range s.PFs {
		out.PFs[k] = v
	}
	return out
}
