// Package discovery is the device plugin's Inventory over a real or fake machine: it finds PFs and VFs
// with drivers/sriov (VFs through their PF's virtfn links, link type from the PF when the VF's netdev is
// in a pod), RDMA devices, ports and char devices with drivers/ib, and reads the few remaining files the
// plugin needs itself (operstate, IOMMU group, acpi_index, uio, host char devices) through the same
// afero.Fs rooted at "/".
package discovery
