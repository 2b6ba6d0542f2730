package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/config"
	"github.com/vflab/vflab/ipam/nodestore"
)

// Plugin-specific CNI error codes (100 and up are the plugin's own).
const (
	CodeExhausted    uint = 100
	CodeAddressInUse uint = 101
	CodeNotInRange   uint = 102
)

// ErrUnreachable, wrapped by an OpenCluster or store error, marks the store as not answering (the plugin
// answers ErrTryAgainLater). context.DeadlineExceeded is treated the same.
var ErrUnreachable = errors.New("store unreachable")

// ClusterConfig is what the cluster store needs from the plugin configuration.
type ClusterConfig struct {
	Etcd    config.Etcd
	Node    string        // this node's name (round-robin cursors per node)
	Timeout time.Duration // the invocation's deadline budget
	// Network is the network this invocation allocates in, so the store can start each node in its own
	// block and load only the window a round-robin allocation searches.
	Network ipam.Network
}

// OpenCluster connects to the cluster store; the returned closer releases the connection.
type OpenCluster func(ctx context.Context, cfg ClusterConfig) (ipam.Store, io.Closer, error)

// Plugin runs the CNI verbs. The zero value works with the node store only.
type Plugin struct {
	// Logger receives diagnostics (never stdout); nil discards them.
	Logger *slog.Logger
	// OpenCluster connects the cluster store; nil makes "store": "cluster" an error.
	OpenCluster OpenCluster
	// IsUnreachable reports store errors that mean "not answering" besides ErrUnreachable and deadlines
	// (e.g. the cluster store's own sentinel); may be nil.
	IsUnreachable func(error) bool
	// Node names this node for the cluster store (cmd/vflab-ipam: the host name).
	Node string
	// Now is the clock for reservation times; nil means time.Now.
	Now func() time.Time
	// Stdout receives results; nil means os.Stdout.
	Stdout io.Writer
}

// Funcs returns the verbs for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, GC: p.GC, Status: p.Status}
}

// Versions are the CNI spec versions the plugin speaks.
func Versions() version.PluginInfo {
	return version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
}

func (p *Plugin) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Plugin) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// session is one invocation: parsed config, open store, deadline.
type session struct {
	cfg    *config.Config
	store  ipam.Store
	ctx    context.Context
	cancel context.CancelFunc
	closer io.Closer
}

func (s *session) close() {
	s.cancel()
	if s.closer != nil {
		_ = s.closer.Close()
	}
}

func (p *Plugin) open(args *skel.CmdArgs) (*session, error) {
	cfg, err := config.Parse(args.StdinData, args.Args)
	if err != nil {
		return nil, p.cniError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	s := &session{cfg: cfg, ctx: ctx, cancel: cancel}
	switch cfg.Store {
	case config.StoreCluster:
		if p.OpenCluster == nil {
			cancel()
			return nil, types.NewError(types.ErrInvalidNetworkConfig, "ipam.store: \"cluster\" is not available in this build", "")
		}
		st, closer, err := p.OpenCluster(ctx, ClusterConfig{Etcd: cfg.Etcd, Node: p.Node, Timeout: cfg.Timeout, Network: cfg.Network})
		if err != nil {
			cancel()
			return nil, p.cniError(fmt.Errorf("open cluster store %v: %w", cfg.Etcd.Endpoints, err))
		}
		s.store, s.closer = st, closer
	default:
		s.store = nodestore.New(cfg.DataDir, p.logger())
	}
	return s, nil
}

// Add implements CNI ADD.
func (p *Plugin) Add(args *skel.CmdArgs) error {
	s, err := p.open(args)
	if err != nil {
		return err
	}
	defer s.close()
	allocs, err := ipam.Add(s.ctx, s.store, &s.cfg.Network, ipam.Request{
		Owner: ipam.Owner{ContainerID: args.ContainerID, IfName: args.IfName},
		Pod:   s.cfg.Pod, IPs: s.cfg.IPs, Now: p.now(),
	})
	if err != nil {
		return p.cniError(err)
	}
	p.logger().Info("ipam add", "network", s.cfg.Network.Name, "container", args.ContainerID, "ifname", args.IfName, "allocations", len(allocs))
	result := &current.Result{CNIVersion: current.ImplementedSpecVersion, Routes: s.cfg.Routes, DNS: s.cfg.DNS}
	for _, a := range allocs {
		ipc := &current.IPConfig{Address: net.IPNet{IP: a.Addr.AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), a.Addr.BitLen())}}
		if a.Gateway.IsValid() {
			ipc.Gateway = a.Gateway.AsSlice()
		}
		result.IPs = append(result.IPs, ipc)
	}
	if s.cfg.ResolvConf != "" {
		b, err := os.ReadFile(s.cfg.ResolvConf)
		if err != nil {
			return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("ipam.resolvConf: %v", err), "")
		}
		result.DNS = parseResolvConf(b)
	}
	out := p.Stdout
	if out == nil {
		out = os.Stdout
	}
	ver := s.cfg.CNIVersion
	if ver == "" {
		ver = current.ImplementedSpecVersion
	}
	r, err := result.GetAsVersion(ver)
	if err != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, err.Error(), "")
	}
	return r.PrintTo(out)
}

