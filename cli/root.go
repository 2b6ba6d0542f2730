package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/vflab/vflab/cli/etcd"
	"github.com/vflab/vflab/cli/inspect"
	"github.com/vflab/vflab/cli/sandbox"
	"github.com/vflab/vflab/cli/sys"
	"github.com/vflab/vflab/cli/topology"
)

// NewRoot returns the `vflab` command with every subcommand registered. logger receives the commands'
// diagnostics (stderr in cmd/vflab); results go to the command's output.
func NewRoot(logger *slog.Logger) *cobra.Command {
	root := &cobra.Command{
		Use:           "vflab",
		Short:         "SR-IOV and InfiniBand networking for Kubernetes, with or without the hardware",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Each subcommand lives in its own package under cli/ and is added here, one line each.
	root.AddCommand(etcd.NewCommand(logger))
	root.AddCommand(topology.NewCommand(logger), sys.NewCommand(logger))
	root.AddCommand(sandbox.NewCommand(logger))
	root.AddCommand(inspect.NewCommand(logger))
	return root
}
