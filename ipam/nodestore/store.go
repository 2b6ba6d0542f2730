package nodestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/renameio/v2"

	"github.com/vflab/vflab/ipam"
)

// DefaultDataDir is host-local's default data directory.
const DefaultDataDir = "/var/lib/cni/networks"

// defaultCompactAfter is how many journal lines (at least) accumulate before the snapshot is rewritten.
const defaultCompactAfter = 1024

var _ ipam.Store = (*Store)(nil)

// Store is the on-disk ipam.Store for one node. Every call takes the network's lock and writes through to
// the files. ADD and DEL (Owned, LoadUsage, Reserve, Release) read only the usage file and the owner's
// file, so a fresh process pays the same at 1% and at 99% full; Load and List read the index (snapshot +
// journal), which a long-lived Store keeps between calls.
type Store struct {
	dataDir      string
	logger       *slog.Logger
	compactAfter int

	mu   sync.Mutex
	nets map[string]*netCache // by network directory
}

// netCache keeps a network's parsed cache between calls of one Store (one CNI invocation makes
// several; a long-lived process many), revalidated under the flock by the snapshot's generation and
// the journal's size: unchanged costs two stats, an append by another process costs reading the tail.
type netCache struct {
	mu      sync.Mutex // held with the flock, so goroutines of one process take turns too
	x       *index
	gen     string // snapshot generation
	snapID  fileID
	journal fileID
}

type fileID struct {
	ino   uint64
	size  int64
	mtime int64
}

func statID(path string) (fileID, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	id := fileID{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
	}
	return id, nil
}

// New returns a store under dataDir ("" means DefaultDataDir). logger may be nil.
func New(dataDir string, logger *slog.Logger) *Store {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{dataDir: dataDir, logger: logger, compactAfter: defaultCompactAfter, nets: map[string]*netCache{}}
}

// DataDir returns the directory holding one subdirectory per network.
func (s *Store) DataDir() string { return s.dataDir }

// index is the in-memory form of the cache (snapshot + journal): what Load and List answer from.
type index struct {
	byAddr       map[netip.Addr]ipam.Reservation
	last         map[int]netip.Addr
	journalLines int
}

func newIndex() *index { return newIndexSized(0) }

func newIndexSized(n int) *index {
	return &index{byAddr: make(map[netip.Addr]ipam.Reservation, n), last: map[int]netip.Addr{}}
}

func (x *index) put(r ipam.Reservation) { x.byAddr[r.Addr] = r }

func (x *index) del(a netip.Addr) { delete(x.byAddr, a) }

// all returns every reservation in no particular order.
func (x *index) all() []ipam.Reservation {
	out := make([]ipam.Reservation, 0, len(x.byAddr))
	for _, r := range x.byAddr {
		out = append(out, r)
	}
	return out
}

func (x *index) sorted() []ipam.Reservation {
	out := make([]ipam.Reservation, 0, len(x.byAddr))
	for _, r := range x.byAddr {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ipam.Reservation) int { return a.Addr.Compare(b.Addr) })
	return out
}

// netDir validates a network name (it becomes a directory) and returns its directory.
func (s *Store) netDir(network string) (string, error) {
	if network == "" || network == "." || network == ".." || strings.ContainsAny(network, "/\x00") {
		return "", fmt.Errorf("node store: network name %q is not a valid directory name", network)
	}
	return filepath.Join(s.dataDir, network), nil
}

// lock creates the network's directory if needed and takes its locks: this process's (the network's
// cache) and then every process's (the flock on the lock file, bounded by ctx). unlock releases both.
func (s *Store) lock(ctx context.Context, network, dir string) (nc *netCache, unlock func(), err error) {
	if err := os.MkdirAll(filepath.Join(dir, metaDir), 0o755); err != nil {
		return nil, nil, fmt.Errorf("node store %s: %w", network, err)
	}
	nc = s.netCache(dir)
	nc.mu.Lock()
	lk, err := lockFile(ctx, filepath.Join(dir, lockName))
	if err != nil {
		nc.mu.Unlock()
		return nil, nil, fmt.Errorf("node store %s: %w", network, err)
	}
	return nc, func() {
		unlockFile(lk)
		nc.mu.Unlock()
	}, nil
}

// do runs fn with the network locked and its index loaded. With create false, a network without a
// directory runs fn on an empty index without creating anything.
func (s *Store) do(ctx context.Context, network string, create bool, fn func(dir string, x *index) error) error {
	dir, err := s.netDir(network)
	if err != nil {
		return err
	}
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return fn(dir, newIndex())
		}
	}
	nc, unlock, err := s.lock(ctx, network, dir)
	if err != nil {
		return err
	}
	defer unlock()
	x, err := s.cachedLoad(dir, nc)
	if err != nil {
		nc.x = nil
		return fmt.Errorf("node store %s: %w", network, err)
	}
	if err := fn(dir, x); err != nil {
		nc.x = nil // whatever fn changed, the next call reads the files again
		return err
	}
	// Still under the flock: remember what the files look like now.
	s.remember(dir, nc, x)
	return nil
}