// Del implements CNI DEL: idempotent, but a failing store is an error.
func (p *Plugin) Del(args *skel.CmdArgs) error {
	s, err := p.open(args)
	if err != nil {
		return err
	}
	defer s.close()
	rel, err := ipam.Del(s.ctx, s.store, s.cfg.Network.Name, ipam.Owner{ContainerID: args.ContainerID, IfName: args.IfName})
	if err != nil {
		return p.cniError(err)
	}
	p.logger().Info("ipam del", "network", s.cfg.Network.Name, "container", args.ContainerID, "ifname", args.IfName, "released", len(rel))
	return nil
}

// Check implements CNI CHECK: the owner holds reservations inside the configured ranges, and every one
// of them is in the prevResult the runtime passed.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	s, err := p.open(args)
	if err != nil {
		return err
	}
	defer s.close()
	allocs, err := ipam.Check(s.ctx, s.store, &s.cfg.Network, ipam.Owner{ContainerID: args.ContainerID, IfName: args.IfName})
	if err != nil {
		return p.cniError(err)
	}
	var conf types.PluginConf
	if err := json.Unmarshal(args.StdinData, &conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, err.Error(), "")
	}
	if err := version.ParsePrevResult(&conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("prevResult: %v", err), "")
	}
	if conf.PrevResult == nil {
		return nil
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("prevResult: %v", err), "")
	}
	for _, a := range allocs {
		found := false
		for _, ipc := range prev.IPs {
			if ipc.Address.IP.Equal(a.Addr.AsSlice()) {
				found = true
				break
			}
		}
		if !found {
			return types.NewError(types.ErrInvalidNetworkConfig,
				fmt.Sprintf("ipam check %s: reserved address %s is not in prevResult", s.cfg.Network.Name, a.Addr), "")
		}
	}
	return nil
}

// GC implements CNI GC: release every reservation of the network whose attachment is not in
// cni.dev/valid-attachments (an empty list releases them all).
func (p *Plugin) GC(args *skel.CmdArgs) error {
	s, err := p.open(args)
	if err != nil {
		return err
	}
	defer s.close()
	var conf types.PluginConf
	if err := json.Unmarshal(args.StdinData, &conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, err.Error(), "")
	}
	valid := map[ipam.Owner]bool{}
	for _, a := range conf.ValidAttachments {
		valid[ipam.Owner{ContainerID: a.ContainerID, IfName: a.IfName}] = true
		valid[ipam.Owner{ContainerID: a.ContainerID}] = true // host-local's ID-only reservations
	}
	rel, err := ipam.GC(s.ctx, s.store, s.cfg.Network.Name, func(o ipam.Owner) bool { return valid[o] })
	if err != nil {
		return p.cniError(err)
	}
	p.logger().Info("ipam gc", "network", s.cfg.Network.Name, "valid", len(conf.ValidAttachments), "released", len(rel))
	return nil
}

// Status implements CNI STATUS: the store answers and every range set still has a free address.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	s, err := p.open(args)
	if err != nil {
		var e *types.Error
		if errors.As(err, &e) && e.Code == types.ErrTryAgainLater {
			return types.NewError(types.ErrPluginNotAvailable, e.Msg, e.Details)
		}
		return err
	}
	defer s.close()
	st, err := s.store.Load(s.ctx, s.cfg.Network.Name)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("ipam status %s: %v", s.cfg.Network.Name, err), "")
	}
	pool, err := ipam.NewPool(&s.cfg.Network, st)
	if err != nil {
		return p.cniError(err)
	}
	if _, err := pool.Allocate(ipam.Request{}); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf("ipam status %s: %v", s.cfg.Network.Name, err), "")
	}
	return nil
}

// cniError maps errors to CNI error codes; the message keeps the whole chain.
func (p *Plugin) cniError(err error) error {
	var e *types.Error
	if errors.As(err, &e) {
		return e
	}
	code := types.ErrInternal
	switch {
	case errors.Is(err, ipam.ErrInvalidConfig):
		code = types.ErrInvalidNetworkConfig
	case errors.Is(err, ipam.ErrExhausted):
		code = CodeExhausted
	case errors.Is(err, ipam.ErrAddressInUse):
		code = CodeAddressInUse
	case errors.Is(err, ipam.ErrNotInRange):
		code = CodeNotInRange
	case errors.Is(err, ipam.ErrNotFound):
		code = types.ErrUnknownContainer
	case errors.Is(err, ErrUnreachable), errors.Is(err, context.DeadlineExceeded),
		p.IsUnreachable != nil && p.IsUnreachable(err):
		code = types.ErrTryAgainLater
	}
	p.logger().Warn("ipam error", "code", code, "err", err)
	return types.NewError(code, err.Error(), "")
}
