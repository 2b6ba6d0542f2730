package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vflab/vflab/ipam/etcdserver"
)

// DefaultListenClient is where `vflab etcd` serves clients unless told otherwise (etcd's usual port).
const DefaultListenClient = "http://127.0.0.1:2379"

// NewCommand returns `vflab etcd`.
func NewCommand(logger *slog.Logger) *cobra.Command {
	var cfg etcdserver.Config
	cmd := &cobra.Command{
		Use:   "etcd --data-dir DIR [--listen-client URL] [--name NAME]",
		Short: "Run a single-member embedded etcd for the cluster IPAM store",
		Long: `Run a single-member etcd inside this process until SIGINT or SIGTERM, for laptops and the
simulator. It prints the client URL on standard output once it serves; point the cluster IPAM store
(etcd_endpoints) at it. Data in --data-dir survives restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the member's WAL and database (required)")
	f.StringVar(&cfg.ListenClientURL, "listen-client", DefaultListenClient, "URL to serve clients on (https needs --cert-file and --key-file)")
	f.StringVar(&cfg.ListenPeerURL, "listen-peer", "", "URL for peer traffic (default: a free port on 127.0.0.1)")
	f.StringVar(&cfg.Name, "name", "vflab", "member name")
	f.StringVar(&cfg.ClientTLS.CertFile, "cert-file", "", "server certificate for the client listener (PEM)")
	f.StringVar(&cfg.ClientTLS.KeyFile, "key-file", "", "key of --cert-file (PEM)")
	f.StringVar(&cfg.ClientTLS.TrustedCAFile, "trusted-ca-file", "", "CA that signs client certificates (PEM)")
	f.BoolVar(&cfg.ClientTLS.ClientCertAuth, "client-cert-auth", false, "require client certificates signed by --trusted-ca-file")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}

func run(ctx context.Context, cmd *cobra.Command, cfg etcdserver.Config) error {
	s, err := etcdserver.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := fmt.Fprintln(cmd.OutOrStdout(), s.ClientURL()); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.Err():
		return fmt.Errorf("etcd: %w", err)
	}
}
