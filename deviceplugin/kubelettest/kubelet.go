package kubelettest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// ErrUnavailable is returned when a resource has fewer free healthy devices than requested.
var ErrUnavailable = errors.New("requested number of devices unavailable")

// Options configure a Kubelet.
type Options struct {
	// DevicePluginDir holds kubelet.sock; plugins put their sockets there (legacy registration).
	DevicePluginDir string
	// PodResourcesSocket is where the pod-resources API listens ("" = not served).
	PodResourcesSocket string
	// PluginsRegistryDir, if set, is watched for plugin sockets (plugin-watcher registration).
	PluginsRegistryDir string
	// Logger, default discards.
	Logger *slog.Logger
}

// Pod names a pod.
type Pod struct{ Namespace, Name string }

func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// Counts are a resource's numbers as kubelet reports them: Capacity every device, Allocatable the
// healthy ones, Allocated those held by containers.
type Counts struct{ Capacity, Allocatable, Allocated int }

// Kubelet is the fake kubelet. Its zero value is not usable; call New.
type Kubelet struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	resources map[string]*resource
	changed   chan struct{} // closed and replaced on every device-list update
	running   bool
	regSrv    *grpc.Server
	prSrv     *grpc.Server
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	watched   map[string]bool // plugin-watcher sockets already handled
}

type resource struct {
	name      string
	endpoint  string
	conn      *grpc.ClientConn
	client    pluginapi.DevicePluginClient
	options   *pluginapi.DevicePluginOptions
	devices   map[string]*pluginapi.Device
	allocated map[string]owner // device ID → owner; survives restarts like kubelet's checkpoint
	updates   int
	cancel    context.CancelFunc
}

type owner struct {
	pod       Pod
	container string
}

// New returns a stopped fake kubelet.
func New(o Options) *Kubelet {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Kubelet{opts: o, log: o.Logger, resources: map[string]*resource{}, changed: make(chan struct{})}
}

// Start removes plugin sockets left in the device-plugin directory (as kubelet does when it starts),
// then serves kubelet.sock, the pod-resources API and the plugin watcher.
func (k *Kubelet) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.running {
		return errors.New("kubelet already running")
	}
	if err := os.MkdirAll(k.opts.DevicePluginDir, 0o750); err != nil {
		return err
	}
	entries, _ := os.ReadDir(k.opts.DevicePluginDir)
	for _, e := range entries {
		if e.Type()&os.ModeSocket != 0 {
			_ = os.Remove(filepath.Join(k.opts.DevicePluginDir, e.Name()))
		}
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	sock := filepath.Join(k.opts.DevicePluginDir, "kubelet.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("kubelet: listen %s: %w", sock, err)
	}
	k.regSrv = grpc.NewServer()
	pluginapi.RegisterRegistrationServer(k.regSrv, &registration{k: k})
	k.wg.Add(1)
	go func(srv *grpc.Server) { defer k.wg.Done(); _ = srv.Serve(l) }(k.regSrv)
	if k.opts.PodResourcesSocket != "" {
		if err := k.servePodResources(); err != nil {
			k.regSrv.Stop()
			return err
		}
	}
	if k.opts.PluginsRegistryDir != "" {
		k.watched = map[string]bool{}
		k.wg.Add(1)
		go k.watchRegistry(k.ctx)
	}
	k.running = true
	return nil
}

// servePodResources starts the pod-resources API; k.mu is held.
func (k *Kubelet) servePodResources() error {
	_ = os.Remove(k.opts.PodResourcesSocket)
	if err := os.MkdirAll(filepath.Dir(k.opts.PodResourcesSocket), 0o750); err != nil {
		return err
	}
	pl, err := net.Listen("unix", k.opts.PodResourcesSocket)
	if err != nil {
		return fmt.Errorf("kubelet: listen %s: %w", k.opts.PodResourcesSocket, err)
	}
	k.prSrv = grpc.NewServer()
	podresourcesapi.RegisterPodResourcesListerServer(k.prSrv, &podResources{k: k})
	k.wg.Add(1)
	go func(srv *grpc.Server) { defer k.wg.Done(); _ = srv.Serve(pl) }(k.prSrv)
	return nil
}