// cachedLoad returns the network's index, reusing nc when the files did not change since and applying
// only the journal's new tail when the snapshot is the same.
func (s *Store) cachedLoad(dir string, nc *netCache) (*index, error) {
	if _, err := os.Stat(filepath.Join(dir, dirtyName)); err == nil || nc.x == nil {
		return s.fullLoad(dir, nc)
	}
	snapID, err := statID(filepath.Join(dir, indexName))
	if err != nil {
		return s.fullLoad(dir, nc)
	}
	if snapID != nc.snapID {
		// Same stat can hide a rewrite (inode reuse, coarse timestamps); the generation cannot.
		if gen, err := snapshotGen(filepath.Join(dir, indexName)); err != nil || gen != nc.gen {
			return s.fullLoad(dir, nc)
		}
	}
	journal, err := statID(filepath.Join(dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		journal = fileID{}
	} else if err != nil {
		return s.fullLoad(dir, nc)
	}
	if journal == nc.journal {
		return nc.x, nil
	}
	if (nc.journal.ino != 0 && journal.ino != nc.journal.ino) || journal.size < nc.journal.size {
		return s.fullLoad(dir, nc)
	}
	f, err := os.Open(filepath.Join(dir, journalName))
	if err != nil {
		return s.fullLoad(dir, nc)
	}
	defer func() { _ = f.Close() }()
	tail := make([]byte, journal.size-nc.journal.size)
	if _, err := f.ReadAt(tail, nc.journal.size); err != nil {
		return s.fullLoad(dir, nc)
	}
	if err := applyLines(nc.x, tail, false); err != nil {
		return s.fullLoad(dir, nc)
	}
	return nc.x, nil
}

func (s *Store) fullLoad(dir string, nc *netCache) (*index, error) {
	x, err := s.load(dir)
	if err != nil {
		return nil, err
	}
	nc.gen, _ = snapshotGen(filepath.Join(dir, indexName))
	return x, nil
}

// snapshotGen reads the generation from the snapshot's header line.
func snapshotGen(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, 64)
	n, _ := f.Read(b)
	line, _, ok := bytes.Cut(b[:n], []byte("\n"))
	if !ok {
		return "", errors.New("no header")
	}
	rest, ok := strings.CutPrefix(string(line), indexHeader+" ")
	if !ok {
		return "", errors.New("bad header")
	}
	gen, _, _ := strings.Cut(rest, " ")
	return gen, nil
}

// Load implements ipam.Store.
func (s *Store) Load(ctx context.Context, network string) (*ipam.State, error) {
	var st *ipam.State
	err := s.do(ctx, network, false, func(_ string, x *index) error {
		st = &ipam.State{Reservations: x.all(), LastReserved: map[int]netip.Addr{}}
		for k, v := range x.last {
			st.LastReserved[k] = v
		}
		return nil
	})
	return st, err
}

