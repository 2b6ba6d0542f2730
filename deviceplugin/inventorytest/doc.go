// Package inventorytest is a hand-written, stateful fake of deviceplugin.Inventory: a machine of PFs and
// VFs held in memory whose state tests change (link down, driver unbound, VF count, RDMA device moved
// into a pod) between scans. Tests and benchmarks of the device plugin use it where no fake kernel is
// needed.
package inventorytest
