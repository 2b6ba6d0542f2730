package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`{"resourceList":[
	  {"resourceName":"mlnx_ib","resourcePrefix":"nvidia.com","selectors":[
	     {"vendors":["15B3"],"devices":["101c"],"pfNames":["ibp59s0f0#0-3,5"],"isRdma":true,"linkTypes":["infiniband"]},
	     {"rootDevices":["0000:3B:00.1#2"]}],"allocationPolicy":"spread"},
	  {"resourceName":"sriov_eth","selectors":{"drivers":["mlx5_core"],"pKeys":["0x7FFF"],"needVhostNet":true},
	   "excludeTopology":true,"additionalInfo":{"*":{"k":"v"}}},
	  {"resourceName":"accel","deviceType":"accelerator"}]}`), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Resources: []Resource{
		{Name: "mlnx_ib", Prefix: "nvidia.com", DeviceType: NetDevice, AllocationPolicy: Spread, Selectors: []Selector{
			{Vendors: []string{"15b3"}, Devices: []string{"101c"}, IsRdma: true, LinkTypes: []string{"infiniband"},
				PFNames: []PFRange{{PF: "ibp59s0f0", Spans: []Span{{0, 3}, {5, 5}}}}},
			{RootDevices: []PFRange{{PF: "0000:3b:00.1", Spans: []Span{{2, 2}}}}},
		}},
		{Name: "sriov_eth", Prefix: "example.com", DeviceType: NetDevice, AllocationPolicy: Pack, ExcludeTopology: true,
			AdditionalInfo: map[string]map[string]string{"*": {"k": "v"}},
			Selectors:      []Selector{{Drivers: []string{"mlx5_core"}, PKeys: []string{"0x7fff"}, NeedVhostNet: true}}},
		{Name: "accel", Prefix: "example.com", DeviceType: Accelerator, AllocationPolicy: Pack, Selectors: []Selector{{}}},
	}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
	if got := cfg.Resources[0].FullName(); got != "nvidia.com/mlnx_ib" {
		t.Errorf("FullName = %q", got)
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"malformed JSON", "{\"resourceList\": [\n {\"resourceName\": \"a\",}]}", "malformed JSON: line 2 column"},
		{"not an object", `[]`, "malformed JSON"},
		{"unknown top field", `{"resourceList":[{"resourceName":"a"}],"foo":1}`, "foo: unknown field"},
		{"missing list", `{}`, "resourceList: missing"},
		{"empty list", `{"resourceList":[]}`, "resourceList: empty"},
		{"missing name", `{"resourceList":[{"selectors":{}}]}`, "resourceList[0].resourceName: missing"},
		{"bad name", `{"resourceList":[{"resourceName":"a.b"}]}`, `resourceList[0].resourceName: "a.b" must match`},
		{"bad prefix", `{"resourceList":[{"resourceName":"a","resourcePrefix":"Bad_Prefix!"}]}`, "resourceList[0].resourcePrefix"},
		{"unknown resource field", `{"resourceList":[{"resourceName":"a","selector":{}}]}`, "resourceList[0].selector: unknown field"},
		{"unknown selector", `{"resourceList":[{"resourceName":"a","selectors":[{},{"vendor":["15b3"]}]}]}`, "resourceList[0].selectors[1].vendor: unknown selector"},
		{"selector for wrong type", `{"resourceList":[{"resourceName":"a","deviceType":"accelerator","selectors":{"pfNames":["x"]}}]}`, "resourceList[0].selectors.pfNames: selector does not apply to deviceType accelerator"},
		{"unknown device type", `{"resourceList":[{"resourceName":"a","deviceType":"gpu"}]}`, `resourceList[0].deviceType: unknown "gpu"`},
		{"aux device type", `{"resourceList":[{"resourceName":"a","deviceType":"auxNetDevice"}]}`, `resourceList[0].deviceType: "auxNetDevice" is not supported`},
		{"bad vendor", `{"resourceList":[{"resourceName":"a","selectors":{"vendors":["0x15b3"]}}]}`, `resourceList[0].selectors.vendors[0]: "0x15b3"`},
		{"bad pci address", `{"resourceList":[{"resourceName":"a","selectors":{"pciAddresses":["3b:00.2"]}}]}`, `selectors.pciAddresses[0]: "3b:00.2"`},
		{"bad range", `{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["ens1f0#3-1"]}}]}`, `selectors.pfNames[0]: "ens1f0#3-1": range "3-1": start after end`},
		{"bad index", `{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["ens1f0#x"]}}]}`, `selectors.pfNames[0]: "ens1f0#x": VF index "x"`},
		{"empty range", `{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["ens1f0#"]}}]}`, `empty VF range`},
		{"duplicate pf entry", `{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["ens1f0#0","ens1f0#1"]}}]}`, `selectors.pfNames[1]: "ens1f0#1" names PF ens1f0 again`},
		{"bad root device", `{"resourceList":[{"resourceName":"a","selectors":{"rootDevices":["ens1f0"]}}]}`, `selectors.rootDevices[0]: "ens1f0"`},
		{"bad link type", `{"resourceList":[{"resourceName":"a","selectors":{"linkTypes":["eth"]}}]}`, `selectors.linkTypes[0]: "eth"`},
		{"bad pkey", `{"resourceList":[{"resourceName":"a","selectors":{"pKeys":["7fff"]}}]}`, `selectors.pKeys[0]`},
		{"bad isRdma", `{"resourceList":[{"resourceName":"a","selectors":{"isRdma":"yes"}}]}`, `selectors.isRdma: must be a boolean`},
		{"vdpa with rdma", `{"resourceList":[{"resourceName":"a","selectors":{"isRdma":true,"vdpaType":"vhost"}}]}`, `selectors.vdpaType: cannot be combined`},
		{"bad policy", `{"resourceList":[{"resourceName":"a","allocationPolicy":"random"}]}`, `resourceList[0].allocationPolicy: unknown "random"`},
		{"selectors scalar", `{"resourceList":[{"resourceName":"a","selectors":"x"}]}`, `resourceList[0].selectors: must be an object or a list`},
		{"duplicate pool", `{"resourceList":[{"resourceName":"a"},{"resourceName":"b"},{"resourceName":"a"}]}`, `resourceList[2].resourceName: "intel.com/a" duplicates resourceList[0]`},
		{"overlapping pf ranges", `{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["ens1f0#0-3"]}},{"resourceName":"b","selectors":[{"pfNames":["ens1f0#3-7"]}]}]}`,
			`resourceList[1].selectors[0].pfNames[0]: VFs of ens1f0 are already in pool intel.com/a (resourceList[0].selectors[0].pfNames[0]): pools overlap`},
		{"overlapping whole pf", `{"resourceList":[{"resourceName":"a","selectors":{"rootDevices":["0000:3b:00.0"]}},{"resourceName":"b","selectors":{"rootDevices":["0000:3b:00.0#4"]}}]}`, `pools overlap`},
		{"overlapping addresses", `{"resourceList":[{"resourceName":"a","selectors":{"pciAddresses":["0000:3b:00.2"]}},{"resourceName":"b","selectors":{"pciAddresses":["0000:3b:00.2"]}}]}`, `resourceList[1].selectors[0].pciAddresses[0]: 0000:3b:00.2 is already in pool intel.com/a`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(tc.in), "")
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("returned a partial config with the error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestDisjointRangesAccepted(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["ens1f0#0-3"]}},
		{"resourceName":"b","selectors":{"pfNames":["ens1f0#4-7"]}}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
}

