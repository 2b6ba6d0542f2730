//go:build hardware

package hardware_test

import (
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/testutils"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/linkops"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/host"
)

const mellanox = "0x15b3"

var _ = Describe("a real Mellanox host", Label("hardware"), Ordered, func() {
	var (
		m   *host.Machine
		pci *sriov.Driver
		inv *sriov.Inventory
	)

	BeforeAll(func() {
		var err error
		m, err = host.Default()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(m.Close)
		pci = sriov.New(m.FS, nil)
		inv, err = pci.Discover()
		Expect(err).NotTo(HaveOccurred())
		found := false
		for _, pf := range inv.PFs {
			found = found || pf.Vendor == mellanox
		}
		for _, o := range inv.Others {
			found = found || o.Vendor == mellanox
		}
		if !found {
			Skip("hardware suite: no Mellanox/NVIDIA (vendor 0x15b3) network function on this host; skipping")
		}
	})

	Context("read-only discovery", func() {
		It("maps every VF to its PF and index, both ways", func() {
			for _, pf := range inv.PFs {
				Expect(pf.NumVFs).To(BeNumerically("<=", pf.TotalVFs), pf.Address)
				Expect(pf.VFs).To(HaveLen(pf.NumVFs), pf.Address)
				for i, vf := range pf.VFs {
					loc, err := pci.Locate(vf.Address)
					Expect(err).NotTo(HaveOccurred())
					Expect(loc.PF).To(Equal(pf.Address))
					Expect(loc.Index).To(Equal(i))
					at, err := inv.VFAt(pf.Address, i)
					Expect(err).NotTo(HaveOccurred())
					Expect(at.Address).To(Equal(vf.Address))
				}
			}
		})

		It("reads the RDMA devices, ports and GUIDs of every Mellanox function", func() {
			rdma := ib.New(m.FS, nil, pci)
			check := func(f sriov.Function) {
				if f.Vendor != mellanox || f.Driver != sriov.DriverMLX5 {
					return
				}
				devs, err := rdma.Devices(f.Address)
				Expect(err).NotTo(HaveOccurred())
				for _, d := range devs {
					Expect(d.Ports).NotTo(BeEmpty(), d.Name)
					for _, p := range d.Ports {
						Expect(p.LinkLayer).To(BeElementOf("InfiniBand", "Ethernet"), d.Name)
						if p.LinkLayer == "InfiniBand" && p.Active() {
							Expect(p.PortGUID.Valid()).To(BeTrue(), "%s port %d active with GUID %s", d.Name, p.Number, p.PortGUID)
						}
					}
					for _, c := range d.CharDevices {
						class := "infiniband_mad"
						if c.Kind == "uverbs" {
							class = "infiniband_verbs"
						}
						b, err := afero.ReadFile(m.FS, path.Join("/sys/class", class, c.Name, "ibdev"))
						Expect(err).NotTo(HaveOccurred())
						Expect(strings.TrimSpace(string(b))).To(Equal(d.Name), "%s attributed to %s", c.Name, d.Name)
					}
				}
			}
			for _, pf := range inv.PFs {
				check(pf.Function)
				for _, vf := range pf.VFs {
					check(vf.Function)
				}
			}
			for _, o := range inv.Others {
				check(o)
			}
		})
	})

	Context("on the PF named by -vflab.lab-pf / VFLAB_LAB_PF", Ordered, func() {
		var (
			pf    *sriov.PF
			guard *guardFS
			drv   *sriov.Driver
			rdma  *ib.Driver
			vfs   []sriov.VF
		)

		BeforeAll(func() {
			name := namedPF()
			if name == "" {
				Skip("hardware suite: no PF named (-vflab.lab-pf=<BDF> or VFLAB_LAB_PF): ran the read-only checks only")
			}
			if os.Geteuid() != 0 {
				Skip("hardware suite: changing a PF needs root; skipping")
			}
			var ok bool
			pf, ok = inv.PF(name)
			Expect(ok).To(BeTrue(), "%s is not an SR-IOV PF on this host", name)
			Expect(pf.Vendor).To(Equal(mellanox), "%s is not a Mellanox PF", name)
			Expect(pf.Driver).To(Equal(sriov.DriverMLX5))
			Expect(pf.Netdevs).NotTo(BeEmpty(), "%s has no netdev to configure its VFs through", name)
			Expect(pf.TotalVFs).To(BeNumerically(">=", 2))
			guard = newGuardFS(m.FS, pf.Address)
			vfc := guardVFs{inner: m.VFs, pf: pf.Netdevs[0]}
			drv = sriov.New(guard, vfc, sriov.WithWait(180*time.Second, 200*time.Millisecond))
			rdma = ib.New(guard, vfc, drv)
			orig := pf.NumVFs
			DeferCleanup(func(ctx SpecContext) {
				// Full restore: the original VF count (VF state and GUIDs go with the VFs).
				Expect(drv.SetNumVFs(ctx, pf.Address, orig)).To(Succeed())
				after, err := drv.Discover()
				Expect(err).NotTo(HaveOccurred())
				p, _ := after.PF(pf.Address)
				Expect(p.NumVFs).To(Equal(orig), "VF count of %s not restored", pf.Address)
			})
		})

		It("enables 2 VFs and waits until they are probed", func(ctx SpecContext) {
			Expect(drv.SetNumVFs(ctx, pf.Address, 2)).To(Succeed())
			now, err := drv.Discover()
			Expect(err).NotTo(HaveOccurred())
			p, _ := now.PF(pf.Address)
			Expect(p.VFs).To(HaveLen(2))
			vfs = p.VFs
			for _, vf := range vfs {
				guard.allow(vf.Address)
			}
		})

		It("configures VF 0 through the PF and restores it exactly", func() {
			before, err := drv.VFState(pf.Netdevs[0], 0)
			Expect(err).NotTo(HaveOccurred())
			enable := netlink.VF_LINK_STATE_ENABLE
			s := sriov.VFSettings{LinkState: &enable}
			if pf.LinkType == sriov.LinkEther {
				s.MAC = net.HardwareAddr{0x02, 0x76, 0x66, 0x6c, 0x61, 0x62}
				s.VLAN = &sriov.VLAN{ID: 42}
			}
			snap, err := drv.ConfigureVF(pf.Netdevs[0], 0, s)
			Expect(err).NotTo(HaveOccurred())
			Expect(drv.RestoreVF(snap)).To(Succeed())
			Expect(drv.VFState(pf.Netdevs[0], 0)).To(Equal(before))
		})

		It("sets VF GUIDs and rebinds (InfiniBand)", func() {
			if pf.LinkType != sriov.LinkInfiniBand {
				Skip("the named PF is Ethernet: no GUIDs")
			}
			hostname, _ := os.Hostname()
			node, port, err := ib.GUIDAllocator{Node: ib.NodeIDFromName(hostname)}.VFGUIDs(0, 0)
			Expect(err).NotTo(HaveOccurred())
			_, err = rdma.SetVFGUIDs(vfs[0].Address, ib.VFGUIDs{Node: node, Port: port})
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() (ib.VFGUIDs, error) { return rdma.VFGUIDs(vfs[0].Address) }).
				WithTimeout(30 * time.Second).Should(Equal(ib.VFGUIDs{Node: node, Port: port}))
		})

		It("attaches VF 0's netdev to a namespace and brings it back", func() {
			fn, err := drv.ReadFunction(vfs[0].Address)
			Expect(err).NotTo(HaveOccurred())
			if len(fn.Netdevs) == 0 {
				Skip("VF 0 has no netdev (not on mlx5_core?)")
			}
			podNS, err := testutils.NewNS()
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				Expect(podNS.Close()).To(Succeed())
				Expect(testutils.UnmountNS(podNS)).To(Succeed())
			})
			hostNS, err := linkops.Open("")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(hostNS.Close)
			pod, err := linkops.Open(podNS.Path())
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(pod.Close)

			name, err := hostNS.Move(fn.Netdevs[0], pod)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				_ = pod.Rename("net1", fn.Netdevs[0])
				_, err := pod.Move(fn.Netdevs[0], hostNS)
				Expect(err).NotTo(HaveOccurred())
			})
			Expect(pod.Rename(name, "net1")).To(Succeed())
			Expect(pod.Up("net1")).To(Succeed())
			_, err = pod.Link("net1")
			Expect(err).NotTo(HaveOccurred())
		})
	})
})
