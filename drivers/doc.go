// Package drivers is the ground the rest of vflab stands on: it defines the VF-configuration boundary
// (VFConfig, whose real implementation is a *netlink.Handle) and holds the SR-IOV (drivers/sriov) and
// InfiniBand (drivers/ib) drivers. Drivers reach the machine only through an afero.Fs rooted at "/" and a
// VFConfig; they import no other vflab package but fakesysfs-free helpers of their own.
package drivers
