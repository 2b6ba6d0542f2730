package clusterstore_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
)

var _ = Describe("the cluster store", func() {
	It("hands out addresses through ipam.Add, idempotently, and frees them on Del", func(ctx SpecContext) {
		s := newStore(ctx, "node-a", "/dual/")
		n := network("dual", "10.1.0.0/24", "fd00:1::/64")

		a1, err := ipam.Add(ctx, s, n, request(owner(1)))
		Expect(err).NotTo(HaveOccurred())
		Expect(a1).To(HaveLen(2))
		Expect(a1[0].Addr.Is4()).To(BeTrue())
		Expect(a1[1].Addr.Is6()).To(BeTrue())

		again, err := ipam.Add(ctx, s, n, request(owner(1)))
		Expect(err).NotTo(HaveOccurred())
		Expect(again[0].Addr).To(Equal(a1[0].Addr), "ADD is idempotent")
		Expect(again[1].Addr).To(Equal(a1[1].Addr))

		a2, err := ipam.Add(ctx, s, n, request(owner(2)))
		Expect(err).NotTo(HaveOccurred())
		Expect(a2[0].Addr).NotTo(Equal(a1[0].Addr))

		owned, err := s.Owned(ctx, "dual", owner(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(owned).To(HaveLen(2))
		Expect(owned[0].Pod).To(Equal(ipam.PodRef{Namespace: "ns", Name: "pod-c00001", UID: "uid-c00001"}))
		Expect(owned[0].Created).To(BeTemporally("==", time.Unix(1700000000, 0)))

		all, err := s.List(ctx, "dual")
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(4))
		nets, err := s.Networks(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(nets).To(ConsistOf("dual"))
		expectConsistent(ctx, s, "dual")

		st, err := s.Load(ctx, "dual")
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Reservations).To(HaveLen(4))
		Expect(st.LastReserved).To(HaveKeyWithValue(0, a2[0].Addr))

		released, err := ipam.Del(ctx, s, "dual", owner(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(released).To(HaveLen(2))
		released, err = ipam.Del(ctx, s, "dual", owner(1))
		Expect(err).NotTo(HaveOccurred(), "DEL is idempotent")
		Expect(released).To(BeEmpty())
		_, err = ipam.Del(ctx, s, "dual", owner(2))
		Expect(err).NotTo(HaveOccurred())

		st, err = s.Load(ctx, "dual")
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Reservations).To(BeEmpty())
		resp, err := s.Client().Get(ctx, "/dual/", clientv3WithPrefix()...)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Kvs).NotTo(BeEmpty())
		for _, kv := range resp.Kvs {
			Expect(string(kv.Key)).NotTo(ContainSubstring("/block/"), "empty blocks are deleted")
			Expect(string(kv.Key)).NotTo(ContainSubstring("/ip/"))
		}
		expectConsistent(ctx, s, "dual")
	})

	It("fills a range exactly once and then reports it exhausted", func(ctx SpecContext) {
		s := newStore(ctx, "node-a")
		n := network("small", "10.2.0.0/28") // 14 usable
		seen := map[netip.Addr]bool{}
		for i := range 14 {
			a, err := ipam.Add(ctx, s, n, request(owner(i)))
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).NotTo(HaveKey(a[0].Addr))
			seen[a[0].Addr] = true
		}
		_, err := ipam.Add(ctx, s, n, request(owner(99)))
		Expect(err).To(MatchError(ipam.ErrExhausted))
		expectConsistent(ctx, s, "small")
	})

	It("refuses an address another owner holds, naming the holder, and writes nothing", func(ctx SpecContext) {
		s := newStore(ctx, "node-a")
		a := netip.MustParseAddr("10.3.0.7")
		Expect(s.Reserve(ctx, "n", []ipam.Reservation{{Addr: a, Owner: owner(1)}})).To(Succeed())
		err := s.Reserve(ctx, "n", []ipam.Reservation{{Addr: netip.MustParseAddr("10.3.0.8"), RangeSet: 1, Owner: owner(2)}, {Addr: a, Owner: owner(2)}})
		var inUse *ipam.AddressInUseError
		Expect(errors.As(err, &inUse)).To(BeTrue(), "got %v", err)
		Expect(inUse.Addr).To(Equal(a))
		Expect(inUse.Owner).To(Equal(owner(1)))
		Expect(err).To(MatchError(ipam.ErrAddressInUse))
		owned, err := s.Owned(ctx, "n", owner(2))
		Expect(err).NotTo(HaveOccurred())
		Expect(owned).To(BeEmpty(), "all or nothing")
		all, err := s.List(ctx, "n")
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(1))

		err = s.Reserve(ctx, "n", []ipam.Reservation{{Addr: netip.MustParseAddr("10.3.0.9"), Owner: owner(1)}})
		Expect(errors.As(err, &inUse)).To(BeTrue(), "an owner that already holds reservations is refused: %v", err)
		Expect(inUse.Owner).To(Equal(owner(1)))
		expectConsistent(ctx, s, "n")
	})

	It("rejects malformed reservations before touching etcd", func(ctx SpecContext) {
		s := newStore(ctx, "node-a")
		a := netip.MustParseAddr("10.4.0.1")
		Expect(s.Reserve(ctx, "n", []ipam.Reservation{{Owner: owner(1)}})).To(MatchError(ContainSubstring("invalid address")))
		Expect(s.Reserve(ctx, "n", []ipam.Reservation{{Addr: a, Owner: owner(1)}, {Addr: a, Owner: owner(1), RangeSet: 1}})).To(MatchError(ContainSubstring("twice")))
		Expect(s.Reserve(ctx, "n", []ipam.Reservation{{Addr: a, Owner: owner(1)}, {Addr: netip.MustParseAddr("10.4.0.2"), Owner: owner(2)}})).To(MatchError(ContainSubstring("two owners")))
		all, err := s.List(ctx, "n")
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(BeEmpty())
	})

	It("releases what GC does not list as valid", func(ctx SpecContext) {
		s := newStore(ctx, "node-a")
		n := network("gc", "10.5.0.0/24")
		for i := range 6 {
			_, err := ipam.Add(ctx, s, n, request(owner(i)))
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := ipam.GC(ctx, s, "gc", func(o ipam.Owner) bool { return o == owner(0) || o == owner(3) })
		Expect(err).NotTo(HaveOccurred())
		all, err := s.List(ctx, "gc")
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(2))
		expectConsistent(ctx, s, "gc")
	})

	It("never gives an address twice to concurrent allocators on several nodes (-race)", func(ctx SpecContext) {
		prefix := "/race/"
		n := network("race", "10.6.0.0/24") // 254 usable
		const nodes, perNode = 8, 40
		stores := make([]*clusterstore.Store, nodes)
		for i := range stores {
			if i%2 == 0 {
				stores[i] = newStore(ctx, "node-"+string(rune('a'+i)), prefix)
				continue
			}
			// half of the nodes know the network's ranges (windowed Load)
			s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{single.ClientURL()}, Prefix: prefix,
				Node: "node-" + string(rune('a'+i)), Networks: []ipam.Network{*n}})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(s.Close)
			stores[i] = s
		}
		var mu sync.Mutex
		got := map[netip.Addr]ipam.Owner{}
		var wg sync.WaitGroup
		var exhausted, failures int
		for i, s := range stores {
			wg.Go(func() {
				defer GinkgoRecover()
				for j := range perNode {
					o := owner(i*1000 + j)
					// Losing many races in a row (all nodes chasing the same next address) is a
					// liveness limit, not a uniqueness one: retry as a kubelet would, a few times.
					var a []ipam.Allocation
					var err error
					for range 3 {
						if a, err = ipam.Add(ctx, s, n, request(o)); err == nil || errors.Is(err, ipam.ErrExhausted) {
							break
						}
					}
					mu.Lock()
					switch {
					case errors.Is(err, ipam.ErrExhausted):
						exhausted++
					case err != nil:
						failures++
						GinkgoWriter.Println(err)
					default:
						Expect(got).NotTo(HaveKey(a[0].Addr), "address %s given twice", a[0].Addr)
						got[a[0].Addr] = o
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		Expect(failures).To(BeZero())
		Expect(got).To(HaveLen(254), "the whole /24 handed out")
		Expect(exhausted).To(Equal(nodes*perNode - 254))
		all, err := stores[0].List(ctx, "race")
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(254))
		for _, r := range all {
			Expect(got).To(HaveKeyWithValue(r.Addr, r.Owner))
		}
		expectConsistent(ctx, stores[0], "race")
	})

	It("fails within its deadline with a clear error when etcd is unreachable", func(ctx SpecContext) {
		s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{"http://127.0.0.1:1"}, RequestTimeout: time.Second})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		start := time.Now()
		_, err = ipam.Add(ctx, s, network("n", "10.7.0.0/24"), request(owner(1)))
		Expect(time.Since(start)).To(BeNumerically("<", 3*time.Second))
		Expect(err).To(MatchError(clusterstore.ErrUnreachable))
		Expect(err.Error()).To(ContainSubstring("etcd unreachable after 1s"))
		var ue *clusterstore.UnreachableError
		Expect(errors.As(err, &ue)).To(BeTrue())
		Expect(ue.Endpoints).To(Equal([]string{"http://127.0.0.1:1"}))
	})

	It("rejects bad configuration with an error naming the field", func(ctx context.Context) {
		_, err := clusterstore.New(ctx, clusterstore.Config{})
		Expect(err).To(MatchError(ContainSubstring("endpoints")))
		_, err = clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{"10.0.0.1"}})
		Expect(err).To(MatchError(ContainSubstring(`endpoint "10.0.0.1"`)))
		_, err = clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{"https://10.0.0.1:2379"}, CertFile: "/x.pem"})
		Expect(err).To(MatchError(ContainSubstring("together")))
		_, err = clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{"https://10.0.0.1:2379"}, CAFile: "/does/not/exist.pem"})
		Expect(err).To(MatchError(ContainSubstring("/does/not/exist.pem")))
		Expect(strings.Contains(err.Error(), "cluster store")).To(BeTrue())
	})
})
