package ipam_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
	"github.com/vflab/vflab/ipam/nodestore"
)

// client allocates for one concurrent allocator (a CNI process, in real life).
type client interface {
	add(ctx context.Context, id string) (netip.Addr, error)
	del(ctx context.Context, id string) error
	close()
}

// system is one allocator under test, on one network whose range is prefix.
type system interface {
	name() string
	// client opens allocator number i.
	client(tb testing.TB, i int) client
	// prefill reserves usable addresses from number from up to (excluding) to, without going through the
	// allocator: BenchmarkFill fills one network step by step.
	prefill(tb testing.TB, from, to int)
}

// --- the shared embedded etcd ---

var (
	etcdOnce sync.Once
	etcdSrv  *etcdserver.Server
	etcdDir  string
	etcdErr  error
)

// sharedEtcd starts, on first use, one durable single-member etcd for every benchmark of the package.
func sharedEtcd(tb testing.TB) string {
	etcdOnce.Do(func() {
		etcdDir, etcdErr = os.MkdirTemp("", "vflab-bench-etcd-")
		if etcdErr != nil {
			return
		}
		etcdSrv, etcdErr = etcdserver.Start(context.Background(), etcdserver.Config{DataDir: etcdDir})
	})
	if etcdErr != nil {
		tb.Fatalf("embedded etcd: %v", etcdErr)
	}
	return etcdSrv.ClientURL()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdSrv != nil {
		etcdSrv.Close()
	}
	if etcdDir != "" {
		os.RemoveAll(etcdDir)
	}
	os.Exit(code)
}

var seq atomic.Int64

// unique returns a name no other benchmark in this process uses.
func unique(kind string) string { return fmt.Sprintf("%s-%d", kind, seq.Add(1)) }

func usable(p netip.Prefix) int { return 1<<(32-p.Bits()) - 2 }

// nthAddr is the n-th usable address of p (0 is network+1).
func nthAddr(p netip.Prefix, n int) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func vflabNetwork(name string, p netip.Prefix) *ipam.Network {
	return &ipam.Network{Name: name, RangeSets: []ipam.RangeSet{{{Subnet: p}}}}
}

func owner(id string) ipam.Owner { return ipam.Owner{ContainerID: id, IfName: "net1"} }

// vflabClient runs ipam.Add/Del (the plugin's path) over a store.
type vflabClient struct {
	store  ipam.Store
	net    *ipam.Network
	closer func()
}

func (c *vflabClient) add(ctx context.Context, id string) (netip.Addr, error) {
	a, err := ipam.Add(ctx, c.store, c.net, ipam.Request{Owner: owner(id), Pod: ipam.PodRef{Namespace: "bench", Name: id}})
	if err != nil {
		return netip.Addr{}, err
	}
	return a[0].Addr, nil
}

func (c *vflabClient) del(ctx context.Context, id string) error {
	_, err := ipam.Del(ctx, c.store, c.net.Name, owner(id))
	return err
}

func (c *vflabClient) close() {
	if c.closer != nil {
		c.closer()
	}
}

// --- node store ---

type nodeSystem struct {
	dir    string
	net    *ipam.Network
	prefix netip.Prefix
}

func newNodeSystem(tb testing.TB, p netip.Prefix) *nodeSystem {
	return &nodeSystem{dir: tb.TempDir(), net: vflabNetwork(unique("node"), p), prefix: p}
}

func (s *nodeSystem) name() string { return "node" }

func (s *nodeSystem) client(testing.TB, int) client {
	return &vflabClient{store: nodestore.New(s.dir, nil), net: s.net}
}

