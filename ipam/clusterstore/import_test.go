package clusterstore_test

import (
	"errors"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vflab/vflab/ipam"
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
