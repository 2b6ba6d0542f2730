package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/kubelettest"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/linkops"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
	"github.com/vflab/vflab/sandbox"
	"github.com/vflab/vflab/scenarios/sim"
)

// simNode is one node of the scenario with everything the hot path needs.
type simNode struct {
	*sandbox.Node
	runtime  *sim.NodeRuntime
	attacher *sim.Attacher
	store    *clusterstore.Store
	pci      *sriov.Driver
	rdma     *ib.Driver
	host     *linkops.NS
}

// fabric is one kind of secondary network of the scenario.
type fabric struct {
	name     string // sandbox fabric
	resource string
	network  *ipam.Network
	mtu      int
	routes   []linkops.Route
}

func network(name, cidr, gw string) *ipam.Network {
	return &ipam.Network{Name: name, RangeSets: []ipam.RangeSet{{{
		Subnet: netip.MustParsePrefix(cidr), Gateway: netip.MustParseAddr(gw),
	}}}}
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	Expect(err).NotTo(HaveOccurred())
	return n
}

// linkState is what the leak check compares in a namespace: every link's name, MTU and address.
func linkState(h *linkops.NS) []string {
	GinkgoHelper()
	return links(h, true)
}

// links lists a namespace's links by name and MTU, and address when withAddr.
func links(h *linkops.NS, withAddr bool) []string {
	GinkgoHelper()
	links, err := h.Handle().LinkList()
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if withAddr {
			out = append(out, fmt.Sprintf("%s mtu %d %s", a.Name, a.MTU, a.HardwareAddr))
		} else {
			out = append(out, fmt.Sprintf("%s mtu %d", a.Name, a.MTU))
		}
	}
	sort.Strings(out)
	return out
}

// vfRecord is the PF-side state of a VF in the node's fake kernel, with unset values (nil or all
// zeros, which the kernel does not tell apart) as nil.
func vfRecord(n *simNode, pf string, index int) fakesysfs.VF {
	GinkgoHelper()
	vfs, err := n.Kernel.VFs(pf)
	Expect(err).NotTo(HaveOccurred())
	Expect(len(vfs)).To(BeNumerically(">", index))
	v := vfs[index]
	for _, b := range []*net.HardwareAddr{&v.MAC, &v.NodeGUID, &v.PortGUID} {
		if bytes.Count(*b, []byte{0}) == len(*b) {
			*b = nil
		}
	}
	return v
}

