package fakesysfs

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs/internal/symfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// StateDir is the kernel's private directory under the root: the state file, the lock and temporary
// files. It is not visible through the Kernel's filesystem.
const StateDir = "/.fakesysfs"

const (
	stateFile = StateDir + "/state.json"
	lockFile  = StateDir + "/lock"
	tmpDir    = StateDir + "/tmp"
	busyFile  = StateDir + "/busy"
)

// Option configures a Kernel.
type Option func(*options)

type options struct {
	netdevs    Netdevs
	probeDelay time.Duration
	logger     *slog.Logger
}

// WithNetdevs makes the kernel report netdevs it creates and removes to n, and take their live state
// (visibility, address, MTU, operstate, carrier, ifindex) from n.
func WithNetdevs(n Netdevs) Option { return func(o *options) { o.netdevs = n } }

// WithProbeDelay makes the kernel wait d before each VF it creates, to reproduce consumer races with
// the kernel's asynchronous VF creation.
func WithProbeDelay(d time.Duration) Option { return func(o *options) { o.probeDelay = d } }

// WithLogger sets the logger (default, and for nil: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Kernel is a fake kernel for one node: an afero.Fs and afero.Symlinker rooted at "/" with sysfs
// semantics. It is safe for concurrent use, also by several processes sharing one on-disk root.
type Kernel struct {
	raw  symfs.FS
	root string
	node topology.Node
	opts options

	devs  []device       // every function the node can have (derived from node)
	byBDF map[string]int // index into devs

	mu   sync.Mutex // serializes this process's mutations; flock serializes processes
	lock *flock.Flock
}

var (
	_ afero.Fs        = (*Kernel)(nil)
	_ afero.Symlinker = (*Kernel)(nil)
)

// state is the kernel's private state, kept next to the tree.
type state struct {
	Node      topology.Node       `json:"node"`
	Next      counters            `json:"next"`
	VFs       map[string][]VF     `json:"vfs,omitempty"`
	DriverIDs map[string][]string `json:"driverIds,omitempty"`
}

// counters are the kernel's global indexes: each names the next one to hand out.
type counters struct {
	MLX5       int `json:"mlx5"`
	Uverbs     int `json:"uverbs"`
	Umad       int `json:"umad"`
	Ifindex    int `json:"ifindex"`
	IOMMUGroup int `json:"iommuGroup"`
	QPN        int `json:"qpn"`
	IRQ        int `json:"irq"`
}

func newOptions(opts []Option) options {
	o := options{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// New renders node into an in-memory kernel.
func New(node topology.Node, opts ...Option) (*Kernel, error) {
	k, err := newKernel(symfs.NewMemFs(), "", node, opts)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Create renders node into dir (dir/sys, dir/dev, dir/run and the private dir/.fakesysfs); dir must be
// empty or missing.
func Create(dir string, node topology.Node, opts ...Option) (*Kernel, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create kernel root: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("create kernel root: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("create kernel root %s: directory is not empty", dir)
	}
	raw, err := symfs.NewDirFs(dir)
	if err != nil {
		return nil, fmt.Errorf("create kernel root: %w", err)
	}
	// Nobody can look before Create returns: render in memory, where building the tree costs no system
	// calls, then write it out entry by entry relative to each parent directory. Through the DirFs the
	// same rendering resolves every path again (about twice as many system calls, mostly lookups).
	mem := symfs.NewMemFs()
	k, err := newKernel(mem, "", node, opts)
	if err == nil {
		if err = mem.CopyTo(raw.Dir()); err != nil {
			err = fmt.Errorf("create kernel root: %w", err)
		}
	}
	if err != nil {
		// The directory was empty: leave it so, not half-rendered.
		entries, _ := os.ReadDir(raw.Dir())
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(raw.Dir(), e.Name()))
		}
		return nil, err
	}
	k.raw, k.root = raw, raw.Dir()
	k.lock = flock.New(filepath.Join(k.root, lockFile))
	return k, nil
}

// Open opens the kernel rendered earlier by Create in dir, from any process of the node.
func Open(dir string, opts ...Option) (*Kernel, error) {
	raw, err := symfs.NewDirFs(dir)
	if err != nil {
		return nil, fmt.Errorf("open kernel root: %w", err)
	}
	st, err := loadState(raw)
	if err != nil {
		return nil, fmt.Errorf("open kernel root %s: %w", dir, err)
	}
	k := &Kernel{raw: raw, root: raw.Dir(), node: st.Node, opts: newOptions(opts)}
	k.index()
	k.lock = flock.New(filepath.Join(raw.Dir(), lockFile))
	return k, nil
}

func newKernel(raw symfs.FS, root string, node topology.Node, opts []Option) (*Kernel, error) {
	if err := node.Validate(); err != nil {
		return nil, fmt.Errorf("invalid node: %w", err)
	}
	node = node.WithDefaults()
	k := &Kernel{raw: raw, root: root, node: node, opts: newOptions(opts)}
	k.index()
	if err := raw.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, err
	}
	if root != "" {
		k.lock = flock.New(filepath.Join(root, lockFile))
	}
	st := &state{Node: node, Next: counters{Ifindex: 2, QPN: 0x1087, IRQ: 24}}
	if err := saveState(raw, st); err != nil {
		return nil, err
	}
	err := k.mutate(func(t *tx) error {
		t.initial = true
		return t.renderNode()
	})
	if err != nil {
		return nil, fmt.Errorf("render node %s: %w", node.Name, err)
	}
	return k, nil
}

