// Package discovery is the device plugin's Inventory over a real or fake machine: it finds PFs and VFs
// with drivers/sriov (VFs through their PF's virtfn links, so a VF whose netdev or RDMA device sits in a
// pod is still found, and link type from the PF), and reads the few other files the plugin needs itself
// through the same afero.Fs rooted at "/": operstate, the first RDMA port's state, P_Key and GID, the
// char devices listed under each function, IOMMU group, acpi_index, uio, and the host char devices.
package discovery
