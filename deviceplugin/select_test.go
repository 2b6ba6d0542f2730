package deviceplugin_test

import (
	"maps"
	"testing"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/config"
	"github.com/vflab/vflab/deviceplugin/inventorytest"
)

func mustParse(t *testing.T, s string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(s), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPoolOf(t *testing.T) {
	t.Parallel()
	ib := inventorytest.Rail(inventorytest.RailSpec{PFName: "ibp59s0f0", PFAddress: "0000:3b:00.0", VFs: 8, IB: true, DeviceID: "101c", FirstRDMA: 2})
	eth := inventorytest.Rail(inventorytest.RailSpec{PFName: "enp94s0f0np0", PFAddress: "0000:5e:00.0", VFs: 4, FirstRDMA: -1})
	vfio := eth[3]
	vfio.Driver, vfio.Netdev = "vfio-pci", ""
	cfg := mustParse(t, `{"resourceList":[
	  {"resourceName":"ib_low","selectors":{"pfNames":["IBP59S0F0#0-1,4"],"isRdma":true}},
	  {"resourceName":"ib_rest","selectors":[{"vendors":["15b3"],"devices":["101c"]}]},
	  {"resourceName":"dpdk","selectors":{"drivers":["vfio-pci"]}},
	  {"resourceName":"eth","selectors":[{"linkTypes":["ether"],"rootDevices":["0000:5e:00.0#0-2"]}]},
	  {"resourceName":"accel","deviceType":"accelerator"}]}`)
	for _, tc := range []struct {
		name string
		dev  deviceplugin.Device
		want int
	}{
		{"range and case-insensitive PF name", ib[0], 0},
		{"single index", ib[4], 0},
		{"outside the range: next pool", ib[2], 1},
		{"outside the range: next pool again", ib[7], 1},
		{"driver", vfio, 2},
		{"root device range", eth[2], 3},
		{"nothing", eth[3], -1},
	} {
		if got := deviceplugin.PoolOf(cfg.Resources, &tc.dev); got != tc.want {
			t.Errorf("%s: pool %d, want %d", tc.name, got, tc.want)
		}
	}
	noRDMA := ib[0]
	noRDMA.RDMADevices = nil
	if got := deviceplugin.PoolOf(cfg.Resources, &noRDMA); got != 1 {
		t.Errorf("isRdma must skip a VF without RDMA device: pool %d", got)
	}
}

func TestMatchesEachSelector(t *testing.T) {
	t.Parallel()
	d := inventorytest.Rail(inventorytest.RailSpec{PFName: "ibp59s0f0", PFAddress: "0000:3b:00.0", VFs: 1, IB: true, FirstRDMA: 0})[0]
	d.ACPIIndex = "7"
	for _, tc := range []struct {
		sel  string
		want bool
	}{
		{`{}`, true},
		{`{"vendors":["15b3"]}`, true}, {`{"vendors":["8086"]}`, false},
		{`{"devices":["101e"]}`, true}, {`{"devices":["101c"]}`, false},
		{`{"drivers":["mlx5_core"]}`, true}, {`{"drivers":["vfio-pci"]}`, false},
		{`{"pciAddresses":["0000:3b:00.2"]}`, true}, {`{"pciAddresses":["0000:3b:00.3"]}`, false},
		{`{"acpiIndexes":["7"]}`, true}, {`{"acpiIndexes":["8"]}`, false},
		{`{"pfNames":["ibp59s0f0"]}`, true}, {`{"pfNames":["ibp59s0f0#1"]}`, false},
		{`{"rootDevices":["0000:3b:00.0#0"]}`, true}, {`{"rootDevices":["0000:3c:00.0"]}`, false},
		{`{"linkTypes":["infiniband"]}`, true}, {`{"linkTypes":["ether"]}`, false},
		{`{"pKeys":["0xFFFF"]}`, true}, {`{"pKeys":["0x7fff"]}`, false},
		{`{"isRdma":true}`, true},
		{`{"ddpProfiles":["gtp"]}`, false},
		{`{"vdpaType":"vhost"}`, false},
		{`{"needVhostNet":true}`, true},
	} {
		cfg := mustParse(t, `{"resourceList":[{"resourceName":"a","selectors":`+tc.sel+`}]}`)
		if got := deviceplugin.Matches(&cfg.Resources[0].Selectors[0], &d); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.sel, got, tc.want)
		}
	}
}

