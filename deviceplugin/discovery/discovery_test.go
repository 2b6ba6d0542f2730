package discovery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spf13/afero"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/discovery"
	"github.com/vflab/vflab/deviceplugin/kubelettest"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

const simConfig = `{"resourceList":[
  {"resourceName":"ib","resourcePrefix":"nvidia.com","allocationPolicy":"spread",
   "selectors":{"vendors":["15b3"],"linkTypes":["infiniband"],"isRdma":true}},
  {"resourceName":"eth","resourcePrefix":"nvidia.com","selectors":{"vendors":["15b3"],"linkTypes":["ether"]}}]}`

// netdevs overrides the operstate of chosen netdevs, as the sandbox's real links would.
type netdevs struct {
	mu     sync.Mutex
	oper   map[string]string
	inPods map[string]bool // moved into a pod: hidden from the host view
}

func (n *netdevs) Lookup(_, name string) (fakesysfs.Netdev, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fakesysfs.Netdev{OperState: n.oper[name]}, !n.inPods[name], nil
}

func (n *netdevs) moveToPod(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inPods[name] = true
}
func (n *netdevs) Added(fakesysfs.NetdevSpec) error   { return nil }
func (n *netdevs) Removed(fakesysfs.NetdevSpec) error { return nil }
func (n *netdevs) set(name, state string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.oper[name] = state
}

type port struct {
	pf    string
	ib    bool
	numa  int
	numVF int
}

// ports lists a node's PFs from its topology (PF of port p = function p of the NIC's address).
func ports(node topology.Node) []port {
	var out []port
	for _, nic := range node.NICs {
		for i, p := range nic.Ports {
			out = append(out, port{pf: nic.PCIAddress[:len(nic.PCIAddress)-1] + fmt.Sprint(i),
				ib: p.LinkLayer == topology.InfiniBand, numa: nic.NUMANode, numVF: p.NumVFs})
		}
	}
	return out
}

// realDir resolves /sys/bus/pci/devices/<bdf> to its directory under /sys/devices.
func realDir(fs afero.Fs, bdf string) string {
	link := path.Join("/sys/bus/pci/devices", bdf)
	target, err := fs.(afero.LinkReader).ReadlinkIfPossible(link)
	Expect(err).NotTo(HaveOccurred())
	return path.Join(path.Dir(link), target)
}

func firstEntry(fs afero.Fs, dir string) string {
	es, err := afero.ReadDir(fs, dir)
	Expect(err).NotTo(HaveOccurred())
	Expect(es).NotTo(BeEmpty(), dir)
	return es[0].Name()
}

