package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/vflab/vflab/deviceplugin/config"
)

// finalListTimeout bounds how long a deliberate stop waits for ListAndWatch streams to deliver their
// final empty device list.
const finalListTimeout = time.Second

// pool serves one resource: its own gRPC server on its own unix socket.
type pool struct {
	pluginapi.UnimplementedDevicePluginServer
	registerapi.UnimplementedRegistrationServer

	plugin  *Plugin
	log     *slog.Logger
	name    string // "<prefix>/<name>"
	socket  string // full path of the socket
	envName string

	mu       sync.RWMutex
	envAlias string // shell-readable alias of envName, "" for none (see ShellAliases)
	res      config.Resource
	devs     map[string]*prepared
	updated  chan struct{} // closed and replaced whenever devs or health change
	done     chan struct{} // closed when the pool stops

	srvMu sync.Mutex
	srv   *grpc.Server
	serve chan struct{} // closed when the current Serve returns
}

func newPool(p *Plugin, res config.Resource, dir string) *pool {
	return &pool{
		plugin: p, log: p.log.With("resource", res.FullName()), name: res.FullName(), res: res,
		socket:  filepath.Join(dir, res.Prefix+"_"+res.Name+".sock"),
		envName: EnvName(res.Prefix, res.Name),
		devs:    map[string]*prepared{}, updated: make(chan struct{}), done: make(chan struct{}),
	}
}

// startServer (re)creates the socket and serves on it; a stale socket file is removed first.
func (s *pool) startServer() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
		<-s.serve
		s.srv = nil
	}
	if err := os.Remove(s.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", s.socket, err)
	}
	if err := os.MkdirAll(filepath.Dir(s.socket), 0o750); err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	l, err := net.Listen("unix", s.socket)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.socket, err)
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, s)
	registerapi.RegisterRegistrationServer(srv, s)
	s.srv, s.serve = srv, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := srv.Serve(l); err != nil {
			s.log.Error("gRPC server stopped", "err", err)
		}
	}(s.serve)
	return nil
}

// serverAlive reports whether the server runs and its socket file is still there (kubelet wipes the
// device-plugin directory when it restarts).
func (s *pool) serverAlive() bool {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv == nil {
		return false
	}
	select {
	case <-s.serve:
		return false
	default:
	}
	_, err := os.Stat(s.socket)
	return err == nil
}

// stop is a deliberate shutdown (the plugin stops, or the pool left the config): every open
// ListAndWatch stream is sent an empty device list before it ends, so kubelet stops placing pods on
// devices that are going away (upstream PR #502). The server then stops gracefully, waiting at most
// finalListTimeout for those last messages; a kubelet that does not read gets its connection cut.
// A crash, or the kubelet going away, ends streams without that message: kubelet keeps the devices
// (unhealthy) through its grace period and the restarted plugin offers them again.
func (s *pool) stop() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		graceful := make(chan struct{})
		go func(srv *grpc.Server) {
			defer close(graceful)
			srv.GracefulStop()
		}(s.srv)
		t := time.NewTimer(finalListTimeout)
		select {
		case <-graceful:
		case <-t.C:
			s.log.Warn("kubelet did not take the final empty device list in time; closing its connection")
			s.srv.Stop()
			<-graceful
		}
		t.Stop()
		<-s.serve
		s.srv = nil
	}
	if err := os.Remove(s.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove socket", "err", err)
	}
}

// update replaces the pool's devices and wakes ListAndWatch streams when anything kubelet sees changed.
func (s *pool) update(res config.Resource, devs map[string]*prepared, envAlias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.envAlias = envAlias
	changed := len(devs) != len(s.devs)
	var added, removed []string
	for id, p := range devs {
		old, ok := s.devs[id]
		if !ok || old.health.Healthy != p.health.Healthy || !sameTopology(old.topology, p.topology) {
			changed = true
		}
		if !ok {
			added = append(added, id)
		}
		switch {
		case strings.HasPrefix(p.health.Reason, ReasonDefaultRoute) && (!ok || old.health != p.health):
			s.log.Warn("device excluded", "device", id, "reason", p.health.Reason)
		case ok && old.health != p.health:
			s.log.Info("device health", "device", id, "healthy", p.health.Healthy, "reason", p.health.Reason)
		}
	}
	for id := range s.devs {
		if _, ok := devs[id]; !ok {
			removed = append(removed, id)
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		slices.Sort(added)
		slices.Sort(removed)
		s.log.Info("pool devices changed", "added", added, "removed", removed, "devices", len(devs))
	}
	s.res, s.devs = res, devs
	if changed {
		close(s.updated)
		s.updated = make(chan struct{})
	}
}

func sameTopology(a, b *pluginapi.TopologyInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return len(a.Nodes) == len(b.Nodes) && (len(a.Nodes) == 0 || a.Nodes[0].ID == b.Nodes[0].ID)
}

func (s *pool) list() (*pluginapi.ListAndWatchResponse, chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &pluginapi.ListAndWatchResponse{Devices: make([]*pluginapi.Device, 0, len(s.devs))}
	for _, id := range sortedIDs(s.devs) {
		p := s.devs[id]
		h := pluginapi.Healthy
		if !p.health.Healthy {
			h = pluginapi.Unhealthy
		}
		resp.Devices = append(resp.Devices, &pluginapi.Device{ID: id, Health: h, Topology: p.topology})
	}
	return resp, s.updated
}

// GetDevicePluginOptions announces GetPreferredAllocation.
func (s *pool) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{GetPreferredAllocationAvailable: true}, nil
}

