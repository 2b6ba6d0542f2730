package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// testNode is a node with a dual-port Ethernet NIC (fabrics eth0, eth1) and a dual-port InfiniBand HCA
// (fabrics ib0, ib1), vfs VFs enabled on each port.
func testNode(name string, vfs int) topology.Node {
	return topology.Node{Name: name, NICs: []topology.NIC{
		{Model: "ConnectX-6 Dx", PCIAddress: "0000:3b:00.0", Ports: []topology.Port{
			{LinkLayer: topology.Ethernet, TotalVFs: 8, NumVFs: vfs, Fabric: "eth0"},
			{LinkLayer: topology.Ethernet, TotalVFs: 8, NumVFs: vfs, Fabric: "eth1"},
		}},
		{Model: "ConnectX-6", PCIAddress: "0000:86:00.0", Ports: []topology.Port{
			{LinkLayer: topology.InfiniBand, TotalVFs: 8, NumVFs: vfs, Fabric: "ib0"},
			{LinkLayer: topology.InfiniBand, TotalVFs: 8, NumVFs: vfs, Fabric: "ib1"},
		}},
	}}
}

var clusterSeq atomic.Int32

// newClusterName returns a cluster name unique to this spec and process.
func newClusterName() string {
	return fmt.Sprintf("t%d-%d", os.Getpid()%100000, clusterSeq.Add(1))
}

// expectNoLeaks checks that nothing of cluster is left: namespaces, their mounts, links in the caller's
// namespace, forwarder processes.
func expectNoLeaks(cluster string) {
	prefix := NamespacePrefix + cluster + "-"
	names, err := listNamespaces(prefix)
	Expect(err).NotTo(HaveOccurred())
	Expect(names).To(BeEmpty(), "namespaces left")
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	Expect(string(mounts)).NotTo(ContainSubstring("/netns/"+prefix), "namespace mounts left")
	links, err := netlink.LinkList()
	Expect(err).NotTo(HaveOccurred())
	for _, l := range links {
		Expect(l.Attrs().Alias).NotTo(HavePrefix(aliasPrefix), "link %s in the root namespace", l.Attrs().Name)
	}
	Eventually(func() []string { return processesOf(cluster) }).WithTimeout(3*time.Second).Should(BeEmpty(), "forwarder processes left")
}

