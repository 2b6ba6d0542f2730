// Package cli builds the `vflab` command line. Each subcommand (topology, sys, sandbox, inspect, etcd, sim,
// node) lives in its own package under cli/ and only wires flags to the packages that do the work;
// cmd/vflab/main.go only runs it.
package cli
