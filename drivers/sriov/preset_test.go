package sriov_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/drivers/internal/drivertest"
	"github.com/vflab/vflab/drivers/internal/faultfs"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/drivers/vftrace"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
	"github.com/vflab/vflab/sandbox"
)

// kernel renders a preset into an in-memory fake kernel.
func kernel(t *testing.T, preset string, edit ...func(*topology.Node)) *fakesysfs.Kernel {
	t.Helper()
	node, err := topology.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(&node)
	}
	k, err := fakesysfs.New(node)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ethernetOnly is a node with one dual-port Ethernet ConnectX-6 Dx (RoCE).
func ethernetOnly(n *topology.Node) {
	n.Name = "eth"
	n.NICs = []topology.NIC{{Model: "ConnectX-6 Dx", PCIAddress: "0000:3b:00.0", NUMANode: 0, Ports: []topology.Port{
		{LinkLayer: topology.Ethernet, TotalVFs: 8, NumVFs: 2}, {LinkLayer: topology.Ethernet, TotalVFs: 8, NumVFs: 0},
	}}}
}

// removeDevice makes a PCI function vanish behind the drivers' back (drivertest.RemoveDevice).
func removeDevice(t *testing.T, k *fakesysfs.Kernel, bdf string) {
	t.Helper()
	if err := drivertest.RemoveDevice(k, bdf); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverPresets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		preset   string
		edit     []func(*topology.Node)
		pfs      int
		vfs      int // total VFs
		ib, eth  int // PFs per link type
		numa1PFs int
	}{
		{"laptop", "laptop", nil, 2, 8, 1, 1, 0},
		{"gpu-8rail", "gpu-8rail", nil, 10, 36, 8, 2, 6},
		{"dual-cx6", "dual-cx6", nil, 2, 4, 1, 1, 0},
		{"ethernet", "laptop", []func(*topology.Node){ethernetOnly}, 2, 2, 0, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := sriov.New(kernel(t, tc.preset, tc.edit...), nil)
			inv, err := d.Discover()
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.PFs) != tc.pfs {
				t.Fatalf("%d PFs, want %d", len(inv.PFs), tc.pfs)
			}
			vfs, ib, eth, numa1 := 0, 0, 0, 0
			for _, pf := range inv.PFs {
				if pf.Vendor != "0x15b3" || pf.Driver != "mlx5_core" || len(pf.Netdevs) != 1 || len(pf.RDMADevices) != 1 || pf.TotalVFs == 0 {
					t.Errorf("PF %+v", pf.Function)
				}
				switch pf.LinkType {
				case sriov.LinkInfiniBand:
					ib++
				case sriov.LinkEther:
					eth++
				}
				if pf.NUMANode == 1 {
					numa1++
				}
				if len(pf.VFs) != pf.NumVFs {
					t.Errorf("PF %s: %d VFs listed, numvfs %d", pf.Address, len(pf.VFs), pf.NumVFs)
				}
				for i, vf := range pf.VFs {
					vfs++
					if vf.Index != i || vf.PF != pf.Address || vf.LinkType != pf.LinkType || vf.Driver != "mlx5_core" ||
						len(vf.Netdevs) != 1 || len(vf.RDMADevices) != 1 || vf.NUMANode != pf.NUMANode {
						t.Errorf("VF %d of %s: %+v", i, pf.Address, vf)
					}
					if got, ok := inv.VF(vf.Address); !ok || got.Index != i {
						t.Errorf("inv.VF(%s) = %+v", vf.Address, got)
					}
					if loc, err := d.Locate(vf.Address); err != nil || loc.Index != i || loc.PF != pf.Address || loc.PFNetdev != pf.Netdevs[0] {
						t.Errorf("Locate(%s) = %+v, %v", vf.Address, loc, err)
					}
				}
			}
			if vfs != tc.vfs || ib != tc.ib || eth != tc.eth || numa1 != tc.numa1PFs {
				t.Errorf("vfs %d ib %d eth %d numa1 %d; want %d %d %d %d", vfs, ib, eth, numa1, tc.vfs, tc.ib, tc.eth, tc.numa1PFs)
			}
		})
	}
}

