// Package hardware is the lab suite (ginkgo, label "hardware", built only with -tags hardware, run by
// `make lab`) that a lab engineer runs on a real Mellanox/NVIDIA host: read-only discovery checks on every
// device, then — only when -vflab.lab-pf=<BDF> (or VFLAB_LAB_PF) names the one PF it may touch — VF
// enable, GUID set (InfiniBand) or VF configuration (Ethernet), attaching a VF to a network namespace,
// and a full restore. Every write goes through guards that refuse any device the flag does not name.
// Without Mellanox hardware it skips with one line.
package hardware
