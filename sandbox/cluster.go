package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// Options configures Up.
type Options struct {
	// StateDir is the run's state directory (created if missing; must not hold a sandbox yet).
	StateDir string
	// Logger receives progress; default discard.
	Logger *slog.Logger
	// ForwarderCommand, when set, runs the forwarder as a separate process built from it (the vflab
	// binary's hidden `sandbox forwarder`, or a re-executed test binary), which must end up calling
	// RunForwarder(ctx, dir, owner). Otherwise the forwarder runs inside the calling process until Down.
	ForwarderCommand func(dir string, owner *Process) *exec.Cmd
	// Background makes the forwarder process the owner of the run, so that it keeps running after the
	// caller exits (`vflab sandbox up`); it needs ForwarderCommand. Otherwise the forwarder ends with the
	// caller and GC treats the run as dead once the caller is.
	Background bool
	// InMemoryKernels renders the fake kernels in memory (fakesysfs.New) instead of on disk: only this
	// process sees them (no OpenNode, no CNI binaries), which is enough for benchmarks of the links.
	InMemoryKernels bool
}

// Cluster is a running sandbox built by Up.
type Cluster struct {
	State *State
	Dir   string
	Nodes []*Node

	logger   *slog.Logger
	inMemory bool
	down     bool
	fwd      *Forwarder
	stop     context.CancelFunc
	served   chan error
}

// Node is one simulated node of a Cluster, as seen by the process that built it.
type Node struct {
	Name      string
	Namespace string // name under /run/netns
	Root      string // fake kernel root on disk
	Topology  topology.Node
	Kernel    *fakesysfs.Kernel
	Netdevs   *Netdevs
}

// NamespacePath is the path of the node's host namespace.
func (n *Node) NamespacePath() string { return NamespacePath(n.Namespace) }

// Up builds a cluster named name of the given nodes: per node a host namespace vflab-<name>-<node>, a
// fake kernel on disk under the state directory, and a real link for every netdev of that kernel, cabled
// to its fabric. On failure it removes what it built.
func Up(ctx context.Context, name string, nodes []topology.Node, opts Options) (c *Cluster, err error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("sandbox up: cluster: %w", err)
	}
	if opts.StateDir == "" {
		return nil, errors.New("sandbox up: no state directory")
	}
	if opts.Background && opts.ForwarderCommand == nil {
		return nil, errors.New("sandbox up: a background forwarder needs a forwarder command")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("sandbox up: state dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return nil, fmt.Errorf("sandbox up: %s already holds a sandbox (vflab sandbox down --state %s)", dir, dir)
	}
	st, err := plan(name, nodes)
	if err != nil {
		return nil, fmt.Errorf("sandbox up: %w", err)
	}
	for i := range st.Nodes {
		st.Nodes[i].Root = nodeRoot(dir, st.Nodes[i].Name)
	}
	if st.Owner, err = SelfProcess(); err != nil {
		return nil, fmt.Errorf("sandbox up: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox up: %w", err)
	}
	for _, nsName := range namespacesOf(st) {
		if _, err := os.Stat(NamespacePath(nsName)); err == nil {
			return nil, fmt.Errorf("sandbox up: cluster name %q is in use: namespace %s exists (another run, or a leftover for `vflab sandbox gc`)", name, NamespacePath(nsName))
		}
	}
	// The state goes first, so that whatever follows can be found by Down and GC after a crash.
	if err := writeState(dir, st); err != nil {
		return nil, fmt.Errorf("sandbox up: %w", err)
	}
	c = &Cluster{State: st, Dir: dir, logger: logger, inMemory: opts.InMemoryKernels}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("sandbox up: %w", err), c.Down())
			c = nil
		}
	}()
	for _, f := range st.Fabrics {
		if f.Namespace == "" {
			continue
		}
		if err := newNamespace(f.Namespace, dir); err != nil {
			return c, err
		}
		h, err := openNamespace(NamespacePath(f.Namespace))
		if err != nil {
			return c, err
		}
		_, err = ensureBridge(h)
		h.Close()
		if err != nil {
			return c, err
		}
	}
	if err := c.startForwarder(ctx, opts); err != nil {
		return c, err
	}
	for i, tn := range nodes {
		ns := st.Nodes[i]
		c.Nodes = append(c.Nodes, &Node{Name: ns.Name, Namespace: ns.Namespace, Root: ns.Root, Topology: tn})
		if err := newNamespace(ns.Namespace, dir); err != nil {
			return c, err
		}
	}
	// Rendering fake kernels is file I/O: nodes go in parallel (their netlink calls serialize in the
	// kernel anyway).
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.buildNode(n); err != nil {
				errs[i] = fmt.Errorf("node %s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, nil
}

// buildNode renders the node's fake kernel and creates a real link for each of its netdevs.
func (c *Cluster) buildNode(n *Node) error {
	if err := os.MkdirAll(n.Root, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(filepath.Dir(n.Root), nodeFile), NodeInfo{
		Cluster: c.State.Cluster, Node: n.Name, Namespace: n.Namespace, StateDir: c.Dir,
	}); err != nil {
		return err
	}
	nd, err := NewNetdevs(NetdevsConfig{Cluster: c.State.Cluster, Node: n.Name, StateDir: c.Dir, Logger: c.logger})
	if err != nil {
		return err
	}
	n.Netdevs = nd
	if c.inMemory {
		n.Kernel, err = fakesysfs.New(n.Topology, fakesysfs.WithNetdevs(nd))
	} else {
		n.Kernel, err = fakesysfs.Create(n.Root, n.Topology, fakesysfs.WithNetdevs(nd))
	}
	if err != nil {
		return err
	}
	specs, err := n.Kernel.Netdevs()
	if err != nil {
		return err
	}
	for _, spec := range specs {
		if err := nd.Added(spec); err != nil {
			return err
		}
	}
	c.logger.Debug("node up", "node", n.Name, "netdevs", len(specs))
	return nil
}

// plan derives the namespaces and fabrics of a cluster from its nodes.
func plan(name string, nodes []topology.Node) (*State, error) {
	st := &State{Cluster: name}
	fabrics := map[string]int{}
	seen := map[string]bool{}
	for _, n := range nodes {
		if err := validName(n.Name); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("node %q appears twice", n.Name)
		}
		seen[n.Name] = true
		if err := n.Validate(); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		st.Nodes = append(st.Nodes, NodeState{Name: n.Name, Namespace: NodeNamespace(name, n.Name)})
		for _, nic := range n.WithDefaults().NICs {
			for _, p := range nic.Ports {
				if err := validName(p.Fabric); err != nil {
					return nil, fmt.Errorf("node %s: fabric: %w", n.Name, err)
				}
				if i, ok := fabrics[p.Fabric]; ok {
					if st.Fabrics[i].LinkLayer != string(p.LinkLayer) {
						return nil, fmt.Errorf("fabric %q is cabled to both %s and %s ports", p.Fabric, st.Fabrics[i].LinkLayer, p.LinkLayer)
					}
					continue
				}
				f := FabricState{Name: p.Fabric, LinkLayer: string(p.LinkLayer)}
				if p.LinkLayer == topology.Ethernet {
					f.Namespace = FabricNamespace(name, p.Fabric)
				}
				fabrics[p.Fabric] = len(st.Fabrics)
				st.Fabrics = append(st.Fabrics, f)
			}
		}
	}
	return st, nil
}

