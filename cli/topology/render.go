package topology

import (
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/afero"
	"github.com/spf13/cobra"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/fakesysfs"
	topo "github.com/vflab/vflab/fakesysfs/topology"
)

func newRenderCommand(logger *slog.Logger) *cobra.Command {
	var (
		src source
		out string
	)
	cmd := &cobra.Command{
		Use:   "render (--preset NAME | --file F) --out DIR",
		Short: "Materialise a node's fake kernel in DIR (DIR/sys, DIR/dev) and summarise it",
		Long: `Render a node description into DIR, which must be empty or missing: DIR/sys and DIR/dev hold the
tree the node's kernel shows, with real relative symlinks, so that ls, cat, lspci and ibstat (with DIR/sys
bind-mounted over /sys in a private mount namespace) read it like a real host. Every process of the node
shares it: read or write attributes with the kernel's semantics through "vflab sys --root DIR".`,
		Example: `  vflab topology render --preset laptop --out /tmp/laptop
  vflab sys cat --root /tmp/laptop /sys/class/net/ibp59s0/device/sriov_numvfs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := src.node(cmd.InOrStdin())
			if err != nil {
				return err
			}
			k, err := fakesysfs.Create(out, n, fakesysfs.WithLogger(logger))
			if err != nil {
				return err
			}
			logger.Debug("rendered node", "node", n.Name, "root", out)
			return writeSummary(cmd.OutOrStdout(), k, out)
		},
	}
	src.register(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "directory to render into (empty or missing)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// writeSummary describes what the kernel rendered, read back from its tree by the SR-IOV driver (the same
// discovery `vflab inspect` runs): per PF its netdev, RDMA device, link layer and VFs, then the totals.
func writeSummary(w io.Writer, k *fakesysfs.Kernel, dir string) error {
	node := k.Node()
	inv, err := sriov.New(k, nil).Discover()
	if err != nil {
		return fmt.Errorf("read back %s: %w", dir, err)
	}
	t := newTable()
	t.AppendHeader(table.Row{"PF", "MODEL", "LINK", "NUMA", "NETDEV", "RDMA", "VFS", "VF NETDEVS"})
	var pfs, vfs, netdevs, rdma int
	for _, nic := range node.NICs {
		for p, port := range nic.Ports {
			bdf := topo.PFAddress(nic, p)
			pf, ok := inv.PF(bdf)
			if !ok {
				return fmt.Errorf("read back %s: PF %s not found", dir, bdf)
			}
			var vfNets []string
			for _, vf := range pf.VFs {
				vfs++
				netdevs += len(vf.Netdevs)
				rdma += len(vf.RDMADevices)
				vfNets = append(vfNets, vf.Netdevs...)
			}
			pfs++
			netdevs += len(pf.Netdevs)
			rdma += len(pf.RDMADevices)
			t.AppendRow(table.Row{bdf, nic.Model, port.LinkLayer, nic.NUMANode, strings.Join(pf.Netdevs, ","),
				strings.Join(pf.RDMADevices, ","), fmt.Sprintf("%d/%d", pf.NumVFs, pf.TotalVFs), abbreviate(vfNets)})
		}
	}
	chars, err := names(k, ib.DevDir)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rendered node %s into %s (sys/, dev/)\n\n", node.Name, dir)
	if err := renderTable(&b, t); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%d PFs, %d VFs, %d netdevs, %d RDMA devices, %d %s entries\n", pfs, vfs, netdevs, rdma, len(chars), ib.DevDir)
	_, err = io.WriteString(w, b.String())
	return err
}

// names lists a directory of the kernel's tree, sorted; a missing directory is empty.
func names(fs afero.Fs, dir string) ([]string, error) {
	entries, err := afero.ReadDir(fs, dir)
	if err != nil {
		if ok, _ := afero.Exists(fs, dir); !ok {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, path.Base(e.Name()))
	}
	sort.Strings(out)
	return out, nil
}

// abbreviate shows a list of names as "a,b,c" or "a .. z (n)" when it is long.
func abbreviate(s []string) string {
	if len(s) <= 3 {
		return strings.Join(s, ",")
	}
	return fmt.Sprintf("%s .. %s (%d)", s[0], s[len(s)-1], len(s))
}
