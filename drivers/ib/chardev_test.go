package ib_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/host/rootfs"
)

// disk builds a tree on disk: files (path -> content) and symlinks (path -> target).
func disk(t *testing.T, files, links map[string]string) *rootfs.Fs {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := rootfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestCharDevicesExactMatch: mlx5_1 and mlx5_10 on one function (through the class dirs, the path
// rdmamap matches by substring) each get only their own uverbs/umad/issm.
func TestCharDevicesExactMatch(t *testing.T) {
	t.Parallel()
	const pci = "sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.0"
	files := map[string]string{}
	links := map[string]string{"sys/bus/pci/devices/0000:3b:00.0": "../../../devices/pci0000:00/0000:00:02.0/0000:3b:00.0"}
	for _, dev := range []string{"mlx5_1", "mlx5_10"} {
		files[pci+"/infiniband/"+dev+"/node_guid"] = "0c42:a103:0016:054c\n"
		files[pci+"/infiniband/"+dev+"/ports/1/state"] = "1: DOWN\n"
		files[pci+"/infiniband/"+dev+"/ports/1/link_layer"] = "InfiniBand\n"
		files[pci+"/infiniband/"+dev+"/ports/1/lid"] = "0xffff\n"
	}
	// Class dirs only (no <bdf>/infiniband_verbs): uverbs1 belongs to mlx5_10, uverbs10 to mlx5_1.
	for name, ibdev := range map[string]string{"uverbs1": "mlx5_10", "uverbs10": "mlx5_1", "umad1": "mlx5_10", "umad10": "mlx5_1", "issm1": "mlx5_10", "issm10": "mlx5_1"} {
		class := "infiniband_verbs"
		if name[0] != 'u' || name[1] == 'm' {
			class = "infiniband_mad"
		}
		dir := "sys/class/" + class + "/" + name
		files[dir+"/ibdev"] = ibdev + "\n"
		files[dir+"/port"] = "1\n"
		links[dir+"/device"] = "../../../devices/pci0000:00/0000:00:02.0/0000:3b:00.0"
	}
	files["sys/class/infiniband_verbs/abi_version"] = "6\n"
	d := ib.New(disk(t, files, links), nil, nil)
	devs, err := d.Devices("0000:3b:00.0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"mlx5_1": {"uverbs10", "issm10", "umad10"}, "mlx5_10": {"uverbs1", "issm1", "umad1"}}
	if len(devs) != 2 {
		t.Fatalf("devices %+v", devs)
	}
	for _, dev := range devs {
		var got []string
		for _, c := range dev.CharDevices {
			got = append(got, c.Name)
		}
		if len(got) != 3 || got[0] != want[dev.Name][0] || got[1] != want[dev.Name][1] || got[2] != want[dev.Name][2] {
			t.Errorf("%s: char devices %v, want %v", dev.Name, got, want[dev.Name])
		}
		if dev.Ports[0].Active() || dev.Ports[0].LID != 0xffff || dev.Ports[0].PortGUID != 0 {
			t.Errorf("%s: port %+v", dev.Name, dev.Ports[0])
		}
	}
	if d.RDMACM() != "" {
		t.Error("rdma_cm reported on a machine without it")
	}
}