func TestSetNumVFs(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"laptop", "gpu-8rail", "dual-cx6"} {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			k := kernel(t, preset)
			d := sriov.New(k, nil, sriov.WithWait(5*time.Second, time.Millisecond))
			inv, err := d.Discover()
			if err != nil {
				t.Fatal(err)
			}
			pf := inv.PFs[0]
			ctx := context.Background()
			// Changing a non-zero count writes 0 first (the kernel refuses N -> M with EBUSY).
			if err := d.SetNumVFs(ctx, pf.Address, pf.NumVFs+2); err != nil {
				t.Fatal(err)
			}
			inv, _ = d.Discover()
			got, _ := inv.PF(pf.Address)
			if got.NumVFs != pf.NumVFs+2 || len(got.VFs) != pf.NumVFs+2 {
				t.Fatalf("after enable: numvfs %d, %d VFs", got.NumVFs, len(got.VFs))
			}
			for _, vf := range got.VFs {
				if vf.Driver != "mlx5_core" || len(vf.Netdevs) != 1 {
					t.Errorf("new VF not probed: %+v", vf)
				}
			}
			if err := d.SetNumVFs(ctx, pf.Address, pf.NumVFs+2); err != nil {
				t.Errorf("same count again: %v", err)
			}
			if err := d.SetNumVFs(ctx, pf.Address, pf.TotalVFs+1); err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("above totalvfs: %v", err)
			}
			if err := d.SetNumVFs(ctx, pf.Address, 0); err != nil {
				t.Fatal(err)
			}
			inv, _ = d.Discover()
			if got, _ := inv.PF(pf.Address); got.NumVFs != 0 || len(got.VFs) != 0 {
				t.Errorf("after disable: %+v", got)
			}
			if _, ok := inv.VF(pf.VFs[0].Address); ok {
				t.Error("a disabled VF is still listed")
			}

			// No PF driver: the kernel answers ENOENT.
			if err := d.Unbind(pf.Address); err != nil {
				t.Fatal(err)
			}
			if err := d.SetNumVFs(ctx, pf.Address, 1); !errors.Is(err, sriov.ErrNoDriver) {
				t.Errorf("unbound PF: %v; want ErrNoDriver", err)
			}
			if err := d.Bind(pf.Address, sriov.DriverMLX5); err != nil {
				t.Fatal(err)
			}
			if err := d.SetNumVFs(ctx, pf.Address, 1); err != nil {
				t.Errorf("after rebinding the PF: %v", err)
			}
			if err := d.SetNumVFs(ctx, "0000:ee:00.0", 1); !errors.Is(err, sriov.ErrDeviceGone) {
				t.Errorf("missing PF: %v; want ErrDeviceGone", err)
			}
			if err := d.SetNumVFs(ctx, pf.VFs[0].Address, 1); err == nil {
				t.Error("SetNumVFs on a VF succeeded")
			}
		})
	}
}

