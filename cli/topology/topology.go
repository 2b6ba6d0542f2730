package topology

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	topo "github.com/vflab/vflab/fakesysfs/topology"
)

// NewCommand returns `vflab topology` and its subcommands.
func NewCommand(logger *slog.Logger) *cobra.Command {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Describe simulated nodes: list presets, show a description, render a node's sysfs",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPresetsCommand(), newShowCommand(), newRenderCommand(logger))
	return cmd
}

// source is the --preset / --file pair every command that takes a node shares.
type source struct {
	preset, file string
}

func (s *source) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.preset, "preset", "", "built-in node ("+strings.Join(topo.Presets(), ", ")+")")
	cmd.Flags().StringVarP(&s.file, "file", "f", "", "node description (YAML or JSON; - for stdin)")
	cmd.MarkFlagsMutuallyExclusive("preset", "file")
	cmd.MarkFlagsOneRequired("preset", "file")
}

// node loads and validates the node the flags name; --file - reads stdin.
func (s *source) node(stdin io.Reader) (topo.Node, error) {
	switch {
	case s.preset != "":
		return topo.Preset(s.preset)
	case s.file == "-":
		n, err := topo.Load(stdin)
		if err != nil {
			return topo.Node{}, fmt.Errorf("stdin: %w", err)
		}
		return n, nil
	}
	return topo.LoadFile(s.file)
}

func newPresetsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "presets",
		Short: "List the built-in nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writePresets(cmd.OutOrStdout())
		},
	}
}

// writePresets prints one row per preset: its NICs, ports by link layer, VFs enabled of the total.
func writePresets(out io.Writer) error {
	t := newTable()
	t.AppendHeader(table.Row{"NAME", "NICS", "PORTS", "VFS", "DESCRIPTION"})
	for _, name := range topo.Presets() {
		n, err := topo.Preset(name)
		if err != nil {
			return err
		}
		s := summarize(n)
		t.AppendRow(table.Row{name, s.nics, s.ports(), fmt.Sprintf("%d/%d", s.numVFs, s.totalVFs), topo.PresetDescription(name)})
	}
	return renderTable(out, t)
}

// newTable is a borderless table in the style of kubectl and kind listings.
func newTable() table.Writer {
	t := table.NewWriter()
	t.SetStyle(table.StyleLight)
	t.Style().Options = table.OptionsNoBordersAndSeparators
	t.Style().Box.PaddingLeft = ""
	t.Style().Box.PaddingRight = "   "
	return t
}

// renderTable writes t without the padding go-pretty leaves at the end of lines.
func renderTable(w io.Writer, t table.Writer) error {
	var b strings.Builder
	for _, line := range strings.Split(t.Render(), "\n") {
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// summary counts what a node description declares.
type summary struct {
	nics, ib, eth, numVFs, totalVFs int
}

func summarize(n topo.Node) summary {
	s := summary{nics: len(n.NICs)}
	for _, nic := range n.NICs {
		for _, p := range nic.Ports {
			if p.LinkLayer == topo.InfiniBand {
				s.ib++
			} else {
				s.eth++
			}
			s.numVFs += p.NumVFs
			s.totalVFs += p.TotalVFs
		}
	}
	return s
}

func (s summary) ports() string {
	var parts []string
	if s.ib > 0 {
		parts = append(parts, fmt.Sprintf("%d IB", s.ib))
	}
	if s.eth > 0 {
		parts = append(parts, fmt.Sprintf("%d Eth", s.eth))
	}
	return strings.Join(parts, " + ")
}

func newShowCommand() *cobra.Command {
	var (
		src      source
		defaults bool
	)
	cmd := &cobra.Command{
		Use:   "show (--preset NAME | --file F)",
		Short: "Print a node description, validated, as YAML",
		Example: `  vflab topology show --preset gpu-8rail
  vflab topology show --file node.yaml --defaults`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := src.node(cmd.InOrStdin())
			if err != nil {
				return err
			}
			if defaults {
				n = n.WithDefaults()
			}
			out, err := yaml.Marshal(n)
			if err != nil {
				return fmt.Errorf("show node %q: %w", n.Name, err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	src.register(cmd)
	cmd.Flags().BoolVar(&defaults, "defaults", false, "fill in every default the fake kernel derives (netdev names, MACs, GUIDs, rates, MTUs)")
	return cmd
}
