// Package topology is the `vflab topology` command: list the built-in node presets, print a node
// description (validated, as YAML), and render a node into a directory holding its fake kernel's
// root (DIR/sys, DIR/dev), which `vflab sys`, lspci and ibstat (under a bind mount) then read.
package topology
