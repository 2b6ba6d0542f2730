package topology

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const laptopYAML = `
name: laptop
numaNodes: 1
nics:
- model: ConnectX-6
  pciAddress: "0000:3b:00.0"
  numaNode: 0
  ports:
  - linkLayer: InfiniBand
    totalVFs: 8
    numVFs: 4
- model: ConnectX-6 Dx
  pciAddress: "0000:5e:00.0"
  numaNode: 0
  ports:
  - {linkLayer: Ethernet, totalVFs: 8, numVFs: 4, netdev: enp94s0f0np0, mac: "0c:42:a1:16:05:4c"}
`

func TestLoad(t *testing.T) {
	t.Parallel()
	n, err := Load(strings.NewReader(laptopYAML))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	want := Node{Name: "laptop", NUMANodes: 1, NICs: []NIC{
		{Model: "ConnectX-6", PCIAddress: "0000:3b:00.0", Ports: []Port{{LinkLayer: InfiniBand, TotalVFs: 8, NumVFs: 4}}},
		{Model: "ConnectX-6 Dx", PCIAddress: "0000:5e:00.0", Ports: []Port{
			{LinkLayer: Ethernet, TotalVFs: 8, NumVFs: 4, Netdev: "enp94s0f0np0", MAC: "0c:42:a1:16:05:4c"}}},
	}}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("Load() = %+v\nwant %+v", n, want)
	}
	// JSON is YAML too.
	if _, err := Load(strings.NewReader(`{"name":"j","nics":[{"model":"ConnectX-7","pciAddress":"0000:18:00.0","numaNode":0,"ports":[{"linkLayer":"InfiniBand","totalVFs":2}]}]}`)); err != nil {
		t.Errorf("Load(json) = %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"unknown field", strings.Replace(laptopYAML, "numaNodes: 1", "numaNodes: 1\nnumaNode: 1", 1), `unknown field "numaNode"`},
		{"field in other case", strings.Replace(laptopYAML, "numaNodes: 1", "NUMANodes: 1", 1), `unknown field "NUMANodes"`},
		{"unknown nested field", strings.Replace(laptopYAML, "totalVFs: 8\n", "totalVFs: 8\n    numVfs: 4\n", 1), `unknown field "nics[0].ports[0].numVfs"`},
		{"duplicate field", strings.Replace(laptopYAML, "numaNodes: 1", "numaNodes: 1\nnumaNodes: 2", 1), `key "numaNodes" already set`},
		{"bad yaml", "name: [laptop\n", "parse description"},
		{"wrong type", "name: laptop\nnumaNodes: two\n", "parse description"},
		{"empty", "", "name: required"},
		{"invalid", strings.Replace(laptopYAML, "numVFs: 4\n- model", "numVFs: 9\n- model", 1), `invalid node "laptop": nics[0].ports[0].numVFs: 9 exceeds totalVFs 8`},
		{"too big", "name: x\n" + strings.Repeat("#", MaxDescriptionSize), "description exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(path, []byte(laptopYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Errorf("LoadFile() = %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadFile(missing) = %v, want an error naming the file", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nnics: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": invalid node") {
		t.Errorf("LoadFile(bad) = %v, want an error starting with the path", err)
	}
}

func TestLoadClusterFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("laptop.yaml", laptopYAML)
	path := write("cluster.yaml", `
name: lab
nodes:
- {name: gpu, preset: gpu-8rail, count: 2}
- {name: dev, file: laptop.yaml}
- name: small
  node:
    nics:
    - model: ConnectX-5
      pciAddress: "0000:01:00.0"
      numaNode: 0
      ports: [{linkLayer: InfiniBand, totalVFs: 4, fabric: ib0}]
`)
	c, nodes, err := LoadClusterFile(path)
	if err != nil {
		t.Fatalf("LoadClusterFile() = %v", err)
	}
	if c.Name != "lab" {
		t.Errorf("cluster name = %q", c.Name)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if want := []string{"gpu-0", "gpu-1", "dev", "small"}; !reflect.DeepEqual(names, want) {
		t.Errorf("node names = %v, want %v", names, want)
	}
	// The explicit MAC of the laptop file used twice collides; so does a fabric with two link layers.
	path = write("bad.yaml", `
name: lab
nodes:
- {name: dev, file: laptop.yaml, count: 2}
- name: small
  node:
    nics:
    - model: ConnectX-5
      pciAddress: "0000:01:00.0"
      numaNode: 0
      ports: [{linkLayer: Ethernet, totalVFs: 4, fabric: ib0}]
`)
	_, _, err = LoadClusterFile(path)
	for _, want := range []string{
		"nodes[0] (node dev-1).nics[1].ports[0].mac: MAC 0c:42:a1:16:05:4c is also used by nodes[0] (node dev-0).nics[1].ports[0].mac",
		`nodes[1] (node small).nics[0].ports[0].fabric: "ib0" is InfiniBand (nodes[0] (node dev-0).nics[0].ports[0]) but this port is Ethernet`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadClusterFile(bad) = %v\nwant an error containing %q", err, want)
		}
	}
	path = write("missing.yaml", "name: lab\nnodes:\n- {name: dev, file: nope.yaml}\n")
	if _, _, err := LoadClusterFile(path); err == nil || !strings.Contains(err.Error(), "nodes[0].file:") {
		t.Errorf("LoadClusterFile(missing node file) = %v", err)
	}
	if _, err := LoadCluster(strings.NewReader("name: lab\nnodes: [{name: a, preset: laptop, extra: 1}]\n")); err == nil || !strings.Contains(err.Error(), `unknown field "nodes[0].extra"`) {
		t.Errorf("LoadCluster(unknown field) = %v", err)
	}
}

