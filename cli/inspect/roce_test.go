package inspect_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
)

// TestInspectRoCEPortGUID: on the laptop preset, every RDMA port — the Ethernet (RoCE) PF and VFs too —
// shows the port GUID ibstat shows: the interface ID of gids/0 (bytes 8..15), here read straight from the
// rendered files as libibumad reads them.
func TestInspectRoCEPortGUID(t *testing.T) {
	t.Parallel()
	dir, _ := fakesysfstest.PresetDir(t, "laptop")
	ibstatGUID := func(dev string) ib.GUID {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "sys/class/infiniband", dev, "ports/1/gids/0"))
		if err != nil {
			t.Fatal(err)
		}
		groups := strings.Split(strings.TrimSpace(string(b)), ":")
		g, err := ib.ParseGUID(strings.Join(groups[4:], ":"))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	rep := report(t, dir)
	ethernet := 0
	for _, pf := range rep.PFs {
		devs := pf.RDMA
		for _, vf := range pf.VFs {
			devs = append(devs, vf.RDMA...)
		}
		for _, d := range devs {
			p := d.Ports[0]
			if p.LinkLayer == "Ethernet" {
				ethernet++
				if p.PortGUID == 0 {
					t.Errorf("%s (RoCE): port GUID 0", d.Name)
				}
			}
			if want := ibstatGUID(d.Name); p.PortGUID != want {
				t.Errorf("%s (%s): port GUID %s, ibstat reads %s", d.Name, p.LinkLayer, p.PortGUID, want)
			}
		}
	}
	if ethernet != 5 {
		t.Errorf("%d RoCE devices, want 5", ethernet)
	}
	if table := run(t, "--root", dir); !strings.Contains(table, ibstatGUID("mlx5_1").String()) {
		t.Errorf("table lacks mlx5_1's port GUID %s:\n%s", ibstatGUID("mlx5_1"), table)
	}
}