var _ = Describe("Device plugin on presets of the fake kernel", Label("sim"), func() {
	ctx := context.Background()
	for _, preset := range []string{"laptop", "gpu-8rail", "dual-cx6"} {
		Context(preset, func() {
			var (
				kernel  *fakesysfs.Kernel
				live    *netdevs
				kubelet *kubelettest.Kubelet
				node    topology.Node
				want    map[string]int
				devInfo string
				cfgFile string
				opts    deviceplugin.Options
				plugin  *deviceplugin.Plugin
			)
			BeforeEach(func() {
				var err error
				node, err = topology.Preset(preset)
				Expect(err).NotTo(HaveOccurred())
				live = &netdevs{oper: map[string]string{}, inPods: map[string]bool{}}
				kernel, err = fakesysfs.New(node, fakesysfs.WithNetdevs(live))
				Expect(err).NotTo(HaveOccurred())
				want = map[string]int{}
				for _, p := range ports(node) {
					if p.ib {
						want["nvidia.com/ib"] += p.numVF
					} else {
						want["nvidia.com/eth"] += p.numVF
					}
				}
				dir, err := os.MkdirTemp("", "dp")
				Expect(err).NotTo(HaveOccurred())
				DeferCleanup(os.RemoveAll, dir)
				cfg := filepath.Join(dir, "config.json")
				Expect(os.WriteFile(cfg, []byte(simConfig), 0o644)).To(Succeed())
				cfgFile = cfg
				devInfo = filepath.Join(dir, "devinfo")
				log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
				kubelet = kubelettest.New(kubelettest.Options{DevicePluginDir: filepath.Join(dir, "dp"),
					PodResourcesSocket: filepath.Join(dir, "pr.sock"), Logger: log})
				Expect(kubelet.Start()).To(Succeed())
				DeferCleanup(kubelet.Stop)
				opts = deviceplugin.Options{ConfigFile: cfg, DevicePluginDir: filepath.Join(dir, "dp"),
					PodResourcesSocket: filepath.Join(dir, "pr.sock"), DevInfoDir: devInfo, Inventory: discovery.New(kernel),
					Logger: log, PollInterval: 20 * time.Millisecond, KubeletInterval: 20 * time.Millisecond}
				plugin, err = deviceplugin.New(opts)
				Expect(err).NotTo(HaveOccurred())
				Expect(plugin.Start()).To(Succeed())
				DeferCleanup(plugin.Stop)
			})
			counts := func(res string) func() kubelettest.Counts {
				return func() kubelettest.Counts { return kubelet.Counts(res) }
			}

			It("advertises every enabled VF of the preset, healthy, with its NUMA node", func() {
				for res, n := range want {
					Eventually(counts(res)).Should(Equal(kubelettest.Counts{Capacity: n, Allocatable: n}), res)
				}
				for _, p := range ports(node) {
					res := map[bool]string{true: "nvidia.com/ib", false: "nvidia.com/eth"}[p.ib]
					devs := kubelet.Devices(res)
					for i := range p.numVF {
						vf := path.Base(realDir(kernel, path.Join(p.pf, fmt.Sprintf("virtfn%d", i))))
						Expect(devs).To(HaveKey(vf))
						Expect(devs[vf].Health).To(Equal(pluginapi.Healthy))
						Expect(devs[vf].Topology.GetNodes()).To(HaveLen(1))
						Expect(devs[vf].Topology.Nodes[0].ID).To(BeEquivalentTo(p.numa), vf)
					}
				}
			})

			It("allocates RDMA VFs with upstream env, specs and device-info, until exhausted; release restores", func() {
				n := want["nvidia.com/ib"]
				if n == 0 {
					Skip("no InfiniBand VFs in " + preset)
				}
				Eventually(counts("nvidia.com/ib")).Should(HaveField("Allocatable", n))
				ids, resp, err := kubelet.Allocate(ctx, kubelettest.Pod{Namespace: "ns", Name: "a"}, "c", "nvidia.com/ib", 1)
				Expect(err).NotTo(HaveOccurred())
				id := ids[0]
				Expect(resp.Envs).To(HaveKeyWithValue("PCIDEVICE_NVIDIA_COM_IB", id))
				rdmaDev := firstEntry(kernel, path.Join("/sys/bus/pci/devices", id, "infiniband"))
				uverbs := firstEntry(kernel, path.Join("/sys/bus/pci/devices", id, "infiniband_verbs"))
				var info map[string]map[string]map[string]string
				Expect(json.Unmarshal([]byte(resp.Envs["PCIDEVICE_NVIDIA_COM_IB_INFO"]), &info)).To(Succeed())
				Expect(info[id]["generic"]).To(Equal(map[string]string{"deviceID": id}))
				Expect(info[id]["rdma"]).To(HaveKeyWithValue("rdma_dev", rdmaDev))
				Expect(info[id]["rdma"]).To(HaveKeyWithValue("uverbs", "/dev/infiniband/"+uverbs))
				Expect(info[id]["rdma"]).To(HaveKeyWithValue("rdma_cm", "/dev/infiniband/rdma_cm"))
				var paths []string
				for _, s := range resp.Devices {
					paths = append(paths, s.HostPath)
					_, err := kernel.Stat(s.HostPath)
					Expect(err).NotTo(HaveOccurred(), "spec %s exists on the node", s.HostPath)
				}
				Expect(paths).To(ContainElements("/dev/infiniband/"+uverbs, "/dev/infiniband/rdma_cm"))
				content, err := os.ReadFile(filepath.Join(devInfo, deviceplugin.DevInfoFile("nvidia.com/ib", id)))
				Expect(err).NotTo(HaveOccurred())
				Expect(content).To(MatchJSON(fmt.Sprintf(`{"type":"pci","version":"1.1.0","pci":{"pci-address":%q,"rdma-device":%q}}`, id, rdmaDev)))
				_, _, err = kubelet.Allocate(ctx, kubelettest.Pod{Namespace: "ns", Name: "b"}, "c", "nvidia.com/ib", n-1)
				Expect(err).NotTo(HaveOccurred())
				_, _, err = kubelet.Allocate(ctx, kubelettest.Pod{Namespace: "ns", Name: "c"}, "c", "nvidia.com/ib", 1)
				Expect(err).To(MatchError(kubelettest.ErrUnavailable))
				kubelet.Release(kubelettest.Pod{Namespace: "ns", Name: "b"})
				Expect(kubelet.Counts("nvidia.com/ib")).To(Equal(kubelettest.Counts{Capacity: n, Allocatable: n, Allocated: 1}))
			})

			It("streams health down and up: VF driver unbound, PF link down, IB port down", func() {
				for res, n := range want {
					Eventually(counts(res)).Should(HaveField("Allocatable", n))
				}
				for _, p := range ports(node) {
					if p.numVF == 0 {
						continue
					}
					res := "nvidia.com/eth"
					if p.ib {
						res = "nvidia.com/ib"
					}
					vf0 := path.Base(realDir(kernel, path.Join(p.pf, "virtfn0")))
					By(p.pf + ": unbind VF " + vf0)
					Expect(afero.WriteFile(kernel, "/sys/bus/pci/drivers/mlx5_core/unbind", []byte(vf0), 0o200)).To(Succeed())
					Eventually(func() string { return kubelet.Devices(res)[vf0].GetHealth() }).Should(Equal(pluginapi.Unhealthy),
						func() string { return fmt.Sprintf("%s devices: %v", res, kubelet.Devices(res)) })
					Expect(afero.WriteFile(kernel, "/sys/bus/pci/drivers/mlx5_core/bind", []byte(vf0), 0o200)).To(Succeed())
					Eventually(func() string { return kubelet.Devices(res)[vf0].GetHealth() }).Should(Equal(pluginapi.Healthy))
					pfDir := realDir(kernel, p.pf)
					if p.ib {
						By(p.pf + ": IB port down")
						rdma := firstEntry(kernel, path.Join(pfDir, "infiniband"))
						state := path.Join(pfDir, "infiniband", rdma, "ports/1/state")
						Expect(kernel.Update(func(raw afero.Fs) error { return afero.WriteFile(raw, state, []byte("1: DOWN\n"), 0o444) })).To(Succeed())
						Eventually(counts(res)).Should(HaveField("Allocatable", want[res]-p.numVF))
						Expect(kernel.Update(func(raw afero.Fs) error { return afero.WriteFile(raw, state, []byte("4: ACTIVE\n"), 0o444) })).To(Succeed())
					} else {
						By(p.pf + ": PF link down")
						name := firstEntry(kernel, path.Join(pfDir, "net"))
						live.set(name, "down")
						Eventually(counts(res)).Should(HaveField("Allocatable", want[res]-p.numVF))
						live.set(name, "up")
					}
					Eventually(counts(res)).Should(HaveField("Allocatable", want[res]))
				}
			})

			It("keeps VFs whose netdevs are in pods across a plugin restart", func() {
				res := "nvidia.com/eth"
				if want[res] == 0 {
					res = "nvidia.com/ib"
				}
				n := want[res]
				Eventually(counts(res)).Should(HaveField("Allocatable", n))
				pod := kubelettest.Pod{Namespace: "ns", Name: "a"}
				held, _, err := kubelet.Allocate(ctx, pod, "c", res, 2)
				Expect(err).NotTo(HaveOccurred())
				plugin.Stop()
				By("the CNI moved the VFs' netdevs into the pod: no net/ entry, no host operstate or link type")
				for _, id := range held {
					name := firstEntry(kernel, path.Join("/sys/bus/pci/devices", id, "net"))
					live.moveToPod(name)
					es, _ := afero.ReadDir(kernel, path.Join("/sys/bus/pci/devices", id, "net"))
					Expect(es).To(BeEmpty())
				}
				restarted, err := deviceplugin.New(opts)
				Expect(err).NotTo(HaveOccurred())
				Expect(restarted.Start()).To(Succeed())
				DeferCleanup(restarted.Stop)
				Eventually(counts(res)).Should(Equal(kubelettest.Counts{Capacity: n, Allocatable: n, Allocated: 2}))
				for _, id := range held {
					Expect(kubelet.Devices(res)[id].GetHealth()).To(Equal(pluginapi.Healthy))
				}
				_, _, err = kubelet.Allocate(ctx, kubelettest.Pod{Namespace: "ns", Name: "b"}, "c", res, n-2)
				Expect(err).NotTo(HaveOccurred())
				_, _, err = kubelet.Allocate(ctx, kubelettest.Pod{Namespace: "ns", Name: "c"}, "c", res, 1)
				Expect(err).To(MatchError(kubelettest.ErrUnavailable))
			})

			It("re-registers within a second after a kubelet restart", func() {
				for res, n := range want {
					Eventually(counts(res)).Should(HaveField("Allocatable", n))
				}
				Expect(kubelet.Restart()).To(Succeed())
				Eventually(func() bool {
					for res := range want {
						if !kubelet.Connected(res) {
							return false
						}
					}
					return true
				}, time.Second, 10*time.Millisecond).Should(BeTrue())
				for res, n := range want {
					Eventually(counts(res)).Should(Equal(kubelettest.Counts{Capacity: n, Allocatable: n}))
				}
			})

			It("reloads its config: one pool per PF, by rootDevices ranges", func() {
				Eventually(kubelet.Resources).Should(HaveLen(2))
				var list []string
				expect := map[string]int{}
				for i, p := range ports(node) {
					name := fmt.Sprintf("rail%d", i)
					list = append(list, fmt.Sprintf(`{"resourceName":%q,"selectors":{"rootDevices":["%s#0-1"]}}`, name, p.pf))
					expect["intel.com/"+name] = min(p.numVF, 2)
				}
				tmp := cfgFile + ".tmp"
				Expect(os.WriteFile(tmp, []byte(`{"resourceList":[`+strings.Join(list, ",")+`]}`), 0o644)).To(Succeed())
				Expect(os.Rename(tmp, cfgFile)).To(Succeed())
				for res, n := range expect {
					Eventually(counts(res)).Should(Equal(kubelettest.Counts{Capacity: n, Allocatable: n}), res)
				}
				Eventually(func() bool { return kubelet.Connected("nvidia.com/ib") || kubelet.Connected("nvidia.com/eth") }).Should(BeFalse())
			})

			It("follows sriov_numvfs writes without a restart", func() {
				p := ports(node)[0]
				res := map[bool]string{true: "nvidia.com/ib", false: "nvidia.com/eth"}[p.ib]
				Eventually(counts(res)).Should(HaveField("Capacity", want[res]))
				numvfs := path.Join("/sys/bus/pci/devices", p.pf, "sriov_numvfs")
				Expect(afero.WriteFile(kernel, numvfs, []byte("0"), 0o644)).To(Succeed())
				Eventually(counts(res)).Should(Equal(kubelettest.Counts{Capacity: want[res] - p.numVF, Allocatable: want[res] - p.numVF}))
				Expect(afero.WriteFile(kernel, numvfs, []byte("8"), 0o644)).To(Succeed())
				n := want[res] - p.numVF + 8
				Eventually(counts(res)).Should(Equal(kubelettest.Counts{Capacity: n, Allocatable: n}))
			})
		})
	}
})