// StopPodResources takes the pod-resources API away while the rest of the kubelet runs (a kubelet
// whose pod-resources server is not up yet). It is idempotent.
func (k *Kubelet) StopPodResources() {
	k.mu.Lock()
	srv := k.prSrv
	k.prSrv = nil
	k.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
	if k.opts.PodResourcesSocket != "" {
		_ = os.Remove(k.opts.PodResourcesSocket)
	}
}

// StartPodResources serves the pod-resources API again on a running kubelet.
func (k *Kubelet) StartPodResources() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case !k.running:
		return errors.New("kubelet: not running")
	case k.opts.PodResourcesSocket == "":
		return errors.New("kubelet: no pod-resources socket configured")
	case k.prSrv != nil:
		return nil
	}
	return k.servePodResources()
}

// Stop closes kubelet's sockets and its connections to plugins (their ListAndWatch streams end).
// Allocations are kept, so Start again is a kubelet restart. Stop is idempotent.
func (k *Kubelet) Stop() {
	k.mu.Lock()
	if !k.running {
		k.mu.Unlock()
		return
	}
	k.running = false
	k.cancel()
	regSrv, prSrv := k.regSrv, k.prSrv
	k.prSrv = nil
	k.mu.Unlock()
	regSrv.Stop() // waits for Register handlers, which take k.mu
	if prSrv != nil {
		prSrv.Stop()
	}
	k.mu.Lock()
	for _, r := range k.resources {
		if r.conn != nil {
			k.lost(r) // whichever comes first, this or the stream reader seeing its end, marks them
		}
	}
	k.mu.Unlock()
	k.wg.Wait()
	_ = os.Remove(filepath.Join(k.opts.DevicePluginDir, "kubelet.sock"))
	if k.opts.PodResourcesSocket != "" {
		_ = os.Remove(k.opts.PodResourcesSocket)
	}
}

// Restart is Stop then Start.
func (k *Kubelet) Restart() error {
	k.Stop()
	return k.Start()
}

func (r *resource) disconnect() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn, r.client = nil, nil
	}
}

type registration struct {
	pluginapi.UnimplementedRegistrationServer
	k *Kubelet
}

// Register connects back to the plugin's socket in the device-plugin directory.
func (r *registration) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	if req.Version != pluginapi.Version {
		return nil, fmt.Errorf("kubelet: unsupported device plugin API version %q", req.Version)
	}
	if strings.Contains(req.Endpoint, "/") {
		return nil, fmt.Errorf("kubelet: endpoint %q must be a file name in %s", req.Endpoint, r.k.opts.DevicePluginDir)
	}
	if err := r.k.connect(req.ResourceName, filepath.Join(r.k.opts.DevicePluginDir, req.Endpoint), req.Options); err != nil {
		return nil, err
	}
	return &pluginapi.Empty{}, nil
}

// connect dials a plugin and consumes its ListAndWatch stream.
func (k *Kubelet) connect(name, endpoint string, opts *pluginapi.DevicePluginOptions) error {
	conn, err := grpc.NewClient("unix://"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("kubelet: dial %s: %w", endpoint, err)
	}
	client := pluginapi.NewDevicePluginClient(conn)
	k.mu.Lock()
	if !k.running {
		k.mu.Unlock()
		_ = conn.Close()
		return errors.New("kubelet: not running")
	}
	r, ok := k.resources[name]
	if !ok {
		r = &resource{name: name, devices: map[string]*pluginapi.Device{}, allocated: map[string]owner{}}
		k.resources[name] = r
	}
	r.disconnect()
	ctx, cancel := context.WithCancel(k.ctx)
	r.endpoint, r.conn, r.client, r.cancel = endpoint, conn, client, cancel
	if opts == nil {
		opts = &pluginapi.DevicePluginOptions{}
	}
	r.options = opts
	k.mu.Unlock()
	stream, err := client.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		cancel()
		return fmt.Errorf("kubelet: ListAndWatch %s: %w", name, err)
	}
	k.wg.Add(1)
	go k.consume(r, conn, stream)
	k.log.Info("device plugin registered", "resource", name, "endpoint", endpoint)
	return nil
}

// lost is kubelet's endpoint stop, with k.mu held: the plugin's connection is gone, so its devices are
// unhealthy until it registers again (kubelet drops them after a grace period; the fake keeps them).
func (k *Kubelet) lost(r *resource) {
	r.disconnect()
	for id, d := range r.devices {
		r.devices[id] = &pluginapi.Device{ID: d.ID, Health: pluginapi.Unhealthy, Topology: d.Topology}
	}
	r.updates++
	close(k.changed)
	k.changed = make(chan struct{})
}

