// Package inspect is `vflab inspect`: everything the drivers discover on a node — PFs, VFs, drivers, NUMA
// nodes, link layers, netdevs, RDMA devices, port states and GUIDs — as tables, or JSON for scripts. With
// --root it reads any tree instead of the node's machine: a fake kernel's root, a real machine's captured
// sysfs, or a capture archive (.tar, .tar.gz, .tar.bz2), always read-only.
package inspect