func TestSetNumVFsErrors(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop")
	fs := faultfs.New(k)
	d := sriov.New(fs, nil, sriov.WithWait(50*time.Millisecond, time.Millisecond))
	const pf = "0000:5e:00.0"
	ctx := context.Background()

	fs.FailWrites("sriov_numvfs", syscall.EBUSY)
	if err := d.SetNumVFs(ctx, pf, 2); !errors.Is(err, sriov.ErrVFCountBusy) {
		t.Errorf("EBUSY: %v; want ErrVFCountBusy", err)
	}
	fs.FailWrites("sriov_numvfs", nil)

	// The kernel is slow: VF links do not show up within the bound.
	fs.HideLinks(func(name string) bool { return strings.Contains(name, "/virtfn") })
	err := d.SetNumVFs(ctx, pf, 2)
	var te *sriov.TimeoutError
	if !errors.Is(err, sriov.ErrTimeout) || !errors.As(err, &te) || !strings.Contains(te.Pending, "virtfn0") {
		t.Errorf("slow kernel: %v; want a timeout naming virtfn0", err)
	}
	fs.HideLinks(nil)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	fs.HideLinks(func(name string) bool { return strings.Contains(name, "/virtfn") })
	if err := d.SetNumVFs(cctx, pf, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	fs.HideLinks(nil)
	if err := d.SetNumVFs(ctx, pf, 3); err != nil {
		t.Errorf("after the faults: %v", err)
	}

	// The PF is unplugged while SetNumVFs waits for its VFs.
	fs.HideLinks(func(name string) bool { return strings.Contains(name, "/virtfn") })
	long := sriov.New(fs, nil, sriov.WithWait(10*time.Second, time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- long.SetNumVFs(ctx, pf, 1) }()
	time.Sleep(30 * time.Millisecond)
	removeDevice(t, k, pf)
	select {
	case err := <-done:
		if !errors.Is(err, sriov.ErrDeviceGone) {
			t.Errorf("PF unplugged during the wait: %v; want ErrDeviceGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("SetNumVFs kept waiting for an unplugged PF")
	}
}

func TestBind(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop") // IOMMU on: vfio-pci can bind
	d := sriov.New(k, nil)
	inv, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	vf := inv.PFs[1].VFs[1]
	if err := d.Bind(vf.Address, sriov.DriverVFIO); err != nil {
		t.Fatal(err)
	}
	fn, err := d.ReadFunction(vf.Address)
	if err != nil || fn.Driver != sriov.DriverVFIO || len(fn.Netdevs) != 0 || len(fn.RDMADevices) != 0 {
		t.Fatalf("on vfio-pci: %+v, %v", fn, err)
	}
	if b, _ := afero.ReadFile(k, path.Join(sriov.PCIDevices, vf.Address, "driver_override")); strings.TrimSpace(string(b)) != "(null)" {
		t.Errorf("driver_override left as %q", b)
	}
	if err := d.Bind(vf.Address, sriov.DriverMLX5); err != nil {
		t.Fatal(err)
	}
	fn, _ = d.ReadFunction(vf.Address)
	if fn.Driver != sriov.DriverMLX5 || len(fn.Netdevs) != 1 || len(fn.RDMADevices) != 1 {
		t.Errorf("back on mlx5_core: %+v", fn)
	}
	if err := d.Bind(vf.Address, sriov.DriverMLX5); err != nil {
		t.Errorf("binding to the current driver: %v", err)
	}
	if err := d.Rebind(vf.Address); err != nil {
		t.Errorf("rebind: %v", err)
	}
	if err := d.Bind(vf.Address, "igbvf"); !errors.Is(err, sriov.ErrNoDriver) {
		t.Errorf("driver not loaded: %v; want ErrNoDriver", err)
	}
	if err := d.Unbind(vf.Address); err != nil {
		t.Fatal(err)
	}
	if err := d.Rebind(vf.Address); !errors.Is(err, sriov.ErrNoDriver) {
		t.Errorf("rebind of an unbound VF: %v; want ErrNoDriver", err)
	}
	if err := d.Bind(vf.Address, sriov.DriverMLX5); err != nil {
		t.Errorf("bind an unbound VF: %v", err)
	}

	// Without an IOMMU vfio-pci's probe fails (EINVAL); the VF goes back to mlx5_core, the override cleared.
	k8 := kernel(t, "gpu-8rail")
	d8 := sriov.New(k8, nil)
	inv8, _ := d8.Discover()
	v8 := inv8.PFs[0].VFs[0]
	if err := d8.Bind(v8.Address, sriov.DriverVFIO); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("vfio-pci without an IOMMU: %v; want the driver's refusal", err)
	}
	if drv, _ := d8.CurrentDriver(v8.Address); drv != sriov.DriverMLX5 {
		t.Errorf("after the failed bind the VF is on %q, want mlx5_core back", drv)
	}
	if b, _ := afero.ReadFile(k8, path.Join(sriov.PCIDevices, v8.Address, "driver_override")); strings.TrimSpace(string(b)) != "(null)" {
		t.Errorf("driver_override left as %q after a failed bind", b)
	}

	// The device vanishes between discovery and the bind.
	gone := inv.PFs[1].VFs[2].Address
	removeDevice(t, k, gone)
	if err := d.Bind(gone, sriov.DriverVFIO); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("vanished VF: %v; want ErrDeviceGone", err)
	}
	if _, err := d.ReadFunction(gone); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("ReadFunction of a vanished VF: %v", err)
	}
	if _, err := d.Locate(gone); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("Locate of a vanished VF: %v", err)
	}
}

