// Package topology describes simulated nodes and clusters declaratively: which Mellanox/NVIDIA adapters a
// node has, where they sit on PCI and NUMA, their link layer per port, VF capacity and fabric. A Node is
// pure data; package fakesysfs renders it into a sysfs tree, and package sandbox cables it to fabrics.
// Descriptions are YAML (or JSON), validated with errors that name the offending field, and a few
// built-in presets cover common shapes: a laptop node, an 8-rail GPU server, a dual-port ConnectX-6 node.
package topology
