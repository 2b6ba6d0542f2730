// Package vfstub is a hand-written, stateful drivers.VFConfig for the drivers' unit tests: PFs with VF
// state in memory, setters that change it as the kernel would, and failure injection per method.
package vfstub
