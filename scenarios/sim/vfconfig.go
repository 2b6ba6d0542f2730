package sim

import (
	"net"

	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/drivers"
	"github.com/vflab/vflab/sandbox"
)

// NodeVFConfig is the PF-side VF configuration of a sandbox node, as sandbox.NewVFConfig, except that
// clearing a VF's admin MAC (00:00:00:00:00:00, what RestoreVF puts back on a VF that had none) only
// records it and leaves the live netdev's address alone, as mlx5 does: the sandbox applies every admin
// MAC to the VF's live link, and a link refuses the zero address (EADDRNOTAVAIL). The CNI puts the
// netdev's own address back itself (Attachment.HostMAC).
func NodeVFConfig(n *sandbox.Node) drivers.VFConfig {
	return &nodeVFConfig{VFConfig: sandbox.NewVFConfig(n.Kernel, n.Netdevs), record: sandbox.NewVFConfig(n.Kernel, nil)}
}

type nodeVFConfig struct {
	*sandbox.VFConfig
	record *sandbox.VFConfig // the same kernel, without the live links
}

func (c *nodeVFConfig) LinkSetVfHardwareAddr(pf netlink.Link, vf int, hw net.HardwareAddr) error {
	if len(hw) == 6 && isZero(hw) {
		return c.record.LinkSetVfHardwareAddr(pf, vf, hw)
	}
	return c.VFConfig.LinkSetVfHardwareAddr(pf, vf, hw)
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
