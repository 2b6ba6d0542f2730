// Package sim is the laptop scenario: a sandbox cluster of simulated nodes (real namespaces and links,
// fake kernels), one embedded etcd, and per node the device plugin registered with a fake kubelet, on
// which the hot path of a pod runs end to end — kubelet Allocate of a VF, the attach steps the CNI
// plugins take, IPAM on etcd, traffic between pods on two nodes over the Ethernet and the InfiniBand
// fabric — and then its exact reverse.
//
// The package holds the pieces the suite and bench/attach share:
//   - Attacher does, in-process, what vflab-sriov / vflab-ib-sriov do on ADD and DEL for one VF: lock,
//     snapshot and configure through the PF (MAC and VLAN for Ethernet, GUIDs and rebind for
//     InfiniBand), one namespace move, rename, MTU, up, IPAM, addresses and routes; Detach undoes it and
//     succeeds when parts are already gone (pod namespace deleted, address released).
//   - NodeRuntime runs a node's device plugin against its fake kernel, registered with a fake kubelet.
//
// It is simulation wiring, not a production package: the CNI plugins own the real attach path.
package sim
