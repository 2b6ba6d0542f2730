// Package sandbox is `vflab sandbox`: build, remove and garbage-collect clusters of simulated nodes with
// real netdevs in network namespaces (package github.com/vflab/vflab/sandbox).
package sandbox