// newNamespace creates a named namespace of the run whose state is in dir, marks it with the state
// directory (loopback alias, read by GC) and sets its loopback up.
func newNamespace(name, dir string) error {
	if err := createNamespace(name); err != nil {
		return err
	}
	h, err := openNamespace(NamespacePath(name))
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	if err := h.LinkSetAlias(lo, stateAlias+dir); err != nil {
		return fmt.Errorf("namespace %s: mark: %w", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("namespace %s: loopback up: %w", name, err)
	}
	return nil
}

// startForwarder starts the forwarder of the run, in-process or as a process, and waits until it serves.
func (c *Cluster) startForwarder(ctx context.Context, opts Options) error {
	sock := filepath.Join(c.Dir, forwarderSock)
	if opts.ForwarderCommand == nil {
		ln, err := listenForwarder(sock)
		if err != nil {
			return err
		}
		c.fwd = NewForwarder(c.logger)
		fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		c.stop = stop
		c.served = make(chan error, 1)
		go func() { c.served <- c.fwd.Serve(fctx, ln) }()
		return nil
	}
	var owner *Process
	if !opts.Background {
		owner = &c.State.Owner
	}
	cmd := opts.ForwarderCommand(c.Dir, owner)
	logf, err := os.OpenFile(filepath.Join(c.Dir, forwarderLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("forwarder log: %w", err)
	}
	defer func() { _ = logf.Close() }()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start forwarder: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	proc, err := processOf(cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("forwarder: %w", err)
	}
	c.State.Forwarder = &proc
	if opts.Background {
		c.State.Owner = proc
	}
	if err := writeState(c.Dir, c.State); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := callForwarder(sock, forwarderRequest{Op: "ping"}); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(c.Dir, forwarderLog))
			return fmt.Errorf("forwarder exited: %v: %s", err, b)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("forwarder did not listen on %s within 10s", sock)
		}
	}
}

// RunForwarder serves the InfiniBand fabrics of the run in dir until ctx ends or owner (if not nil) dies:
// it listens on the run's socket and attaches the TUNs already in the nodes' host namespaces.
func RunForwarder(ctx context.Context, dir string, owner *Process, logger *slog.Logger) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	ln, err := listenForwarder(filepath.Join(dir, forwarderSock))
	if err != nil {
		return err
	}
	f := NewForwarder(logger)
	defer func() { _ = f.Close() }()
	if err := f.Scan(st); err != nil && logger != nil {
		logger.Warn("forwarder: attach existing TUNs", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if owner != nil {
		go func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if !owner.Alive() {
						cancel()
						return
					}
				}
			}
		}()
	}
	return f.Serve(ctx, ln)
}

