package nodestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vflab/vflab/ipam"
)

// The allocator's state on disk, so a fresh CNI process never reads every reservation:
//
//	.vflab-usage     the ipam.Usage (two-level bitmap per 4096 addresses, cursors) in a checksummed binary
//	                 file, tagged with the snapshot generation and the journal's size and line count it
//	                 matches: a torn, stale or foreign-written file is detected and rebuilt from the index
//	                 (and that from the reservation files, which stay the truth).
//	.vflab-owners/K  one small file per owner (K hashes containerID and ifname): the owner, then its
//	                 addresses, each checked against the reservation file when read. Written only under
//	                 the dirty mark, so a crash mid-write leads to a rebuild, never to a wrong answer.
const (
	usageName  = ".vflab-usage"
	ownersDir  = ".vflab-owners"
	usageMagic = "vflab-usage v1\n"
)

// usageFile is the decoded .vflab-usage.
type usageFile struct {
	u            *ipam.Usage
	gen          string // snapshot generation it matches
	journalSize  int64  // journal size it matches (0: no journal)
	journalLines int
}

func encodeUsage(f *usageFile) []byte {
	var b bytes.Buffer
	b.WriteString(usageMagic)
	le := binary.LittleEndian
	var buf [8]byte
	putU32 := func(v uint32) { le.PutUint32(buf[:4], v); b.Write(buf[:4]) }
	putU64 := func(v uint64) { le.PutUint64(buf[:], v); b.Write(buf[:]) }
	putAddr := func(a netip.Addr) {
		a = a.Unmap()
		fam := byte(6)
		if a.Is4() {
			fam = 4
		}
		b.WriteByte(fam)
		a16 := a.As16()
		b.Write(a16[:])
	}
	putU32(uint32(len(f.gen)))
	b.WriteString(f.gen)
	putU64(uint64(f.journalSize))
	putU64(uint64(f.journalLines))
	sets := make([]int, 0, len(f.u.LastReserved))
	for k := range f.u.LastReserved {
		sets = append(sets, k)
	}
	slices.Sort(sets)
	putU32(uint32(len(sets)))
	for _, k := range sets {
		putU32(uint32(int32(k)))
		putAddr(f.u.LastReserved[k])
	}
	putU32(uint32(len(f.u.Blocks)))
	for _, blk := range f.u.Blocks {
		putAddr(blk.Base)
		for _, w := range blk.Bits {
			putU64(w)
		}
	}
	putU32(crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes()
}

var errBadUsage = errors.New("bad usage file")

func decodeUsage(data []byte) (*usageFile, error) {
	if len(data) < len(usageMagic)+4 || !bytes.HasPrefix(data, []byte(usageMagic)) {
		return nil, fmt.Errorf("%w: header", errBadUsage)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: checksum", errBadUsage)
	}
	p := body[len(usageMagic):]
	short := false
	take := func(n int) []byte {
		if short || n > len(p) {
			short = true
			return make([]byte, n)
		}
		out := p[:n]
		p = p[n:]
		return out
	}
	u32 := func() uint32 { return binary.LittleEndian.Uint32(take(4)) }
	u64 := func() uint64 { return binary.LittleEndian.Uint64(take(8)) }
	addr := func() netip.Addr {
		fam := take(1)[0]
		a := netip.AddrFrom16([16]byte(take(16)))
		if fam == 4 {
			return a.Unmap()
		}
		return a
	}
	f := &usageFile{u: &ipam.Usage{LastReserved: map[int]netip.Addr{}}}
	n := u32()
	if int(n) > len(p) {
		return nil, fmt.Errorf("%w: generation length %d", errBadUsage, n)
	}
	f.gen = string(take(int(n)))
	f.journalSize = int64(u64())
	f.journalLines = int(u64())
	n = u32()
	if int(n) > len(p)/21 {
		return nil, fmt.Errorf("%w: %d cursors", errBadUsage, n)
	}
	for range n {
		k := int(int32(u32()))
		f.u.LastReserved[k] = addr()
	}
	n = u32()
	if int(n) > len(p)/(17+ipam.UsageBlockBits/8) {
		return nil, fmt.Errorf("%w: %d blocks", errBadUsage, n)
	}
	f.u.Blocks = make([]ipam.UsageBlock, n)
	for i := range f.u.Blocks {
		f.u.Blocks[i].Base = addr()
		for w := range f.u.Blocks[i].Bits {
			f.u.Blocks[i].Bits[w] = u64()
		}
		if ipam.UsageBase(f.u.Blocks[i].Base) != f.u.Blocks[i].Base {
			return nil, fmt.Errorf("%w: block base %s", errBadUsage, f.u.Blocks[i].Base)
		}
	}
	if short || len(p) != 0 {
		return nil, fmt.Errorf("%w: length", errBadUsage)
	}
	return f, nil
}

// journalState returns the journal's size (0 when there is none).
func journalState(dir string) (int64, error) {
	info, err := os.Stat(filepath.Join(dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// readUsage returns the usage file if it can be trusted: no change in flight, and it matches the
// current snapshot generation and journal. Any other outcome is errStale.
func readUsage(dir string) (*usageFile, error) {
	if _, err := os.Stat(filepath.Join(dir, dirtyName)); err == nil {
		return nil, fmt.Errorf("%w: dirty mark present", errStale)
	}
	if _, err := os.Stat(filepath.Join(dir, ownersDir)); err != nil {
		return nil, fmt.Errorf("%w: owner files: %v", errStale, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, usageName))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStale, err)
	}
	f, err := decodeUsage(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStale, err)
	}
	gen, err := snapshotGen(filepath.Join(dir, indexName))
	if err != nil || gen != f.gen {
		return nil, fmt.Errorf("%w: usage generation %q, snapshot %q (%v)", errStale, f.gen, gen, err)
	}
	size, err := journalState(dir)
	if err != nil || size != f.journalSize {
		return nil, fmt.Errorf("%w: usage matches a journal of %d bytes, not %d (%v)", errStale, f.journalSize, size, err)
	}
	return f, nil
}

func writeUsage(dir string, f *usageFile) error {
	// No fsync: a torn or lost file fails its checksum or generation and is rebuilt.
	if err := replaceFile(dir, usageName, encodeUsage(f)); err != nil {
		return fmt.Errorf("node store: write usage: %w", err)
	}
	return nil
}

// ownerKey names an owner's file.
func ownerKey(o ipam.Owner) string {
	h := sha256.Sum256([]byte(o.ContainerID + "\n" + o.IfName))
	return hex.EncodeToString(h[:16])
}

func ownerHeader(o ipam.Owner) string { return o.ContainerID + fieldSeparator + o.IfName }

// readOwnerFile returns the addresses an owner file lists (none when missing or naming another owner).
func readOwnerFile(dir string, o ipam.Owner) ([]netip.Addr, error) {
	b, err := os.ReadFile(filepath.Join(dir, ownersDir, ownerKey(o)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if lines[0] != ownerHeader(o) {
		return nil, nil
	}
	var out []netip.Addr
	for _, l := range lines[1:] {
		if a, err := netip.ParseAddr(l); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// writeOwnerFile replaces an owner's file, removing it when as is empty. It is called only under the
// dirty mark or during a rebuild, so a torn write is never trusted.
func writeOwnerFile(dir string, o ipam.Owner, as []netip.Addr) error {
	path := filepath.Join(dir, ownersDir, ownerKey(o))
	if len(as) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	var b strings.Builder
	b.WriteString(ownerHeader(o) + "\n")
	for _, a := range as {
		b.WriteString(a.String() + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// rebuildOwners rewrites every owner file from x.
func rebuildOwners(dir string, x *index) error {
	od := filepath.Join(dir, ownersDir)
	if err := os.RemoveAll(od); err != nil {
		return err
	}
	if err := os.MkdirAll(od, 0o755); err != nil {
		return err
	}
	byOwner := map[ipam.Owner][]netip.Addr{}
	for a, r := range x.byAddr {
		byOwner[r.Owner] = append(byOwner[r.Owner], a)
	}
	for o, as := range byOwner {
		slices.SortFunc(as, netip.Addr.Compare)
		if err := writeOwnerFile(dir, o, as); err != nil {
			return err
		}
	}
	return nil
}

// readReservation reads the reservation of address a from its file and sidecar, if it still names one of
// owners.
func readReservation(dir string, a netip.Addr, owners ...ipam.Owner) (ipam.Reservation, bool, error) {
	path := filepath.Join(dir, a.String())
	holder, err := readOwner(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ipam.Reservation{}, false, nil
	}
	if err != nil {
		return ipam.Reservation{}, false, err
	}
	if !slices.Contains(owners, holder) {
		return ipam.Reservation{}, false, nil
	}
	r := ipam.Reservation{Addr: a, Owner: holder, RangeSet: -1}
	if b, err := os.ReadFile(filepath.Join(dir, metaDir, a.String())); err == nil {
		if m, err := parseMeta(b); err == nil && m.ContainerID == holder.ContainerID && m.IfName == holder.IfName {
			r.Pod = ipam.PodRef{Namespace: m.Namespace, Name: m.Name, UID: m.UID}
			r.Created = m.Created
			r.RangeSet = m.RangeSet
		}
	}
	if r.Created.IsZero() {
		if info, err := os.Stat(path); err == nil {
			r.Created = info.ModTime().UTC()
		}
	}
	return r, true, nil
}

// ownedFast returns the owner's reservations (its own and host-local's ID-only ones for its container)
// from the owner files, checked against the reservation files.
func ownedFast(dir string, o ipam.Owner) ([]ipam.Reservation, error) {
	owners := []ipam.Owner{o}
	if o.IfName != "" {
		owners = append(owners, ipam.Owner{ContainerID: o.ContainerID})
	}
	var out []ipam.Reservation
	for _, ow := range owners {
		as, err := readOwnerFile(dir, ow)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			r, ok, err := readReservation(dir, a, ow)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b ipam.Reservation) int { return a.Addr.Compare(b.Addr) })
	return out, nil
}

// fast is what an operation on the fast path sees and changes: the usage and the journal lines of its
// change (appended, with the usage written, before the dirty mark is cleared).
type fast struct {
	dir   string
	file  *usageFile
	lines []string
}

// doFast runs fn with the network locked and its usage loaded, rebuilding usage and owner files from the
// index when they cannot be trusted. If fn recorded journal lines it changed the files under the dirty
// mark: the lines are appended (or the snapshot compacted), the usage written, and the mark cleared.
// With create false, a network without a directory runs fn on an empty usage without creating anything.
func (s *Store) doFast(ctx context.Context, network string, create bool, fn func(f *fast) error) error {
	dir, err := s.netDir(network)
	if err != nil {
		return err
	}
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return fn(&fast{dir: dir, file: &usageFile{u: &ipam.Usage{LastReserved: map[int]netip.Addr{}}}})
		}
	}
	nc, unlock, err := s.lock(ctx, network, dir)
	if err != nil {
		return err
	}
	defer unlock()
	uf, err := readUsage(dir)
	if err != nil {
		s.logger.Info("node store: rebuilding usage and owner files", "dir", dir, "reason", err)
		if uf, err = s.rebuildUsage(dir, nc); err != nil {
			return fmt.Errorf("node store %s: %w", network, err)
		}
	}
	f := &fast{dir: dir, file: uf}
	if err := fn(f); err != nil {
		return err
	}
	if len(f.lines) == 0 {
		return nil
	}
	if err := s.appendJournal(dir, f.file, f.lines); err != nil {
		return err
	}
	if err := writeUsage(dir, f.file); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, dirtyName)); err != nil {
		return fmt.Errorf("node store: clear dirty mark: %w", err)
	}
	return nil
}

func (s *Store) netCache(dir string) *netCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	nc := s.nets[dir]
	if nc == nil {
		nc = &netCache{}
		s.nets[dir] = nc
	}
	return nc
}

// rebuildUsage loads the index (itself rebuilt from the reservation files if needed), rewrites the owner
// files and the usage from it. The flock is held.
func (s *Store) rebuildUsage(dir string, nc *netCache) (*usageFile, error) {
	x, err := s.cachedLoad(dir, nc)
	if err != nil {
		nc.x = nil
		return nil, err
	}
	s.remember(dir, nc, x)
	// temp files of a writer killed outside a change (a usage rebuild): nobody else writes under the flock
	if stray, err := filepath.Glob(filepath.Join(dir, tmpPrefix+"*")); err == nil {
		for _, p := range stray {
			_ = os.Remove(p)
		}
	}
	if err := rebuildOwners(dir, x); err != nil {
		return nil, fmt.Errorf("rebuild owner files: %w", err)
	}
	uf := &usageFile{u: ipam.UsageOf(&ipam.State{Reservations: x.all(), LastReserved: x.last}), journalLines: x.journalLines}
	if uf.gen, err = snapshotGen(filepath.Join(dir, indexName)); err != nil {
		return nil, fmt.Errorf("read snapshot generation: %w", err)
	}
	if uf.journalSize, err = journalState(dir); err != nil {
		return nil, err
	}
	if err := writeUsage(dir, uf); err != nil {
		return nil, err
	}
	return uf, nil
}

// remember records, under the flock, what the files look like for x.
func (s *Store) remember(dir string, nc *netCache, x *index) {
	nc.x = x
	var err error
	if nc.snapID, err = statID(filepath.Join(dir, indexName)); err != nil {
		nc.x = nil
	}
	nc.journal, _ = statID(filepath.Join(dir, journalName))
}

// appendJournal appends lines to the journal, or, once the journal outgrows the snapshot (and
// compactAfter), folds both into a new snapshot; uf follows.
func (s *Store) appendJournal(dir string, uf *usageFile, lines []string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(checksummed(l))
		b.WriteByte('\n')
	}
	fh, err := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("node store: journal: %w", err)
	}
	_, err = fh.WriteString(b.String())
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("node store: journal: %w", err)
	}
	uf.journalLines += len(lines)
	if uf.journalSize, err = journalState(dir); err != nil {
		return fmt.Errorf("node store: journal: %w", err)
	}
	if uf.journalLines <= max(s.compactAfter, uf.u.Count()) {
		return nil
	}
	// Compact: the snapshot plus the journal (this change included) become the new snapshot. Amortised
	// over the journal's lines, that is a constant cost per change.
	x, err := readIndex(dir)
	if err != nil {
		return fmt.Errorf("node store: compact: %w", err)
	}
	if err := s.writeSnapshot(dir, x); err != nil {
		return err
	}
	if uf.gen, err = snapshotGen(filepath.Join(dir, indexName)); err != nil {
		return fmt.Errorf("node store: compact: %w", err)
	}
	uf.journalSize, uf.journalLines = 0, 0
	return nil
}

