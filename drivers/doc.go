// Package drivers is the ground the rest of vflab stands on: it defines the VF-configuration boundary
// (VFConfig, whose real implementation is a *netlink.Handle) and holds the SR-IOV (drivers/sriov) and
// InfiniBand (drivers/ib) drivers, the per-namespace link operations (drivers/linkops) and the inventory
// `vflab inspect` prints (drivers/inventory). Drivers reach sysfs only through an afero.Fs rooted at "/"
// and configure VFs only through a VFConfig; they import no other vflab package (not the fake kernel:
// tests do).
package drivers
