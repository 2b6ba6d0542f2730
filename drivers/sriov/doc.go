// Package sriov is the SR-IOV driver: it finds the network PCI functions of a machine, their PFs and VFs
// (vendor, device, class, driver, NUMA node, netdevs, link type, RDMA devices), maps a VF to its PF and
// index and back, sets a PF's VF count and waits for the VFs to appear, binds a function to a driver, and
// configures a VF through its PF (MAC, VLAN, spoof check, trust, link state, rates) with a snapshot that
// restores exactly what was changed.
//
// A Driver reaches the machine only through the two boundaries of shared/DESIGN.md — an afero.Fs rooted
// at "/" and a drivers.VFConfig — so the same code runs on a real host and on the fake kernel. Discovery
// reads every link and attribute once: its cost is linear in the number of PCI devices.
package sriov
