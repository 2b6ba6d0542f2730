package inspect_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vflab/vflab/cli/inspect"
	"github.com/vflab/vflab/drivers/inventory"
	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
	"github.com/vflab/vflab/host/rootfs"
	"github.com/vflab/vflab/host/rootfs/capturetest"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := inspect.NewCommand(slog.New(slog.DiscardHandler))
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("inspect %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func report(t *testing.T, root string) *inventory.Report {
	t.Helper()
	var rep inventory.Report
	if err := json.Unmarshal([]byte(run(t, "--root", root, "--output", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// TestInspectConnectX3 reads the captured ConnectX-3 InfiniBand host: mlx4_0 with port 1 ACTIVE, its
// GUIDs and link layer, IPoIB netdev ib0.
func TestInspectConnectX3(t *testing.T) {
	t.Parallel()
	dir := capturetest.Unpack(t, rootfs.CaptureConnectX3IB)
	rep := report(t, dir)
	var found bool
	for _, f := range rep.Others {
		if f.Address != "0000:82:00.0" {
			continue
		}
		found = true
		if f.Vendor != "0x15b3" || f.Device != "0x1003" || f.Driver != "mlx4_core" || f.LinkType != "infiniband" ||
			len(f.Netdevs) != 1 || f.Netdevs[0] != "ib0" || len(f.RDMA) != 1 {
			t.Fatalf("ConnectX-3 = %+v", f)
		}
		d := f.RDMA[0]
		if d.Name != "mlx4_0" || d.NodeGUID.String() != "0002:c903:00f9:bfa0" || len(d.Ports) != 1 ||
			d.Ports[0].State != "4: ACTIVE" || d.Ports[0].LinkLayer != "InfiniBand" || d.Ports[0].PortGUID.String() != "0002:c903:00f9:bfa1" {
			t.Errorf("mlx4_0 = %+v", d)
		}
	}
	if !found {
		t.Fatalf("0000:82:00.0 not reported: %+v", rep.Others)
	}
	table := run(t, "--root", dir)
	for _, want := range []string{"mlx4_0", "4: ACTIVE", "5: LinkUp", "56 Gb/sec (4X FDR)", "0002:c903:00f9:bfa0", "0002:c903:00f9:bfa1", "InfiniBand", "ib0", "uverbs0,issm0,umad0", "0x3a4"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestInspectI350 reads the captured Intel I350 SR-IOV host straight from its archive: PFs enp5s0f0 and
// enp5s0f1 with 4 VFs each.
func TestInspectI350(t *testing.T) {
	t.Parallel()
	fixtures, ok := capturetest.FixturesDir()
	if !ok {
		t.Skip("real sysfs captures not found (../shared/fixtures/real-sysfs); skipping")
	}
	rep := report(t, filepath.Join(fixtures, rootfs.CaptureI350SRIOV))
	if len(rep.PFs) != 2 {
		t.Fatalf("PFs = %+v", rep.PFs)
	}
	wantVFs := [][]string{
		{"0000:05:10.0", "0000:05:10.4", "0000:05:11.0", "0000:05:11.4"},
		{"0000:05:10.1", "0000:05:10.5", "0000:05:11.1", "0000:05:11.5"},
	}
	for i, pf := range rep.PFs {
		if pf.Netdevs[0] != []string{"enp5s0f0", "enp5s0f1"}[i] || pf.NumVFs != 4 || pf.TotalVFs != 7 || len(pf.VFs) != 4 {
			t.Fatalf("PF %d = %+v", i, pf)
		}
		for j, vf := range pf.VFs {
			if vf.Address != wantVFs[i][j] || vf.Index != j || vf.Driver != "igbvf" || vf.LinkType != "ether" {
				t.Errorf("PF %d VF %d = %+v", i, j, vf)
			}
		}
	}
	table := run(t, "--root", filepath.Join(fixtures, rootfs.CaptureI350SRIOV))
	for _, want := range []string{"enp5s0f0", "enp5s0f1v3", "0000:05:11.5", "VF 3", "4/7", "igbvf", "No RDMA devices."} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestInspectConnectX4 reads the captured host with two ConnectX-4 InfiniBand PFs (PCI attributes only).
func TestInspectConnectX4(t *testing.T) {
	t.Parallel()
	rep := report(t, capturetest.Unpack(t, rootfs.CaptureConnectX4PFs))
	got := map[string]string{}
	for _, f := range rep.Others {
		got[f.Address] = f.Vendor + ":" + f.Device + " " + f.Class + " " + f.Driver
	}
	for _, a := range []string{"0000:1a:00.0", "0000:3e:00.0"} {
		if got[a] != "0x15b3:0x1013 0x020700 mlx5_core" {
			t.Errorf("%s = %q (all: %v)", a, got[a], got)
		}
	}
}

func TestInspectBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--output", "yaml", "--root", t.TempDir()}, {"--root", "/nonexistent/tree"}, {"--root", t.TempDir()}} {
		cmd := inspect.NewCommand(slog.New(slog.DiscardHandler))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetArgs(args)
		if err := cmd.Execute(); err == nil {
			t.Errorf("inspect %v succeeded", args)
		}
	}
}

// TestInspectFakeKernel reads a fake kernel's root (the dual-port VPI preset): both PFs, their VFs, the
// IB and RoCE RDMA devices.
func TestInspectFakeKernel(t *testing.T) {
	t.Parallel()
	dir, _ := fakesysfstest.PresetDir(t, "dual-cx6")
	rep := report(t, dir)
	if len(rep.PFs) != 2 {
		t.Fatalf("PFs = %+v", rep.PFs)
	}
	layers := map[string]bool{}
	for _, pf := range rep.PFs {
		if len(pf.VFs) != 2 || len(pf.RDMA) != 1 || len(pf.VFs[0].RDMA) != 1 {
			t.Errorf("PF %s: %+v", pf.Address, pf)
			continue
		}
		layers[pf.RDMA[0].Ports[0].LinkLayer] = true
	}
	if !layers["InfiniBand"] || !layers["Ethernet"] {
		t.Errorf("link layers %v; want both", layers)
	}
	table := run(t, "--root", dir)
	for _, want := range []string{"ibp75s0f0", "enp75s0f1np1", "VF 1", "2/8", "InfiniBand", "Ethernet", "4: ACTIVE"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
