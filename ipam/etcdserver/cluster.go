package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// ClusterConfig describes an N-member cluster run inside one process, for tests.
type ClusterConfig struct {
	// Size is the number of members (default 3).
	Size int
	// Dir holds one data directory per member (Dir/m0, Dir/m1, ...). Required.
	Dir string
	// ClientTLS secures every member's client listener.
	ClientTLS TLSFiles
	// Logger receives the members' warnings and errors; nil discards them.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for all members (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// TickMs and ElectionMs tune raft timing; zero keeps etcd's defaults (100, 1000).
	TickMs, ElectionMs uint
	// UnsafeNoFsync disables fsync on every member (tests only).
	UnsafeNoFsync bool
}

// Cluster is a set of embedded members on loopback ports. Members can be stopped and restarted (same name,
// data directory and URLs) to exercise failover. Its owner stops it with Close.
type Cluster struct {
	mu             sync.Mutex
	configs        []Config
	members        []*Server // nil while a member is stopped
	initialCluster string
}

// StartCluster starts cfg.Size members and waits until every one serves clients.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("etcd cluster: dir is required")
	}
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	if cfg.Size < 1 {
		return nil, fmt.Errorf("etcd cluster: size %d: must be at least 1", cfg.Size)
	}
	c := &Cluster{members: make([]*Server, cfg.Size)}
	peers := make([]string, 0, cfg.Size)
	for i := range cfg.Size {
		mc := Config{
			Name:          fmt.Sprintf("m%d", i),
			DataDir:       filepath.Join(cfg.Dir, fmt.Sprintf("m%d", i)),
			ClientTLS:     cfg.ClientTLS,
			Logger:        cfg.Logger,
			ReadyTimeout:  cfg.ReadyTimeout,
			TickMs:        cfg.TickMs,
			ElectionMs:    cfg.ElectionMs,
			UnsafeNoFsync: cfg.UnsafeNoFsync,
		}
		if err := resolve(&mc); err != nil {
			return nil, err
		}
		if mc.Logger != nil {
			mc.Logger = mc.Logger.With("member", mc.Name)
		}
		c.configs = append(c.configs, mc)
		peers = append(peers, mc.Name+"="+mc.ListenPeerURL)
	}
	c.initialCluster = strings.Join(peers, ",")
	for i, mc := range c.configs {
		s, err := launch(mc, c.initialCluster, embed.ClusterStateFlagNew)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.members[i] = s
	}
	for _, s := range c.members {
		if err := s.waitReady(ctx, c.configs[0].ReadyTimeout); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Endpoints lists every member's client URL, stopped members included (clients fail over between them).
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.configs))
	for i, mc := range c.configs {
		urls[i] = mc.ListenClientURL
	}
	return urls
}

// Size is the number of members, running or not.
func (c *Cluster) Size() int { return len(c.configs) }

// Kill stops member i at once (see Server.Kill for why a leader still hands over leadership). Killing a
// stopped member does nothing.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.members[i]
	c.members[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Kill()
	}
}

// Restart starts stopped member i again from its data directory, and waits until it has rejoined (which
// needs a quorum of running members). Restarting a running member does nothing.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	c.mu.Lock()
	running := c.members[i] != nil
	c.mu.Unlock()
	if running {
		return nil
	}
	mc := c.configs[i]
	s, err := launch(mc, c.initialCluster, embed.ClusterStateFlagExisting)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.members[i] = s
	c.mu.Unlock()
	return s.waitReady(ctx, mc.ReadyTimeout)
}

// Close stops every running member.
func (c *Cluster) Close() {
	c.mu.Lock()
	members := append([]*Server(nil), c.members...)
	clear(c.members)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range members {
		if s != nil {
			wg.Go(s.Close)
		}
	}
	wg.Wait()
}

// Leader returns the index of the running member that currently leads, or -1 if none does (no quorum, or
// an election in progress).
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.members {
		if s != nil && s.etcd.Server.Leader() == s.etcd.Server.MemberID() {
			return i
		}
	}
	return -1
}
