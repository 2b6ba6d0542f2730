package discovery_test

import (
	"net"
	"os"

	"github.com/containernetworking/plugins/pkg/testutils"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vflab/vflab/deviceplugin/discovery"
)

var _ = Describe("Default-route links", Label("netns"), func() {
	It("names the links of IPv4 default routes only, in a namespace of its own", func() {
		if os.Geteuid() != 0 {
			Skip("needs root for a network namespace")
		}
		ns, err := testutils.NewNS()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(testutils.UnmountNS, ns)
		DeferCleanup(ns.Close)
		nsh, err := netns.GetFromPath(ns.Path())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(nsh.Close)
		h, err := netlink.NewHandleAt(nsh)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(h.Close)
		r := discovery.NewRoutes(h)

		Expect(r.DefaultRouteLinks()).To(BeEmpty())
		Expect(h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink0"}, PeerName: "vf0"})).To(Succeed())
		links := map[string]netlink.Link{}
		for _, name := range []string{"uplink0", "vf0"} {
			l, err := h.LinkByName(name)
			Expect(err).NotTo(HaveOccurred())
			Expect(h.LinkSetUp(l)).To(Succeed())
			links[name] = l
		}
		addr, err := netlink.ParseAddr("192.0.2.1/24")
		Expect(err).NotTo(HaveOccurred())
		Expect(h.AddrAdd(links["uplink0"], addr)).To(Succeed())
		addr, err = netlink.ParseAddr("198.51.100.1/24")
		Expect(err).NotTo(HaveOccurred())
		Expect(h.AddrAdd(links["vf0"], addr)).To(Succeed())
		By("a route that is not the default one")
		_, dst, _ := net.ParseCIDR("203.0.113.0/24")
		Expect(h.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("198.51.100.254"), LinkIndex: links["vf0"].Attrs().Index})).To(Succeed())
		Expect(r.DefaultRouteLinks()).To(BeEmpty())
		By("the default route")
		def := &netlink.Route{Gw: net.ParseIP("192.0.2.254"), LinkIndex: links["uplink0"].Attrs().Index}
		Expect(h.RouteAdd(def)).To(Succeed())
		Expect(r.DefaultRouteLinks()).To(Equal([]string{"uplink0"}))
		Expect(h.RouteDel(def)).To(Succeed())
		Expect(r.DefaultRouteLinks()).To(BeEmpty())
	})
})