// Owned implements ipam.Store: the owner files, checked against the reservation files (O(1) files).
func (s *Store) Owned(ctx context.Context, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	var out []ipam.Reservation
	err := s.doFast(ctx, network, false, func(f *fast) error {
		var err error
		if out, err = ownedFast(f.dir, owner); err != nil {
			return fmt.Errorf("node store %s: owned by %s: %w", network, owner, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// List implements ipam.Store.
func (s *Store) List(ctx context.Context, network string) ([]ipam.Reservation, error) {
	var out []ipam.Reservation
	err := s.do(ctx, network, false, func(_ string, x *index) error {
		out = x.sorted()
		return nil
	})
	return out, err
}

// Networks implements ipam.Store: every directory under the data directory.
func (s *Store) Networks(context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node store: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Reserve implements ipam.Store: an exclusive link per address, all or nothing, checked first against
// the usage bitmap (so a lost race costs no file change).
func (s *Store) Reserve(ctx context.Context, network string, rs []ipam.Reservation) error {
	if len(rs) == 0 {
		return nil
	}
	for _, r := range rs {
		if err := validOwner(r.Owner); err != nil {
			return fmt.Errorf("node store %s: reserve %s: %w", network, r.Addr, err)
		}
		for _, f := range []string{r.Pod.Namespace, r.Pod.Name, r.Pod.UID} {
			if err := validToken("pod field", f); err != nil {
				return fmt.Errorf("node store %s: reserve %s: %w", network, r.Addr, err)
			}
		}
	}
	return s.doFast(ctx, network, true, func(f *fast) error { return s.reserveFast(f, network, rs) })
}

// Release implements ipam.Store.
func (s *Store) Release(ctx context.Context, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	var out []ipam.Reservation
	err := s.doFast(ctx, network, false, func(f *fast) error {
		var err error
		out, err = s.releaseFast(f, network, owner)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// markDirty records the change about to be made (the intent) in the dirty mark. If the process dies
// before commit clears it, the next load rolls a reserve back (it was never acknowledged) and a release
// forward, then rebuilds the cache from the files: a multi-address reservation is never left half made.
func (s *Store) markDirty(dir, op string, owner ipam.Owner, rs []ipam.Reservation) error {
	var b strings.Builder
	b.WriteString(op + "\n" + owner.ContainerID + fieldSeparator + owner.IfName + "\n")
	for _, r := range rs {
		b.WriteString(r.Addr.String() + "\n")
	}
	b.WriteString("end\n")
	f, err := os.OpenFile(filepath.Join(dir, dirtyName), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("node store: mark %s dirty: %w", dir, err)
	}
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("node store: mark %s dirty: %w", dir, err)
	}
	return nil
}

// finishIntent completes the change a killed process left in the dirty mark: a reserve is undone, a
// release is completed, only on files that still name the intent's owner. An incomplete mark (killed
// while writing it) predates every file change and is ignored.
func finishIntent(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, dirtyName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 3 || lines[len(lines)-1] != "end" || (lines[0] != "reserve" && lines[0] != "release") {
		return nil
	}
	id, ifname, _ := strings.Cut(lines[1], fieldSeparator)
	owner := ipam.Owner{ContainerID: id, IfName: ifname}
	for _, l := range lines[2 : len(lines)-1] {
		a, err := netip.ParseAddr(l)
		if err != nil {
			return nil
		}
		path := filepath.Join(dir, a.String())
		holder, err := readOwner(path)
		if err != nil || (holder != owner && holder != ipam.Owner{ContainerID: owner.ContainerID}) {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		_ = os.Remove(filepath.Join(dir, metaDir, a.String()))
	}
	return syncDir(dir)
}

// writeSnapshot replaces the snapshot with x and drops the journal.
func (s *Store) writeSnapshot(dir string, x *index) error {
	var b bytes.Buffer
	var gen [8]byte
	_, _ = rand.Read(gen[:])
	b.WriteString(indexHeader + " " + hex.EncodeToString(gen[:]) + " " + strconv.Itoa(len(x.byAddr)) + "\n")
	for _, r := range x.sorted() {
		b.WriteString(checksummed("+" + fieldSeparator + record(r)))
		b.WriteByte('\n')
	}
	for set, a := range x.last {
		b.WriteString(checksummed("L" + fieldSeparator + strconv.Itoa(set) + fieldSeparator + a.String()))
		b.WriteByte('\n')
	}
	b.WriteString(checksummed("end"+fieldSeparator+strconv.Itoa(len(x.byAddr))) + "\n")
	if err := renameio.WriteFile(filepath.Join(dir, indexName), b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("node store: write index: %w", err)
	}
	// A crash here replays the old journal onto the new snapshot: its changes are idempotent set
	// operations already contained in it, so the result is the same.
	if err := os.Remove(filepath.Join(dir, journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node store: drop journal: %w", err)
	}
	x.journalLines = 0
	return nil
}

// errStale says the cache cannot be trusted and must be rebuilt from the files.
var errStale = errors.New("stale cache")

// load reads the cache, rebuilding it from the reservation files when it is missing, flagged dirty or
// corrupt.
func (s *Store) load(dir string) (*index, error) {
	x, err := readCache(dir)
	if err == nil {
		return x, nil
	}
	if !errors.Is(err, errStale) {
		return nil, err
	}
	s.logger.Info("node store: rebuilding cache from reservation files", "dir", dir, "reason", err)
	if err := finishIntent(dir); err != nil {
		return nil, fmt.Errorf("node store: finish interrupted change: %w", err)
	}
	x, err = rebuild(dir)
	if err != nil {
		return nil, err
	}
	if err := s.writeSnapshot(dir, x); err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, dirtyName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node store: clear dirty mark: %w", err)
	}
	return x, nil
}

func readCache(dir string) (*index, error) {
	if _, err := os.Stat(filepath.Join(dir, dirtyName)); err == nil {
		return nil, fmt.Errorf("%w: dirty mark present", errStale)
	}
	return readIndex(dir)
}

// readIndex reads the snapshot and the journal, whether or not a change is in flight.
func readIndex(dir string) (*index, error) {
	snap, err := os.ReadFile(filepath.Join(dir, indexName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no index", errStale)
	}
	if err != nil {
		return nil, err
	}
	x := newIndex()
	if err := applyLines(x, snap, true); err != nil {
		return nil, fmt.Errorf("%w: index: %v", errStale, err)
	}
	journal, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := applyLines(x, journal, false); err != nil {
		return nil, fmt.Errorf("%w: journal: %v", errStale, err)
	}
	return x, nil
}

// applyLines applies snapshot (with header and end line) or journal lines to x.
func applyLines(x *index, data []byte, snapshot bool) error {
	// One string for the whole file: lines and fields are substrings of it, not allocations.
	// The checksums are computed over data; pos tracks the same offsets in both.
	text := string(data)
	pos := 0
	var rawBytes []byte
	next := func() (string, bool) {
		if pos >= len(text) {
			return "", false
		}
		end := strings.IndexByte(text[pos:], '\n')
		if end < 0 {
			end = len(text) - pos
		}
		line := text[pos : pos+end]
		rawBytes = data[pos : pos+end]
		pos += end + 1
		return line, true
	}
	if snapshot {
		h, ok := next()
		rest, isIndex := strings.CutPrefix(h, indexHeader+" ")
		if !ok || !isIndex {
			return errors.New("bad header")
		}
		if _, count, ok := strings.Cut(rest, " "); ok && len(x.byAddr) == 0 {
			if n, err := strconv.Atoi(count); err == nil && n > 0 && n <= len(data)/16 {
				*x = *newIndexSized(n)
			}
		}
	}
	ended := false
	for {
		raw, ok := next()
		if !ok {
			break
		}
		if ended {
			return errors.New("data after end")
		}
		line, ok := verifyBytes(raw, rawBytes)
		if !ok {
			return fmt.Errorf("bad checksum on %q", raw)
		}
		if !snapshot {
			x.journalLines++
		}
		op, rest, _ := strings.Cut(line, fieldSeparator)
		switch op {
		case "+":
			r, err := parseRecord(rest)
			if err != nil {
				return fmt.Errorf("record %q: %w", rest, err)
			}
			x.put(r)
		case "-":
			a, err := netip.ParseAddr(rest)
			if err != nil {
				return err
			}
			x.del(a)
		case "L":
			setS, addrS, _ := strings.Cut(rest, fieldSeparator)
			set, err := strconv.Atoi(setS)
			if err != nil {
				return err
			}
			a, err := netip.ParseAddr(addrS)
			if err != nil {
				return err
			}
			x.last[set] = a
		case "end":
			n, err := strconv.Atoi(rest)
			if err != nil || !snapshot || n != len(x.byAddr) {
				return fmt.Errorf("bad end line %q", line)
			}
			ended = true
		default:
			return fmt.Errorf("unknown op %q", op)
		}
	}
	if snapshot && !ended {
		return errors.New("truncated")
	}
	return nil
}

// rebuild reads every reservation file of dir (the truth) and its sidecar.
func rebuild(dir string) (*index, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("node store: rebuild: %w", err)
	}
	x := newIndex()
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(name, tmpPrefix) {
			_ = os.Remove(filepath.Join(dir, name)) // a temp file of a killed writer
			continue
		}
		if set, ok := strings.CutPrefix(name, lastIPPrefix); ok {
			n, err := strconv.Atoi(set)
			b, rerr := os.ReadFile(filepath.Join(dir, name))
			a, perr := netip.ParseAddr(strings.TrimSpace(string(b)))
			if err == nil && rerr == nil && perr == nil {
				x.last[n] = a
			}
			continue
		}
		a, err := netip.ParseAddr(name)
		if err != nil {
			continue
		}
		owner, err := readOwner(filepath.Join(dir, name))
		if err != nil {
			continue // an empty file cannot be a reservation of ours: writes are atomic
		}
		r := ipam.Reservation{Addr: a, Owner: owner, RangeSet: -1}
		if b, err := os.ReadFile(filepath.Join(dir, metaDir, name)); err == nil {
			if m, err := parseMeta(b); err == nil && m.ContainerID == owner.ContainerID && m.IfName == owner.IfName {
				r.Pod = ipam.PodRef{Namespace: m.Namespace, Name: m.Name, UID: m.UID}
				r.Created = m.Created
				r.RangeSet = m.RangeSet
			}
		}
		if r.Created.IsZero() {
			if info, err := e.Info(); err == nil {
				r.Created = info.ModTime().UTC()
			}
		}
		x.put(r)
	}
	return x, nil
}

func readOwner(path string) (ipam.Owner, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ipam.Owner{}, err
	}
	return parseReservationContent(b)
}
