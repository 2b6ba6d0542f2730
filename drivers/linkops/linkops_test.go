package linkops_test

import (
	"errors"
	"net"
	"os"

	"github.com/containernetworking/plugins/pkg/testutils"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/drivers/linkops"
)

var _ = Describe("link operations in namespaces", Label("netns"), func() {
	var host, pod *linkops.NS

	newNS := func() *linkops.NS {
		n, err := testutils.NewNS()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			Expect(n.Close()).To(Succeed())
			Expect(testutils.UnmountNS(n)).To(Succeed())
		})
		o, err := linkops.Open(n.Path())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(o.Close)
		return o
	}

	BeforeEach(func() {
		if os.Geteuid() != 0 {
			Skip("linkops: needs root to create network namespaces; skipping")
		}
		host = newNS()
		pod = newNS()
		// A veth pair in "host" stands for a VF netdev (the sandbox's Ethernet VFs are veths).
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vf0"}, PeerName: "vf0peer"}
		Expect(host.Handle().LinkAdd(veth)).To(Succeed())
	})

	It("moves, renames, configures and addresses a link, then moves it back", func() {
		name, err := host.Move("vf0", pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(name).To(Equal("vf0"))
		_, err = host.Link("vf0")
		Expect(errors.Is(err, linkops.ErrLinkNotFound)).To(BeTrue(), "%v", err)

		Expect(pod.Rename("vf0", "net1")).To(Succeed())
		mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
		Expect(pod.SetMAC("net1", mac)).To(Succeed())
		Expect(pod.SetMTU("net1", 9000)).To(Succeed())
		Expect(pod.Up("net1")).To(Succeed())
		ip, subnet, _ := net.ParseCIDR("10.56.0.5/24")
		subnet.IP = ip
		Expect(pod.AddAddr("net1", subnet)).To(Succeed())
		Expect(pod.AddAddr("net1", subnet)).To(Succeed(), "adding an address twice is not an error")
		_, dst, _ := net.ParseCIDR("10.99.0.0/16")
		Expect(pod.AddRoute("net1", linkops.Route{Dst: dst, Gw: net.ParseIP("10.56.0.1")})).To(Succeed())

		l, err := pod.Link("net1")
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Attrs().HardwareAddr).To(Equal(mac))
		Expect(l.Attrs().MTU).To(Equal(9000))
		Expect(l.Attrs().Flags & net.FlagUp).NotTo(BeZero())
		addrs, err := pod.Addrs("net1", netlink.FAMILY_V4)
		Expect(err).NotTo(HaveOccurred())
		Expect(addrs).To(HaveLen(1))
		Expect(addrs[0].IPNet.String()).To(Equal("10.56.0.5/24"))
		routes, err := pod.Routes("net1", netlink.FAMILY_V4)
		Expect(err).NotTo(HaveOccurred())
		var found bool
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == "10.99.0.0/16" && r.Gw.Equal(net.ParseIP("10.56.0.1")) {
				found = true
			}
		}
		Expect(found).To(BeTrue(), "route 10.99.0.0/16 via 10.56.0.1 in %v", routes)

		Expect(pod.DelAddr("net1", subnet)).To(Succeed())
		Expect(pod.DelAddr("net1", subnet)).To(Succeed(), "deleting a missing address is not an error")
		Expect(pod.Rename("net1", "vf0")).To(Succeed())
		back, err := pod.Move("vf0", host)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal("vf0"))
		_, err = host.Link("vf0")
		Expect(err).NotTo(HaveOccurred())
	})

	It("moves through a temporary name when the target already has a link of that name", func() {
		Expect(pod.Handle().LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vf0"}, PeerName: "other"})).To(Succeed())
		l, err := host.Link("vf0")
		Expect(err).NotTo(HaveOccurred())
		name, err := host.Move("vf0", pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(name).To(HavePrefix("vfdev"))
		moved, err := pod.Link(name)
		Expect(err).NotTo(HaveOccurred())
		Expect(moved.Attrs().HardwareAddr).To(Equal(l.Attrs().HardwareAddr))
	})

	It("names the missing link in its errors", func() {
		err := pod.Up("nope")
		Expect(errors.Is(err, linkops.ErrLinkNotFound)).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("nope"))
		_, err = linkops.Open("/nonexistent/ns")
		Expect(err).To(HaveOccurred())
	})
})
