package clusterstore_test

import (
	"errors"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
)

var _ = Describe("Import", func() {
	It("records many reservations in batches, consistently, and refuses taken addresses", func(ctx SpecContext) {
		s := newStore(ctx, "node-a")
		var rs []ipam.Reservation
		a := netip.MustParseAddr("10.8.0.1")
		for i := range 300 { // crosses two block boundaries
			rs = append(rs, ipam.Reservation{Addr: a, Owner: owner(i)})
			a = a.Next()
		}
		Expect(s.Import(ctx, "imp", rs)).To(Succeed())
		all, err := s.List(ctx, "imp")
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(300))
		expectConsistent(ctx, s, "imp")

		// The allocator sees them: the next address is the 301st.
		got, err := ipam.Add(ctx, s, network("imp", "10.8.0.0/16"), request(owner(1000)))
		Expect(err).NotTo(HaveOccurred())
		Expect(got[0].Addr).To(Equal(netip.MustParseAddr("10.8.1.45")))

		err = s.Import(ctx, "imp", []ipam.Reservation{{Addr: netip.MustParseAddr("10.8.0.5"), Owner: owner(2000)}})
		var inUse *ipam.AddressInUseError
		Expect(errors.As(err, &inUse)).To(BeTrue(), "got %v", err)
		Expect(inUse.Owner).To(Equal(owner(4)))
		expectConsistent(ctx, s, "imp")
	})
})

var _ = Describe("Load with the network's ranges known (Config.Networks)", func() {
	It("returns a bounded window of blocks, and allocation stays exact up to exhaustion", func(ctx SpecContext) {
		n := network("win", "10.11.0.0/22") // 1022 usable, 4 blocks
		s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{single.ClientURL()}, Prefix: "/win/", Node: "node-w",
			Networks: []ipam.Network{*n}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		var rs []ipam.Reservation
		a := netip.MustParseAddr("10.11.0.1")
		for i := range 1000 {
			rs = append(rs, ipam.Reservation{Addr: a, Owner: owner(i)})
			a = a.Next()
		}
		Expect(s.Import(ctx, "win", rs)).To(Succeed())

		got := map[netip.Addr]bool{}
		for i := range 22 {
			al, err := ipam.Add(ctx, s, n, request(owner(5000+i)))
			Expect(err).NotTo(HaveOccurred())
			Expect(got).NotTo(HaveKey(al[0].Addr))
			got[al[0].Addr] = true
		}
		_, err = ipam.Add(ctx, s, n, request(owner(9999)))
		Expect(err).To(MatchError(ipam.ErrExhausted))
		expectConsistent(ctx, s, "win")

		// Free most of the first block: the cursor (at the range end) wraps to it, and the window stops
		// there instead of covering all 1022 addresses.
		for i := range 200 {
			_, err := ipam.Del(ctx, s, "win", owner(i))
			Expect(err).NotTo(HaveOccurred())
		}
		st, err := s.Load(ctx, "win")
		Expect(err).NotTo(HaveOccurred())
		Expect(len(st.Reservations)).To(BeNumerically("<", 822), "a window, not the whole network")
		al, err := ipam.Add(ctx, s, n, request(owner(7777)))
		Expect(err).NotTo(HaveOccurred())
		Expect(al[0].Addr).To(Equal(netip.MustParseAddr("10.11.0.1")), "round-robin wraps to the head")
		expectConsistent(ctx, s, "win")
	})
})
