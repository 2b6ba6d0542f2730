// Package clusterstore keeps IPAM reservations in etcd (v3 API), so that addresses are unique across a
// whole cluster. It implements [ipam.Store].
//
// Every reservation is ONE etcd transaction that succeeds only if each address key is still absent
// (CreateRevision == 0): there is no cluster-wide lock, no leader election and no object that grows with
// the range. The transaction writes, atomically:
//
//	<prefix>net/<network>/ip/<addr>                 the reservation (owner, pod, time): the final arbiter
//	<prefix>net/<network>/owner/<containerID>/<if>  the owner's reservations: idempotent ADD, O(1) DEL
//	<prefix>net/<network>/block/<set>/<start>       a 256-address bitmap, compared on ModRevision
//	<prefix>net/<network>/cursor/<node>/<set>       this node's round-robin cursor
//	<prefix>networks/<network>                      marker so the reconciler can list networks
//
// The block bitmaps let [Store.Load] read the used addresses of a network in one range request whose
// size is bounded by the number of used blocks (32 bytes per 256 addresses; empty blocks are deleted),
// not by the number of reservations. The address keys remain the arbiter: a block bitmap and the address
// keys it summarises are only ever changed in the same transaction, so they cannot disagree. Round-robin
// cursors are kept per node, so nodes do not all contend for the same next address; when the store is told
// the network's ranges (Config.Networks), each node starts in its own block (soft, Calico-like affinity
// without claims to reclaim) and Load returns only the window of blocks the allocator will search, so an
// allocation costs the same in an empty and in a 99% full range.
//
// Every call runs under a deadline (Config.RequestTimeout, 5 s by default); an etcd that cannot answer in
// time (down, partitioned, quorum lost) fails the call with an [*UnreachableError] matching
// [ErrUnreachable], whose message reads "etcd unreachable after 5s: ...". A transaction is atomic, so a
// failed call leaves either nothing or a complete reservation behind (a timed-out commit may still land once
// quorum returns; the next ADD of the same attachment then finds and returns it).
package clusterstore