// reserveFast is Reserve on the fast path (validated rs).
func (s *Store) reserveFast(f *fast, network string, rs []ipam.Reservation) error {
	dir, u := f.dir, f.file.u
	seen := map[netip.Addr]bool{}
	for _, r := range rs {
		if u.Has(r.Addr) {
			holder, _ := readOwner(filepath.Join(dir, r.Addr.String()))
			return &ipam.AddressInUseError{Addr: r.Addr, Owner: holder}
		}
		if seen[r.Addr] {
			return &ipam.AddressInUseError{Addr: r.Addr, Owner: r.Owner}
		}
		seen[r.Addr] = true
	}
	if err := s.markDirty(dir, "reserve", rs[0].Owner, rs); err != nil {
		return err
	}
	var linked []netip.Addr
	undo := func() {
		for _, a := range linked {
			_ = os.Remove(filepath.Join(dir, a.String()))
		}
	}
	for _, r := range rs {
		m, _ := jsonMeta(metaOf(r))
		if err := replaceFile(filepath.Join(dir, metaDir), r.Addr.String(), m); err != nil {
			undo()
			return fmt.Errorf("node store %s: write meta %s: %w", network, r.Addr, err)
		}
		err := writeExclusive(dir, r.Addr.String(), []byte(reservationContent(r.Owner)))
		if errors.Is(err, fs.ErrExist) {
			// Someone wrote it behind the usage's back (a host-local process): the dirty mark stays, so
			// the next call rebuilds usage and owner files from the reservation files.
			undo()
			holder, _ := readOwner(filepath.Join(dir, r.Addr.String()))
			return &ipam.AddressInUseError{Addr: r.Addr, Owner: holder}
		}
		if err != nil {
			undo()
			return fmt.Errorf("node store %s: reserve %s: %w", network, r.Addr, err)
		}
		linked = append(linked, r.Addr)
	}
	var lines []string
	for _, r := range rs {
		lines = append(lines, "+"+fieldSeparator+record(r))
		if r.RangeSet >= 0 {
			lines = append(lines, "L"+fieldSeparator+strconv.Itoa(r.RangeSet)+fieldSeparator+r.Addr.String())
			if err := replaceFile(dir, lastIPPrefix+strconv.Itoa(r.RangeSet), []byte(r.Addr.String())); err != nil {
				return fmt.Errorf("node store %s: write cursor: %w", network, err)
			}
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("node store %s: %w", network, err)
	}
	byOwner := map[ipam.Owner][]netip.Addr{}
	for _, r := range rs {
		byOwner[r.Owner] = append(byOwner[r.Owner], r.Addr)
		u.Set(r.Addr)
		if r.RangeSet >= 0 {
			u.LastReserved[r.RangeSet] = r.Addr
		}
	}
	for o, as := range byOwner {
		old, err := readOwnerFile(dir, o)
		if err != nil {
			return fmt.Errorf("node store %s: owner file: %w", network, err)
		}
		as = append(old, as...)
		slices.SortFunc(as, netip.Addr.Compare)
		if err := writeOwnerFile(dir, o, slices.Compact(as)); err != nil {
			return fmt.Errorf("node store %s: owner file: %w", network, err)
		}
	}
	f.lines = lines
	return nil
}

// releaseFast is Release on the fast path.
func (s *Store) releaseFast(f *fast, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	dir, u := f.dir, f.file.u
	out, err := ownedFast(dir, owner)
	if err != nil {
		return nil, fmt.Errorf("node store %s: release %s: %w", network, owner, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := s.markDirty(dir, "release", owner, out); err != nil {
		return nil, err
	}
	var lines []string
	gone := map[ipam.Owner][]netip.Addr{}
	for _, r := range out {
		if err := os.Remove(filepath.Join(dir, r.Addr.String())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("node store %s: release %s: %w", network, r.Addr, err)
		}
		_ = os.Remove(filepath.Join(dir, metaDir, r.Addr.String()))
		lines = append(lines, "-"+fieldSeparator+r.Addr.String())
		gone[r.Owner] = append(gone[r.Owner], r.Addr)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("node store %s: %w", network, err)
	}
	for o, as := range gone {
		old, err := readOwnerFile(dir, o)
		if err != nil {
			return nil, fmt.Errorf("node store %s: owner file: %w", network, err)
		}
		left := slices.DeleteFunc(old, func(a netip.Addr) bool { return slices.Contains(as, a) })
		if err := writeOwnerFile(dir, o, left); err != nil {
			return nil, fmt.Errorf("node store %s: owner file: %w", network, err)
		}
		for _, a := range as {
			u.Clear(a)
		}
	}
	f.lines = lines
	return out, nil
}

// LoadUsage implements ipam.UsageLoader: the allocator's state without reading any reservation.
func (s *Store) LoadUsage(ctx context.Context, network string) (*ipam.Usage, error) {
	var u *ipam.Usage
	err := s.doFast(ctx, network, false, func(f *fast) error {
		u = f.file.u
		return nil
	})
	return u, err
}