func TestPFRangeContains(t *testing.T) {
	t.Parallel()
	r, err := ParsePFRange("ens1f0#0-1,4-5,7")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for i := range 10 {
		if r.Contains(i) {
			got = append(got, i)
		}
	}
	if !reflect.DeepEqual(got, []int{0, 1, 4, 5, 7}) {
		t.Errorf("got %v", got)
	}
	all, _ := ParsePFRange("ens1f0")
	if !all.Contains(100) {
		t.Error("a PF without ranges must select every VF")
	}
}

// TestUpstreamExamples parses the example configs of the upstream README (testdata/upstream-*.json).
func TestUpstreamExamples(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/upstream-*.json")
	if len(files) == 0 {
		t.Fatal("no testdata/upstream-*.json")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, ""); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/upstream-*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["x#0-3,5"]}}]}`))
	f.Add([]byte(`{"resourceList":[{"resourceName":"a","selectors":[{"rootDevices":["0000:3b:00.0#1"]},{}]}]}`))
	f.Add([]byte(`{"resourceList":[{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "")
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(cfg.Resources) == 0 {
			t.Fatal("valid config without pools")
		}
		names := map[string]bool{}
		for _, r := range cfg.Resources {
			if names[r.FullName()] {
				t.Fatalf("duplicate pool %s accepted", r.FullName())
			}
			names[r.FullName()] = true
			if len(r.Selectors) == 0 {
				t.Fatalf("pool %s without selectors", r.FullName())
			}
			for _, s := range r.Selectors {
				for _, pr := range append(s.PFNames, s.RootDevices...) {
					for _, sp := range pr.Spans {
						if sp.First > sp.Last {
							t.Fatalf("inverted span accepted: %+v", sp)
						}
					}
				}
			}
		}
	})
}
