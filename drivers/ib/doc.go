// Package ib is the InfiniBand driver: the RDMA devices of a PCI function and their ports (state, rate, link
// layer, LIDs, GIDs, P_Keys), node, port and system-image GUIDs, the char devices (uverbs, umad, issm,
// rdma_cm) of a device, matched exactly so that mlx5_1 never matches mlx5_10, and setting a VF's node and
// port GUID through its PF (netlink, or the MLNX_OFED sysfs files where present) followed by the rebind that
// makes it take effect.
//
// It also holds the pure pieces every InfiniBand consumer needs: the GUID type, which parses and prints
// every form the kernel and the tools use; the 20-byte IPoIB hardware address; and a deterministic,
// collision-free GUID allocator for VFs.
//
// Like every driver it reaches the machine only through an afero.Fs rooted at "/" and a drivers.VFConfig.
package ib