// processesOf returns the pids of processes started for cluster (envCluster in their environment).
func processesOf(cluster string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && strings.Contains(string(env), "\x00"+envCluster+"="+cluster+"\x00") {
			if p, err := processOf(atoi(e.Name())); err == nil && p.PID > 0 {
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// stateDir returns a state directory for one spec, on tmpfs where there is one: fake kernels are many
// small files.
func stateDir() string {
	GinkgoHelper()
	dir, err := os.MkdirTemp("/dev/shm", "vflab-sandbox-test-")
	if err != nil {
		return GinkgoT().TempDir()
	}
	DeferCleanup(os.RemoveAll, dir)
	return dir
}

// up builds a cluster for one spec and removes it after the spec.
func up(cluster string, nodes []topology.Node, opts Options) *Cluster {
	GinkgoHelper()
	if opts.StateDir == "" {
		opts.StateDir = stateDir()
	}
	c, err := Up(context.Background(), cluster, nodes, opts)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(c.Down()).To(Succeed()) })
	return c
}

// newPod creates a pod namespace of the spec's cluster (marked as part of the run, so that a concurrent
// GC leaves it alone) and returns a handle in it.
func newPod(c *Cluster, name string) *nsHandle {
	GinkgoHelper()
	nsName := NamespacePrefix + c.State.Cluster + "-pod-" + name
	Expect(newNamespace(nsName, c.Dir)).To(Succeed())
	DeferCleanup(func() { Expect(deleteNamespace(nsName)).To(Succeed()) })
	h, err := openNamespace(NamespacePath(nsName))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	return h
}

// host returns a netlink handle in a node's host namespace.
func host(n *Node) *nsHandle {
	GinkgoHelper()
	h, err := openNamespace(n.NamespacePath())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	return h
}

// vfsOf returns the VF netdevs of a node cabled to fabric, in PCI order.
func vfsOf(n *Node, fabric string) []fakesysfs.NetdevSpec {
	GinkgoHelper()
	specs, err := n.Kernel.Netdevs()
	Expect(err).NotTo(HaveOccurred())
	var out []fakesysfs.NetdevSpec
	for _, s := range specs {
		if !s.PF && s.Fabric == fabric {
			out = append(out, s)
		}
	}
	Expect(out).NotTo(BeEmpty(), "no VF on fabric %s", fabric)
	return out
}

// pfOf returns the PF netdev of a node cabled to fabric.
func pfOf(n *Node, fabric string) fakesysfs.NetdevSpec {
	GinkgoHelper()
	specs, err := n.Kernel.Netdevs()
	Expect(err).NotTo(HaveOccurred())
	for _, s := range specs {
		if s.PF && s.Fabric == fabric {
			return s
		}
	}
	Fail("no PF on fabric " + fabric)
	return fakesysfs.NetdevSpec{}
}

// attach moves a VF netdev of a node into a pod, addresses it and sets it up, as a CNI plugin would.
func attach(n *Node, vf fakesysfs.NetdevSpec, pod *nsHandle, cidr string) {
	GinkgoHelper()
	h := host(n)
	l, err := h.LinkByName(vf.Name)
	Expect(err).NotTo(HaveOccurred())
	Expect(h.LinkSetNsFd(l, int(pod.ns))).To(Succeed())
	l, err = pod.LinkByName(vf.Name)
	Expect(err).NotTo(HaveOccurred())
	addr, err := netlink.ParseAddr(cidr)
	Expect(err).NotTo(HaveOccurred())
	Expect(pod.AddrAdd(l, addr)).To(Succeed())
	Expect(pod.LinkSetUp(l)).To(Succeed())
}

// udpEcho serves UDP echo on port 7777 of every address of the pod until the spec ends.
func udpEcho(pod *nsHandle) {
	GinkgoHelper()
	var pc net.PacketConn
	Expect(ns.WithNetNSPath(pod.path, func(ns.NetNS) error {
		var err error
		pc, err = net.ListenPacket("udp4", ":7777")
		return err
	})).To(Succeed())
	DeferCleanup(pc.Close)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
}

// udpRoundTrip sends a datagram from the pod to dst:7777 and waits up to timeout for the echo.
func udpRoundTrip(pod *nsHandle, dst string, timeout time.Duration) error {
	var conn net.Conn
	err := ns.WithNetNSPath(pod.path, func(ns.NetNS) error {
		var err error
		conn, err = net.Dial("udp4", net.JoinHostPort(dst, "7777"))
		return err
	})
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		// Resend now and then: the first datagram may wait for address resolution.
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(minTime(deadline, time.Now().Add(100*time.Millisecond)))
		n, err := conn.Read(buf)
		if err == nil && string(buf[:n]) == "ping" {
			return nil
		}
	}
	return fmt.Errorf("no echo from %s within %s", dst, timeout)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

var _ = Describe("sandbox", func() {
	var cluster string
	BeforeEach(func() {
		cluster = newClusterName()
		DeferCleanup(func() { expectNoLeaks(cluster) }) // registered first: runs after every other cleanup
	})

	It("builds real netdevs that match the fake sysfs one for one", func() {
		c := up(cluster, []topology.Node{testNode("n0", 2), testNode("n1", 2)}, Options{})
		for _, n := range c.Nodes {
			h := host(n)
			specs, err := n.Kernel.Netdevs()
			Expect(err).NotTo(HaveOccurred())
			Expect(specs).To(HaveLen(4 + 4*2))
			links, err := linksByAliasPrefix(h.Handle, aliasPrefix+cluster+":"+n.Name+":")
			Expect(err).NotTo(HaveOccurred())
			Expect(links).To(HaveLen(len(specs)))
			for _, s := range specs {
				l, err := h.LinkByName(s.Name)
				Expect(err).NotTo(HaveOccurred(), s.Name)
				a := l.Attrs()
				Expect(a.Alias).To(Equal(Alias(cluster, n.Name, s.PCIAddress, s.Fabric)))
				Expect(a.MTU).To(Equal(s.MTU), s.Name)
				dir := "/sys/class/net/" + s.Name + "/"
				Expect(afero.ReadFile(n.Kernel, dir+"ifindex")).To(BeEquivalentTo(fmt.Sprintf("%d\n", a.Index)), s.Name)
				Expect(afero.ReadFile(n.Kernel, dir+"mtu")).To(BeEquivalentTo(fmt.Sprintf("%d\n", a.MTU)), s.Name)
				if s.LinkLayer == topology.InfiniBand {
					Expect(l.Type()).To(Equal("tuntap"), s.Name)
					Expect(a.EncapType).To(Equal("infiniband"), s.Name)
					Expect(afero.ReadFile(n.Kernel, dir+"type")).To(BeEquivalentTo("32\n"), s.Name)
				} else {
					Expect(l.Type()).To(Equal("veth"), s.Name)
					Expect(a.EncapType).To(Equal("ether"), s.Name)
					Expect(a.HardwareAddr).To(Equal(s.Address), s.Name)
					Expect(afero.ReadFile(n.Kernel, dir+"address")).To(BeEquivalentTo(s.Address.String()+"\n"), s.Name)
				}
				if s.PF {
					Expect(a.OperState).To(Equal(netlink.LinkOperState(netlink.OperUp)), s.Name)
				}
			}
		}
	})

	It("shows link/infiniband in `ip -d link` for every InfiniBand netdev", func() {
		if _, err := exec.LookPath("ip"); err != nil {
			Skip("no ip(8): " + err.Error())
		}
		c := up(cluster, []topology.Node{testNode("n0", 2)}, Options{})
		n := c.Nodes[0]
		out, err := exec.Command("ip", "-n", n.Namespace, "-d", "link", "show").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		specs, err := n.Kernel.Netdevs()
		Expect(err).NotTo(HaveOccurred())
		ib := 0
		for _, s := range specs {
			if s.LinkLayer != topology.InfiniBand {
				continue
			}
			ib++
			Expect(string(out)).To(MatchRegexp(`\d+: %s: <[^\n]*\n\s+link/infiniband`, s.Name))
		}
		Expect(ib).To(Equal(6))
	})

	It("hides a VF's sysfs entries while it sits in a pod, seen through a separate Open", func() {
		c := up(cluster, []topology.Node{testNode("n0", 1)}, Options{})
		n := c.Nodes[0]
		k2, nd2, err := OpenNode(n.Root)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(nd2.Close)
		h := host(n)
		pod := newPod(c, "a")
		for _, fabric := range []string{"eth0", "ib0"} {
			vf := vfsOf(n, fabric)[0]
			entry := "/sys/bus/pci/devices/" + vf.PCIAddress + "/net/" + vf.Name
			Expect(afero.Exists(k2, entry)).To(BeTrue(), entry)
			Expect(afero.Exists(k2, "/sys/class/net/"+vf.Name)).To(BeTrue())

			l, err := h.LinkByName(vf.Name)
			Expect(err).NotTo(HaveOccurred())
			Expect(h.LinkSetNsFd(l, int(pod.ns))).To(Succeed())
			Expect(afero.Exists(k2, entry)).To(BeFalse(), entry)
			Expect(afero.Exists(k2, "/sys/class/net/"+vf.Name)).To(BeFalse())

			l, err = pod.LinkByName(vf.Name)
			Expect(err).NotTo(HaveOccurred())
			Expect(pod.LinkSetNsFd(l, int(h.ns))).To(Succeed())
			Expect(afero.Exists(k2, entry)).To(BeTrue(), entry)
			Expect(afero.Exists(k2, "/sys/class/net/"+vf.Name)).To(BeTrue())
		}
	})

	DescribeTable("carries traffic between pods on two nodes within a fabric, not across fabrics",
		func(fabric, other string) {
			c := up(cluster, []topology.Node{testNode("n0", 1), testNode("n1", 1)}, Options{})
			a, b, x := newPod(c, "a"), newPod(c, "b"), newPod(c, "x")
			attach(c.Nodes[0], vfsOf(c.Nodes[0], fabric)[0], a, "10.20.0.1/24")
			attach(c.Nodes[1], vfsOf(c.Nodes[1], fabric)[0], b, "10.20.0.2/24")
			attach(c.Nodes[1], vfsOf(c.Nodes[1], other)[0], x, "10.20.0.3/24")
			udpEcho(b)
			udpEcho(x)
			Expect(udpRoundTrip(a, "10.20.0.2", 3*time.Second)).To(Succeed())
			Expect(udpRoundTrip(a, "10.20.0.3", 300*time.Millisecond)).NotTo(Succeed())
		},
		Entry("Ethernet", "eth0", "eth1"),
		Entry("InfiniBand", "ib0", "ib1"),
	)

	It("reads back VF configuration written by another goroutine and another process", func() {
		c := up(cluster, []topology.Node{testNode("n0", 2)}, Options{})
		n := c.Nodes[0]
		eth, ib := pfOf(n, "eth0"), pfOf(n, "ib0")
		mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
		guid := net.HardwareAddr{0, 1, 2, 3, 4, 5, 6, 7}
		done := make(chan error)
		go func() {
			defer GinkgoRecover()
			k2, nd2, err := OpenNode(n.Root)
			if err != nil {
				done <- err
				return
			}
			defer func() { _ = nd2.Close() }()
			vc := NewVFConfig(k2, nd2)
			pf, err := vc.LinkByName(eth.Name)
			if err != nil {
				done <- err
				return
			}
			ipf, err := vc.LinkByName(ib.Name)
			if err != nil {
				done <- err
				return
			}
			done <- errors.Join(vc.LinkSetVfHardwareAddr(pf, 1, mac), vc.LinkSetVfGUID(ipf, 1, guid, nl.IFLA_VF_IB_NODE_GUID))
		}()
		Expect(<-done).To(Succeed())

		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envVFSet+"="+n.Root, envPF+"="+eth.Name, envCluster+"="+cluster)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))

		vc := NewVFConfig(n.Kernel, n.Netdevs)
		pf, err := vc.LinkByName(eth.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(pf.Attrs().EncapType).To(Equal("ether"))
		vfs := pf.Attrs().Vfs
		Expect(vfs).To(HaveLen(2))
		Expect(vfs[0].Vlan).To(Equal(42))
		Expect(vfs[0].Qos).To(Equal(3))
		Expect(vfs[0].VlanProto).To(Equal(0x8100))
		Expect(vfs[0].Trust).To(Equal(uint32(1)))
		Expect(vfs[0].MinTxRate).To(Equal(uint32(10)))
		Expect(vfs[0].MaxTxRate).To(Equal(uint32(100)))
		Expect(vfs[0].LinkState).To(BeEquivalentTo(netlink.VF_LINK_STATE_ENABLE))
		Expect(vfs[1].Mac).To(Equal(mac))
		kvfs, err := n.Kernel.VFs(ib.PCIAddress)
		Expect(err).NotTo(HaveOccurred())
		Expect(kvfs[1].NodeGUID).To(Equal(guid))
		// The VF MAC set through the PF is the VF netdev's address (mlx5), on the real link too.
		vf1 := vfsOf(n, "eth0")[1]
		l, err := host(n).LinkByName(vf1.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Attrs().HardwareAddr).To(Equal(mac))
	})

	It("creates and removes real VF links on sriov_numvfs writes from the node's namespace", func() {
		c := up(cluster, []topology.Node{testNode("n0", 0)}, Options{ForwarderCommand: forwarderCommand(cluster)})
		n := c.Nodes[0]
		h := host(n)
		count := func() int {
			links, err := linksByAliasPrefix(h.Handle, aliasPrefix+cluster+":")
			Expect(err).NotTo(HaveOccurred())
			return len(links)
		}
		Expect(count()).To(Equal(4))
		eth, ib := pfOf(n, "eth0"), pfOf(n, "ib0")
		write := func(pf, v string) {
			GinkgoHelper()
			Expect(ns.WithNetNSPath(n.NamespacePath(), func(ns.NetNS) error {
				k, nd, err := OpenNode(n.Root)
				if err != nil {
					return err
				}
				defer func() { _ = nd.Close() }()
				return afero.WriteFile(k, "/sys/class/net/"+pf+"/device/sriov_numvfs", []byte(v), 0o644)
			})).To(Succeed())
		}
		write(eth.Name, "3")
		write(ib.Name, "2")
		Expect(count()).To(Equal(4 + 3 + 2))
		for _, vf := range vfsOf(n, "ib0") {
			l, err := h.LinkByName(vf.Name)
			Expect(err).NotTo(HaveOccurred())
			Expect(l.Attrs().EncapType).To(Equal("infiniband"))
			// The forwarder process holds its queue: the link has carrier once up.
			Expect(h.LinkSetUp(l)).To(Succeed())
			Eventually(func() netlink.LinkOperState {
				l, _ := h.LinkByName(vf.Name)
				return l.Attrs().OperState
			}).Should(Equal(netlink.LinkOperState(netlink.OperUp)))
		}
		// VFs disabled while a pod holds them vanish from the pod too, as on hardware.
		pod := newPod(c, "a")
		attach(n, vfsOf(n, "eth0")[2], pod, "10.50.0.1/24")
		attach(n, vfsOf(n, "ib0")[1], pod, "10.51.0.1/24")
		Expect(count()).To(Equal(4 + 3 + 2 - 2))
		write(eth.Name, "0")
		write(ib.Name, "0")
		Expect(count()).To(Equal(4))
		Eventually(func() []netlink.Link {
			links, err := linksByAliasPrefix(pod.Handle, aliasPrefix+cluster+":")
			Expect(err).NotTo(HaveOccurred())
			return links
		}).Should(BeEmpty())
	})

	It("returns VF netdevs destroyed with a pod namespace to the host on Reclaim", func() {
		c := up(cluster, []topology.Node{testNode("n0", 1)}, Options{})
		n := c.Nodes[0]
		Expect(n.Netdevs.Reclaim(n.Kernel)).To(BeEmpty())
		pod := newPod(c, "a")
		eth, ib := vfsOf(n, "eth0")[0], vfsOf(n, "ib0")[0]
		attach(n, eth, pod, "10.30.0.1/24")
		attach(n, ib, pod, "10.31.0.1/24")
		Expect(afero.Exists(n.Kernel, "/sys/class/net/"+eth.Name)).To(BeFalse())
		pod.Close() // the last reference: the namespace dies with the links inside
		Expect(deleteNamespace(NamespacePrefix + cluster + "-pod-a")).To(Succeed())
		var reclaimed []string
		Eventually(func() []string {
			names, err := n.Netdevs.Reclaim(n.Kernel)
			Expect(err).NotTo(HaveOccurred())
			reclaimed = append(reclaimed, names...)
			return reclaimed
		}).WithTimeout(5 * time.Second).Should(ConsistOf(eth.Name, ib.Name))
		h := host(n)
		for _, vf := range []fakesysfs.NetdevSpec{eth, ib} {
			l, err := h.LinkByName(vf.Name)
			Expect(err).NotTo(HaveOccurred())
			Expect(l.Attrs().Alias).To(Equal(Alias(cluster, n.Name, vf.PCIAddress, vf.Fabric)))
			Expect(afero.Exists(n.Kernel, "/sys/class/net/"+vf.Name)).To(BeTrue())
		}
		Expect(n.Netdevs.Reclaim(n.Kernel)).To(BeEmpty())
	})

	It("keeps InfiniBand netdevs across a forwarder restart", func() {
		c := up(cluster, []topology.Node{testNode("n0", 2)}, Options{ForwarderCommand: forwarderCommand(cluster)})
		n := c.Nodes[0]
		Expect(stopProcess(*c.State.Forwarder, stopGrace)).To(Succeed())
		vfs := vfsOf(n, "ib0")
		h := host(n)
		for _, vf := range vfs {
			_, err := h.LinkByName(vf.Name)
			Expect(err).NotTo(HaveOccurred(), "persistent TUN %s gone with its forwarder", vf.Name)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- RunForwarder(ctx, c.Dir, nil, nil) }()
		DeferCleanup(func() {
			cancel()
			Expect(<-done).To(Succeed())
		})
		Eventually(func() error {
			_, err := callForwarder(filepath.Join(c.Dir, forwarderSock), forwarderRequest{Op: "has", Alias: Alias(cluster, n.Name, vfs[1].PCIAddress, "ib0")})
			return err
		}).Should(Succeed())
		a, b := newPod(c, "a"), newPod(c, "b")
		attach(n, vfs[0], a, "10.40.0.1/24")
		attach(n, vfs[1], b, "10.40.0.2/24")
		udpEcho(b)
		Expect(udpRoundTrip(a, "10.40.0.2", 3*time.Second)).To(Succeed())
	})

	It("refuses a cluster name in use and leaves the running cluster alone", func() {
		c := up(cluster, []topology.Node{testNode("n0", 1)}, Options{})
		_, err := Up(context.Background(), cluster, []topology.Node{testNode("n0", 1)}, Options{StateDir: stateDir()})
		Expect(err).To(MatchError(ContainSubstring("is in use")))
		Expect(NamespacePath(c.Nodes[0].Namespace)).To(BeAnExistingFile())
		_, err = Up(context.Background(), cluster, []topology.Node{testNode("n0", 1)}, Options{StateDir: c.Dir})
		Expect(err).To(MatchError(ContainSubstring("already holds a sandbox")))
		_, err = Up(context.Background(), "bad/name", []topology.Node{testNode("n0", 1)}, Options{StateDir: stateDir()})
		Expect(err).To(MatchError(ContainSubstring(`name "bad/name"`)))
		Expect(host(c.Nodes[0]).LinkByName(vfsOf(c.Nodes[0], "eth0")[0].Name)).NotTo(BeNil())
	})

	It("lets the forwarder attach only TUNs the sandbox made", func() {
		c := up(cluster, []topology.Node{testNode("n0", 1)}, Options{})
		n := c.Nodes[0]
		sock := filepath.Join(c.Dir, forwarderSock)
		fi, err := os.Stat(sock)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		eth, ib := vfsOf(n, "eth0")[0], vfsOf(n, "ib0")[0]
		for _, req := range []forwarderRequest{
			{Op: "attach", Fabric: "ib0", NS: "/proc/self/ns/net", Ifname: "evil0", Alias: Alias(cluster, n.Name, "x", "ib0")},
			{Op: "attach", Fabric: "ib0", NS: n.NamespacePath(), Ifname: "evil0", Alias: Alias(cluster, n.Name, "x", "ib0")},
			{Op: "attach", Fabric: "ib0", NS: n.NamespacePath(), Ifname: eth.Name, Alias: Alias(cluster, n.Name, eth.PCIAddress, "eth0")},
			{Op: "attach", Fabric: "ib0", NS: n.NamespacePath(), Ifname: ib.Name, Alias: "not-vflab"},
			{Op: "bogus"},
		} {
			_, err := callForwarder(sock, req)
			Expect(err).To(HaveOccurred(), "%+v", req)
		}
		_, err = host(n).LinkByName("evil0")
		Expect(err).To(HaveOccurred(), "the forwarder created a TUN")
		_, err = callForwarder(sock, forwarderRequest{Op: "attach", Fabric: "ib0", NS: n.NamespacePath(), Ifname: ib.Name, Alias: Alias(cluster, n.Name, ib.PCIAddress, "ib0")})
		Expect(err).NotTo(HaveOccurred(), "attaching again is a no-op")
	})

	It("removes the leftovers of a crashed run with GC", func() {
		dir := stateDir()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envCrash+"="+dir, envCluster+"="+cluster)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		names, err := listNamespaces(NamespacePrefix + cluster + "-")
		Expect(err).NotTo(HaveOccurred())
		Expect(names).NotTo(BeEmpty())
		// A live run next to it must survive.
		live := up(newClusterName(), []topology.Node{testNode("n0", 1)}, Options{})
		// Only this process's clusters: other suites may run next to this one.
		_, err = GC(GCOptions{Prefix: "not-vflab-"})
		Expect(err).To(HaveOccurred())
		removed, err := GC(GCOptions{Prefix: fmt.Sprintf("%st%d-", NamespacePrefix, os.Getpid()%100000)})
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(ContainElements(names))
		Expect(filepath.Join(dir, stateFile)).NotTo(BeAnExistingFile())
		Expect(NamespacePath(live.Nodes[0].Namespace)).To(BeAnExistingFile())
	})

	It("creates and tears down a 2-node cluster with 2x8 VFs per node quickly", Serial, func() {
		node := func(name string) topology.Node {
			return topology.Node{Name: name, NICs: []topology.NIC{
				{Model: "ConnectX-6 Dx", PCIAddress: "0000:3b:00.0", Ports: []topology.Port{{LinkLayer: topology.Ethernet, TotalVFs: 8, NumVFs: 8}}},
				{Model: "ConnectX-6", PCIAddress: "0000:86:00.0", Ports: []topology.Port{{LinkLayer: topology.InfiniBand, TotalVFs: 8, NumVFs: 8}}},
			}}
		}
		start := time.Now()
		c, err := Up(context.Background(), cluster, []topology.Node{node("n0"), node("n1")}, Options{StateDir: stateDir()})
		Expect(err).NotTo(HaveOccurred())
		created := time.Since(start)
		start = time.Now()
		Expect(c.Down()).To(Succeed())
		removed := time.Since(start)
		Expect(c.Down()).To(Succeed(), "a second Down")
		Expect(Down(c.Dir)).To(MatchError(ContainSubstring("read sandbox state")))
		// The sandbox's own share: the same cluster with the fake kernels rendered in memory.
		start = time.Now()
		m, err := Up(context.Background(), cluster, []topology.Node{node("n0"), node("n1")}, Options{StateDir: stateDir(), InMemoryKernels: true})
		Expect(err).NotTo(HaveOccurred())
		inMemory := time.Since(start)
		start = time.Now()
		Expect(m.Down()).To(Succeed())
		inMemoryDown := time.Since(start)
		figures := fmt.Sprintf("up %s, down %s; with in-memory fake kernels: up %s, down %s", created, removed, inMemory, inMemoryDown)
		AddReportEntry("2-node 2x8-VF cluster", figures)
		_, _ = fmt.Fprintln(GinkgoWriter, "2-node 2x8-VF cluster:", figures)
		Expect(created).To(BeNumerically("<", 3*time.Second))
		Expect(removed).To(BeNumerically("<", 3*time.Second))
		Expect(inMemory).To(BeNumerically("<", time.Second))
	})
})
