package attach_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/deviceplugin/kubelettest"
	"github.com/vflab/vflab/drivers/linkops"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
	"github.com/vflab/vflab/fakesysfs/topology"
	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
	"github.com/vflab/vflab/sandbox"
	"github.com/vflab/vflab/scenarios/sim"
)

var runs atomic.Int32

// node is one sandbox node (laptop preset, in-memory kernel) with its attacher and a pod namespace.
type node struct {
	*sandbox.Node
	attacher *sim.Attacher
	pci      *sriov.Driver
	host     *linkops.NS
	pod      ns.NetNS
	dir      string
}

func needRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("attach benchmarks need root (network namespaces, TUN devices)")
	}
}

func newNode(b *testing.B) *node {
	b.Helper()
	needRoot(b)
	dir, err := os.MkdirTemp("/dev/shm", "vflab-bench-attach-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	tn := fakesysfstest.Node(b, "laptop")
	tn.Name = "n0"
	name := fmt.Sprintf("ba%d-%d", os.Getpid()%100000, runs.Add(1))
	c, err := sandbox.Up(context.Background(), name, []topology.Node{tn}, sandbox.Options{
		StateDir: filepath.Join(dir, "sandbox"), InMemoryKernels: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := c.Down(); err != nil {
			b.Error(err)
		}
	})
	n := &node{Node: c.Nodes[0], dir: dir}
	vfs := sandbox.NewVFConfig(n.Kernel, n.Netdevs)
	n.pci = sriov.New(n.Kernel, vfs)
	if n.host, err = linkops.Open(n.NamespacePath()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.host.Close() })
	n.attacher, err = sim.NewAttacher(sim.AttacherConfig{FS: n.Kernel, VFs: vfs, HostNS: n.NamespacePath(),
		LockDir: filepath.Join(dir, "locks"), NodeID: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.attacher.Close() })
	if n.pod, err = testutils.NewNS(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = n.pod.Close()
		_ = testutils.UnmountNS(n.pod)
	})
	return n
}

// firstVF returns the PCI address of VF 0 of the node's first PF of link type lt.
func (n *node) firstVF(b *testing.B, lt string) string {
	b.Helper()
	inv, err := n.pci.Discover()
	if err != nil {
		b.Fatal(err)
	}
	for _, pf := range inv.PFs {
		if pf.LinkType == lt && len(pf.VFs) > 0 {
			return pf.VFs[0].Address
		}
	}
	b.Fatalf("no %s VF", lt)
	return ""
}

// BenchmarkLifecycle is one pod lifecycle of a secondary interface: attach, then detach.
func BenchmarkLifecycle(b *testing.B) {
	b.Run("vflab-eth", func(b *testing.B) { benchVflab(b, sriov.LinkEther, false) })
	b.Run("vflab-ib", func(b *testing.B) { benchVflab(b, sriov.LinkInfiniBand, false) })
	b.Run("vflab-eth+etcd", func(b *testing.B) { benchVflab(b, sriov.LinkEther, true) })
	b.Run("floor", benchFloor)
	b.Run("upstream", benchUpstream)
}

