// Package linkops is the link side of attaching a VF: network namespaces, moving a netdev between them,
// renaming, MAC, MTU, up/down, addresses and routes. Unlike PF-side VF configuration (drivers.VFConfig),
// these are real netlink calls in both modes — in simulation every VF netdev is a real link (a veth, or a
// TUN switched to link/infiniband) — each through a handle bound to one namespace (netlink.NewHandleAt),
// so no goroutine ever switches its thread's namespace.
package linkops
