// Package sandbox makes simulated nodes real enough for the production code: per node a network namespace
// (the node's "host" namespace, vflab-<cluster>-<node>) holding a real link for every PF and VF netdev of
// the node's fake kernel (package fakesysfs), cabled to fabrics shared by the nodes of a cluster.
//
//   - Ethernet netdevs are veths whose peers are created directly in the fabric's namespace
//     (vflab-<cluster>-fab-<fabric>; no namespace move) and enslaved to its bridge.
//   - InfiniBand netdevs are persistent TUN devices switched to ARPHRD_INFINIBAND while down, so netlink
//     and `ip link` report link/infiniband. The fabric is a Forwarder holding every TUN queue of the
//     cluster's InfiniBand fabrics (which gives the links carrier) and delivering each IP packet to the
//     TUN of the same fabric that owns the destination address (learnt from source addresses; unknown
//     destinations are flooded within the fabric).
//
// Every link carries the IFLA_IFALIAS "vflab:<cluster>:<node>:<pci>:<fabric>" (Alias), which survives
// renames and namespace moves: Netdevs finds a netdev by it whatever it is called now.
//
// Pieces:
//   - Netdevs (fakesysfs.Netdevs) keeps a node's fake kernel in step with its links, from any process of
//     the node: Lookup reports a netdev only while it is in the host namespace, with its live name,
//     address, MTU, operstate, carrier and ifindex; Added creates and cables a link; Removed deletes it
//     wherever it is (a veth through its peer on the bridge, a TUN through the forwarder), so VFs disabled
//     while a pod holds them vanish from the pod as on hardware. Reclaim returns to the host the netdevs
//     destroyed with a deleted pod namespace (the kernel returns a physical VF netdev to the host).
//   - VFConfig (drivers.VFConfig) records PF-side VF configuration in the fake kernel, with the kernel's
//     and mlx5's errors, so every process of a node reads back what any of them set.
//   - Up builds a cluster, Cluster.Down and Down remove it, GC removes runs whose owner process is dead;
//     OpenNode opens a node's kernel wired to its links from any process (CNI plugins, device plugin).
//     The state directory layout is described in state.go.
//
// Nothing is created in the caller's network namespace: only named namespace mounts under /run/netns.
// Known limits: a forwarder restarted while TUN VFs sit in pod namespaces cannot find them (they stay
// without carrier until detached and attached again, and Reclaim would take them for lost); GC treats a
// vflab-* namespace without the run mark on its loopback as a leftover, which a run creating that very
// namespace at the same instant could lose.
//
// Types are safe for concurrent use unless stated otherwise.
package sandbox
