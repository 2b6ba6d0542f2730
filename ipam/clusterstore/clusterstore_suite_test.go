package clusterstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
)

func TestClusterStore(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "clusterstore")
}

// single is one embedded member shared by the specs; each spec works under its own key prefix.
var single *etcdserver.Server

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	single, err = etcdserver.Start(ctx, etcdserver.Config{DataDir: GinkgoT().TempDir(), UnsafeNoFsync: true})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(single.Close)
})

var prefixes atomic.Int64

// newStore opens a store on the shared member under a fresh prefix (or the given one).
func newStore(ctx context.Context, node string, prefix ...string) *clusterstore.Store {
	p := fmt.Sprintf("/test-%d/", prefixes.Add(1))
	if len(prefix) > 0 {
		p = prefix[0]
	}
	s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{single.ClientURL()}, Prefix: p, Node: node})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

func network(name string, cidrs ...string) *ipam.Network {
	n := &ipam.Network{Name: name}
	for _, c := range cidrs {
		n.RangeSets = append(n.RangeSets, ipam.RangeSet{{Subnet: netip.MustParsePrefix(c)}})
	}
	return n
}

func owner(i int) ipam.Owner {
	return ipam.Owner{ContainerID: fmt.Sprintf("c%05d", i), IfName: "net1"}
}

func request(o ipam.Owner) ipam.Request {
	return ipam.Request{Owner: o, Pod: ipam.PodRef{Namespace: "ns", Name: "pod-" + o.ContainerID, UID: "uid-" + o.ContainerID}, Now: time.Unix(1700000000, 0)}
}

func expectConsistent(ctx context.Context, s *clusterstore.Store, networks ...string) {
	GinkgoHelper()
	for _, n := range networks {
		problems, err := s.Audit(ctx, n)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty(), "network %s", n)
	}
}
