// Package discovery is the device plugin's Inventory over a real or fake machine. It reads the kernel
// only through the drivers: drivers/sriov finds PFs and VFs (VFs through their PF's virtfn links, so a
// VF whose netdev or RDMA device sits in a pod is still found, and link type from the PF) and reads each
// function's details (operstate, IOMMU group, acpi_index, uio) and the host char devices; drivers/ib
// reads a cheap summary of each function's RDMA devices (first port's state, P_Key 0, whether its GUID
// is set, the char devices listed under the function) and whether rdma_cm exists. Routes reads the
// default route's links over netlink.
package discovery
