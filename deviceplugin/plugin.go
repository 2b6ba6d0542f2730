package deviceplugin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/afero"
	"google.golang.org/grpc"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/vflab/vflab/deviceplugin/config"
)

// Defaults of the upstream DaemonSet.
const (
	DefaultConfigFile         = "/etc/pcidp/config.json"
	DefaultDevicePluginDir    = pluginapi.DevicePluginPath
	DefaultPluginsRegistryDir = "/var/lib/kubelet/plugins_registry"
	DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"
	DefaultDevInfoDir         = "/var/run/k8s.cni.cncf.io/devinfo/dp"
)

// Options configure a Plugin. Sockets are real unix sockets on the OS file system; the config file and
// the device-info files go through FS.
type Options struct {
	ConfigFile     string // default DefaultConfigFile
	ResourcePrefix string // for pools without resourcePrefix; default config.DefaultPrefix
	// DevicePluginDir holds kubelet.sock and, in legacy mode, the pools' sockets.
	DevicePluginDir string
	// PluginsRegistryDir, when set and present, selects plugin-watcher mode: the sockets go there and
	// kubelet finds them itself.
	PluginsRegistryDir string
	// PodResourcesSocket is kubelet's pod-resources API, read to keep devices held by pods ("" = none).
	PodResourcesSocket string
	DevInfoDir         string // default DefaultDevInfoDir
	Inventory          Inventory
	// Routes, when set, is asked on every rescan which netdevs carry the IPv4 default route; VFs whose
	// netdev does are excluded explicitly (see assign). nil checks nothing.
	Routes          Routes
	FS              afero.Fs      // config and device-info files; default the OS
	Logger          *slog.Logger  // default discards
	PollInterval    time.Duration // inventory and config rescans; default 250 ms, stretched to 4 scan durations
	KubeletInterval time.Duration // kubelet socket watch; default 100 ms
}

// Plugin serves every pool of a config: one gRPC server and socket per pool.
type Plugin struct {
	opts    Options
	log     *slog.Logger
	fs      afero.Fs
	watcher bool // plugin-watcher mode
	sockDir string

	mu        sync.Mutex
	cfg       *config.Config
	cfgHash   [32]byte
	pools     map[string]*pool
	members   map[string]member
	allocated map[string]allocation
	regs      map[string]time.Time // pool → last registration
	// podResSeen: the pod-resources API has answered since Start. Until then nobody knows which
	// devices pods hold, so no device-info file is removed.
	podResSeen bool
	// defaultRoute: netdevs carrying the IPv4 default route at the last successful Routes read.
	defaultRoute map[string]bool
	// rdmaCMMissing: RDMA devices are offered while /dev/infiniband/rdma_cm is absent (reported once).
	rdmaCMMissing bool
	kubelet       os.FileInfo // kubelet.sock as last registered with

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	started  bool
	serving  bool // servers of pools added by a config reload start at once
}

type allocation struct {
	pool string
	at   time.Time
}

// recentAllocation is how long an Allocate counts as held before pod-resources lists it.
const recentAllocation = 5 * time.Second

