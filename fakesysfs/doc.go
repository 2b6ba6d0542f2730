// Package fakesysfs is vflab's fake kernel: an afero.Fs rooted at "/" that behaves like the kernel's
// sysfs for Mellanox/NVIDIA (mlx5) PCI, net and InfiniBand devices, plus the matching /dev entries.
//
// A Kernel renders a topology.Node into the tree the real kernel shows (shared/reference/sysfs.md):
// PF and VF directories under their PCI bridge, relative symlinks at the kernel's depths, every
// attribute in the kernel's format, net/ and infiniband/ class entries, char devices. Writes have the
// kernel's semantics, implemented once here and applied in whichever process writes: sriov_numvfs
// creates and removes VFs, driver bind/unbind/driver_override/drivers_probe attach drivers, the
// MLNX_OFED sriov/<vf> files set GUIDs; failures come back as *os.PathError carrying the kernel's errno.
//
// Two backings sit behind one API. New keeps the tree in memory (unit tests, benchmarks). Create and
// Open keep it in a directory on disk with real symlinks, so that every process of a simulated node
// (device plugin, CNI binaries, the CLI) shares one kernel: each mutation runs under an flock in the
// kernel's private state directory and replaces files by rename, so concurrent writers never corrupt it.
// Nothing is cached in a process: all state is the tree plus the private state file. New directories
// (a VF, a netdev, an RDMA device) are built aside and renamed into place, so readers never see half
// of one; a writer that dies under the lock leaves a busy mark, and the next writer repairs the tree.
// Create renders the tree in memory and then writes it out, one system call or so per entry (no path
// lookups). Put on-disk roots on tmpfs where possible: creating an entry is the whole cost, and a VM's
// ext4 takes about 0.5-1 ms per entry, tmpfs about 10 µs, for thousands of entries per node.
//
// Known simplifications: unbinding a PF's driver disables its VFs; the `remove`, `rescan`, `reset`
// and `sriov_vf_msix_count` triggers are accepted and ignored; there are no ucm class devices (as on
// kernels since 5.9); RDMA devices do not follow VFs into pod namespaces (shared mode).
package fakesysfs
