package inventory_test

import (
	"encoding/json"
	"testing"

	"github.com/vflab/vflab/drivers/inventory"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

func TestTakeGPU8Rail(t *testing.T) {
	t.Parallel()
	node, err := topology.Preset("gpu-8rail")
	if err != nil {
		t.Fatal(err)
	}
	k, err := fakesysfs.New(node)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inventory.Take(k)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.PFs) != 10 || rep.RDMACM == "" {
		t.Fatalf("%d PFs, rdma_cm %q", len(rep.PFs), rep.RDMACM)
	}
	rdma := map[string]bool{}
	for _, pf := range rep.PFs {
		if len(pf.RDMA) != 1 || len(pf.RDMA[0].Ports) != 1 {
			t.Errorf("PF %s: RDMA %+v", pf.Address, pf.RDMA)
		}
		for _, d := range pf.RDMA {
			rdma[d.Name] = true
		}
		for _, vf := range pf.VFs {
			if vf.PF != pf.Address || len(vf.RDMA) != 1 {
				t.Errorf("VF %s: %+v", vf.Address, vf)
			}
			for _, d := range vf.RDMA {
				if rdma[d.Name] {
					t.Errorf("RDMA device %s reported twice", d.Name)
				}
				rdma[d.Name] = true
			}
		}
	}
	if len(rdma) != 46 {
		t.Errorf("%d RDMA devices, want 46 (10 PFs + 36 VFs)", len(rdma))
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back inventory.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.PFs) != 10 || back.PFs[0].RDMA[0].NodeGUID != rep.PFs[0].RDMA[0].NodeGUID {
		t.Errorf("JSON round trip: %v", err)
	}
}