// Node is the node the kernel was rendered from, with defaults filled in.
func (k *Kernel) Node() topology.Node { return k.node }

// Root is the directory on disk holding the tree, or "" for an in-memory kernel.
func (k *Kernel) Root() string { return k.root }

// Update runs fn under the kernel-wide lock with the raw filesystem: writes through raw have no
// kernel semantics (tests use it to stage broken or unusual trees). fn may read the kernel (its
// filesystem, VFs, Netdevs) but must not call Update, UpdateVF or write through it: the lock is held.
func (k *Kernel) Update(fn func(raw afero.Fs) error) error {
	return k.mutate(func(t *tx) error { return fn(k.raw) })
}

// VFs returns the PF-side state of the VFs of the PF at pfPCI, in VF order.
func (k *Kernel) VFs(pfPCI string) ([]VF, error) {
	if _, ok := k.pfPort(pfPCI); !ok {
		return nil, fmt.Errorf("vfs of %s: %w", pfPCI, &os.PathError{Op: "lookup", Path: pfPCI, Err: syscall.ENOENT})
	}
	st, err := loadState(k.raw)
	if err != nil {
		return nil, err
	}
	return cloneVFs(st.VFs[pfPCI]), nil
}

// UpdateVF changes the PF-side state of VF vf of the PF at pfPCI under the kernel lock. A changed MAC
// shows at once as the VF netdev's address (mlx5 behaviour); GUIDs take effect when the VF is
// (re)bound. The error wraps ENOENT when there is no such VF.
func (k *Kernel) UpdateVF(pfPCI string, vf int, fn func(*VF) error) error {
	return k.mutate(func(t *tx) error {
		return t.updateVF(pfPCI, vf, fn)
	})
}

// Netdevs lists every netdev the tree records (PFs and VFs, whether or not Lookup shows them), in
// PCI order.
func (k *Kernel) Netdevs() ([]NetdevSpec, error) {
	t := &tx{k: k, fs: k.raw}
	st, err := loadState(k.raw)
	if err != nil {
		return nil, err
	}
	t.st = st
	return t.listNetdevs()
}

// mutate runs fn under the process mutex and, on disk, the flock, with freshly loaded state that is
// saved afterwards when fn succeeds (and also when it fails after changing the tree).
func (k *Kernel) mutate(fn func(t *tx) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lock != nil {
		if err := k.lock.Lock(); err != nil {
			return fmt.Errorf("lock kernel: %w", err)
		}
		defer func() { _ = k.lock.Unlock() }()
	}
	st, err := loadState(k.raw)
	if err != nil {
		return err
	}
	t := &tx{k: k, fs: k.raw, st: st}
	if k.lock != nil {
		// The busy mark lives while a process holds the lock: finding it means the last holder died
		// in the middle of a change, and the tree needs repair before anyone builds on it.
		if _, _, err := k.raw.LstatIfPossible(busyFile); err == nil {
			k.opts.logger.Warn("fake kernel: a writer died mid-change, repairing", "root", k.root)
			if err := t.repair(); err != nil {
				return fmt.Errorf("repair kernel: %w", err)
			}
			if err := saveState(k.raw, st); err != nil {
				return err
			}
		}
		if err := writeDirect(k.raw, busyFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
	}
	ferr := fn(t)
	if t.dirty || ferr == nil {
		if err := saveState(k.raw, st); err != nil {
			return errors.Join(ferr, err)
		}
	}
	if k.lock != nil {
		if err := k.raw.Remove(busyFile); err != nil {
			return errors.Join(ferr, err)
		}
	}
	return ferr
}

func loadState(raw afero.Fs) (*state, error) {
	b, err := afero.ReadFile(raw, stateFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no fake kernel here (%s missing)", stateFile)
		}
		return nil, err
	}
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("read %s: %w", stateFile, err)
	}
	return st, nil
}

func saveState(raw symfs.FS, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(raw, stateFile, b, 0o644)
}

// writeAtomic writes data to a temporary file in the private dir and renames it over name, so that
// readers in other processes see the old or the new content, never a partial one.
func writeAtomic(raw symfs.FS, name string, data []byte, mode os.FileMode) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s/%d.%x", tmpDir, os.Getpid(), rnd)
	if err := writeDirect(raw, tmp, data, mode); err != nil {
		_ = raw.Remove(tmp)
		return err
	}
	if err := raw.Rename(tmp, name); err != nil {
		_ = raw.Remove(tmp)
		return err
	}
	return nil
}

// writeDirect creates (or truncates) name in place with the given mode.
func writeDirect(raw symfs.FS, name string, data []byte, mode os.FileMode) error {
	f, err := raw.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	var merr error
	if c, ok := f.(interface{ Chmod(os.FileMode) error }); ok {
		merr = c.Chmod(mode)
	} else {
		merr = raw.Chmod(name, mode)
	}
	cerr := f.Close()
	return errors.Join(werr, merr, cerr)
}

func cloneVFs(in []VF) []VF {
	out := make([]VF, len(in))
	for i, v := range in {
		v.MAC = cloneHW(v.MAC)
		v.NodeGUID = cloneHW(v.NodeGUID)
		v.PortGUID = cloneHW(v.PortGUID)
		out[i] = v
	}
	return out
}

func cloneHW(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