var _ = Describe("The hot path of a pod", Ordered, Label("sim"), func() {
	var (
		cluster  *sandbox.Cluster
		nodes    []*simNode
		eth, ibf fabric
		seq      int
		netnses  []string            // pod namespaces created
		initial  map[string][]string // node (or Ethernet fabric) -> its namespace's links after Up
		fabricNS *linkops.NS         // the Ethernet fabric's namespace (its bridge and the veth peers)
	)

	BeforeAll(func(ctx SpecContext) {
		dir, err := os.MkdirTemp("/dev/shm", "vflab-sim-")
		if err != nil {
			dir = GinkgoT().TempDir()
		} else {
			DeferCleanup(os.RemoveAll, dir)
		}
		var tnodes []topology.Node
		for _, name := range []string{"a", "b"} {
			n, err := topology.Preset("laptop")
			Expect(err).NotTo(HaveOccurred())
			n.Name = name
			tnodes = append(tnodes, n)
		}
		name := fmt.Sprintf("sim%d", os.Getpid()%100000)
		cluster, err = sandbox.Up(ctx, name, tnodes, sandbox.Options{StateDir: filepath.Join(dir, "sandbox")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(cluster.Down()).To(Succeed()) })

		etcd, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: filepath.Join(dir, "etcd"), UnsafeNoFsync: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(etcd.Close)

		eth = fabric{name: "eth0", resource: sim.ResourceEth, network: network("sim-eth", "10.56.0.0/24", "10.56.0.254"), mtu: 1400,
			routes: []linkops.Route{{Dst: mustCIDR("10.156.0.0/16"), Gw: net.ParseIP("10.56.0.254")}}}
		ibf = fabric{name: "ib0", resource: sim.ResourceIB, network: network("sim-ib", "10.57.0.0/24", "10.57.0.254"), mtu: 2044}
		Expect(eth.network.Validate()).To(Succeed())
		Expect(ibf.network.Validate()).To(Succeed())

		for i, n := range cluster.Nodes {
			sn := &simNode{Node: n}
			vfs := sandbox.NewVFConfig(n.Kernel, n.Netdevs)
			sn.pci = sriov.New(n.Kernel, vfs)
			sn.rdma = ib.New(n.Kernel, vfs, sn.pci)
			sn.host, err = linkops.Open(n.NamespacePath())
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sn.host.Close)
			sn.attacher, err = sim.NewAttacher(sim.AttacherConfig{FS: n.Kernel, VFs: vfs, HostNS: n.NamespacePath(),
				LockDir: filepath.Join(dir, n.Name, "locks"), NodeID: uint32(i + 1)})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sn.attacher.Close)
			sn.runtime, err = sim.StartNodeRuntime(n.Kernel, filepath.Join(dir, n.Name, "kubelet"), nil)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sn.runtime.Stop)
			Expect(sn.runtime.WaitReady(10 * time.Second)).To(Succeed())
			sn.store, err = clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{etcd.ClientURL()},
				Prefix: "/" + name + "/", Node: n.Name})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sn.store.Close)
			nodes = append(nodes, sn)
		}
		initial = map[string][]string{}
		for _, n := range nodes {
			initial[n.Name] = linkState(n.host)
		}
		fab, err := linkops.Open(sandbox.NamespacePath(sandbox.FabricNamespace(name, eth.name)))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(fab.Close)
		fabricNS = fab
		// Peers by name only: a pair destroyed with a deleted pod namespace comes back as a new one.
		initial[eth.name] = links(fab, false)
	})

	// pod is one pod with one VF of a fabric attached, as the runtime and CNI leave it.
	type pod struct {
		node      *simNode
		fab       fabric
		kpod      kubelettest.Pod
		netns     ns.NetNS
		att       *sim.Attachment
		pf        string // PF PCI address
		index     int
		before    fakesysfs.VF
		hostLinks []string
		req       sim.Request
		addr      netip.Addr
	}

	free := func(n *simNode, res string) int {
		c := n.runtime.Kubelet.Counts(res)
		return c.Allocatable - c.Allocated
	}

	// schedule runs the pod's hot path up to a running pod: kubelet Allocate, pod namespace, attach.
	// allocate runs the pod's hot path up to its sandbox: kubelet Allocate, device-info, pod namespace.
	allocate := func(ctx context.Context, n *simNode, fab fabric) *pod {
		GinkgoHelper()
		seq++
		p := &pod{node: n, fab: fab, kpod: kubelettest.Pod{Namespace: "sim", Name: fmt.Sprintf("pod-%d", seq)}}
		stock := free(n, fab.resource)
		ids, resp, err := n.runtime.Kubelet.Allocate(ctx, p.kpod, "c", fab.resource, 1)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { n.runtime.Kubelet.Release(p.kpod) }) // idempotent
		Expect(ids).To(HaveLen(1))
		Expect(free(n, fab.resource)).To(Equal(stock-1), "stock after Allocate")
		Expect(resp.Envs).To(HaveKeyWithValue(deviceplugin.EnvName("nvidia.com", path.Base(fab.resource)), ids[0]))
		// The CNI reads the VF's PCI address from the device-info file multus names by device ID.
		b, err := os.ReadFile(filepath.Join(n.runtime.DevInfoDir, deviceplugin.DevInfoFile(fab.resource, ids[0])))
		Expect(err).NotTo(HaveOccurred())
		var info deviceplugin.DeviceInfo
		Expect(json.Unmarshal(b, &info)).To(Succeed())
		Expect(info.Pci).NotTo(BeNil())
		vf := info.Pci.PCIAddress
		Expect(vf).To(Equal(ids[0]))

		loc, err := n.pci.Locate(vf)
		Expect(err).NotTo(HaveOccurred())
		p.pf, p.index = loc.PF, loc.Index
		p.before = vfRecord(n, p.pf, p.index)
		p.hostLinks = linkState(n.host)

		p.netns, err = testutils.NewNS()
		Expect(err).NotTo(HaveOccurred())
		netnses = append(netnses, p.netns.Path())
		DeferCleanup(func() { // idempotent: the deleted-first spec removes it earlier
			_ = p.netns.Close()
			_ = testutils.UnmountNS(p.netns)
		})
		req := sim.Request{
			ContainerID: fmt.Sprintf("ctr-%d", seq), NetNS: p.netns.Path(), IfName: "net1", PCI: vf, MTU: fab.mtu,
			Store: n.store, Network: fab.network, Pod: ipam.PodRef{Namespace: "sim", Name: p.kpod.Name, UID: fmt.Sprint("uid-", seq)},
			Routes: fab.routes,
		}
		if fab.name == eth.name {
			req.MAC = net.HardwareAddr{0x02, 0x76, 0x66, 0, byte(len(n.Name)), byte(seq)}
			req.VLAN = 42
		}
		p.req = req
		return p
	}

	// attach is what the CNI does for the pod (safe to run for several pods at once).
	attach := func(ctx context.Context, p *pod) {
		GinkgoHelper()
		var err error
		p.att, err = p.node.attacher.Attach(ctx, p.req)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.att.Addresses).To(HaveLen(1))
		p.addr = p.att.Addresses[0].Addr
		// An InfiniBand VF is briefly unbound by the GUID rebind, and a plugin scan may catch it
		// unhealthy: wait until the kubelet sees every device healthy again, so stock counts compare.
		Eventually(func() kubelettest.Counts { return p.node.runtime.Kubelet.Counts(p.fab.resource) }).
			WithTimeout(5 * time.Second).Should(Satisfy(func(c kubelettest.Counts) bool { return c.Allocatable == c.Capacity }))
	}

	schedule := func(ctx context.Context, n *simNode, fab fabric) *pod {
		GinkgoHelper()
		p := allocate(ctx, n, fab)
		attach(ctx, p)
		return p
	}

	// expectAttached checks the pod's side and the node's view of an attached VF.
	expectAttached := func(p *pod) {
		GinkgoHelper()
		h, err := linkops.Open(p.netns.Path())
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = h.Close() }()
		l, err := h.Link("net1")
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Attrs().MTU).To(Equal(p.fab.mtu))
		Expect(l.Attrs().Flags & net.FlagUp).NotTo(BeZero())
		addrs, err := h.Addrs("net1", 2 /* FAMILY_V4 */)
		Expect(err).NotTo(HaveOccurred())
		Expect(addrs).To(ContainElement(HaveField("IPNet.IP", BeEquivalentTo(p.addr.AsSlice()))))
		for _, r := range p.fab.routes {
			routes, err := h.Routes("net1", 2)
			Expect(err).NotTo(HaveOccurred())
			Expect(routes).To(ContainElement(HaveField("Dst.String()", r.Dst.String())))
		}
		fn, err := p.node.pci.ReadFunction(p.att.PCI)
		Expect(err).NotTo(HaveOccurred())
		Expect(fn.Netdevs).To(BeEmpty(), "sysfs still shows the VF netdev in the host namespace")
		rec := vfRecord(p.node, p.pf, p.index)
		if p.fab.name == eth.name {
			Expect(rec.MAC).To(Equal(p.att.MAC))
			Expect(rec.Vlan).To(Equal(42))
		} else {
			Expect(rec.NodeGUID).To(Equal(p.att.GUIDs.Node.HardwareAddr()))
			Expect(rec.PortGUID).To(Equal(p.att.GUIDs.Port.HardwareAddr()))
			// In effect: the rebind made the VF's RDMA device show them.
			Expect(p.node.rdma.VFGUIDs(p.att.PCI)).To(Equal(p.att.GUIDs))
		}
		owned, err := p.node.store.Owned(context.Background(), p.fab.network.Name, ipam.Owner{ContainerID: p.att.ContainerID, IfName: "net1"})
		Expect(err).NotTo(HaveOccurred())
		Expect(owned).To(ConsistOf(HaveField("Addr", p.addr)))
	}

	// expectDetached checks that nothing of the pod is left on its node: VF state, netdev, address.
	expectDetached := func(ctx context.Context, p *pod) {
		GinkgoHelper()
		n := p.node
		after := vfRecord(n, p.pf, p.index)
		if p.fab.name == ibf.name && !p.att.GUIDsBefore.Node.Valid() {
			// Unset GUIDs cannot be put back (the kernel refuses zero): the VF keeps its own.
			p.before.NodeGUID, p.before.PortGUID = p.att.GUIDs.Node.HardwareAddr(), p.att.GUIDs.Port.HardwareAddr()
		}
		Expect(after).To(Equal(p.before), "PF-side VF state")
		if p.att.Snapshot != nil {
			st, err := n.pci.VFState(p.att.PFNetdev, p.att.VFIndex)
			Expect(err).NotTo(HaveOccurred())
			Expect(st).To(Equal(p.att.Snapshot.Before))
		}
		fn, err := n.pci.ReadFunction(p.att.PCI)
		Expect(err).NotTo(HaveOccurred())
		Expect(fn.Netdevs).To(Equal([]string{p.att.HostName}), "sysfs shows the VF back in the host namespace")
		Expect(afero.Exists(n.Kernel, "/sys/class/net/"+p.att.HostName)).To(BeTrue())
		Expect(linkState(n.host)).To(Equal(p.hostLinks), "host namespace links")
		owned, err := n.store.Owned(ctx, p.fab.network.Name, ipam.Owner{ContainerID: p.att.ContainerID, IfName: "net1"})
		Expect(err).NotTo(HaveOccurred())
		Expect(owned).To(BeEmpty())
		all, err := n.store.List(ctx, p.fab.network.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(all).NotTo(ContainElement(HaveField("Addr", p.addr)), "address free again")
	}

	// teardown is the exact reverse: detach (IPAM DEL, move back, restore), kubelet release; then checks.
	teardown := func(ctx context.Context, p *pod) {
		GinkgoHelper()
		n := p.node
		stock := free(n, p.fab.resource)
		Expect(n.attacher.Detach(ctx, p.att)).To(Succeed())
		n.runtime.Kubelet.Release(p.kpod)
		Expect(free(n, p.fab.resource)).To(Equal(stock+1), "stock after release")
		expectDetached(ctx, p)
	}

	deleteNetns := func(p *pod) {
		GinkgoHelper()
		Expect(p.netns.Close()).To(Succeed())
		Expect(testutils.UnmountNS(p.netns)).To(Succeed())
		Expect(p.netns.Path()).NotTo(BeAnExistingFile())
	}

	// roundTrip sends a datagram from pod `from` to an echo server in pod `to`, over their VFs.
	roundTrip := func(from, to *pod) {
		GinkgoHelper()
		var pc net.PacketConn
		Expect(to.netns.Do(func(ns.NetNS) error {
			var err error
			pc, err = net.ListenPacket("udp4", net.JoinHostPort(to.addr.String(), "7777"))
			return err
		})).To(Succeed())
		defer func() { _ = pc.Close() }()
		go func() {
			buf := make([]byte, 2048)
			for {
				n, src, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], src)
			}
		}()
		msg := []byte(fmt.Sprintf("hello %s -> %s", from.addr, to.addr))
		Eventually(func() ([]byte, error) {
			var got []byte
			err := from.netns.Do(func(ns.NetNS) error {
				c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to.addr, 7777)))
				if err != nil {
					return err
				}
				defer func() { _ = c.Close() }()
				if _, err := c.Write(msg); err != nil {
					return err
				}
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				buf := make([]byte, 2048)
				n, err := c.Read(buf)
				got = buf[:n]
				return err
			})
			return got, err
		}).WithTimeout(5 * time.Second).Should(Equal(msg))
	}

	for _, which := range []string{"Ethernet", "InfiniBand"} {
		It("allocates a VF per pod, attaches, exchanges UDP across nodes and reverses exactly over "+which, func(ctx SpecContext) {
			fab := eth
			if which == "InfiniBand" {
				fab = ibf
			}
			a := schedule(ctx, nodes[0], fab)
			b := schedule(ctx, nodes[1], fab)
			expectAttached(a)
			expectAttached(b)
			Expect(a.addr).NotTo(Equal(b.addr))
			roundTrip(a, b)
			roundTrip(b, a)
			teardown(ctx, b)
			teardown(ctx, a)
		})
	}

	It("detaches when the pod namespace was deleted first", func(ctx SpecContext) {
		for _, fab := range []fabric{eth, ibf} {
			p := schedule(ctx, nodes[0], fab)
			expectAttached(p)
			deleteNetns(p)
			// The runtime returns VF netdevs destroyed with the namespace to the host (a physical VF
			// netdev goes back by itself on hardware).
			Eventually(func() ([]string, error) {
				fn, err := p.node.pci.ReadFunction(p.att.PCI)
				if err != nil {
					return nil, err
				}
				_, err = p.node.Netdevs.Reclaim(p.node.Kernel)
				return fn.Netdevs, err
			}).WithTimeout(5 * time.Second).Should(Equal([]string{p.att.HostName}))
			teardown(ctx, p)
			// DEL again (the runtime retries) is still success.
			Expect(p.node.attacher.Detach(ctx, p.att)).To(Succeed())
		}
	})

	It("attaches and detaches every Ethernet VF of a node at once", func(ctx SpecContext) {
		n := nodes[1]
		total := n.runtime.Kubelet.Counts(eth.resource).Capacity
		Expect(total).To(BeNumerically(">=", 2))
		Expect(free(n, eth.resource)).To(Equal(total))
		var pods []*pod
		for range total {
			pods = append(pods, allocate(ctx, n, eth))
		}
		Expect(free(n, eth.resource)).To(BeZero())
		_, _, err := n.runtime.Kubelet.Allocate(ctx, kubelettest.Pod{Namespace: "sim", Name: "one-too-many"}, "c", eth.resource, 1)
		Expect(err).To(MatchError(kubelettest.ErrUnavailable))
		all := func(f func(*pod)) {
			var wg sync.WaitGroup
			for _, p := range pods {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer GinkgoRecover()
					f(p)
				}()
			}
			wg.Wait()
		}
		all(func(p *pod) { attach(ctx, p) })
		addrs := map[netip.Addr]bool{}
		for _, p := range pods {
			expectAttached(p)
			addrs[p.addr] = true
		}
		Expect(addrs).To(HaveLen(total), "distinct addresses")
		roundTrip(pods[0], pods[total-1])
		all(func(p *pod) { Expect(n.attacher.Detach(ctx, p.att)).To(Succeed()) })
		for _, p := range pods {
			n.runtime.Kubelet.Release(p.kpod)
			expectDetached(ctx, p)
		}
		Expect(free(n, eth.resource)).To(Equal(total))
	})

	It("undoes every step of an attach that fails, and refuses bad input changing nothing", func(ctx SpecContext) {
		n := nodes[0]
		kpod := kubelettest.Pod{Namespace: "sim", Name: "broken"}
		ids, _, err := n.runtime.Kubelet.Allocate(ctx, kpod, "c", eth.resource, 1)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { n.runtime.Kubelet.Release(kpod) })
		loc, err := n.pci.Locate(ids[0])
		Expect(err).NotTo(HaveOccurred())
		before, links := vfRecord(n, loc.PF, loc.Index), linkState(n.host)
		fnBefore, err := n.pci.ReadFunction(ids[0])
		Expect(err).NotTo(HaveOccurred())

		netns, err := testutils.NewNS()
		Expect(err).NotTo(HaveOccurred())
		netnses = append(netnses, netns.Path())
		DeferCleanup(func() {
			_ = netns.Close()
			_ = testutils.UnmountNS(netns)
		})
		pod, err := linkops.Open(netns.Path())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(pod.Close)
		// The pod already has a net1: the rename after the move fails.
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "net1"
		Expect(pod.Handle().LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "net1p"})).To(Succeed())
		podLinks := linkState(pod)

		req := sim.Request{ContainerID: "broken", NetNS: netns.Path(), IfName: "net1", PCI: ids[0], MTU: 1400,
			MAC: net.HardwareAddr{0x02, 0x76, 0x66, 0, 0, 0xee}, VLAN: 7, Store: n.store, Network: eth.network}
		_, err = n.attacher.Attach(ctx, req)
		GinkgoWriter.Println("failed attach:", err)
		Expect(err).To(MatchError(ContainSubstring("rename to net1")))
		bad := req
		bad.IfName = ""
		_, err = n.attacher.Attach(ctx, bad)
		Expect(err).To(MatchError(ContainSubstring(`ifname ""`)))
		bad = req
		bad.VLAN = 4096
		_, err = n.attacher.Attach(ctx, bad)
		Expect(err).To(MatchError(ContainSubstring("4096")))
		bad = req
		bad.Network = nil
		_, err = n.attacher.Attach(ctx, bad)
		Expect(err).To(MatchError(ContainSubstring("needs a network")))

		Expect(vfRecord(n, loc.PF, loc.Index)).To(Equal(before), "PF-side VF state")
		fn, err := n.pci.ReadFunction(ids[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(fn.Netdevs).To(Equal(fnBefore.Netdevs), "VF netdev back in the host namespace")
		Expect(linkState(n.host)).To(Equal(links))
		Expect(linkState(pod)).To(Equal(podLinks))
		Expect(n.store.Owned(ctx, eth.network.Name, ipam.Owner{ContainerID: "broken", IfName: "net1"})).To(BeEmpty())
	})

	It("leaves no pod namespaces, links or addresses behind", func(ctx SpecContext) {
		Expect(netnses).To(HaveLen(7 + nodes[1].runtime.Kubelet.Counts(eth.resource).Capacity))
		for _, p := range netnses {
			Expect(p).NotTo(BeAnExistingFile(), "pod namespace left")
		}
		Expect(links(fabricNS, false)).To(Equal(initial[eth.name]), "links of the Ethernet fabric")
		for _, n := range nodes {
			Expect(linkState(n.host)).To(Equal(initial[n.Name]), "links of node %s", n.Name)
			for _, fab := range []fabric{eth, ibf} {
				Expect(n.store.List(ctx, fab.network.Name)).To(BeEmpty(), "addresses of %s", fab.network.Name)
			}
			for _, res := range []string{sim.ResourceEth, sim.ResourceIB} {
				c := n.runtime.Kubelet.Counts(res)
				Expect(c.Allocated).To(BeZero(), "devices of %s still allocated on %s", res, n.Name)
				Expect(c.Allocatable).To(Equal(c.Capacity), "%s on %s", res, n.Name)
			}
		}
	})
})