// New reads and validates the config; a bad config is refused here, before anything starts.
func New(o Options) (*Plugin, error) {
	if o.ConfigFile == "" {
		o.ConfigFile = DefaultConfigFile
	}
	if o.DevicePluginDir == "" {
		o.DevicePluginDir = DefaultDevicePluginDir
	}
	if o.DevInfoDir == "" {
		o.DevInfoDir = DefaultDevInfoDir
	}
	if o.FS == nil {
		o.FS = afero.NewOsFs()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.KubeletInterval <= 0 {
		o.KubeletInterval = 100 * time.Millisecond
	}
	if o.Inventory == nil {
		return nil, errors.New("device plugin: no inventory")
	}
	p := &Plugin{opts: o, log: o.Logger, fs: o.FS, pools: map[string]*pool{}, members: map[string]member{},
		allocated: map[string]allocation{}, regs: map[string]time.Time{}, sockDir: o.DevicePluginDir}
	data, err := afero.ReadFile(o.FS, o.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("device plugin config: %w", err)
	}
	if p.cfg, err = config.Parse(data, o.ResourcePrefix); err != nil {
		return nil, fmt.Errorf("device plugin config %s: %w", o.ConfigFile, err)
	}
	p.cfgHash = sha256.Sum256(data)
	if o.PluginsRegistryDir != "" {
		if fi, err := os.Stat(o.PluginsRegistryDir); err == nil && fi.IsDir() {
			p.watcher, p.sockDir = true, o.PluginsRegistryDir
		}
	}
	return p, nil
}

// Start discovers devices, removes the device-info files of devices no pod holds, starts one server per
// pool, registers with kubelet and starts watching the machine, the config and the kubelet.
func (p *Plugin) Start() error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("device plugin: already started")
	}
	p.started = true
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.mu.Unlock()
	if err := p.fs.MkdirAll(p.opts.DevInfoDir, 0o755); err != nil {
		return fmt.Errorf("device-info dir: %w", err)
	}
	answered := p.readPodResources()
	if err := p.Refresh(); err != nil {
		return err
	}
	if answered || p.opts.PodResourcesSocket == "" {
		p.cleanDevInfo()
	} else {
		p.log.Warn("pod-resources API unreachable: keeping every device-info file until it answers",
			"socket", p.opts.PodResourcesSocket)
	}
	p.mu.Lock()
	var errs []error
	for _, s := range p.pools {
		if err := s.startServer(); err != nil {
			errs = append(errs, err)
		}
	}
	p.serving = true
	p.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		p.Stop()
		return err
	}
	p.watchKubelet()
	if !answered && p.opts.PodResourcesSocket != "" {
		p.wg.Add(1)
		go p.awaitPodResources()
	}
	p.wg.Add(2)
	go p.refreshLoop()
	go p.loop(p.opts.KubeletInterval, p.watchKubelet)
	return nil
}

// refreshLoop rescans every PollInterval, or every 4 scan durations when scans are slower (a node with
// a thousand VFs), so that polling never takes more than a fifth of a core.
func (p *Plugin) refreshLoop() {
	defer p.wg.Done()
	t := time.NewTimer(p.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		p.mu.Lock()
		seen := p.podResSeen
		p.mu.Unlock()
		if seen { // until then awaitPodResources asks, with its own backoff
			p.readPodResources()
		}
		if err := p.Refresh(); err != nil {
			p.log.Error("refresh", "err", err)
		}
		t.Reset(max(p.opts.PollInterval, 4*time.Since(start)))
	}
}

// Backoff of awaitPodResources: the first retry after podResourcesRetryMin, doubling up to
// podResourcesRetryMax.
const (
	podResourcesRetryMin = 50 * time.Millisecond
	podResourcesRetryMax = 2 * time.Second
)

// awaitPodResources asks the pod-resources API, with a bounded backoff, until it answers, then
// reconciles the device-info files: those of devices no pod holds are removed, the others kept.
func (p *Plugin) awaitPodResources() {
	defer p.wg.Done()
	delay := podResourcesRetryMin
	t := time.NewTimer(delay)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		if p.readPodResources() {
			p.log.Info("pod-resources API answered: removing the device-info files of devices no pod holds", "attempts", attempt)
			p.cleanDevInfo()
			return
		}
		delay = min(2*delay, podResourcesRetryMax)
		t.Reset(delay)
	}
}

func (p *Plugin) loop(every time.Duration, f func()) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Stop ends every stream, stops the servers, removes their sockets and the device-info files of devices
// no pod holds. It is idempotent.
func (p *Plugin) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		if p.cancel != nil {
			p.cancel()
		}
		p.mu.Unlock()
		p.wg.Wait()
		p.mu.Lock()
		pools := p.poolList()
		p.mu.Unlock()
		stopPools(pools) // outside p.mu: stopping waits for handlers, and Allocate takes p.mu
		p.cleanDevInfo()
	})
}

// Excluded returns the devices kept from pods on purpose, by device ID, with the reason (today: a netdev
// carrying the host's IPv4 default route). They stay in their pools as unhealthy devices.
func (p *Plugin) Excluded() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for id, m := range p.members {
		if strings.HasPrefix(m.prep.health.Reason, ReasonDefaultRoute) {
			out[id] = m.prep.health.Reason
		}
	}
	return out
}

// poolList returns the pools, for work done outside p.mu (which is held).
func (p *Plugin) poolList() []*pool { return slices.Collect(maps.Values(p.pools)) }

// stopPools stops pools in parallel, so that a deliberate stop takes at most one finalListTimeout
// however many pools there are.
func stopPools(pools []*pool) {
	var wg sync.WaitGroup
	for _, s := range pools {
		wg.Go(s.stop)
	}
	wg.Wait()
}

