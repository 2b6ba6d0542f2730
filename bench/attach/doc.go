// Package attach benchmarks the attach hot path of one pod on a sandbox node (real namespaces and
// links, in-memory fake kernel), as testing.B benchmarks:
//
//   - BenchmarkLifecycle/vflab-eth and /vflab-ib: the vflab attach and detach of a VF (configure through
//     the PF, one netns move in, rename, MTU, up; move out, rename back, restore), without IPAM, and
//     /vflab-eth+etcd with the address and a route (one durable etcd transaction each way);
//   - BenchmarkLifecycle/floor: a bare netlink move of a veth into the pod namespace and back, the least
//     any attach can cost (every move waits in rcu_barrier under RTNL);
//   - BenchmarkLifecycle/upstream: the peer's way, through a temporary namespace (create it, move into
//     it, rename there, move on into the pod; the reverse on delete): two moves each way;
//   - BenchmarkAllocate: kubelet-side Allocate of one VF through the device plugin's real gRPC socket,
//     and its release.
//
// They need root (b.Skip otherwise).
//
//	go test -run '^$' -bench . ./bench/attach/
package attach