func (k *Kubelet) consume(r *resource, conn *grpc.ClientConn, stream grpc.ServerStreamingClient[pluginapi.ListAndWatchResponse]) {
	defer k.wg.Done()
	for {
		resp, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				k.log.Debug("ListAndWatch ended", "resource", r.name, "err", err)
			}
			k.mu.Lock()
			if r.conn == conn {
				k.lost(r)
			}
			k.mu.Unlock()
			return
		}
		k.mu.Lock()
		if r.conn != conn { // replaced by a newer registration
			k.mu.Unlock()
			return
		}
		r.devices = make(map[string]*pluginapi.Device, len(resp.Devices))
		for _, d := range resp.Devices {
			r.devices[d.ID] = d
		}
		r.updates++
		close(k.changed)
		k.changed = make(chan struct{})
		k.mu.Unlock()
	}
}

// watchRegistry is the plugin watcher: every socket that appears in PluginsRegistryDir is asked GetInfo,
// connected to and told the registration status.
func (k *Kubelet) watchRegistry(ctx context.Context) {
	defer k.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		entries, _ := os.ReadDir(k.opts.PluginsRegistryDir)
		for _, e := range entries {
			if e.Type()&os.ModeSocket == 0 {
				continue
			}
			path := filepath.Join(k.opts.PluginsRegistryDir, e.Name())
			info, _ := e.Info()
			key := path
			if info != nil {
				key = fmt.Sprintf("%s@%d", path, info.ModTime().UnixNano())
			}
			k.mu.Lock()
			seen := k.watched[key]
			k.watched[key] = true
			k.mu.Unlock()
			if !seen {
				if err := k.registerWatched(ctx, path); err != nil {
					k.log.Warn("plugin watcher", "socket", path, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *Kubelet) registerWatched(ctx context.Context, path string) error {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rc := registerapi.NewRegistrationClient(conn)
	info, err := rc.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		return err
	}
	if info.Type != registerapi.DevicePlugin || !slices.Contains(info.SupportedVersions, pluginapi.Version) {
		_, _ = rc.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{Error: "unsupported plugin"})
		return fmt.Errorf("unsupported plugin %+v", info)
	}
	endpoint := info.Endpoint
	if endpoint == "" {
		endpoint = path
	}
	opts, err := pluginapi.NewDevicePluginClient(conn).GetDevicePluginOptions(ctx, &pluginapi.Empty{})
	if err != nil {
		return err
	}
	regErr := k.connect(info.Name, endpoint, opts)
	st := &registerapi.RegistrationStatus{PluginRegistered: regErr == nil}
	if regErr != nil {
		st.Error = regErr.Error()
	}
	_, err = rc.NotifyRegistrationStatus(ctx, st)
	return errors.Join(regErr, err)
}

// Resources lists the registered resource names.
func (k *Kubelet) Resources() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Sorted(maps.Keys(k.resources))
}

// Counts returns a resource's capacity, allocatable and allocated counts.
func (k *Kubelet) Counts(name string) Counts {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.resources[name]
	if !ok {
		return Counts{}
	}
	c := Counts{Capacity: len(r.devices), Allocated: len(r.allocated)}
	for _, d := range r.devices {
		if d.Health == pluginapi.Healthy {
			c.Allocatable++
		}
	}
	return c
}

// Devices returns a resource's last device list, by ID.
func (k *Kubelet) Devices(name string) map[string]*pluginapi.Device {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.resources[name]
	if !ok {
		return nil
	}
	return maps.Clone(r.devices)
}

// Updates counts the ListAndWatch responses received for a resource.
func (k *Kubelet) Updates(name string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.resources[name]; ok {
		return r.updates
	}
	return 0
}

// Connected reports whether a resource has a live plugin connection.
func (k *Kubelet) Connected(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.resources[name]
	return ok && r.client != nil
}

// Changed returns a channel closed at the next device-list update of any resource.
func (k *Kubelet) Changed() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.changed
}

