package inspect

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/inventory"
	"github.com/vflab/vflab/host"
	"github.com/vflab/vflab/host/rootfs"
)

// NewCommand returns `vflab inspect`.
func NewCommand(logger *slog.Logger) *cobra.Command {
	var root, output string
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show the PFs, VFs, RDMA devices, ports and GUIDs the drivers find on this node",
		Long: `Show everything the SR-IOV and InfiniBand drivers discover: PFs and their VFs (driver, NUMA node,
link type, netdevs), other network functions, and each function's RDMA devices with ports, GUIDs and
char devices. Without --root it reads this node (the fake kernel in a simulation build, the real machine
with -tags hardware). --root reads a directory or capture archive instead, read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("inspect: --output %q: want table or json", output)
			}
			m, cleanup, err := open(root, logger)
			if err != nil {
				return err
			}
			defer cleanup()
			rep, err := inventory.Take(m.FS)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			Render(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "read this tree instead of the node: a directory holding sys/ (or one level above it), or a .tar/.tar.gz/.tar.bz2 capture")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// open returns the machine to read and what to do when done.
func open(root string, logger *slog.Logger) (*host.Machine, func(), error) {
	if root == "" {
		m, err := host.Default()
		if err != nil {
			return nil, nil, fmt.Errorf("inspect: %w", err)
		}
		return m, func() { _ = m.Close() }, nil
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, nil, fmt.Errorf("inspect: --root: %w", err)
	}
	dir, cleanup := root, func() {}
	if !fi.IsDir() {
		tmp, err := os.MkdirTemp("", "vflab-inspect-")
		if err != nil {
			return nil, nil, fmt.Errorf("inspect: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(tmp) }
		logger.Debug("unpacking capture", "archive", root, "dir", tmp)
		if err := rootfs.Unpack(root, tmp, rootfs.DriversOnly); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("inspect: --root: %w", err)
		}
		dir = tmp
	}
	m, err := host.OpenRoot(dir)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("inspect: --root: %w", err)
	}
	return m, func() { _ = m.Close(); cleanup() }, nil
}

// Render writes the report as two tables: PCI functions (PFs with their VFs, then the others), and RDMA
// devices with their ports.
func Render(w io.Writer, rep *inventory.Report) {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.SetTitle("PCI functions")
	t.AppendHeader(table.Row{"PCI", "ROLE", "VENDOR:DEVICE", "DRIVER", "NUMA", "LINK", "NETDEV", "RDMA", "VFS"})
	row := func(f inventory.Function, role, vfs string) table.Row {
		return table.Row{f.Address, role, strings.TrimPrefix(f.Vendor, "0x") + ":" + strings.TrimPrefix(f.Device, "0x"),
			dash(f.Driver), f.NUMANode, dash(f.LinkType), dash(strings.Join(f.Netdevs, ",")), dash(strings.Join(f.RDMADevices, ",")), vfs}
	}
	for _, pf := range rep.PFs {
		t.AppendRow(row(pf.Function, "PF", fmt.Sprintf("%d/%d", pf.NumVFs, pf.TotalVFs)))
		for _, vf := range pf.VFs {
			t.AppendRow(row(vf.Function, "  VF "+strconv.Itoa(vf.Index), ""))
		}
	}
	for _, o := range rep.Others {
		t.AppendRow(row(o, "-", ""))
	}
	if len(rep.PFs)+len(rep.Others) == 0 {
		t.AppendRow(table.Row{"(no network functions)"})
	}
	t.Render()

	var devs []ib.Device
	collect := func(f inventory.Function) { devs = append(devs, f.RDMA...) }
	for _, pf := range rep.PFs {
		collect(pf.Function)
		for _, vf := range pf.VFs {
			collect(vf.Function)
		}
	}
	for _, o := range rep.Others {
		collect(o)
	}
	if len(devs) == 0 {
		_, _ = fmt.Fprintln(w, "No RDMA devices.")
		return
	}
	r := table.NewWriter()
	r.SetOutputMirror(w)
	r.SetStyle(table.StyleLight)
	r.SetTitle("RDMA devices")
	r.AppendHeader(table.Row{"DEVICE", "PCI", "NODE GUID", "SYS IMAGE GUID", "FW", "PORT", "STATE", "PHYS STATE", "RATE", "LINK LAYER", "LID", "SM LID", "PORT GUID", "CHAR DEVICES"})
	for _, d := range devs {
		var chars []string
		for _, c := range d.CharDevices {
			chars = append(chars, c.Name)
		}
		if len(d.Ports) == 0 {
			r.AppendRow(table.Row{d.Name, d.PCIAddress, d.NodeGUID.String(), d.SysImageGUID.String(), dash(d.FirmwareVersion), "-", "-", "-", "-", "-", "-", "-", "-", dash(strings.Join(chars, ","))})
		}
		for _, p := range d.Ports {
			r.AppendRow(table.Row{d.Name, d.PCIAddress, d.NodeGUID.String(), d.SysImageGUID.String(), dash(d.FirmwareVersion), p.Number, dash(p.State),
				dash(p.PhysState), dash(p.Rate), dash(p.LinkLayer), fmt.Sprintf("%#x", p.LID), fmt.Sprintf("%#x", p.SMLID), p.PortGUID.String(),
				dash(strings.Join(chars, ","))})
		}
	}
	r.Render()
	if rep.RDMACM != "" {
		_, _ = fmt.Fprintln(w, "rdma_cm:", rep.RDMACM)
	} else {
		_, _ = fmt.Fprintln(w, "rdma_cm: not present (/dev/infiniband/rdma_cm)")
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
