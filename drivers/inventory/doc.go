// Package inventory puts together everything the drivers discover on one machine — SR-IOV PFs and their
// VFs, other network functions, their drivers, NUMA nodes, link types, netdevs, and each function's RDMA
// devices with ports, GUIDs and char devices — as one report (what `vflab inspect` prints). It only
// reads: discovery through drivers/sriov, RDMA details through drivers/ib.
package inventory
