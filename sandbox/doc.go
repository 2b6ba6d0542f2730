// Package sandbox makes simulated nodes real enough for the production code: per node a network namespace
// (the node's "host" namespace) holding a real link for every PF and VF netdev of the node's fake kernel
// (package fakesysfs), cabled to fabrics shared by the nodes of a cluster.
//
//   - Ethernet netdevs are veths whose peers are created directly in the fabric's namespace
//     (vflab-<cluster>-fab-<fabric>) and enslaved to its bridge.
//   - InfiniBand netdevs are persistent TUN devices switched to ARPHRD_INFINIBAND (link/infiniband); the
//     fabric is a userspace Forwarder holding every TUN queue of the cluster's InfiniBand fabrics and
//     delivering each IP packet to the TUN that owns its destination address.
//
// Every link the sandbox creates carries an IFLA_IFALIAS "vflab:<cluster>:<node>:<pci>:<fabric>" (see
// Alias), which survives renames and namespace moves: Netdevs finds a VF's netdev by it, and GC finds
// leftovers by it and by the namespace names.
//
// Netdevs keeps the fake kernel in step with the links (fakesysfs.Netdevs); VFConfig records PF-side VF
// configuration in the fake kernel (drivers.VFConfig). Up and Down build and remove a whole cluster, whose
// state directory (see State) lets any process of a node (OpenNode) and `vflab sandbox down|gc` find it.
//
// Nothing is created in the caller's network namespace: only named namespace mounts under /run/netns.
// Types are safe for concurrent use unless stated otherwise.
package sandbox
