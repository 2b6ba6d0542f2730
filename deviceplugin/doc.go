// Package deviceplugin is vflab's kubelet device plugin: it offers SR-IOV virtual functions (and their
// RDMA devices) as Kubernetes extended resources, one pool per resource of a sriov-network-device-plugin
// config.json, with the same Allocate response and device-info files as upstream.
//
// Unlike upstream it reports real health (VF or PF link, InfiniBand port, driver binding, PF presence),
// re-discovers devices and reloads its config without a restart, re-registers when the kubelet restarts,
// keeps devices held by running pods across its own restarts (it reads them back from the kubelet
// pod-resources API), and implements GetPreferredAllocation (NUMA-aware, pack or spread across PFs).
//
// The plugin sees the machine only through an Inventory (discovery of PCI functions); everything Allocate
// needs is computed when the inventory is scanned, never on the Allocate path. The pure parts — selector
// matching, pool assignment, the Allocate response, preferred allocation, health — are plain functions
// with table tests; Plugin wires them to gRPC servers on unix sockets.
package deviceplugin