// Down removes everything of the cluster: forwarder, namespaces (and with them every link, bridge and
// TUN that sits in them), fake kernels and state files. Calling it again does nothing.
func (c *Cluster) Down() error {
	if c.down {
		return nil
	}
	c.down = true
	var errs error
	for _, n := range c.Nodes {
		if n.Netdevs != nil {
			errs = errors.Join(errs, n.Netdevs.Close())
		}
	}
	if c.fwd != nil {
		c.stop()
		errs = errors.Join(errs, <-c.served, c.fwd.Close())
		c.fwd = nil
	}
	return errors.Join(errs, Down(c.Dir))
}

// Down removes the run whose state is in dir, from any process: it stops a forwarder process, deletes
// the run's namespaces and removes the state files it created. dir itself stays. A forwarder that cannot be
// stopped is an error, and the state file naming it stays, so that Down can be run again.
func Down(dir string) error {
	st, err := ReadState(dir)
	if err != nil {
		return fmt.Errorf("sandbox down: %w", err)
	}
	return removeRun(dir, st, nil)
}

// namespacesOf lists the namespaces of a run: nodes, then Ethernet fabrics.
func namespacesOf(st *State) []string {
	var names []string
	for _, n := range st.Nodes {
		names = append(names, n.Namespace)
	}
	for _, f := range st.Fabrics {
		if f.Namespace != "" {
			names = append(names, f.Namespace)
		}
	}
	return names
}

// removeRun removes the run described by st (and extra namespaces found to belong to it).
func removeRun(dir string, st *State, extra []string) error {
	var errs error
	keepState := false
	if st.Forwarder != nil {
		if err := stopProcess(*st.Forwarder, stopGrace); err != nil {
			// The state file is all that knows the forwarder: keep it, so that another Down retries.
			errs, keepState = errors.Join(errs, fmt.Errorf("forwarder: %w", err)), true
		}
	}
	names := append(append([]string(nil), extra...), namespacesOf(st)...)
	for _, name := range names {
		// A namespace marked by another run (same cluster name, other state directory) is not ours.
		if mark, err := namespaceStateDir(name); err == nil && mark != "" && mark != dir {
			continue
		}
		errs = errors.Join(errs, deleteNamespace(name))
	}
	for _, p := range []string{nodesDir, forwarderSock, forwarderLog, stateFile} {
		if p == stateFile && keepState {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			errs = errors.Join(errs, err)
		}
	}
	if errs != nil {
		return fmt.Errorf("sandbox down %s: %w", dir, errs)
	}
	return nil
}

// stopGrace is how long stopProcess waits for a process after SIGTERM, and again after SIGKILL.
const stopGrace = 2 * time.Second

// stopProcess ends p if it still runs: SIGTERM, SIGKILL after grace, and an error naming the pid if it
// is still there grace after that (a process in uninterruptible sleep) or cannot be signalled.
func stopProcess(p Process, grace time.Duration) error {
	return stopProcessWith(p, grace, syscall.Kill)
}

// stopProcessWith is stopProcess sending its signals through kill (syscall.Kill; tests pass one that
// does not deliver them, a process that never dies).
func stopProcessWith(p Process, grace time.Duration, kill func(pid int, sig syscall.Signal) error) error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !p.Alive() {
			return nil
		}
		if err := kill(p.PID, sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("stop process %d: %v: %w", p.PID, sig, err)
		}
		for deadline := time.Now().Add(grace); p.Alive() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if p.Alive() {
		return fmt.Errorf("stop process %d: still running %v after SIGKILL", p.PID, grace)
	}
	return nil
}

// OpenNode opens the fake kernel of a sandbox node from any process of that node (a CNI plugin, the
// device plugin, a test), wired to the node's real links: root is the node's fake root
// (DIR/nodes/<node>/root). Close the returned Netdevs when done.
func OpenNode(root string, opts ...fakesysfs.Option) (*fakesysfs.Kernel, *Netdevs, error) {
	var info NodeInfo
	b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Clean(root)), nodeFile))
	if err != nil {
		return nil, nil, fmt.Errorf("open sandbox node %s: %w", root, err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, nil, fmt.Errorf("open sandbox node %s: %w", root, err)
	}
	nd, err := NewNetdevs(NetdevsConfig{Cluster: info.Cluster, Node: info.Node, Namespace: NamespacePath(info.Namespace), StateDir: info.StateDir})
	if err != nil {
		return nil, nil, err
	}
	k, err := fakesysfs.Open(root, append(opts, fakesysfs.WithNetdevs(nd))...)
	if err != nil {
		_ = nd.Close()
		return nil, nil, fmt.Errorf("open sandbox node %s: %w", root, err)
	}
	return k, nd, nil
}