// TestPresetsRoundTrip checks that every preset survives YAML: what `vflab topology show` prints loads back.
func TestPresetsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range Presets() {
		n, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := yaml.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Load(strings.NewReader(string(out)))
		if err != nil {
			t.Fatalf("%s: Load(Marshal(preset)) = %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(back, n) {
			t.Errorf("%s: round trip changed the node:\n%+v\n%+v", name, back, n)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(laptopYAML)
	f.Add("name: x\nnics: [{model: ConnectX-7, pciAddress: '0000:18:00.0', ports: [{linkLayer: InfiniBand, totalVFs: 255, numVFs: 3}]}]\n")
	f.Add(`{"name":"j","numaNodes":-1}`)
	f.Add("name: [")
	f.Add("nics:\n- ports:\n  - rate: 2.5 Gb/sec (1X SDR)\n    nodeGUID: 0x0\n")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Load(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever loads is valid, and stays so through a YAML round trip.
		if err := n.Validate(); err != nil {
			t.Fatalf("Load accepted an invalid node: %v", err)
		}
		out, err := yaml.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Load(strings.NewReader(string(out)))
		if err != nil {
			t.Fatalf("reload: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, n) {
			t.Fatalf("round trip changed the node")
		}
	})
}

func FuzzLoadCluster(f *testing.F) {
	f.Add("name: lab\nnodes:\n- {name: gpu, preset: gpu-8rail, count: 2}\n")
	f.Add("name: lab\nnodes:\n- name: n\n  node: {nics: [{model: ConnectX-5, pciAddress: '0000:01:00.0', ports: [{linkLayer: Ethernet, totalVFs: 1, fabric: ib0}]}]}\n")
	f.Add(`{"name":"x","nodes":[{"name":"a","file":"n.yaml","count":-3}]}`)
	f.Add("nodes: [")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := LoadCluster(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("LoadCluster accepted an invalid cluster: %v", err)
		}
		// Resolve never reads files outside an empty base directory's view when the cluster names
		// none, and whatever it resolves is a list of valid, distinctly named nodes.
		for _, cn := range c.Nodes {
			if cn.File != "" {
				return
			}
		}
		nodes, err := c.Resolve("")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range nodes {
			if err := n.Validate(); err != nil {
				t.Fatalf("resolved node %s is invalid: %v", n.Name, err)
			}
			if seen[n.Name] {
				t.Fatalf("node %s resolved twice", n.Name)
			}
			seen[n.Name] = true
		}
	})
}

// TestExamples loads the documented examples in testdata: every field, and a cluster of all sources.
func TestExamples(t *testing.T) {
	t.Parallel()
	n, err := LoadFile(filepath.Join("testdata", "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "worker-1" || len(n.NICs) != 2 || n.NICs[0].Ports[0].Fabric != "hdr-a" || !n.OFED || !n.IOMMU {
		t.Errorf("node.yaml = %+v", n)
	}
	_, nodes, err := LoadClusterFile(filepath.Join("testdata", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if want := []string{"gpu-0", "gpu-1", "gpu-2", "gpu-3", "worker-1", "edge"}; !reflect.DeepEqual(names, want) {
		t.Errorf("cluster.yaml nodes = %v, want %v", names, want)
	}
}
