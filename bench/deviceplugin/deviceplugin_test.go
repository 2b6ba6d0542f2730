package deviceplugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/config"
	"github.com/vflab/vflab/deviceplugin/discovery"
	"github.com/vflab/vflab/deviceplugin/inventorytest"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

const benchConfig = `{"resourceList":[{"resourceName":"ib","resourcePrefix":"nvidia.com","allocationPolicy":"spread",
  "selectors":{"vendors":["15b3"],"linkTypes":["infiniband"],"isRdma":true}}]}`

// pool starts a plugin serving one pool of n InfiniBand VFs (over min(n/8, 8) rails, NUMA 0 and 1) and
// returns a client on its socket and the device IDs. Device-info files go to a tmpfs directory, as
// /var/run is on a node.
func pool(b *testing.B, n int) (pluginapi.DevicePluginClient, []string) {
	return poolOn(b, n, afero.NewOsFs())
}

// poolOn is pool with the config and device-info files on fs (device-info under /dev/shm on the OS).
func poolOn(b *testing.B, n int, fs afero.Fs) (pluginapi.DevicePluginClient, []string) {
	b.Helper()
	rails := 8
	if n < 64 {
		rails = 1
	}
	var specs []inventorytest.RailSpec
	for r := range rails {
		specs = append(specs, inventorytest.RailSpec{PFName: fmt.Sprintf("ibp%ds0", r), PFAddress: fmt.Sprintf("0000:%02x:00.0", 0x10+r*0x10),
			VFs: n / rails, NUMANode: r * 2 / rails, IB: true, FirstRDMA: r * (n / rails)})
	}
	snap := inventorytest.Machine(specs...)
	dir, err := os.MkdirTemp("", "dpb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "config.json")
	devInfo := filepath.Join(dir, "devinfo")
	if _, isOS := fs.(*afero.OsFs); isOS {
		shm, err := os.MkdirTemp("/dev/shm", "dpb")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(shm) })
		devInfo = shm
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := afero.WriteFile(fs, cfg, []byte(benchConfig), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := deviceplugin.New(deviceplugin.Options{ConfigFile: cfg, DevicePluginDir: filepath.Join(dir, "dp"),
		DevInfoDir: devInfo, Inventory: inventorytest.New(snap), FS: fs, PollInterval: time.Hour, KubeletInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "dp", "nvidia.com_ib.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	ids := make([]string, len(snap.Devices))
	for i, d := range snap.Devices {
		ids[i] = d.PCIAddress
	}
	if len(ids) != n {
		b.Fatalf("pool has %d devices, want %d", len(ids), n)
	}
	return pluginapi.NewDevicePluginClient(conn), ids
}

var sizes = []int{8, 128, 1024}

// BenchmarkFloor is an empty unary call (GetDevicePluginOptions) on the same server and socket.
func BenchmarkFloor(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("vfs=%d", n), func(b *testing.B) {
			c, _ := pool(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.GetDevicePluginOptions(ctx, &pluginapi.Empty{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllocate allocates one RDMA VF per call (env, _INFO, 4 char-device specs, device-info file),
// with the device-info file on tmpfs and, to separate the file I/O, in memory.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("vfs=%d", n), func(b *testing.B) { benchAllocate(b, n, afero.NewOsFs()) })
		b.Run(fmt.Sprintf("vfs=%d,devinfo=mem", n), func(b *testing.B) { benchAllocate(b, n, afero.NewMemMapFs()) })
	}
}

func benchAllocate(b *testing.B, n int, fs afero.Fs) {
	c, ids := poolOn(b, n, fs)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		req := &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{ids[i%len(ids)]}}}}
		if _, err := c.Allocate(ctx, req); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetPreferredAllocation asks for 2 VFs (spread over rails) among every device of the pool.
func BenchmarkGetPreferredAllocation(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("vfs=%d", n), func(b *testing.B) {
			c, ids := pool(b, n)
			ctx := context.Background()
			req := &pluginapi.PreferredAllocationRequest{ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{{
				AvailableDeviceIDs: ids, AllocationSize: 2}}}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.GetPreferredAllocation(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.ContainerResponses[0].DeviceIDs) != 2 {
					b.Fatal("short answer")
				}
			}
		})
	}
}

// BenchmarkPreferred is the pure allocation choice behind GetPreferredAllocation, without gRPC.
func BenchmarkPreferred(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("vfs=%d", n), func(b *testing.B) {
			var devs []*deviceplugin.Device
			for r := range 8 {
				for _, d := range inventorytest.Rail(inventorytest.RailSpec{PFName: fmt.Sprintf("ibp%ds0", r),
					PFAddress: fmt.Sprintf("0000:%02x:00.0", 0x10+r*0x10), VFs: max(n/8, 1), NUMANode: r / 4, IB: true, FirstRDMA: -1}) {
					devs = append(devs, &d)
				}
			}
			devs = devs[:n]
			b.ReportAllocs()
			for b.Loop() {
				if got := deviceplugin.Preferred(config.Spread, devs, nil, 2); len(got) != 2 {
					b.Fatal("short answer")
				}
			}
		})
	}
}

// BenchmarkDiscovery scans a fake kernel of 8 ConnectX-7 InfiniBand PFs with 128 VFs each.
func BenchmarkDiscovery(b *testing.B) {
	node := topology.Node{Name: "big", NUMANodes: 2}
	for r := range 8 {
		node.NICs = append(node.NICs, topology.NIC{Model: "ConnectX-7", PCIAddress: fmt.Sprintf("0000:%02x:00.0", 0x10+r*0x10),
			NUMANode: r / 4, Ports: []topology.Port{{LinkLayer: topology.InfiniBand, TotalVFs: 128, NumVFs: 128}}})
	}
	k, err := fakesysfs.New(node)
	if err != nil {
		b.Fatal(err)
	}
	inv := discovery.New(k)
	b.Run("pfs=8,vfs=128", func(b *testing.B) {
		for b.Loop() {
			s, err := inv.Scan()
			if err != nil {
				b.Fatal(err)
			}
			if len(s.Devices) != 1024 {
				b.Fatalf("%d devices", len(s.Devices))
			}
		}
	})
}
