// Package vftrace wraps a drivers.VFConfig and writes one line per call — the method and its arguments as
// the kernel receives them, e.g. "LinkSetVfVlanQosProto enp59s0f0np0 3 100 0 33024" — to a writer. Tests
// compare the lines with golden files; `vflab` can show them to explain what a flow did to a PF.
package vftrace
