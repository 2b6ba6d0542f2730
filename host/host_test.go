//go:build !hardware

package host_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
	"github.com/vflab/vflab/host"
	"github.com/vflab/vflab/host/rootfs"
	"github.com/vflab/vflab/host/rootfs/capturetest"
)

// TestDefaultSimulation: a simulation build finds its node's fake kernel through VFLAB_ROOT, and the
// drivers run on it unchanged, VF configuration included.
func TestDefaultSimulation(t *testing.T) {
	dir, _ := fakesysfstest.PresetDir(t, "laptop")
	t.Setenv("VFLAB_ROOT", dir)
	m, err := host.Default()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	if !m.Simulated || m.Root != dir || m.VFs == nil {
		t.Errorf("machine = %+v", m)
	}
	d := m.SRIOV(nil)
	inv, err := d.Discover()
	if err != nil || len(inv.PFs) != 2 {
		t.Fatalf("discover: %+v, %v", inv, err)
	}
	on := true
	pf := inv.PFs[1]
	if _, err := d.ConfigureVF(pf.Netdevs[0], 0, sriov.VFSettings{Trust: &on}); err != nil {
		t.Errorf("configure through the sandbox VF state: %v", err)
	}
	if st, _ := d.VFState(pf.Netdevs[0], 0); !st.Trust {
		t.Errorf("trust not recorded: %+v", st)
	}

	// OpenRoot on the same root: read-only, no VF configuration.
	ro, err := host.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	if ro.VFs != nil {
		t.Error("OpenRoot returned a VF configuration")
	}
	if err := m.SRIOV(nil).SetNumVFs(t.Context(), pf.Address, 4); err != nil {
		t.Errorf("writable machine: %v", err)
	}
	if err := ro.SRIOV(nil).SetNumVFs(t.Context(), pf.Address, 2); err == nil {
		t.Error("OpenRoot machine accepted a write")
	}
}

func TestDefaultWithoutKernel(t *testing.T) {
	t.Setenv("VFLAB_ROOT", "")
	m, err := host.Default()
	if err == nil {
		// Only where a node agent left /run/vflab/root (a simulated node): then it must be usable.
		defer func() { _ = m.Close() }()
		if !m.Simulated {
			t.Errorf("machine = %+v", m)
		}
		return
	}
	if !errors.Is(err, host.ErrNoFakeKernel) || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "-tags hardware") {
		t.Errorf("error = %q; want one line naming -tags hardware", err)
	}
	t.Setenv("VFLAB_ROOT", t.TempDir())
	if _, err := host.Default(); err == nil {
		t.Error("an empty directory opened as a fake kernel")
	}
}

func TestOpenRootCapture(t *testing.T) {
	t.Parallel()
	dir := capturetest.Unpack(t, rootfs.CaptureI350SRIOV)
	m, err := host.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Simulated || m.VFs != nil {
		t.Errorf("machine = %+v", m)
	}
	inv, err := m.SRIOV(nil).Discover()
	if err != nil || len(inv.PFs) != 2 {
		t.Errorf("discover: %v, %v", inv, err)
	}
}