// Resources returns the served resource names.
func (p *Plugin) Resources() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sortedIDs(p.pools)
}

// Refresh reloads the config if it changed (a bad new config is logged and ignored), rescans the
// inventory and pushes changes to ListAndWatch streams.
func (p *Plugin) Refresh() error {
	p.reloadConfig()
	start := time.Now()
	snap, err := p.opts.Inventory.Scan()
	if err != nil {
		return fmt.Errorf("device plugin: scan: %w", err)
	}
	p.log.Debug("scanned", "devices", len(snap.Devices), "took", time.Since(start))
	var defaultRoute map[string]bool
	if p.opts.Routes != nil {
		links, err := p.opts.Routes.DefaultRouteLinks()
		if err == nil {
			defaultRoute = make(map[string]bool, len(links))
			for _, l := range links {
				defaultRoute[l] = true
			}
		} else {
			p.log.Warn("default routes unreadable, keeping the last known", "err", err)
		}
	}
	var removed []*pool
	defer func() {
		// Outside p.mu: stopping a server waits for its handlers, and Allocate takes p.mu.
		stopPools(removed)
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	held := make(map[string]string, len(p.allocated))
	for id, a := range p.allocated {
		held[id] = a.pool
	}
	if defaultRoute != nil {
		p.defaultRoute = defaultRoute
	}
	assigned := assign(p.cfg.Resources, &snap, held, p.members, p.defaultRoute)
	members := map[string]member{}
	aliases := ShellAliases(p.cfg.Resources)
	for _, r := range p.cfg.Resources {
		name := r.FullName()
		s, ok := p.pools[name]
		if !ok {
			s = newPool(p, r, p.sockDir)
			p.pools[name] = s
			if p.serving {
				if err := s.startServer(); err != nil {
					p.log.Error("start pool", "resource", name, "err", err)
				}
				p.regs[name] = time.Time{} // register on the next kubelet tick
			}
		}
		s.update(r, assigned[name], aliases[name])
		for id, prep := range assigned[name] {
			members[id] = member{pool: name, prep: prep}
		}
	}
	for name, s := range p.pools {
		if _, ok := assigned[name]; !ok {
			p.log.Info("pool removed from config", "resource", name)
			removed = append(removed, s)
			delete(p.pools, name)
			delete(p.regs, name)
		}
	}
	p.members = members
	p.reportRDMACM(assigned, snap.RDMACM)
	return nil
}

// reportRDMACM logs when RDMA devices start or stop being offered without /dev/infiniband/rdma_cm: it is
// optional (upstream's shared-device plugin fails Allocate without it, k8s-rdma-shared-dev-plugin#192),
// but pods using the RDMA connection manager will fail. p.mu is held.
func (p *Plugin) reportRDMACM(assigned map[string]map[string]*prepared, present bool) {
	rdma := 0
	for _, devs := range assigned {
		for _, d := range devs {
			if _, ok := d.info["rdma"]; ok {
				rdma++
			}
		}
	}
	missing := rdma > 0 && !present
	switch {
	case missing && !p.rdmaCMMissing:
		p.log.Warn("RDMA devices offered without "+DevRDMACM+": it is missing on this host; pods using librdmacm will fail",
			"rdmaDevices", rdma)
	case !missing && p.rdmaCMMissing && present:
		p.log.Info(DevRDMACM + " present again: offered with RDMA devices")
	}
	p.rdmaCMMissing = missing
}

func (p *Plugin) reloadConfig() {
	data, err := afero.ReadFile(p.fs, p.opts.ConfigFile)
	if err != nil {
		p.log.Error("read config", "file", p.opts.ConfigFile, "err", err)
		return
	}
	h := sha256.Sum256(data)
	p.mu.Lock()
	same := h == p.cfgHash
	p.mu.Unlock()
	if same {
		return
	}
	cfg, err := config.Parse(data, p.opts.ResourcePrefix)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfgHash = h
	if err != nil {
		p.log.Error("new config refused, keeping the running one", "file", p.opts.ConfigFile, "err", err)
		return
	}
	p.log.Info("config reloaded", "file", p.opts.ConfigFile)
	p.cfg = cfg
	p.members = map[string]member{} // devices that no longer match the new selectors leave their pools
}

// watchKubelet (re)registers every pool when kubelet.sock appears or is recreated, and recreates a pool's
// socket when it vanished (kubelet wipes the directory on restart).
func (p *Plugin) watchKubelet() {
	kubeletSock := filepath.Join(p.opts.DevicePluginDir, "kubelet.sock")
	fi, err := os.Stat(kubeletSock)
	p.mu.Lock()
	pools := p.poolList()
	restarted := err == nil && (p.kubelet == nil || !os.SameFile(fi, p.kubelet) || !fi.ModTime().Equal(p.kubelet.ModTime()))
	if err != nil {
		p.kubelet = nil
	}
	p.mu.Unlock()
	for _, s := range pools {
		if !s.serverAlive() {
			p.log.Info("socket gone, restarting server", "resource", s.name)
			if err := s.startServer(); err != nil {
				p.log.Error("restart server", "resource", s.name, "err", err)
				continue
			}
			p.mu.Lock()
			p.regs[s.name] = time.Time{}
			p.mu.Unlock()
		}
	}
	if p.watcher || err != nil {
		return
	}
	ok := true
	for _, s := range pools {
		p.mu.Lock()
		need := restarted || p.regs[s.name].IsZero()
		p.mu.Unlock()
		if !need {
			continue
		}
		if err := s.register(p.ctx, kubeletSock); err != nil {
			p.log.Warn("register", "resource", s.name, "err", err)
			ok = false
			continue
		}
		p.log.Info("registered with kubelet", "resource", s.name)
		p.registered(s.name, time.Now())
	}
	if ok {
		p.mu.Lock()
		p.kubelet = fi
		p.mu.Unlock()
	}
}

func (p *Plugin) registered(name string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pools[name]; ok {
		p.regs[name] = at
	}
}

func (p *Plugin) markAllocated(id, pool string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allocated[id] = allocation{pool: pool, at: time.Now()}
}

// readPodResources replaces the held devices with what kubelet's pod-resources API lists, keeping
// allocations too recent to be listed yet, and reports whether the API answered. Without the API the
// plugin's own Allocate calls count.
func (p *Plugin) readPodResources() bool {
	if p.opts.PodResourcesSocket == "" {
		return false
	}
	if _, err := os.Stat(p.opts.PodResourcesSocket); err != nil {
		p.log.Debug("pod-resources socket", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+p.opts.PodResourcesSocket, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close() }()
	resp, err := podresourcesapi.NewPodResourcesListerClient(conn).List(ctx, &podresourcesapi.ListPodResourcesRequest{})
	if err != nil {
		p.log.Debug("pod-resources list", "err", err)
		return false
	}
	held := map[string]allocation{}
	now := time.Now()
	for _, pod := range resp.PodResources {
		for _, c := range pod.Containers {
			for _, d := range c.Devices {
				for _, id := range d.DeviceIds {
					held[id] = allocation{pool: d.ResourceName, at: now}
				}
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, a := range p.allocated {
		if _, ok := held[id]; !ok && now.Sub(a.at) < recentAllocation {
			held[id] = a
		}
	}
	p.allocated = held
	p.podResSeen = true
	return true
}

func (p *Plugin) devInfoPath(resource, id string) string {
	return filepath.Join(p.opts.DevInfoDir, DevInfoFile(resource, id))
}

// writeDevInfo replaces a device's device-info file (mode 0444).
func (p *Plugin) writeDevInfo(resource string, d *prepared) error {
	path := p.devInfoPath(resource, d.dev.PCIAddress)
	if err := p.fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("device-info %s: %w", path, err)
	}
	if err := afero.WriteFile(p.fs, path, d.devInfo, 0o444); err != nil {
		return fmt.Errorf("device-info %s: %w", path, err)
	}
	return nil
}

// cleanDevInfo removes the device-info files of pool devices that no pod holds. While a configured
// pod-resources API has not answered, which devices pods hold is unknown: it removes nothing.
func (p *Plugin) cleanDevInfo() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opts.PodResourcesSocket != "" && !p.podResSeen {
		p.log.Info("pod-resources API never answered: device-info files kept")
		return
	}
	for id, m := range p.members {
		if _, held := p.allocated[id]; held {
			continue
		}
		if err := p.fs.Remove(p.devInfoPath(m.pool, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("remove device-info", "device", id, "err", err)
		}
	}
}
