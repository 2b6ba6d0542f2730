package deviceplugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/inventorytest"
	"github.com/vflab/vflab/deviceplugin/kubelettest"
)

const (
	ib  = "nvidia.com/mlnx_ib"
	eth = "intel.com/sriov_eth"
	dpk = "intel.com/dpdk"
)

var (
	ibRail  = inventorytest.RailSpec{PFName: "ibp59s0f0", PFAddress: "0000:3b:00.0", VFs: 8, NUMANode: 0, IB: true, FirstRDMA: 2}
	ethRail = inventorytest.RailSpec{PFName: "enp94s0f0np0", PFAddress: "0000:5e:00.0", VFs: 6, NUMANode: 1, FirstRDMA: 20}
)

const baseConfig = `{"resourceList":[
  {"resourceName":"mlnx_ib","resourcePrefix":"nvidia.com","allocationPolicy":"spread",
   "selectors":{"pfNames":["ibp59s0f0#0-5"],"isRdma":true,"linkTypes":["infiniband"]}},
  {"resourceName":"dpdk","selectors":{"drivers":["vfio-pci"]}},
  {"resourceName":"sriov_eth","selectors":[{"linkTypes":["ether"],"needVhostNet":true}],
   "additionalInfo":{"*":{"token":"abc","site":"a"},"0000:5e:00.2":{"token":"def"}}}]}`

// testMachine: an IB rail (8 VFs, mlx5_2..9) and a RoCE rail (6 VFs, mlx5_20..25) whose VF 3 is on
// vfio-pci in IOMMU group 42.
func testMachine() deviceplugin.Snapshot {
	m := inventorytest.Machine(ibRail, ethRail)
	for i := range m.Devices {
		if m.Devices[i].PCIAddress == "0000:5e:00.5" {
			d := &m.Devices[i]
			d.Driver, d.Netdev, d.OperState, d.IOMMUGroup = "vfio-pci", "", "", "42"
			d.RDMADevices, d.Uverbs = nil, nil
		}
	}
	return m
}

type env struct {
	dir, dpDir, registryDir, devInfoDir, podResources, configFile string
	inv                                                           *inventorytest.Inventory
	kubelet                                                       *kubelettest.Kubelet
}

// newEnv makes short temporary paths (unix socket paths are limited to 108 bytes), a fake inventory and
// a running fake kubelet.
func newEnv(config string, watcher bool) *env {
	dir, err := os.MkdirTemp("", "dp")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	e := &env{dir: dir, dpDir: filepath.Join(dir, "dp"), devInfoDir: filepath.Join(dir, "devinfo"),
		podResources: filepath.Join(dir, "pr.sock"), configFile: filepath.Join(dir, "config.json"),
		inv: inventorytest.New(testMachine())}
	if watcher {
		e.registryDir = filepath.Join(dir, "reg")
		Expect(os.MkdirAll(e.registryDir, 0o750)).To(Succeed())
	}
	e.writeConfig(config)
	e.kubelet = kubelettest.New(kubelettest.Options{DevicePluginDir: e.dpDir, PodResourcesSocket: e.podResources,
		PluginsRegistryDir: e.registryDir, Logger: logger()})
	Expect(e.kubelet.Start()).To(Succeed())
	DeferCleanup(e.kubelet.Stop)
	return e
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (e *env) writeConfig(s string) {
	tmp := e.configFile + ".tmp"
	Expect(os.WriteFile(tmp, []byte(s), 0o644)).To(Succeed())
	Expect(os.Rename(tmp, e.configFile)).To(Succeed())
}

func (e *env) options() deviceplugin.Options {
	return deviceplugin.Options{ConfigFile: e.configFile, DevicePluginDir: e.dpDir, PluginsRegistryDir: e.registryDir,
		PodResourcesSocket: e.podResources, DevInfoDir: e.devInfoDir, Inventory: e.inv, Logger: logger(),
		PollInterval: 20 * time.Millisecond, KubeletInterval: 20 * time.Millisecond}
}

func (e *env) startPlugin() *deviceplugin.Plugin {
	p, err := deviceplugin.New(e.options())
	Expect(err).NotTo(HaveOccurred())
	Expect(p.Start()).To(Succeed())
	DeferCleanup(p.Stop)
	return p
}

func (e *env) counts(res string) func() kubelettest.Counts {
	return func() kubelettest.Counts { return e.kubelet.Counts(res) }
}

func (e *env) health(res, id string) func() string {
	return func() string {
		if d, ok := e.kubelet.Devices(res)[id]; ok {
			return d.Health
		}
		return "absent"
	}
}

// client dials a pool's socket directly, as kubelet does.
func (e *env) client(sockDir, res string) pluginapi.DevicePluginClient {
	name := map[string]string{ib: "nvidia.com_mlnx_ib.sock", eth: "intel.com_sriov_eth.sock", dpk: "intel.com_dpdk.sock"}[res]
	conn, err := grpc.NewClient("unix://"+filepath.Join(sockDir, name), grpc.WithTransportCredentials(insecure.NewCredentials()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	return pluginapi.NewDevicePluginClient(conn)
}

// fakeRoutes is a route table whose default-route netdevs the spec sets.
type fakeRoutes struct {
	mu    sync.Mutex
	links []string
	err   error
}

func (r *fakeRoutes) set(links ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links, r.err = links, nil
}

func (r *fakeRoutes) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *fakeRoutes) DefaultRouteLinks() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.links), r.err
}

