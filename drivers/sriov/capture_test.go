package sriov_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/host/rootfs"
	"github.com/vflab/vflab/host/rootfs/capturetest"
)

// TestDiscoverI350Capture reads a real Intel I350 host (ghw PR #230 capture): 2 PFs with 4 VFs each, VF
// addresses from offset 128 / stride 4, igbvf VFs with netdevs. No Mellanox device is needed to enumerate.
func TestDiscoverI350Capture(t *testing.T) {
	t.Parallel()
	d := sriov.New(capturetest.Open(t, rootfs.CaptureI350SRIOV), nil)
	inv, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"0000:05:00.0": {"0000:05:10.0", "0000:05:10.4", "0000:05:11.0", "0000:05:11.4"},
		"0000:05:00.1": {"0000:05:10.1", "0000:05:10.5", "0000:05:11.1", "0000:05:11.5"},
	}
	if len(inv.PFs) != 2 {
		t.Fatalf("found %d PFs, want 2: %+v", len(inv.PFs), inv.PFs)
	}
	for pi, pf := range inv.PFs {
		wantVFs := want[pf.Address]
		if wantVFs == nil {
			t.Fatalf("unexpected PF %s", pf.Address)
		}
		netdev := fmt.Sprintf("enp5s0f%d", pi)
		if pf.Vendor != "0x8086" || pf.Device != "0x1521" || pf.Driver != "igb" || pf.TotalVFs != 7 || pf.NumVFs != 4 ||
			!pf.Autoprobe || pf.VFDevice != "1520" || len(pf.Netdevs) != 1 || pf.Netdevs[0] != netdev {
			t.Errorf("PF %s = %+v", pf.Address, pf)
		}
		if len(pf.VFs) != 4 {
			t.Fatalf("PF %s has %d VFs, want 4", pf.Address, len(pf.VFs))
		}
		for i, vf := range pf.VFs {
			if vf.Address != wantVFs[i] || vf.Index != i || vf.PF != pf.Address || vf.Driver != "igbvf" ||
				len(vf.Netdevs) != 1 || vf.Netdevs[0] != fmt.Sprintf("%sv%d", netdev, i) {
				t.Errorf("VF %d of %s = %+v", i, pf.Address, vf)
			}
			got, ok := inv.VF(vf.Address)
			if !ok || got.PF != pf.Address || got.Index != i {
				t.Errorf("inv.VF(%s) = %+v, %v", vf.Address, got, ok)
			}
			at, err := inv.VFAt(pf.Address, i)
			if err != nil || at.Address != wantVFs[i] {
				t.Errorf("VFAt(%s, %d) = %v, %v", pf.Address, i, at, err)
			}
			dev, idx, err := inv.VFTarget(vf.Address)
			if err != nil || dev != netdev || idx != i {
				t.Errorf("VFTarget(%s) = %s %d %v", vf.Address, dev, idx, err)
			}
		}
	}
	if _, err := inv.VFAt("0000:05:00.0", 4); !errors.Is(err, sriov.ErrVFNotFound) {
		t.Errorf("VFAt index 4: %v; want ErrVFNotFound", err)
	}
	if _, ok := inv.VF("0000:05:00.0"); ok {
		t.Error("a PF is reported as a VF")
	}
}

// TestDiscoverConnectX4Capture: two ConnectX-4 InfiniBand PFs without SR-IOV (SR-IOV off in firmware) and
// an i40e PF with sriov_totalvfs 64.
func TestDiscoverConnectX4Capture(t *testing.T) {
	t.Parallel()
	inv, err := sriov.New(capturetest.Open(t, rootfs.CaptureConnectX4PFs), nil).Discover()
	if err != nil {
		t.Fatal(err)
	}
	mlx := 0
	for _, fn := range inv.Others {
		if fn.Vendor == "0x15b3" {
			mlx++
			if fn.Device != "0x1013" || fn.Class != "0x020700" || fn.Driver != "mlx5_core" {
				t.Errorf("ConnectX-4 %+v", fn)
			}
		}
	}
	if mlx != 2 {
		t.Errorf("found %d ConnectX-4 functions, want 2 (others: %+v)", mlx, inv.Others)
	}
	pf, ok := inv.PF("0000:60:00.0")
	if !ok || pf.TotalVFs != 64 || pf.NumVFs != 0 || pf.Driver != "i40e" || len(pf.VFs) != 0 {
		t.Errorf("X722 PF = %+v, %v", pf, ok)
	}
}
