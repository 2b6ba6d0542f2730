package ib_test

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"path"
	"strings"
	"testing"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/internal/drivertest"
	"github.com/vflab/vflab/drivers/internal/faultfs"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/drivers/vftrace"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
	"github.com/vflab/vflab/sandbox"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func kernel(t *testing.T, preset string) *fakesysfs.Kernel {
	t.Helper()
	return fakesysfstest.Preset(t, preset)
}

// ibVF returns an InfiniBand VF of the kernel and its PF.
func ibVF(t *testing.T, d *sriov.Driver, index int) (sriov.PF, sriov.VF) {
	t.Helper()
	inv, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range inv.PFs {
		if pf.LinkType == sriov.LinkInfiniBand && len(pf.VFs) > index {
			return pf, pf.VFs[index]
		}
	}
	t.Fatal("no InfiniBand PF with enough VFs")
	return sriov.PF{}, sriov.VF{}
}

// TestDevicesOnPresets: every RDMA device of gpu-8rail (mlx5_0 .. mlx5_45, so mlx5_1 next to mlx5_10)
// gets exactly its own char devices, and ports report the link layer of their PF.
func TestDevicesOnPresets(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"laptop", "gpu-8rail", "dual-cx6"} {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			k := kernel(t, preset)
			pci := sriov.New(k, nil)
			d := ib.New(k, nil, pci)
			inv, err := pci.Discover()
			if err != nil {
				t.Fatal(err)
			}
			seenChars := map[string]string{}
			check := func(f sriov.Function, pfLink string) {
				devs, err := d.Devices(f.Address)
				if err != nil {
					t.Fatal(err)
				}
				if len(devs) != 1 {
					t.Fatalf("%s: %d RDMA devices", f.Address, len(devs))
				}
				dev := devs[0]
				wantLL := map[string]string{sriov.LinkInfiniBand: "InfiniBand", sriov.LinkEther: "Ethernet"}[pfLink]
				if len(dev.Ports) != 1 || dev.Ports[0].LinkLayer != wantLL || dev.NodeGUID == 0 && f.Address == inv.PFs[0].Address {
					t.Errorf("%s %s: %+v", f.Address, dev.Name, dev)
				}
				kinds := map[string]int{}
				for _, c := range dev.CharDevices {
					kinds[c.Kind]++
					if other, dup := seenChars[c.Name]; dup {
						t.Errorf("%s claimed by %s and %s", c.Name, other, dev.Name)
					}
					seenChars[c.Name] = dev.Name
					ibdev, _ := afero.ReadFile(k, path.Join("/sys/class", map[string]string{"uverbs": "infiniband_verbs", "umad": "infiniband_mad", "issm": "infiniband_mad"}[c.Kind], c.Name, "ibdev"))
					if strings.TrimSpace(string(ibdev)) != dev.Name {
						t.Errorf("%s listed under %s but its ibdev is %q", c.Name, dev.Name, ibdev)
					}
				}
				if kinds["uverbs"] != 1 {
					t.Errorf("%s: char devices %+v", dev.Name, dev.CharDevices)
				}
				byName, err := d.Device(dev.Name)
				if err != nil || byName.PCIAddress != f.Address {
					t.Errorf("Device(%s) = %s, %v", dev.Name, byName.PCIAddress, err)
				}
			}
			for _, pf := range inv.PFs {
				check(pf.Function, pf.LinkType)
				if pf.LinkType == sriov.LinkInfiniBand {
					p, _ := d.Devices(pf.Address)
					if !p[0].Ports[0].Active() || p[0].Ports[0].PortGUID == 0 {
						t.Errorf("IB PF port: %+v", p[0].Ports[0])
					}
				}
				for _, vf := range pf.VFs {
					check(vf.Function, pf.LinkType)
				}
			}
			if preset == "gpu-8rail" {
				if _, ok := seenChars["uverbs10"]; !ok {
					t.Errorf("expected at least 11 uverbs devices: %v", seenChars)
				}
			}
		})
	}
}