// benchVflab: the vflab attach and detach of VF 0 of the first PF of link type lt; withIPAM adds the
// address on a durable embedded etcd (one transaction to reserve, one to release) and its route.
func benchVflab(b *testing.B, lt string, withIPAM bool) {
	n := newNode(b)
	req := sim.Request{ContainerID: "bench", NetNS: n.pod.Path(), IfName: "net1", PCI: n.firstVF(b, lt), MTU: 1400}
	if withIPAM {
		req.Store, req.Network = etcdStore(b, n.dir)
		req.Routes = []linkops.Route{{Dst: &net.IPNet{IP: net.IPv4(10, 156, 0, 0), Mask: net.CIDRMask(16, 32)}, Gw: net.IPv4(10, 56, 0, 254)}}
	}
	if lt == sriov.LinkEther {
		req.MAC = net.HardwareAddr{0x02, 0x76, 0x66, 0, 0, 1}
		req.VLAN = 42
	} else {
		req.MTU = 2044
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		att, err := n.attacher.Attach(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.attacher.Detach(ctx, att); err != nil {
			b.Fatal(err)
		}
	}
}

// etcdStore starts an embedded etcd (fsync on, as in production) under dir and returns a cluster store
// on it with a /24 network.
func etcdStore(b *testing.B, dir string) (ipam.Store, *ipam.Network) {
	b.Helper()
	ctx := context.Background()
	srv, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: filepath.Join(dir, "etcd")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	st, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{srv.ClientURL()}, Node: "n0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	nw := &ipam.Network{Name: "bench", RangeSets: []ipam.RangeSet{{{
		Subnet: netip.MustParsePrefix("10.56.0.0/24"), Gateway: netip.MustParseAddr("10.56.0.254")}}}}
	if err := nw.Validate(); err != nil {
		b.Fatal(err)
	}
	return st, nw
}

// newVeth creates a veth pair in the node's host namespace (both ends there) and returns one end.
func newVeth(b *testing.B, n *node) string {
	b.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "bvf0"
	if err := n.host.Handle().LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "bvf0p"}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if l, err := n.host.Link("bvf0"); err == nil {
			_ = n.host.Handle().LinkDel(l)
		}
	})
	return "bvf0"
}

// benchFloor: one bare netlink move in and one move out, nothing else.
func benchFloor(b *testing.B) {
	n := newNode(b)
	name := newVeth(b, n)
	pod, err := linkops.Open(n.pod.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = pod.Close() }()
	hostFd, err := os.Open(n.NamespacePath())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = hostFd.Close() }()
	podFd, err := os.Open(n.pod.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = podFd.Close() }()
	l, err := n.host.Link(name)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := n.host.Handle().LinkSetNsFd(l, int(podFd.Fd())); err != nil {
			b.Fatal(err)
		}
		if err := pod.Handle().LinkSetNsFd(l, int(hostFd.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}

// benchUpstream: the peer's way (host-device, ib-sriov-cni's temporary name handling): through a
// temporary namespace each way, two moves in and two out, with the rename done in the temporary one.
func benchUpstream(b *testing.B) {
	n := newNode(b)
	name := newVeth(b, n)
	pod, err := linkops.Open(n.pod.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = pod.Close() }()
	via := func(from, to *linkops.NS, cur, final string) {
		tmpNS, err := testutils.NewNS()
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tmpNS.Close(); _ = testutils.UnmountNS(tmpNS) }()
		tmp, err := linkops.Open(tmpNS.Path())
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tmp.Close() }()
		if _, err := from.Move(cur, tmp); err != nil {
			b.Fatal(err)
		}
		if err := tmp.Rename(cur, final); err != nil {
			b.Fatal(err)
		}
		if _, err := tmp.Move(final, to); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		via(n.host, pod, name, "net1")
		if err := pod.Up("net1"); err != nil {
			b.Fatal(err)
		}
		via(pod, n.host, "net1", name)
	}
}

// BenchmarkAllocate is the kubelet side of one VF: Allocate through the device plugin's gRPC socket
// (preferred allocation, Allocate, device-info file), then release.
func BenchmarkAllocate(b *testing.B) {
	for _, res := range []string{sim.ResourceEth, sim.ResourceIB} {
		b.Run(res[len("nvidia.com/"):], func(b *testing.B) {
			n := newNode(b)
			rt, err := sim.StartNodeRuntime(n.Kernel, filepath.Join(n.dir, "kubelet"), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(rt.Stop)
			if err := rt.WaitReady(10 * time.Second); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			pod := kubelettest.Pod{Namespace: "bench", Name: "p"}
			b.ReportAllocs()
			for b.Loop() {
				ids, _, err := rt.Kubelet.Allocate(ctx, pod, "c", res, 1)
				if err != nil || len(ids) != 1 {
					b.Fatal(ids, err)
				}
				rt.Kubelet.Release(pod)
			}
		})
	}
}
