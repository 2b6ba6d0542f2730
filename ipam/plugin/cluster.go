package plugin

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
)

// ClusterStore returns the OpenCluster that connects ipam/clusterstore (etcd).
func ClusterStore(logger *slog.Logger) OpenCluster {
	return func(ctx context.Context, cfg ClusterConfig) (ipam.Store, io.Closer, error) {
		st, err := clusterstore.New(ctx, clusterstore.Config{
			Endpoints: cfg.Etcd.Endpoints,
			CertFile:  cfg.Etcd.CertFile, KeyFile: cfg.Etcd.KeyFile, CAFile: cfg.Etcd.CAFile,
			Username: cfg.Etcd.Username, Password: cfg.Etcd.Password,
			// One invocation's budget bounds connecting and every call, not the store's 5 s default.
			DialTimeout: cfg.Timeout, RequestTimeout: cfg.Timeout,
			Node:     cfg.Node,
			Networks: []ipam.Network{cfg.Network},
			Logger:   logger,
		})
		if err != nil {
			return nil, nil, err
		}
		return st, st, nil
	}
}

// ClusterUnreachable reports the cluster store's errors that mean "try again later": etcd did not answer
// in time, or the call lost the race for a block bitmap too often (nothing was written).
func ClusterUnreachable(err error) bool {
	return errors.Is(err, clusterstore.ErrUnreachable) || errors.Is(err, clusterstore.ErrContended)
}
