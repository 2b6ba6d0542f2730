package sandbox

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vflab/vflab/fakesysfs/topology"
	sbx "github.com/vflab/vflab/sandbox"
)

// NewCommand returns `vflab sandbox` with its subcommands up, down, gc (and the hidden forwarder that
// `up` leaves running in the background).
func NewCommand(logger *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Build simulated nodes with real netdevs in network namespaces, cabled to shared fabrics",
	}
	cmd.AddCommand(newUp(logger), newDown(), newGC(logger), newForwarder(logger))
	return cmd
}

func newUp(logger *slog.Logger) *cobra.Command {
	var preset, file, state, name string
	var nodes int
	cmd := &cobra.Command{
		Use:   "up (--preset P | --file F) --state DIR [--nodes N] [--name CLUSTER]",
		Short: "Build a cluster of simulated nodes and leave it running",
		Long: "Build per node a host network namespace vflab-<cluster>-<node> with a real link for every PF and VF\n" +
			"netdev of its fake kernel (under DIR/nodes/<node>/root), cabled to its fabric: Ethernet netdevs are veths\n" +
			"on a bridge in vflab-<cluster>-fab-<fabric>, InfiniBand netdevs TUN devices of type infiniband served by a\n" +
			"forwarder process left running in the background. Remove it with `vflab sandbox down --state DIR`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state == "" {
				return errors.New("sandbox up: --state is required")
			}
			cluster, tnodes, err := loadCluster(preset, file, nodes, cmd.Flags().Changed("nodes"))
			if err != nil {
				return fmt.Errorf("sandbox up: %w", err)
			}
			if name != "" {
				cluster = name
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("sandbox up: %w", err)
			}
			c, err := sbx.Up(cmd.Context(), cluster, tnodes, sbx.Options{
				StateDir: state,
				Logger:   logger,
				ForwarderCommand: func(dir string, owner *sbx.Process) *exec.Cmd {
					args := []string{"sandbox", "forwarder", "--state", dir}
					if owner != nil {
						args = append(args, "--owner", fmt.Sprintf("%d:%d", owner.PID, owner.StartTime))
					}
					return exec.Command(self, args...)
				},
				Background: true,
			})
			if err != nil {
				return err
			}
			return printCluster(cmd.OutOrStdout(), c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&preset, "preset", "", "node preset ("+strings.Join(topology.Presets(), ", ")+")")
	f.StringVar(&file, "file", "", "cluster description (YAML/JSON), or one node description copied --nodes times")
	f.IntVar(&nodes, "nodes", 2, "number of nodes (with --preset, or --file naming one node)")
	f.StringVar(&state, "state", "", "state directory of the run (required)")
	f.StringVar(&name, "name", "", "cluster name: prefix of every namespace (default: the preset's or description's)")
	cmd.MarkFlagsMutuallyExclusive("preset", "file")
	cmd.MarkFlagsOneRequired("preset", "file")
	return cmd
}

// loadCluster resolves the nodes of `sandbox up`.
func loadCluster(preset, file string, nodes int, nodesSet bool) (string, []topology.Node, error) {
	if nodes < 1 {
		return "", nil, fmt.Errorf("--nodes %d: need at least 1", nodes)
	}
	if preset != "" {
		c, err := topology.ClusterOf(preset, nodes)
		if err != nil {
			return "", nil, err
		}
		ns, err := c.Resolve("")
		return c.Name, ns, err
	}
	c, ns, cerr := topology.LoadClusterFile(file)
	if cerr == nil {
		if nodesSet {
			return "", nil, fmt.Errorf("--nodes: %s describes a cluster, whose nodes it names", file)
		}
		return c.Name, ns, nil
	}
	node, nerr := topology.LoadFile(file)
	if nerr != nil {
		return "", nil, fmt.Errorf("%s is neither a cluster (%v) nor a node description (%w)", file, cerr, nerr)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", nil, err
	}
	c = topology.Cluster{Name: node.Name, Nodes: []topology.ClusterNode{{Name: node.Name, Count: nodes, File: abs}}}
	if nodes == 1 {
		c.Nodes[0].Count = 0
	}
	ns, err = c.Resolve(filepath.Dir(abs))
	return c.Name, ns, err
}

