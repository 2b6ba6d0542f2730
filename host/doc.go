// Package host is the machine production code runs on: a Machine holds the two boundaries of
// shared/DESIGN.md — the filesystem rooted at "/" and the PF-side VF configuration — and Default builds
// it. It is the only package with build-tag variants: default_hw.go (-tags hardware: the OS filesystem
// and real netlink) and default_sim.go (the default build: the node's fake kernel and the sandbox's VF
// state). Everything that uses a Machine is the same compiled code in both.
package host