// Allocate gives n devices of a resource to a pod's container, as kubelet's device manager does: from
// the healthy devices no container holds, in the order the plugin's GetPreferredAllocation prefers when
// it offers one, then Allocate on the plugin. It returns the chosen IDs and the plugin's response.
func (k *Kubelet) Allocate(ctx context.Context, pod Pod, container, name string, n int) ([]string, *pluginapi.ContainerAllocateResponse, error) {
	k.mu.Lock()
	r, ok := k.resources[name]
	if !ok || r.client == nil {
		k.mu.Unlock()
		return nil, nil, fmt.Errorf("kubelet: resource %s has no registered device plugin", name)
	}
	var free []string
	for _, id := range slices.Sorted(maps.Keys(r.devices)) {
		if _, held := r.allocated[id]; !held && r.devices[id].Health == pluginapi.Healthy {
			free = append(free, id)
		}
	}
	if len(free) < n {
		k.mu.Unlock()
		return nil, nil, fmt.Errorf("kubelet: %w for %s: requested %d, available %d", ErrUnavailable, name, n, len(free))
	}
	// The plugin's preference is checked against what is still free before reserving, so concurrent
	// pods never share a device.
	chosen := free[:n]
	client, preferred := r.client, r.options.GetGetPreferredAllocationAvailable()
	k.mu.Unlock()
	if preferred {
		resp, err := client.GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{{
			AvailableDeviceIDs: free, AllocationSize: int32(n),
		}}})
		if err != nil {
			return nil, nil, fmt.Errorf("kubelet: GetPreferredAllocation %s: %w", name, err)
		}
		if ids := resp.ContainerResponses[0].DeviceIDs; len(ids) == n && subset(ids, free) {
			chosen = ids
		}
	}
	k.mu.Lock()
	for _, id := range chosen {
		if _, held := r.allocated[id]; held {
			k.mu.Unlock()
			return nil, nil, fmt.Errorf("kubelet: device %s of %s taken concurrently", id, name)
		}
	}
	for _, id := range chosen {
		r.allocated[id] = owner{pod: pod, container: container}
	}
	k.mu.Unlock()
	resp, err := client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: chosen}}})
	if err != nil {
		k.mu.Lock()
		for _, id := range chosen {
			delete(r.allocated, id)
		}
		k.mu.Unlock()
		return nil, nil, fmt.Errorf("kubelet: Allocate %s: %w", name, err)
	}
	return slices.Clone(chosen), resp.ContainerResponses[0], nil
}

// Release frees every device held by the pod.
func (k *Kubelet) Release(pod Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.resources {
		for id, o := range r.allocated {
			if o.pod == pod {
				delete(r.allocated, id)
			}
		}
	}
}

func subset(ids, of []string) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !slices.Contains(of, id) {
			return false
		}
		seen[id] = true
	}
	return true
}

type podResources struct {
	podresourcesapi.UnimplementedPodResourcesListerServer
	k *Kubelet
}

// List reports every pod's containers and their devices.
func (p *podResources) List(context.Context, *podresourcesapi.ListPodResourcesRequest) (*podresourcesapi.ListPodResourcesResponse, error) {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	type key struct {
		pod       Pod
		container string
		resource  string
	}
	held := map[key][]string{}
	for _, r := range p.k.resources {
		for id, o := range r.allocated {
			kk := key{o.pod, o.container, r.name}
			held[kk] = append(held[kk], id)
		}
	}
	pods := map[Pod]*podresourcesapi.PodResources{}
	containers := map[[2]string]*podresourcesapi.ContainerResources{}
	keys := slices.SortedFunc(maps.Keys(held), func(a, b key) int {
		return strings.Compare(a.pod.String()+"/"+a.container+"/"+a.resource, b.pod.String()+"/"+b.container+"/"+b.resource)
	})
	resp := &podresourcesapi.ListPodResourcesResponse{}
	for _, kk := range keys {
		pr, ok := pods[kk.pod]
		if !ok {
			pr = &podresourcesapi.PodResources{Name: kk.pod.Name, Namespace: kk.pod.Namespace}
			pods[kk.pod] = pr
			resp.PodResources = append(resp.PodResources, pr)
		}
		ck := [2]string{kk.pod.String(), kk.container}
		cr, ok := containers[ck]
		if !ok {
			cr = &podresourcesapi.ContainerResources{Name: kk.container}
			containers[ck] = cr
			pr.Containers = append(pr.Containers, cr)
		}
		ids := held[kk]
		slices.Sort(ids)
		cr.Devices = append(cr.Devices, &podresourcesapi.ContainerDevices{ResourceName: kk.resource, DeviceIds: ids})
	}
	return resp, nil
}