// TestSetVFGUIDs sets a VF's GUIDs through netlink (laptop) or the MLNX_OFED files (gpu-8rail), rebinds,
// reads them back from the VF's new RDMA device, then restores the original ones.
func TestSetVFGUIDs(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"laptop", "gpu-8rail", "dual-cx6"} {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			k := kernel(t, preset)
			var trace bytes.Buffer
			fs := faultfs.New(k)
			fs.Trace(&trace)
			vfc := vftrace.New(sandbox.NewVFConfig(k, nil), &trace, false)
			pci := sriov.New(fs, vfc)
			d := ib.New(fs, vfc, pci)
			pf, vf := ibVF(t, pci, 1)
			alloc := ib.GUIDAllocator{Node: ib.NodeIDFromName(preset)}
			node, port, err := alloc.VFGUIDs(0, vf.Index)
			if err != nil {
				t.Fatal(err)
			}
			before, err := d.SetVFGUIDs(vf.Address, ib.VFGUIDs{Node: node, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			if before.Node != 0 || before.Port != 0 {
				t.Errorf("a fresh VF had GUIDs %+v", before)
			}
			got, err := d.VFGUIDs(vf.Address)
			if err != nil || got.Node != node || got.Port != port {
				t.Errorf("after set: %+v, %v; want %s %s", got, err, node, port)
			}
			devs, err := d.Devices(vf.Address)
			if err != nil || len(devs) != 1 {
				t.Fatalf("VF RDMA devices after rebind: %+v, %v", devs, err)
			}
			if devs[0].NodeGUID != node || devs[0].Ports[0].PortGUID != port {
				t.Errorf("VF device after rebind: node %s port %s", devs[0].NodeGUID, devs[0].Ports[0].PortGUID)
			}
			fn, _ := pci.ReadFunction(vf.Address)
			if fn.Driver != sriov.DriverMLX5 || len(fn.Netdevs) != 1 {
				t.Errorf("VF after rebind: %+v", fn)
			}
			// The IPoIB address of the VF netdev ends in the port GUID.
			if len(fn.Netdevs) == 1 {
				addr, _ := afero.ReadFile(k, path.Join(sriov.PCIDevices, vf.Address, "net", fn.Netdevs[0], "address"))
				if !strings.HasSuffix(strings.TrimSpace(string(addr)), port.Colon()) {
					t.Errorf("IPoIB address %s does not end in port GUID %s", addr, port.Colon())
				}
			}
			trace.WriteString("-- set again (a no-op) on " + pf.Netdevs[0] + "\n")
			if again, err := d.SetVFGUIDs(vf.Address, ib.VFGUIDs{Node: node, Port: port}); err != nil || again.Node != node {
				t.Fatalf("set again: %+v, %v", again, err)
			}
			trace.WriteString("-- restore to zero is refused; set the all-ones reset GUIDs\n")
			if _, err := d.SetVFGUIDs(vf.Address, ib.VFGUIDs{Node: ^ib.GUID(0), Port: ^ib.GUID(0)}); err != nil {
				t.Fatal(err)
			}
			drivertest.Golden(t, "guid-"+preset, trace.Bytes(), *update)
		})
	}
}

func TestSetVFGUIDsErrors(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop")
	vfc := sandbox.NewVFConfig(k, nil)
	pci := sriov.New(k, vfc)
	d := ib.New(k, vfc, pci)
	_, vf := ibVF(t, pci, 2)

	// A zero GUID is refused and nothing changes.
	if _, err := d.SetVFGUIDs(vf.Address, ib.VFGUIDs{Node: 0x1, Port: 0}); !errors.Is(err, ib.ErrInvalidGUID) {
		t.Errorf("zero port GUID: %v; want ErrInvalidGUID", err)
	}
	if g, _ := d.VFGUIDs(vf.Address); g.Node != 0 || g.Port != 0 {
		t.Errorf("a refused set changed the GUIDs: %+v", g)
	}
	if _, err := ib.ParseGUID("0c42:a103:0016"); !errors.Is(err, ib.ErrInvalidGUID) {
		t.Errorf("short GUID: %v", err)
	}
	// A PF is not a VF.
	inv, _ := pci.Discover()
	if _, err := d.SetVFGUIDs(inv.PFs[0].Address, ib.VFGUIDs{Node: 1, Port: 2}); !errors.Is(err, sriov.ErrVFNotFound) {
		t.Errorf("PF as VF: %v; want ErrVFNotFound", err)
	}
	// On vfio-pci the GUID is set without a rebind.
	if err := pci.Bind(vf.Address, sriov.DriverVFIO); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetVFGUIDs(vf.Address, ib.VFGUIDs{Node: 0x10, Port: 0x11}); err != nil {
		t.Errorf("vfio VF: %v", err)
	}
	if drv, _ := pci.CurrentDriver(vf.Address); drv != sriov.DriverVFIO {
		t.Errorf("vfio VF rebound to %q", drv)
	}
	// The VF vanishes before the set.
	_, other := ibVF(t, pci, 3)
	if err := drivertest.RemoveDevice(k, other.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetVFGUIDs(other.Address, ib.VFGUIDs{Node: 1, Port: 2}); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("vanished VF: %v; want ErrDeviceGone", err)
	}
	if _, err := d.Devices(other.Address); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("Devices of a vanished VF: %v; want ErrDeviceGone", err)
	}
	// Read-only driver: no VF configuration boundary.
	ro := ib.New(k, nil, nil)
	_, third := ibVF(t, pci, 1)
	if _, err := ro.SetVFGUIDs(third.Address, ib.VFGUIDs{Node: 1, Port: 2}); err == nil {
		t.Error("read-only driver set GUIDs")
	}
}

// hookVFs runs after once the port GUID has been set: the test removes the VF there, between the GUID
// set and the rebind.
type hookVFs struct {
	*sandbox.VFConfig
	after func()
}

func (h hookVFs) LinkSetVfGUID(pf netlink.Link, vf int, guid net.HardwareAddr, guidType int) error {
	err := h.VFConfig.LinkSetVfGUID(pf, vf, guid, guidType)
	if guidType == nl.IFLA_VF_IB_PORT_GUID {
		h.after()
	}
	return err
}

// TestSetVFGUIDsVanishMidway: the VF disappears after its GUIDs were set and before the rebind.
func TestSetVFGUIDsVanishMidway(t *testing.T) {
	t.Parallel()
	k := kernel(t, "dual-cx6")
	var victim string
	vfc := hookVFs{VFConfig: sandbox.NewVFConfig(k, nil), after: func() {
		if err := drivertest.RemoveDevice(k, victim); err != nil {
			t.Error(err)
		}
	}}
	pci := sriov.New(k, vfc)
	d := ib.New(k, vfc, pci)
	_, vf := ibVF(t, pci, 0)
	victim = vf.Address
	_, err := d.SetVFGUIDs(vf.Address, ib.VFGUIDs{Node: 0x0242000000000001, Port: 0x0342000000000001})
	if !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("VF removed before the rebind: %v; want ErrDeviceGone", err)
	}
}