// recorder is a slog handler that keeps the messages it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

// count reports how many messages contain s.
func (r *recorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

var pod = func(n string) kubelettest.Pod { return kubelettest.Pod{Namespace: "default", Name: n} }

var _ = Describe("Device plugin against the fake kubelet", Label("sim"), func() {
	var e *env
	ctx := context.Background()

	Context("legacy registration (kubelet.sock)", func() {
		BeforeEach(func() { e = newEnv(baseConfig, false) })

		It("registers every pool and advertises exactly the VFs the config selects", func() {
			p := e.startPlugin()
			Expect(p.Resources()).To(Equal([]string{dpk, eth, ib}))
			Eventually(e.kubelet.Resources).Should(Equal([]string{dpk, eth, ib}))
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
			Eventually(e.counts(eth)).Should(Equal(kubelettest.Counts{Capacity: 5, Allocatable: 5}))
			Eventually(e.counts(dpk)).Should(Equal(kubelettest.Counts{Capacity: 1, Allocatable: 1}))
			devs := e.kubelet.Devices(ib)
			Expect(devs).To(HaveKey("0000:3b:00.2"))
			Expect(devs).NotTo(HaveKey("0000:3b:00.8"), "VF 6 is outside ibp59s0f0#0-5")
			Expect(devs["0000:3b:00.2"].Topology.Nodes[0].ID).To(BeEquivalentTo(0))
			Expect(e.kubelet.Devices(eth)["0000:5e:00.2"].Topology.Nodes[0].ID).To(BeEquivalentTo(1))
		})

		It("allocates until the pool is exhausted, then fails clearly; release restores the count", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			var got []string
			for i := range 6 {
				ids, resp, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
				Expect(err).NotTo(HaveOccurred(), "allocation %d", i)
				Expect(resp.Envs).To(HaveKeyWithValue("PCIDEVICE_NVIDIA_COM_MLNX_IB", ids[0]))
				got = append(got, ids...)
			}
			Expect(got).To(ConsistOf("0000:3b:00.2", "0000:3b:00.3", "0000:3b:00.4", "0000:3b:00.5", "0000:3b:00.6", "0000:3b:00.7"))
			_, _, err := e.kubelet.Allocate(ctx, pod("b"), "c", ib, 1)
			Expect(err).To(MatchError(kubelettest.ErrUnavailable))
			Expect(err.Error()).To(ContainSubstring("nvidia.com/mlnx_ib: requested 1, available 0"))
			Expect(e.kubelet.Counts(ib)).To(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6, Allocated: 6}))
			e.kubelet.Release(pod("a"))
			Expect(e.kubelet.Counts(ib)).To(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
			_, _, err = e.kubelet.Allocate(ctx, pod("b"), "c", ib, 6)
			Expect(err).NotTo(HaveOccurred())
		})

		It("answers Allocate field by field as sriov-network-device-plugin does", func() {
			e.startPlugin()
			Eventually(e.kubelet.Resources).Should(HaveLen(3))
			files, _ := filepath.Glob("testdata/allocate-*.json")
			Expect(files).To(HaveLen(3))
			for _, f := range files {
				By(f)
				data, err := os.ReadFile(f)
				Expect(err).NotTo(HaveOccurred())
				var want struct {
					Resource       string
					Devices        []string
					Envs           map[string]json.RawMessage
					Specs          []*pluginapi.DeviceSpec
					Mounts         int
					DeviceInfoFile string
					DeviceInfo     json.RawMessage
				}
				Expect(json.Unmarshal(data, &want)).To(Succeed())
				resp, err := e.client(e.dpDir, want.Resource).Allocate(ctx, &pluginapi.AllocateRequest{
					ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: want.Devices}}})
				Expect(err).NotTo(HaveOccurred())
				c := resp.ContainerResponses[0]
				Expect(c.Envs).To(HaveLen(len(want.Envs)))
				for k, v := range want.Envs {
					Expect(c.Envs).To(HaveKey(k))
					var s string
					if json.Unmarshal(v, &s) == nil {
						Expect(c.Envs[k]).To(Equal(s), k)
					} else {
						Expect(c.Envs[k]).To(MatchJSON(v), k)
						// Byte for byte what upstream's json.Marshal of the map writes (sorted keys).
						var m map[string]map[string]map[string]string
						Expect(json.Unmarshal(v, &m)).To(Succeed())
						canonical, err := json.Marshal(m)
						Expect(err).NotTo(HaveOccurred())
						Expect(c.Envs[k]).To(Equal(string(canonical)), k)
					}
				}
				Expect(c.Devices).To(HaveLen(len(want.Specs)))
				for i, s := range want.Specs {
					Expect(c.Devices[i].HostPath).To(Equal(s.HostPath))
					Expect(c.Devices[i].ContainerPath).To(Equal(s.ContainerPath))
					Expect(c.Devices[i].Permissions).To(Equal(s.Permissions))
				}
				Expect(c.Mounts).To(HaveLen(want.Mounts))
				path := filepath.Join(e.devInfoDir, want.DeviceInfoFile)
				content, err := os.ReadFile(path)
				Expect(err).NotTo(HaveOccurred())
				Expect(content).To(MatchJSON(want.DeviceInfo))
				fi, err := os.Stat(path)
				Expect(err).NotTo(HaveOccurred())
				Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o444)))
			}
			By("a second Allocate of the same device replaces its device-info file")
			_, err := e.client(e.dpDir, ib).Allocate(ctx, &pluginapi.AllocateRequest{
				ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{"0000:3b:00.2"}}}})
			Expect(err).NotTo(HaveOccurred())
		})

		It("reports allocations through the pod-resources API", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Allocatable", 6))
			Eventually(e.counts(eth)).Should(HaveField("Allocatable", 5))
			ibIDs, _, err := e.kubelet.Allocate(ctx, pod("a"), "main", ib, 2)
			Expect(err).NotTo(HaveOccurred())
			ethIDs, _, err := e.kubelet.Allocate(ctx, pod("a"), "side", eth, 1)
			Expect(err).NotTo(HaveOccurred())
			conn, err := grpc.NewClient("unix://"+e.podResources, grpc.WithTransportCredentials(insecure.NewCredentials()))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(conn.Close)
			resp, err := podresourcesapi.NewPodResourcesListerClient(conn).List(ctx, &podresourcesapi.ListPodResourcesRequest{})
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.PodResources).To(HaveLen(1))
			pr := resp.PodResources[0]
			Expect(pr.Namespace + "/" + pr.Name).To(Equal("default/a"))
			Expect(pr.Containers).To(HaveLen(2))
			Expect(pr.Containers[0].Name).To(Equal("main"))
			Expect(pr.Containers[0].Devices[0].ResourceName).To(Equal(ib))
			Expect(pr.Containers[0].Devices[0].DeviceIds).To(ConsistOf(ibIDs))
			Expect(pr.Containers[1].Devices[0].ResourceName).To(Equal(eth))
			Expect(pr.Containers[1].Devices[0].DeviceIds).To(Equal(ethIDs))
			e.kubelet.Release(pod("a"))
			resp, err = podresourcesapi.NewPodResourcesListerClient(conn).List(ctx, &podresourcesapi.ListPodResourcesRequest{})
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.PodResources).To(BeEmpty())
		})

		It("sets a shell-readable alias next to an upstream env name that has a '-'", func() {
			e.writeConfig(`{"resourceList":[
			  {"resourceName":"mlnx_ib","resourcePrefix":"nvidia.com","selectors":{"linkTypes":["infiniband"],"isRdma":true}},
			  {"resourceName":"sriov-eth","selectors":{"linkTypes":["ether"]}}]}`)
			e.startPlugin()
			const hyph = "intel.com/sriov-eth"
			Eventually(e.counts(hyph)).Should(HaveField("Capacity", 6))
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 8))
			ids, resp, err := e.kubelet.Allocate(ctx, pod("a"), "c", hyph, 2)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Envs).To(HaveLen(4))
			Expect(resp.Envs).To(HaveKeyWithValue("PCIDEVICE_INTEL_COM_SRIOV-ETH", ids[0]+","+ids[1]), "upstream's name, unchanged")
			Expect(resp.Envs).To(HaveKeyWithValue("PCIDEVICE_INTEL_COM_SRIOV_ETH", ids[0]+","+ids[1]))
			Expect(resp.Envs["PCIDEVICE_INTEL_COM_SRIOV-ETH_INFO"]).To(ContainSubstring(ids[0]))
			Expect(resp.Envs).To(HaveKeyWithValue("PCIDEVICE_INTEL_COM_SRIOV_ETH_INFO", resp.Envs["PCIDEVICE_INTEL_COM_SRIOV-ETH_INFO"]))
			_, resp, err = e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Envs).To(HaveLen(2), "no alias without a '-'")
		})

		It("excludes a VF whose netdev carries the host's default route, explicitly, while it does", func() {
			routes := &fakeRoutes{}
			routes.set("enp94s0f0np0v0") // VF 0 of the RoCE rail: 0000:5e:00.2
			o := e.options()
			o.Routes = routes
			p, err := deviceplugin.New(o)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Start()).To(Succeed())
			DeferCleanup(p.Stop)
			Eventually(e.counts(eth)).Should(Equal(kubelettest.Counts{Capacity: 5, Allocatable: 4}))
			Expect(e.kubelet.Devices(eth)["0000:5e:00.2"].Health).To(Equal(pluginapi.Unhealthy))
			Expect(p.Excluded()).To(Equal(map[string]string{
				"0000:5e:00.2": "excluded: carries the host's IPv4 default route (enp94s0f0np0v0)"}))
			ids, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", eth, 4)
			Expect(err).NotTo(HaveOccurred())
			Expect(ids).NotTo(ContainElement("0000:5e:00.2"))
			e.kubelet.Release(pod("a"))
			By("an unreadable route table keeps the last known exclusion")
			routes.fail(errors.New("netlink: dump interrupted"))
			Consistently(e.counts(eth), 100*time.Millisecond).Should(HaveField("Allocatable", 4))
			By("the route moves to the PF: the VF is offered again")
			routes.set("enp94s0f0np0")
			Eventually(e.counts(eth)).Should(Equal(kubelettest.Counts{Capacity: 5, Allocatable: 5}))
			Expect(p.Excluded()).To(BeEmpty())
		})

		It("offers RDMA devices without a missing rdma_cm and reports it", func() {
			rec := &recorder{}
			o := e.options()
			o.Logger = slog.New(rec)
			e.inv.Update(func(s *deviceplugin.Snapshot) { s.RDMACM = false })
			p, err := deviceplugin.New(o)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Start()).To(Succeed())
			DeferCleanup(p.Stop)
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
			Expect(rec.count("RDMA devices offered without /dev/infiniband/rdma_cm")).To(Equal(1))
			_, resp, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Devices).NotTo(ContainElement(HaveField("HostPath", deviceplugin.DevRDMACM)))
			Expect(resp.Envs["PCIDEVICE_NVIDIA_COM_MLNX_IB_INFO"]).NotTo(ContainSubstring("rdma_cm"))
			Expect(resp.Envs["PCIDEVICE_NVIDIA_COM_MLNX_IB_INFO"]).To(ContainSubstring("uverbs"))
			e.inv.Update(func(s *deviceplugin.Snapshot) { s.RDMACM = true })
			Eventually(func() int { return rec.count("/dev/infiniband/rdma_cm present again") }).Should(Equal(1))
			Expect(rec.count("RDMA devices offered without")).To(Equal(1), "reported once, not per scan")
			_, resp, err = e.kubelet.Allocate(ctx, pod("b"), "c", ib, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Devices).To(ContainElement(HaveField("HostPath", deviceplugin.DevRDMACM)))
		})

		It("refuses unknown device IDs with a clear gRPC error", func() {
			e.startPlugin()
			Eventually(e.kubelet.Resources).Should(HaveLen(3))
			_, err := e.client(e.dpDir, ib).Allocate(ctx, &pluginapi.AllocateRequest{
				ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{"0000:5e:00.2"}}}})
			Expect(status.Code(err)).To(Equal(codes.InvalidArgument))
			Expect(status.Convert(err).Message()).To(Equal(`allocate in nvidia.com/mlnx_ib: unknown device "0000:5e:00.2"`))
		})

		It("offers GetPreferredAllocation and kubelet follows it", func() {
			e.startPlugin()
			Eventually(e.kubelet.Resources).Should(HaveLen(3))
			opts, err := e.client(e.dpDir, eth).GetDevicePluginOptions(ctx, &pluginapi.Empty{})
			Expect(err).NotTo(HaveOccurred())
			Expect(opts.GetPreferredAllocationAvailable).To(BeTrue())
			resp, err := e.client(e.dpDir, eth).GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{
				ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{{
					AvailableDeviceIDs:   []string{"0000:5e:00.2", "0000:5e:00.3", "0000:5e:00.4", "0000:5e:00.6"},
					MustIncludeDeviceIDs: []string{"0000:5e:00.6"}, AllocationSize: 2}}})
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.ContainerResponses[0].DeviceIDs).To(Equal([]string{"0000:5e:00.6", "0000:5e:00.2"}))
		})

		It("streams health down and up as the machine changes", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Allocatable", 6))
			for _, tc := range []struct {
				what   string
				break_ func(*deviceplugin.Device)
				fix    func(*deviceplugin.Device)
			}{
				{"VF link", func(d *deviceplugin.Device) { d.OperState = "lowerlayerdown" }, func(d *deviceplugin.Device) { d.OperState = "up" }},
				{"PF link", func(d *deviceplugin.Device) { d.PFOperState = "down" }, func(d *deviceplugin.Device) { d.PFOperState = "up" }},
				{"IB port", func(d *deviceplugin.Device) { d.PortState = "1: DOWN" }, func(d *deviceplugin.Device) { d.PortState = "4: ACTIVE" }},
				{"PF IB port", func(d *deviceplugin.Device) { d.PFPortState = "1: DOWN" }, func(d *deviceplugin.Device) { d.PFPortState = "4: ACTIVE" }},
				{"driver", func(d *deviceplugin.Device) { d.Driver, d.RDMADevices = "", nil }, func(d *deviceplugin.Device) { d.Driver, d.RDMADevices = "mlx5_core", []string{"mlx5_3"} }},
			} {
				By(tc.what)
				e.inv.Device("0000:3b:00.3", tc.break_)
				Eventually(e.health(ib, "0000:3b:00.3")).Should(Equal(pluginapi.Unhealthy))
				Expect(e.kubelet.Counts(ib)).To(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 5}))
				e.inv.Device("0000:3b:00.3", tc.fix)
				Eventually(e.health(ib, "0000:3b:00.3")).Should(Equal(pluginapi.Healthy))
				Expect(e.kubelet.Counts(ib)).To(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
			}
			By("PF gone: its VFs stay, unhealthy, until it is back")
			e.inv.RemovePF(ibRail.PFAddress)
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 0}))
			e.inv.SetNumVFs(ibRail, 8)
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
			By("an unhealthy device is never handed out")
			e.inv.Device("0000:3b:00.2", func(d *deviceplugin.Device) { d.PFOperState = "down" })
			Eventually(e.counts(ib)).Should(HaveField("Allocatable", 5))
			ids, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 5)
			Expect(err).NotTo(HaveOccurred())
			Expect(ids).NotTo(ContainElement("0000:3b:00.2"))
		})

		It("follows VF count changes without a restart", func() {
			e.startPlugin()
			Eventually(e.counts(eth)).Should(HaveField("Capacity", 5))
			e.inv.SetNumVFs(ethRail, 2)
			Eventually(e.counts(eth)).Should(Equal(kubelettest.Counts{Capacity: 2, Allocatable: 2}))
			Eventually(e.counts(dpk)).Should(Equal(kubelettest.Counts{}))
			e.inv.SetNumVFs(ethRail, 16)
			Eventually(e.counts(eth)).Should(Equal(kubelettest.Counts{Capacity: 16, Allocatable: 16}))
		})

		It("re-registers within a second after a kubelet restart and keeps allocations", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			_, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 2)
			Expect(err).NotTo(HaveOccurred())
			Expect(e.kubelet.Restart()).To(Succeed())
			Eventually(func() bool { return e.kubelet.Connected(ib) && e.kubelet.Connected(eth) && e.kubelet.Connected(dpk) },
				time.Second, 10*time.Millisecond).Should(BeTrue())
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6, Allocated: 2}))
			_, _, err = e.kubelet.Allocate(ctx, pod("b"), "c", ib, 4)
			Expect(err).NotTo(HaveOccurred())
			_, _, err = e.kubelet.Allocate(ctx, pod("c"), "c", ib, 1)
			Expect(err).To(MatchError(kubelettest.ErrUnavailable))
		})

		It("keeps VFs held by running pods across a plugin restart", func() {
			p := e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			held, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 2)
			Expect(err).NotTo(HaveOccurred())
			p.Stop()
			p.Stop() // idempotent
			Expect(filepath.Join(e.dpDir, "nvidia.com_mlnx_ib.sock")).NotTo(BeAnExistingFile())
			By("the pod's CNI moved the VFs' netdevs and RDMA devices into the pod: the host no longer sees them")
			for _, id := range held {
				e.inv.Device(id, func(d *deviceplugin.Device) { d.Netdev, d.OperState, d.RDMADevices, d.Uverbs = "", "", nil, nil })
				Expect(filepath.Join(e.devInfoDir, deviceplugin.DevInfoFile(ib, id))).To(BeAnExistingFile())
			}
			e.startPlugin()
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6, Allocated: 2}))
			Consistently(e.counts(ib), 200*time.Millisecond).Should(HaveField("Capacity", 6))
			for _, id := range held {
				Expect(e.kubelet.Devices(ib)).To(HaveKey(id))
				Expect(filepath.Join(e.devInfoDir, deviceplugin.DevInfoFile(ib, id))).To(BeAnExistingFile(),
					"the device-info file of a held device survives the restart")
			}
			ids, _, err := e.kubelet.Allocate(ctx, pod("b"), "c", ib, 4)
			Expect(err).NotTo(HaveOccurred())
			Expect(ids).NotTo(ContainElements(held))
			_, _, err = e.kubelet.Allocate(ctx, pod("c"), "c", ib, 1)
			Expect(err).To(MatchError(kubelettest.ErrUnavailable))
		})

		It("keeps device-info files while pod-resources is unreachable at start, and reconciles once it answers", func() {
			p := e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			held, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 2)
			Expect(err).NotTo(HaveOccurred())
			p.Stop()
			file := func(id string) string { return filepath.Join(e.devInfoDir, deviceplugin.DevInfoFile(ib, id)) }
			for _, id := range held {
				Expect(file(id)).To(BeAnExistingFile())
			}
			By("a file of a device no pod holds, left behind by a crash")
			var free string
			for _, id := range []string{"0000:3b:00.2", "0000:3b:00.3", "0000:3b:00.4"} {
				if id != held[0] && id != held[1] {
					free = id
				}
			}
			Expect(free).NotTo(BeEmpty())
			Expect(os.WriteFile(file(free), []byte(`{"type":"pci"}`), 0o444)).To(Succeed())

			e.kubelet.StopPodResources()
			e.startPlugin()
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6, Allocated: 2}))
			Consistently(func() []string {
				var gone []string
				for _, id := range append([]string{free}, held...) {
					if _, err := os.Stat(file(id)); err != nil {
						gone = append(gone, id)
					}
				}
				return gone
			}, 300*time.Millisecond, 20*time.Millisecond).Should(BeEmpty(), "nothing removed while nobody knows what pods hold")

			Expect(e.kubelet.StartPodResources()).To(Succeed())
			Eventually(file(free)).ShouldNot(BeAnExistingFile(), "reconciled once pod-resources answers")
			for _, id := range held {
				Expect(file(id)).To(BeAnExistingFile(), "held by pod a")
			}
		})

		It("reloads its config without a restart and ignores a bad one", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			e.writeConfig(`{"resourceList":[
			  {"resourceName":"mlnx_ib","resourcePrefix":"nvidia.com","selectors":{"pfNames":["ibp59s0f0"],"isRdma":true}},
			  {"resourceName":"sriov_eth","selectors":{"rootDevices":["0000:5e:00.0#0-1"]}},
			  {"resourceName":"roce_rest","selectors":{"rootDevices":["0000:5e:00.0#2-5"],"drivers":["mlx5_core"]}}]}`)
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 8, Allocatable: 8}))
			Eventually(e.counts(eth)).Should(Equal(kubelettest.Counts{Capacity: 2, Allocatable: 2}))
			Eventually(e.counts("intel.com/roce_rest")).Should(Equal(kubelettest.Counts{Capacity: 3, Allocatable: 3}))
			Eventually(func() bool { return e.kubelet.Connected(dpk) }).Should(BeFalse())
			Eventually(e.counts(dpk)).Should(Equal(kubelettest.Counts{}), "a pool removed from the config advertises no devices last")
			Expect(filepath.Join(e.dpDir, "intel.com_dpdk.sock")).NotTo(BeAnExistingFile())
			By("a bad config changes nothing")
			e.writeConfig(`{"resourceList":[{"resourceName":"mlnx_ib","selectors":{"pfName":["x"]}}]}`)
			Consistently(e.counts(ib), 200*time.Millisecond).Should(HaveField("Capacity", 8))
			Expect(e.kubelet.Counts("intel.com/roce_rest").Capacity).To(Equal(3))
		})

		It("refuses a bad config at start, naming the field, and starts nothing", func() {
			for _, tc := range []struct{ config, field string }{
				{`{"resourceList":[{"resourceName":"a","selectors":{"vendor":["15b3"]}}]}`, "resourceList[0].selectors.vendor: unknown selector"},
				{`{"resourceList":[{"resourceName":"a b"}]}`, "resourceList[0].resourceName"},
				{`{"resourceList":[{"resourceName":"a","selectors":{"pfNames":["p#0-3"]}},{"resourceName":"b","selectors":{"pfNames":["p#2"]}}]}`, "resourceList[1].selectors[0].pfNames[0]: VFs of p are already in pool intel.com/a"},
				{`{"resourceList":[`, "malformed JSON"},
			} {
				e.writeConfig(tc.config)
				_, err := deviceplugin.New(e.options())
				Expect(err).To(MatchError(ContainSubstring(tc.field)))
			}
			entries, _ := os.ReadDir(e.dpDir)
			Expect(entries).To(HaveLen(1), "only kubelet.sock")
			Expect(e.kubelet.Resources()).To(BeEmpty())
		})

		It("removes a stale socket and cleans up on Stop", func() {
			Expect(os.MkdirAll(e.dpDir, 0o750)).To(Succeed())
			stale := filepath.Join(e.dpDir, "nvidia.com_mlnx_ib.sock")
			Expect(os.WriteFile(stale, nil, 0o600)).To(Succeed())
			p := e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			p.Stop()
			entries, _ := os.ReadDir(e.dpDir)
			Expect(entries).To(HaveLen(1), "only kubelet.sock")
			Eventually(func() bool { return e.kubelet.Connected(ib) }).Should(BeFalse(), "the stream ended")
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{}), "the last list was empty")
		})

		It("advertises an empty device list on every stream when stopped deliberately", func() {
			p := e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			_, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
			Expect(err).NotTo(HaveOccurred())
			Eventually(e.counts(eth)).Should(HaveField("Capacity", 5))
			Eventually(e.counts(dpk)).Should(HaveField("Capacity", 1))
			p.Stop()
			for _, res := range []string{ib, eth, dpk} {
				// kubelet's stream reader may take the last message a moment after Stop returned.
				Eventually(e.counts(res)).Should(Equal(kubelettest.Counts{Allocated: map[string]int{ib: 1}[res]}),
					"%s: capacity and allocatable 0; kubelet still records the pod's device", res)
				Eventually(func() bool { return e.kubelet.Connected(res) }).Should(BeFalse(), res)
			}
			Expect(e.kubelet.Devices(ib)).To(BeEmpty())
		})

		It("sends no empty list when it crashes: kubelet keeps the devices, unhealthy, for the restart", func() {
			p := e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			Eventually(e.counts(eth)).Should(HaveField("Capacity", 5))
			p.Crash()
			Eventually(func() bool { return e.kubelet.Connected(ib) || e.kubelet.Connected(eth) }).Should(BeFalse())
			Expect(e.kubelet.Counts(ib)).To(Equal(kubelettest.Counts{Capacity: 6}))
			Expect(e.kubelet.Counts(eth)).To(Equal(kubelettest.Counts{Capacity: 5}))
			p.Stop() // what the restarted process would find: a stale socket; Stop removes it
			e.startPlugin()
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
		})

		It("sends no empty list when kubelet goes away", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			e.kubelet.Stop()
			Expect(e.kubelet.Counts(ib)).To(Equal(kubelettest.Counts{Capacity: 6}), "devices kept, unhealthy")
			Consistently(func() bool { return e.kubelet.Connected(ib) }, 100*time.Millisecond).Should(BeFalse())
			Expect(filepath.Join(e.dpDir, "nvidia.com_mlnx_ib.sock")).To(BeAnExistingFile(), "the plugin keeps serving for the kubelet's return")
		})

		It("recreates a socket that vanished and registers it again", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			sock := filepath.Join(e.dpDir, "nvidia.com_mlnx_ib.sock")
			Expect(os.Remove(sock)).To(Succeed())
			Eventually(sock, time.Second, 10*time.Millisecond).Should(BeAnExistingFile())
			Eventually(func() error {
				_, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
				return err
			}).Should(Succeed(), "kubelet reaches the plugin on its new socket")
		})

		It("restarts a pool's gRPC server that stopped and registers it again", func() {
			p := e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			Expect(p.KillServer(ib)).To(BeTrue())
			Eventually(func() error {
				_, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
				return err
			}, 2*time.Second, 20*time.Millisecond).Should(Succeed(), "kubelet reaches the restarted server")
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6, Allocated: 1}))
		})

		It("survives a failing scan and recovers", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			e.inv.Fail(errors.New("sysfs unreadable"))
			n := e.inv.Scans()
			Eventually(e.inv.Scans).Should(BeNumerically(">", n+2))
			Expect(e.kubelet.Counts(ib).Capacity).To(Equal(6))
			e.inv.Fail(nil)
			e.inv.SetNumVFs(ibRail, 4)
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 4))
		})
	})

	Context("plugin-watcher registration (plugins_registry)", func() {
		BeforeEach(func() { e = newEnv(baseConfig, true) })

		It("is found again by the watcher after a kubelet restart", func() {
			e.startPlugin()
			Eventually(e.counts(ib)).Should(HaveField("Capacity", 6))
			_, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 1)
			Expect(err).NotTo(HaveOccurred())
			Expect(e.kubelet.Restart()).To(Succeed())
			Eventually(func() bool { return e.kubelet.Connected(ib) }, time.Second, 10*time.Millisecond).Should(BeTrue())
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6, Allocated: 1}))
		})

		It("puts its sockets in plugins_registry and is registered by the watcher", func() {
			e.startPlugin()
			Eventually(e.kubelet.Resources).Should(Equal([]string{dpk, eth, ib}))
			Eventually(e.counts(ib)).Should(Equal(kubelettest.Counts{Capacity: 6, Allocatable: 6}))
			Expect(filepath.Join(e.registryDir, "nvidia.com_mlnx_ib.sock")).To(BeAnExistingFile())
			_, _, err := e.kubelet.Allocate(ctx, pod("a"), "c", ib, 2)
			Expect(err).NotTo(HaveOccurred())
		})
	})
})