func TestHealthOf(t *testing.T) {
	t.Parallel()
	base := inventorytest.Rail(inventorytest.RailSpec{PFName: "ibp59s0f0", PFAddress: "0000:3b:00.0", VFs: 1, IB: true, FirstRDMA: 0})[0]
	for _, tc := range []struct {
		name   string
		change func(*deviceplugin.Device)
		want   bool
	}{
		{"healthy", func(*deviceplugin.Device) {}, true},
		{"driver unbound", func(d *deviceplugin.Device) { d.Driver = "" }, false},
		{"VF not brought up yet (admin down) is fine", func(d *deviceplugin.Device) { d.OperState = "down" }, true},
		{"link lower layer down", func(d *deviceplugin.Device) { d.OperState = "lowerlayerdown" }, false},
		{"link not present", func(d *deviceplugin.Device) { d.OperState = "notpresent" }, false},
		{"link unknown is fine", func(d *deviceplugin.Device) { d.OperState = "unknown" }, true},
		{"netdev in a pod", func(d *deviceplugin.Device) { d.Netdev, d.OperState = "", "" }, true},
		{"PF link down", func(d *deviceplugin.Device) { d.PFOperState = "down" }, false},
		{"IB port down with a GUID", func(d *deviceplugin.Device) { d.PortState, d.PortGUIDSet = "1: DOWN", true }, false},
		{"IB port init with a GUID", func(d *deviceplugin.Device) { d.PortState, d.PortGUIDSet = "2: INIT", true }, false},
		{"IB port down without a GUID (fresh VF)", func(d *deviceplugin.Device) { d.PortState, d.PortGUIDSet = "1: DOWN", false }, true},
		{"PF IB port down", func(d *deviceplugin.Device) { d.PFPortState = "1: DOWN" }, false},
		{"vfio without netdev or port", func(d *deviceplugin.Device) {
			d.Driver, d.Netdev, d.OperState, d.PortState = "vfio-pci", "", "", ""
		}, true},
	} {
		d := base
		tc.change(&d)
		h := deviceplugin.HealthOf(&d)
		if h.Healthy != tc.want {
			t.Errorf("%s: healthy %v (%s), want %v", tc.name, h.Healthy, h.Reason, tc.want)
		}
		if !h.Healthy && h.Reason == "" {
			t.Errorf("%s: unhealthy without a reason", tc.name)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, name, want string }{
		{"intel.com", "sriov", "PCIDEVICE_INTEL_COM_SRIOV"},
		{"nvidia.com", "mlnx_ib-rail0", "PCIDEVICE_NVIDIA_COM_MLNX_IB-RAIL0"},
		{"openshift.io", "gpu2_mlnx_ib3", "PCIDEVICE_OPENSHIFT_IO_GPU2_MLNX_IB3"},
	} {
		if got := deviceplugin.EnvName(tc.prefix, tc.name); got != tc.want {
			t.Errorf("EnvName(%q, %q) = %q, want %q", tc.prefix, tc.name, got, tc.want)
		}
	}
	if got := deviceplugin.DevInfoFile("intel.com/sriov", "0000:03:02.1"); got != "intel.com-sriov-0000:03:02.1-device.json" {
		t.Errorf("DevInfoFile = %q", got)
	}
}

func TestShellAliases(t *testing.T) {
	t.Parallel()
	res := func(prefix, name string) config.Resource { return config.Resource{Prefix: prefix, Name: name} }
	for _, tc := range []struct {
		what string
		rs   []config.Resource
		want map[string]string
	}{
		{"no hyphen, no alias", []config.Resource{res("intel.com", "sriov")}, map[string]string{"intel.com/sriov": ""}},
		{"hyphen in the name", []config.Resource{res("nvidia.com", "mlnx_ib-rail0"), res("intel.com", "sriov")},
			map[string]string{"nvidia.com/mlnx_ib-rail0": "PCIDEVICE_NVIDIA_COM_MLNX_IB_RAIL0", "intel.com/sriov": ""}},
		{"hyphen in the prefix", []config.Resource{res("my-vendor.io", "net")},
			map[string]string{"my-vendor.io/net": "PCIDEVICE_MY_VENDOR_IO_NET"}},
		{"alias would be another pool's variable", []config.Resource{res("intel.com", "a-b"), res("intel.com", "a_b")},
			map[string]string{"intel.com/a-b": "", "intel.com/a_b": ""}},
		{"alias would be another prefix's variable", []config.Resource{res("x-y.com", "n"), res("x.y.com", "n")},
			map[string]string{"x-y.com/n": "", "x.y.com/n": ""}},
		{"two aliases collide", []config.Resource{res("intel.com", "a-b_c"), res("intel.com", "a_b-c")},
			map[string]string{"intel.com/a-b_c": "", "intel.com/a_b-c": ""}},
	} {
		if got := deviceplugin.ShellAliases(tc.rs); !maps.Equal(got, tc.want) {
			t.Errorf("%s: ShellAliases = %v, want %v", tc.what, got, tc.want)
		}
	}
}
