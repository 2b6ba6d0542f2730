// Package ipam is vflab's address allocator: the pure, deterministic core shared by the node (disk) store,
// the cluster (etcd) store and the vflab-ipam CNI plugin.
//
// The shape follows etcd-io/raft: the core never does I/O. A [Store] loads a network's [State] (its
// reservations and round-robin cursors) and commits [Reservation]s; the core ([Pool]) decides which
// addresses to hand out. [Add], [Del], [Check], [GC] and [Reconcile] tie the two together with the CNI
// semantics:
//
//   - ADD is idempotent on (network, containerID, ifname): a second ADD returns the same addresses.
//   - DEL is idempotent (an unknown owner is success) but reports real store errors.
//   - GC releases every reservation whose owner is not in the runtime's list of valid attachments.
//   - Reconcile frees reservations of pods that no longer exist, never one younger than a grace period.
//
// Addresses are [net/netip] values throughout, IPv4 and full 128-bit IPv6. A [Network] has one or more
// [RangeSet]s (one address per set per attachment, so a dual-stack network has two), each an ordered list
// of [Range]s tried in order. The network address, the IPv4 broadcast address, the gateway and every
// [Exclusion] are never handed out. Allocation cost does not grow with how full a range is: a [Pool] keeps a
// sparse two-level bitmap (blocks of 4096 addresses, plus an interval set of full blocks) and a cursor, so
// even an IPv6 /64 costs memory only for the blocks that hold reservations. Building a Pool from a State
// is linear in the reservations (tens of nanoseconds each); a store that keeps a [Usage] (a bitmap per
// 4096 addresses, [UsageLoader]) lets [Add] build it in O(range/64) word operations instead, whatever the
// fill, which suits one-shot CNI processes; an [Allocator] keeps its Pool between calls for long-lived
// callers.
//
// The Store is consumer-side and small so that, on etcd, one ADD is one transaction that creates the
// address keys only if they are absent ([Store.Reserve]).
package ipam
