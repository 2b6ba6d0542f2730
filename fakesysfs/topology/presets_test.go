package topology

import (
	"reflect"
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	t.Parallel()
	if got, want := Presets(), []string{"dual-cx6", "gpu-8rail", "laptop"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Presets() = %v, want %v", got, want)
	}
	for _, name := range Presets() {
		n, err := Preset(name)
		if err != nil {
			t.Fatalf("Preset(%q) = %v", name, err)
		}
		if err := n.Validate(); err != nil {
			t.Errorf("preset %s is invalid: %v", name, err)
		}
		if n.Name != name {
			t.Errorf("preset %s is named %q", name, n.Name)
		}
		if PresetDescription(name) == "" {
			t.Errorf("preset %s has no description", name)
		}
		vfs := 0
		for _, nic := range n.NICs {
			for _, p := range nic.Ports {
				vfs += p.NumVFs
			}
		}
		if vfs == 0 {
			t.Errorf("preset %s enables no VFs", name)
		}
		// A caller changing its copy does not change the preset.
		n.NICs[0].Ports[0].NumVFs = 0
		again, _ := Preset(name)
		if again.NICs[0].Ports[0].NumVFs == 0 {
			t.Errorf("Preset(%q) shares its slices between calls", name)
		}
	}
	if _, err := Preset("dgx"); err == nil || !strings.Contains(err.Error(), `unknown preset "dgx" (valid: "dual-cx6", "gpu-8rail", "laptop")`) {
		t.Errorf("Preset(dgx) = %v", err)
	}
}

// TestPresetShapes pins what issue 2 asks of each preset.
func TestPresetShapes(t *testing.T) {
	t.Parallel()
	type shape struct{ ib, eth, numa int }
	count := func(n Node) (s shape, perNUMA map[int]int) {
		perNUMA = map[int]int{}
		for _, nic := range n.NICs {
			for _, p := range nic.Ports {
				if p.LinkLayer == InfiniBand {
					s.ib++
					perNUMA[nic.NUMANode]++
				} else {
					s.eth++
				}
			}
		}
		s.numa = n.NUMANodes
		return s, perNUMA
	}
	laptop, _ := Preset("laptop")
	if s, _ := count(laptop); s != (shape{ib: 1, eth: 1, numa: 1}) || laptop.NICs[0].Model != "ConnectX-6" || laptop.NICs[1].Model != "ConnectX-6 Dx" {
		t.Errorf("laptop: %+v %v", s, laptop.NICs)
	}
	gpu, _ := Preset("gpu-8rail")
	s, perNUMA := count(gpu)
	if s != (shape{ib: 8, eth: 2, numa: 2}) || perNUMA[0] != 4 || perNUMA[1] != 4 {
		t.Errorf("gpu-8rail: %+v, IB per NUMA node %v", s, perNUMA)
	}
	for _, nic := range gpu.NICs {
		if nic.Model != "ConnectX-7" {
			t.Errorf("gpu-8rail: NIC %s is a %s", nic.PCIAddress, nic.Model)
		}
	}
	dual, _ := Preset("dual-cx6")
	if s, _ := count(dual); len(dual.NICs) != 1 || len(dual.NICs[0].Ports) != 2 || s != (shape{ib: 1, eth: 1, numa: 1}) {
		t.Errorf("dual-cx6: %+v", dual.NICs)
	}
}

func TestClusterOf(t *testing.T) {
	t.Parallel()
	c, err := ClusterOf("laptop", 3)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
		if len(n.NICs) != 2 {
			t.Errorf("node %s has %d NICs", n.Name, len(n.NICs))
		}
	}
	if want := []string{"laptop-0", "laptop-1", "laptop-2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	nodes[0].NICs[0].Ports[0].NumVFs = 0
	if nodes[1].NICs[0].Ports[0].NumVFs == 0 {
		t.Error("resolved nodes share their slices")
	}
	one, err := ClusterOf("dual-cx6", 1)
	if err != nil {
		t.Fatal(err)
	}
	if nodes, _ := one.Resolve(""); len(nodes) != 1 || nodes[0].Name != "dual-cx6" {
		t.Errorf("ClusterOf(dual-cx6, 1) resolves to %v", nodes)
	}
	if _, err := ClusterOf("laptop", 0); err == nil {
		t.Error("ClusterOf(laptop, 0) = nil error")
	}
	if _, err := ClusterOf("nope", 2); err == nil || !strings.Contains(err.Error(), `unknown preset "nope"`) {
		t.Errorf("ClusterOf(nope) = %v", err)
	}
}