// printCluster prints what Up built: one row per node.
func printCluster(w io.Writer, c *sbx.Cluster) error {
	// text/tabwriter rather than go-pretty: go-pretty's dependency go-runewidth is not in go.sum yet.
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(t, "NODE\tNETNS\tROOT\tPFS\tVFS\tFABRICS")
	for _, n := range c.Nodes {
		specs, err := n.Kernel.Netdevs()
		if err != nil {
			return err
		}
		var pfs []string
		vfs := 0
		fabrics := map[string]bool{}
		for _, s := range specs {
			fabrics[s.Fabric] = true
			if s.PF {
				pfs = append(pfs, s.Name)
			} else {
				vfs++
			}
		}
		fl := make([]string, 0, len(fabrics))
		for f := range fabrics {
			fl = append(fl, f)
		}
		sort.Strings(fl)
		_, _ = fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%s\n", n.Name, n.Namespace, n.Root, strings.Join(pfs, " "), vfs, strings.Join(fl, " "))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	var fabs []string
	for _, f := range c.State.Fabrics {
		where := "forwarder"
		if f.Namespace != "" {
			where = "bridge in " + f.Namespace
		}
		fabs = append(fabs, fmt.Sprintf("%s (%s, %s)", f.Name, f.LinkLayer, where))
	}
	_, _ = fmt.Fprintf(w, "cluster %s, fabrics: %s\n", c.State.Cluster, strings.Join(fabs, ", "))
	if len(c.Nodes) > 0 {
		n := c.Nodes[0]
		_, _ = fmt.Fprintf(w, "run a node's processes with: ip netns exec %s env VFLAB_ROOT=%s COMMAND\n", n.Namespace, n.Root)
	}
	if c.State.Forwarder != nil {
		_, _ = fmt.Fprintf(w, "forwarder pid %d; remove with: vflab sandbox down --state %s\n", c.State.Forwarder.PID, c.Dir)
	}
	return nil
}

func newDown() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "down --state DIR",
		Short: "Remove everything a `sandbox up` built: forwarder, namespaces, fake kernels, state files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state == "" {
				return errors.New("sandbox down: --state is required")
			}
			return sbx.Down(state)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "state directory of the run (required)")
	return cmd
}

func newGC(logger *slog.Logger) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "gc [--prefix vflab-CLUSTER-]",
		Short: "Remove the leftovers of sandbox runs whose owner process is dead (namespaces vflab-*, forwarders, state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := sbx.GC(sbx.GCOptions{Prefix: prefix, Logger: logger})
			for _, name := range removed {
				_, _ = fmt.Fprintln(cmd.OutOrStdout(), "removed", name)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", sbx.NamespacePrefix, "only namespaces whose name starts with this")
	return cmd
}

func newForwarder(logger *slog.Logger) *cobra.Command {
	var state, owner string
	cmd := &cobra.Command{
		Use:    "forwarder --state DIR [--owner PID:START]",
		Short:  "Serve the InfiniBand fabrics of a sandbox run (started by `sandbox up`)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p *sbx.Process
			if owner != "" {
				pid, start, ok := strings.Cut(owner, ":")
				n, err1 := strconv.Atoi(pid)
				s, err2 := strconv.ParseUint(start, 10, 64)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("sandbox forwarder: --owner %q: want PID:STARTTIME", owner)
				}
				p = &sbx.Process{PID: n, StartTime: s}
			}
			return sbx.RunForwarder(cmd.Context(), state, p, logger)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "state directory of the run")
	cmd.Flags().StringVar(&owner, "owner", "", "exit when this process (PID:STARTTIME) is gone")
	return cmd
}