// ListAndWatch streams the device list now and on every change, until kubelet goes away (the stream's
// context ends: nothing more is sent) or the pool stops deliberately (an empty list is sent last).
func (s *pool) ListAndWatch(_ *pluginapi.Empty, stream grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	for {
		resp, updated := s.list()
		if err := stream.Send(resp); err != nil {
			return err
		}
		select {
		case <-updated:
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			// Deliberate shutdown: advertise no devices, then end the stream.
			return stream.Send(&pluginapi.ListAndWatchResponse{Devices: []*pluginapi.Device{}})
		}
	}
}

// GetPreferredAllocation runs Preferred with the pool's policy for every container request.
func (s *pool) GetPreferredAllocation(_ context.Context, req *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &pluginapi.PreferredAllocationResponse{}
	for _, cr := range req.ContainerRequests {
		avail := make([]*Device, 0, len(cr.AvailableDeviceIDs))
		for _, id := range cr.AvailableDeviceIDs {
			p, ok := s.devs[id]
			if !ok {
				return nil, status.Errorf(codes.InvalidArgument, "preferred allocation in %s: unknown device %q", s.name, id)
			}
			avail = append(avail, &p.dev)
		}
		ids := Preferred(s.res.AllocationPolicy, avail, cr.MustIncludeDeviceIDs, int(cr.AllocationSize))
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerPreferredAllocationResponse{DeviceIDs: ids})
	}
	return resp, nil
}

// Allocate answers from what the last scan prepared and writes the device-info files.
func (s *pool) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{ContainerResponses: make([]*pluginapi.ContainerAllocateResponse, 0, len(req.ContainerRequests))}
	s.mu.RLock()
	alias := s.envAlias
	all := make([][]*prepared, 0, len(req.ContainerRequests))
	for _, cr := range req.ContainerRequests {
		devs := make([]*prepared, 0, len(cr.DevicesIds))
		for _, id := range cr.DevicesIds {
			p, ok := s.devs[id]
			if !ok {
				s.mu.RUnlock()
				return nil, status.Errorf(codes.InvalidArgument, "allocate in %s: unknown device %q", s.name, id)
			}
			devs = append(devs, p)
		}
		all = append(all, devs)
	}
	s.mu.RUnlock()
	for _, devs := range all {
		for _, p := range devs {
			if err := s.plugin.writeDevInfo(s.name, p); err != nil {
				return nil, status.Errorf(codes.Internal, "allocate in %s: %v", s.name, err)
			}
			s.plugin.markAllocated(p.dev.PCIAddress, s.name)
		}
		resp.ContainerResponses = append(resp.ContainerResponses, containerResponse(s.envName, alias, devs))
	}
	return resp, nil
}

// PreStartContainer is not required (the options say so); it succeeds.
func (s *pool) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// GetInfo answers kubelet's plugin watcher.
func (s *pool) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type: registerapi.DevicePlugin, Name: s.name, Endpoint: s.socket,
		SupportedVersions: []string{"v1alpha1", pluginapi.Version},
	}, nil
}

// NotifyRegistrationStatus records the plugin watcher's verdict.
func (s *pool) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !st.PluginRegistered {
		s.log.Error("kubelet refused registration", "err", st.Error)
	} else {
		s.plugin.registered(s.name, time.Now())
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// register tells kubelet about the pool over kubelet.sock (legacy mode).
func (s *pool) register(ctx context.Context, kubeletSocket string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+kubeletSocket, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		return fmt.Errorf("register %s: %w", s.name, err)
	}
	defer func() { _ = conn.Close() }()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: filepath.Base(s.socket), ResourceName: s.name,
		Options: &pluginapi.DevicePluginOptions{GetPreferredAllocationAvailable: true},
	})
	if err != nil {
		return fmt.Errorf("register %s with kubelet %s: %w", s.name, kubeletSocket, err)
	}
	return nil
}