// TestConfigureOnPresets configures VFs through the sandbox's PF-side VF state and restores them,
// recording the VF-configuration calls (golden traces).
func TestConfigureOnPresets(t *testing.T) {
	t.Parallel()
	on, off := true, false
	enable := netlink.VF_LINK_STATE_ENABLE
	for _, tc := range []struct {
		name, preset string
		edit         []func(*topology.Node)
		ib           bool
		s            sriov.VFSettings
	}{
		{"laptop-eth", "laptop", nil, false, sriov.VFSettings{
			MAC: net.HardwareAddr{0x02, 0x42, 0, 0, 0, 1}, VLAN: &sriov.VLAN{ID: 100, QoS: 3}, Spoofchk: &off, Trust: &on,
			LinkState: &enable, Rate: &sriov.Rate{Min: 100, Max: 1000},
		}},
		{"dual-cx6-eth-port", "dual-cx6", nil, false, sriov.VFSettings{MAC: net.HardwareAddr{0x02, 0x42, 0, 0, 0, 2}, VLAN: &sriov.VLAN{ID: 7}}},
		{"gpu-8rail-ib", "gpu-8rail", nil, true, sriov.VFSettings{LinkState: &enable}},
		{"ethernet-trust", "laptop", []func(*topology.Node){ethernetOnly}, false, sriov.VFSettings{Trust: &on, Spoofchk: &off}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := kernel(t, tc.preset, tc.edit...)
			var trace bytes.Buffer
			d := sriov.New(k, vftrace.New(sandbox.NewVFConfig(k, nil), &trace, false))
			inv, err := d.Discover()
			if err != nil {
				t.Fatal(err)
			}
			var vf *sriov.VF
			for i := range inv.PFs {
				if (inv.PFs[i].LinkType == sriov.LinkInfiniBand) == tc.ib && len(inv.PFs[i].VFs) > 1 {
					vf = &inv.PFs[i].VFs[1]
					break
				}
			}
			if vf == nil {
				t.Fatal("no PF of the wanted link type with 2 VFs")
			}
			pfName, idx, err := inv.VFTarget(vf.Address)
			if err != nil {
				t.Fatal(err)
			}
			before, err := d.VFState(pfName, idx)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := d.ConfigureVF(pfName, idx, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := d.VFState(pfName, idx)
			if tc.s.MAC != nil && after.MAC != tc.s.MAC.String() || tc.s.VLAN != nil && after.Vlan != tc.s.VLAN.ID ||
				tc.s.Trust != nil && after.Trust != *tc.s.Trust || tc.s.LinkState != nil && after.LinkState != *tc.s.LinkState {
				t.Errorf("not applied: %+v", after)
			}
			trace.WriteString("-- restore\n")
			if err := d.RestoreVF(snap); err != nil {
				t.Fatal(err)
			}
			if got, _ := d.VFState(pfName, idx); got != before {
				t.Errorf("restore: %+v, want %+v", got, before)
			}
			golden(t, "preset-"+tc.name, trace.Bytes())
		})
	}
}

