package topology

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	topo "github.com/vflab/vflab/fakesysfs/topology"
)

// run executes `topology args...` in-process and returns its output.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand(nil)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestPresets(t *testing.T) {
	t.Parallel()
	out, err := run(t, "", "presets")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+len(topo.Presets()) {
		t.Fatalf("presets printed %d lines:\n%s", len(lines), out)
	}
	for _, want := range []string{"NAME", "gpu-8rail      9   8 IB + 2 Eth   36/144", "laptop         2   1 IB + 1 Eth   8/16", "dual-cx6       1   1 IB + 1 Eth   4/16"} {
		if !strings.Contains(out, want) {
			t.Errorf("presets output lacks %q:\n%s", want, out)
		}
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %q ends with spaces", l)
		}
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	out, err := run(t, "", "show", "--preset", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	// What show prints loads back as the same node.
	n, err := topo.Load(strings.NewReader(out))
	if err != nil {
		t.Fatalf("show output does not load: %v\n%s", err, out)
	}
	if want, _ := topo.Preset("laptop"); n.Name != want.Name || len(n.NICs) != len(want.NICs) {
		t.Errorf("show --preset laptop = %+v", n)
	}
	out, err = run(t, "", "show", "--preset", "laptop", "--defaults")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"netdev: ibp59s0", "netdev: enp94s0np0", "rate: 200 Gb/sec (4X HDR)", "fabric: ib0", "mtu: 4092"} {
		if !strings.Contains(out, want) {
			t.Errorf("show --defaults lacks %q:\n%s", want, out)
		}
	}
	// A file, and stdin.
	path := filepath.Join(t.TempDir(), "n.yaml")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "", "show", "--file", path); err != nil {
		t.Errorf("show --file: %v", err)
	}
	if got, err := run(t, out, "show", "--file", "-"); err != nil || got != out {
		t.Errorf("show --file - = %v\n%s", err, got)
	}
}

func TestShowRejects(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nnics:\n- {model: ConnectX-6 Dx, pciAddress: '0000:3b:00.0', numaNode: 0, ports: [{linkLayer: InfiniBand, totalVFs: 8, numVFs: 9}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"show"}, "at least one of the flags in the group [preset file] is required"},
		{[]string{"show", "--preset", "laptop", "--file", bad}, "none of the others can be"},
		{[]string{"show", "--preset", "dgx"}, `unknown preset "dgx"`},
		{[]string{"show", "--file", bad}, "nics[0].ports[0].linkLayer: InfiniBand: a ConnectX-6 Dx supports only Ethernet"},
		{[]string{"show", "--file", bad}, "nics[0].ports[0].numVFs: 9 exceeds totalVFs 8"},
		{[]string{"render", "--preset", "laptop"}, `required flag(s) "out" not set`},
	} {
		_, err := run(t, "", tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "laptop")
	out, err := run(t, "", "render", "--preset", "laptop", "--out", dir)
	if err != nil {
		t.Fatalf("render: %v\n%s", err, out)
	}
	for _, want := range []string{
		"rendered node laptop into " + dir,
		"0000:3b:00.0   ConnectX-6      InfiniBand      0   ibp59s0      mlx5_0   4/8   ibp59s0v0 .. ibp59s0v3 (4)",
		"0000:5e:00.0   ConnectX-6 Dx   Ethernet        0   enp94s0np0   mlx5_1   4/8   enp94s0v0 .. enp94s0v3 (4)",
		"2 PFs, 8 VFs, 10 netdevs, 10 RDMA devices",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render output lacks %q:\n%s", want, out)
		}
	}
	// The tree is on disk with the kernel's relative links.
	target, err := os.Readlink(filepath.Join(dir, "sys/bus/pci/devices/0000:3b:00.0"))
	if err != nil || target != "../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0" {
		t.Errorf("bus link = %q, %v", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sys/class/net/ibp59s0/device/sriov_numvfs")); err != nil || string(b) != "4\n" {
		t.Errorf("sriov_numvfs = %q, %v", b, err)
	}
	// A second render into the same directory is refused and changes nothing.
	if _, err := run(t, "", "render", "--preset", "dual-cx6", "--out", dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("render into a used directory = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sys/bus/pci/devices/0000:4b:00.0")); err == nil {
		t.Error("the refused render wrote into the directory")
	}
}
