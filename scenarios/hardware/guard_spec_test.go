//go:build hardware

package hardware_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
	"github.com/vflab/vflab/sandbox"
)

// The guards are what keeps the suite off devices the engineer did not name; prove them on a fake kernel.
var _ = Describe("the lab guards", Label("hardware", "guard"), func() {
	It("refuse writes and VF configuration for any PF but the named one", func(ctx SpecContext) {
		node, err := topology.Preset("laptop")
		Expect(err).NotTo(HaveOccurred())
		k, err := fakesysfs.New(node)
		Expect(err).NotTo(HaveOccurred())
		const named, other = "0000:5e:00.0", "0000:3b:00.0"
		g := newGuardFS(k, named)
		d := sriov.New(g, guardVFs{inner: sandbox.NewVFConfig(k, nil), pf: "enp94s0np0"})
		Expect(d.SetNumVFs(context.Background(), named, 2)).To(Succeed())
		Expect(d.SetNumVFs(context.Background(), other, 2)).To(MatchError(ContainSubstring("lab guard")))
		Expect(d.Unbind("0000:3b:00.1")).To(MatchError(ContainSubstring("lab guard")))
		inv, err := d.Discover()
		Expect(err).NotTo(HaveOccurred())
		otherPF, _ := inv.PF(other)
		Expect(otherPF.NumVFs).To(Equal(4), "the other PF was changed")
		on := true
		_, err = d.ConfigureVF(otherPF.Netdevs[0], 0, sriov.VFSettings{Trust: &on})
		Expect(err).To(HaveOccurred())
		_, err = d.ConfigureVF("enp94s0np0", 0, sriov.VFSettings{Trust: &on})
		Expect(err).NotTo(HaveOccurred())
	})
})
