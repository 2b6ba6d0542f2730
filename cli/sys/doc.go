// Package sys is the `vflab sys` command: read and write single attributes of a node's fake kernel
// rendered on disk (vflab topology render), through the kernel's semantics, the way `cat` and
// `echo 8 > sriov_numvfs` do on a real host, with the kernel's error text on failure.
package sys