// TestConfigureVanished: the VFs are disabled between two steps (ErrVFNotFound), the PF unplugged
// (ErrDeviceGone); an IPoIB PF refuses Ethernet-only settings and the error says which.
func TestConfigureVanished(t *testing.T) {
	t.Parallel()
	k := kernel(t, "dual-cx6")
	d := sriov.New(k, sandbox.NewVFConfig(k, nil), sriov.WithWait(5*time.Second, time.Millisecond))
	inv, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	var eth, ib sriov.PF
	for _, pf := range inv.PFs {
		if pf.LinkType == sriov.LinkEther {
			eth = pf
		} else {
			ib = pf
		}
	}
	on := true
	snap, err := d.ConfigureVF(eth.Netdevs[0], 1, sriov.VFSettings{Trust: &on})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetNumVFs(context.Background(), eth.Address, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.RestoreVF(snap); !errors.Is(err, sriov.ErrVFNotFound) {
		t.Errorf("restore after VFs disabled: %v; want ErrVFNotFound", err)
	}
	if _, err := d.ConfigureVF(eth.Netdevs[0], 0, sriov.VFSettings{Trust: &on}); !errors.Is(err, sriov.ErrVFNotFound) {
		t.Errorf("configure a disabled VF: %v; want ErrVFNotFound", err)
	}
	if _, err := d.ConfigureVF(ib.Netdevs[0], 0, sriov.VFSettings{Trust: &on}); !errors.Is(err, syscall.EOPNOTSUPP) || !strings.Contains(err.Error(), "trust") {
		t.Errorf("trust on an IPoIB PF: %v; want EOPNOTSUPP naming trust", err)
	}
	removeDevice(t, k, ib.Address)
	if _, err := d.ConfigureVF(ib.Netdevs[0], 0, sriov.VFSettings{Trust: &on}); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("configure through a vanished PF: %v; want ErrDeviceGone", err)
	}
}

// TestSysfsTraces records the kernel writes of the main flows: change the VF count (0 first), move a VF
// to vfio-pci and back.
func TestSysfsTraces(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop")
	fs := faultfs.New(k)
	var trace bytes.Buffer
	fs.Trace(&trace)
	d := sriov.New(fs, nil, sriov.WithWait(5*time.Second, time.Millisecond))
	const pf = "0000:5e:00.0"
	trace.WriteString("-- set 6 VFs (had 4)\n")
	if err := d.SetNumVFs(context.Background(), pf, 6); err != nil {
		t.Fatal(err)
	}
	loc, err := d.Locate("0000:5e:00.2")
	if err != nil || loc.Index != 1 {
		t.Fatalf("Locate = %+v, %v", loc, err)
	}
	trace.WriteString("-- VF 1 to vfio-pci and back\n")
	if err := d.Bind(loc.VF, sriov.DriverVFIO); err != nil {
		t.Fatal(err)
	}
	if err := d.Bind(loc.VF, sriov.DriverMLX5); err != nil {
		t.Fatal(err)
	}
	trace.WriteString("-- disable\n")
	if err := d.SetNumVFs(context.Background(), pf, 0); err != nil {
		t.Fatal(err)
	}
	golden(t, "sysfs-flows", trace.Bytes())
}

// TestDiscoverLinear: discovery reads each link once and a bounded number of files per device, so its
// cost grows linearly with the number of functions (upstream scans every virtfn link per VF: O(n²)).
func TestDiscoverLinear(t *testing.T) {
	t.Parallel()
	perDevice := func(numVFs int) (float64, int) {
		k := kernel(t, "gpu-8rail", func(n *topology.Node) {
			for i := range n.NICs {
				for p := range n.NICs[i].Ports {
					n.NICs[i].Ports[p].NumVFs = numVFs
				}
			}
		})
		fs := faultfs.New(k)
		inv, err := sriov.New(fs, nil).Discover()
		if err != nil {
			t.Fatal(err)
		}
		funcs, vfs := 0, 0
		for _, pf := range inv.PFs {
			funcs += 1 + len(pf.VFs)
			vfs += len(pf.VFs)
		}
		c := fs.Counts()
		// One readlink per virtfn link and one per driver link, nothing more.
		if c.Readlinks != vfs+funcs {
			t.Errorf("%d VFs per PF: %d readlinks for %d VFs and %d functions; want exactly %d", numVFs, c.Readlinks, vfs, funcs, vfs+funcs)
		}
		return float64(c.Opens+c.Readlinks+c.Stats) / float64(funcs), funcs
	}
	small, n1 := perDevice(1)
	large, n2 := perDevice(8)
	if n2 < 4*n1/2 {
		t.Fatalf("scaling too small: %d vs %d functions", n1, n2)
	}
	if large > small*1.25 {
		t.Errorf("operations per function grew from %.1f (%d functions) to %.1f (%d functions): not linear", small, n1, large, n2)
	}
	t.Logf("operations per function: %.1f at %d functions, %.1f at %d", small, n1, large, n2)
}