// prefill writes host-local's reservation files, which the node store reads unchanged, then removes the
// node store's derived index so that it rebuilds it from the files on first use (as after a crash).
func (s *nodeSystem) prefill(tb testing.TB, from, to int) {
	hostLocalPrefill(tb, s.net.Name, s.dir, s.prefix, from, to)
	if err := os.Remove(filepath.Join(s.dir, s.net.Name, ".vflab-index")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
}

// --- cluster store ---

type clusterSystem struct {
	endpoint string
	keys     string
	net      *ipam.Network
	prefix   netip.Prefix
}

func newClusterSystem(tb testing.TB, p netip.Prefix) *clusterSystem {
	return &clusterSystem{endpoint: sharedEtcd(tb), keys: "/" + unique("cluster") + "/", net: vflabNetwork("bench", p), prefix: p}
}

func (s *clusterSystem) name() string { return "cluster" }

func (s *clusterSystem) open(tb testing.TB, i int) *clusterstore.Store {
	st, err := clusterstore.New(context.Background(), clusterstore.Config{
		Endpoints: []string{s.endpoint}, Prefix: s.keys, Node: fmt.Sprintf("node-%d", i), Networks: []ipam.Network{*s.net}})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func (s *clusterSystem) client(tb testing.TB, i int) client {
	st := s.open(tb, i)
	return &vflabClient{store: st, net: s.net, closer: func() { st.Close() }}
}

func (s *clusterSystem) prefill(tb testing.TB, from, to int) {
	st := s.open(tb, -1)
	defer st.Close()
	rs := make([]ipam.Reservation, 0, to-from)
	for i := from; i < to; i++ {
		rs = append(rs, ipam.Reservation{Addr: nthAddr(s.prefix, i), Owner: owner(fmt.Sprintf("pre-%d", i))})
	}
	if err := st.Import(context.Background(), s.net.Name, rs); err != nil {
		tb.Fatal(err)
	}
}

// --- host-local ---

type hostLocalSystem struct {
	dir     string
	network string
	prefix  netip.Prefix
}

func newHostLocalSystem(tb testing.TB, p netip.Prefix) *hostLocalSystem {
	return &hostLocalSystem{dir: tb.TempDir(), network: unique("hostlocal"), prefix: p}
}

func (s *hostLocalSystem) name() string { return "host-local" }

type hostLocalClient struct {
	store *disk.Store
	alloc *allocator.IPAllocator
}

func (s *hostLocalSystem) client(tb testing.TB, _ int) client {
	store, err := disk.New(s.network, s.dir)
	if err != nil {
		tb.Fatal(err)
	}
	rs := allocator.RangeSet{{Subnet: types.IPNet(*prefixIPNet(s.prefix))}}
	if err := rs.Canonicalize(); err != nil {
		tb.Fatal(err)
	}
	return &hostLocalClient{store: store, alloc: allocator.NewIPAllocator(&rs, store, 0)}
}

// add and del lock the store as the host-local binary does around each command.
func (c *hostLocalClient) add(_ context.Context, id string) (netip.Addr, error) {
	if err := c.store.Lock(); err != nil {
		return netip.Addr{}, err
	}
	defer c.store.Unlock()
	cfg, err := c.alloc.Get(id, "net1", nil)
	if err != nil {
		return netip.Addr{}, err
	}
	a, _ := netip.AddrFromSlice(cfg.Address.IP.To4())
	return a, nil
}

func (c *hostLocalClient) del(_ context.Context, id string) error {
	if err := c.store.Lock(); err != nil {
		return err
	}
	defer c.store.Unlock()
	return c.alloc.Release(id, "net1")
}

func (c *hostLocalClient) close() { c.store.Close() }

func (s *hostLocalSystem) prefill(tb testing.TB, from, to int) {
	hostLocalPrefill(tb, s.network, s.dir, s.prefix, from, to)
}

// hostLocalPrefill writes reservation files in host-local's format ("<id>\r\n<ifname>", what its
// disk.Store.Reserve writes) and leaves its round-robin cursor after the last one, as a host-local that
// reserved them in order would.
func hostLocalPrefill(tb testing.TB, network, dir string, p netip.Prefix, from, to int) {
	netDir := filepath.Join(dir, network)
	if err := os.MkdirAll(netDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for i := from; i < to; i++ {
		name := filepath.Join(netDir, nthAddr(p, i).String())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_EXCL|os.O_CREATE, 0o600)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := f.WriteString(fmt.Sprintf("pre-%d", i) + disk.LineBreak + "net1"); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	if to > from {
		if err := os.WriteFile(filepath.Join(netDir, "last_reserved_ip.0"), []byte(nthAddr(p, to-1).String()), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// --- the floor: one bare etcd create-if-absent transaction ---

type etcdTxnSystem struct {
	endpoint string
	keys     string
}

func newEtcdTxnSystem(tb testing.TB) *etcdTxnSystem {
	return &etcdTxnSystem{endpoint: sharedEtcd(tb), keys: "/" + unique("floor") + "/"}
}

func (s *etcdTxnSystem) name() string { return "etcd-txn" }

type etcdTxnClient struct {
	cli  *clientv3.Client
	keys string
}

func (s *etcdTxnSystem) client(tb testing.TB, _ int) client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.endpoint}, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	return &etcdTxnClient{cli: cli, keys: s.keys}
}

func (c *etcdTxnClient) add(ctx context.Context, id string) (netip.Addr, error) {
	k := c.keys + id
	resp, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(clientv3.OpPut(k, id)).Commit()
	if err != nil {
		return netip.Addr{}, err
	}
	if !resp.Succeeded {
		return netip.Addr{}, fmt.Errorf("key %s taken", k)
	}
	return netip.Addr{}, nil
}

func (c *etcdTxnClient) del(ctx context.Context, id string) error {
	_, err := c.cli.Delete(ctx, c.keys+id)
	return err
}

func (c *etcdTxnClient) close() { c.cli.Close() }

func (s *etcdTxnSystem) prefill(tb testing.TB, from, to int) {
	c := s.client(tb, 0)
	defer c.close()
	for i := from; i < to; i++ {
		if _, err := c.add(context.Background(), fmt.Sprintf("pre-%d", i)); err != nil {
			tb.Fatal(err)
		}
	}
}
