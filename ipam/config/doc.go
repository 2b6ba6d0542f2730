// Package config parses the vflab-ipam plugin's configuration: the CNI network configuration's "ipam"
// object in host-local's format or whereabouts' format (both accepted unchanged, and combinable), the
// runtime's requests (CNI_ARGS IP= and K8S_POD_*, args.cni.ips, runtimeConfig.ips and ipRanges), and
// vflab's own fields (store, policy, timeout, etcd connection).
//
// Every error names the offending field and value, e.g.
// `ipam.ranges[0][0].subnet: "10.0.0.0/33" is not a CIDR`, and wraps ipam.ErrInvalidConfig.
package config
