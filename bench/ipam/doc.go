// Package ipam benchmarks vflab's address allocation against its peers and floor, on the same workload in
// the same run:
//
//   - node: ipam.Add/Del over ipam/nodestore (the host-local-compatible disk store);
//   - cluster: ipam.Add/Del over ipam/clusterstore on a single-member embedded etcd (durable, fsync on);
//   - host-local: containernetworking/plugins' host-local allocator with its disk store, locked the way the
//     host-local binary locks it;
//   - etcd-txn: the floor for the cluster store, one bare create-if-absent transaction per allocation.
//
// BenchmarkAllocRate measures allocations per second at 1, 8 and 64 concurrent allocators (each its own
// client, as separate CNI processes would be). BenchmarkFill measures one allocation plus its release with
// the range 1%, 50% and 99% full (a /16; a /22 under -short). Run them with `make bench` (hack/bench.sh),
// which keeps the results in bench/results/.
package ipam
