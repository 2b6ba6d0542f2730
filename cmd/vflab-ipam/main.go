// Command vflab-ipam is the vflab IPAM CNI plugin: host-local- and whereabouts-compatible configuration,
// addresses from the node store (disk) or the cluster store (etcd). See ipam/plugin.
package main

import (
	"log/slog"
	"os"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vflab/vflab/ipam/plugin"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, _ := os.Hostname()
	p := &plugin.Plugin{Logger: logger, Node: node, OpenCluster: plugin.ClusterStore(logger), IsUnreachable: plugin.ClusterUnreachable}
	skel.PluginMainFuncs(p.Funcs(), plugin.Versions(), "vflab-ipam: node (disk) and cluster (etcd) IPAM")
}
