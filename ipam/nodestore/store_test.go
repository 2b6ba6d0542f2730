package nodestore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"

	"github.com/vflab/vflab/ipam"
)

func testNetwork() *ipam.Network {
	return &ipam.Network{Name: "net1", RangeSets: []ipam.RangeSet{
		{{Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.1")}},
		{{Subnet: netip.MustParsePrefix("fd00:1::/64")}},
	}}
}

func add(t *testing.T, s ipam.Store, n *ipam.Network, id, ifname string) []ipam.Allocation {
	t.Helper()
	got, err := ipam.Add(context.Background(), s, n, ipam.Request{Owner: ipam.Owner{ContainerID: id, IfName: ifname},
		Pod: ipam.PodRef{Namespace: "ns", Name: "pod-" + id, UID: "uid-" + id}, Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatalf("add %s/%s: %v", id, ifname, err)
	}
	return got
}

func TestLayoutAndSemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := New(dir, nil)
	n := testNetwork()
	a := add(t, s, n, "c1", "net1")
	if a[0].Prefix.String() != "10.1.0.2/24" || a[1].Prefix.String() != "fd00:1::1/64" || a[0].Gateway.String() != "10.1.0.1" {
		t.Fatalf("allocations %+v", a)
	}
	b, err := os.ReadFile(filepath.Join(dir, "net1", "10.1.0.2"))
	if err != nil || string(b) != "c1\r\nnet1" {
		t.Fatalf("reservation file: %q %v", b, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "net1", "last_reserved_ip.1"))
	if err != nil || string(b) != "fd00:1::1" {
		t.Fatalf("last_reserved_ip.1: %q %v", b, err)
	}
	if again := add(t, s, n, "c1", "net1"); fmt.Sprint(again) != fmt.Sprint(a) {
		t.Fatalf("re-ADD %v, want %v", again, a)
	}
	add(t, s, n, "c2", "net1")
	// A fresh Store (another CNI process) sees the same state, pod metadata included.
	all, err := New(dir, nil).List(ctx, "net1")
	if err != nil || len(all) != 4 {
		t.Fatalf("list: %v %v", all, err)
	}
	if all[0].Pod.UID != "uid-c1" || all[0].Created.Unix() != 1700000000 {
		t.Fatalf("metadata lost: %+v", all[0])
	}
	for range 2 {
		if _, err := ipam.Del(ctx, s, "net1", ipam.Owner{ContainerID: "c1", IfName: "net1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "net1", "10.1.0.2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file left after DEL: %v", err)
	}
	if _, err := ipam.Del(ctx, s, "unknown-net", ipam.Owner{ContainerID: "c1"}); err != nil {
		t.Fatalf("DEL on an unknown network: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "unknown-net")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("DEL created a network directory")
	}
	if _, err := s.Owned(ctx, "../escape", ipam.Owner{ContainerID: "x"}); err == nil {
		t.Fatal("network name with a slash accepted")
	}
	// round-robin continues after the last reserved address across processes
	if got := add(t, New(dir, nil), n, "c3", "net1"); got[0].Addr.String() != "10.1.0.4" {
		t.Fatalf("round robin: got %s, want 10.1.0.4", got[0].Addr)
	}
}

// hostLocal is host-local's own disk backend (containernetworking/plugins v1.10.0).
type hostLocal struct {
	t *testing.T
	s *disk.Store
}

func newHostLocal(t *testing.T, dataDir, network string) hostLocal {
	s, err := disk.New(network, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return hostLocal{t, s}
}

func (h hostLocal) reserve(id, ifname, ip, rangeID string) {
	h.t.Helper()
	if err := h.s.Lock(); err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = h.s.Unlock() }()
	if ok, err := h.s.Reserve(id, ifname, net.ParseIP(ip), rangeID); !ok || err != nil {
		h.t.Fatalf("host-local reserve %s: %v %v", ip, ok, err)
	}
}

// Data written by host-local is used as is, and host-local reads and releases what vflab wrote.
func TestHostLocalCompat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	hl := newHostLocal(t, dir, "net1")
	hl.reserve("hl1", "eth0", "10.1.0.2", "0")
	hl.reserve("hl2", "eth0", "10.1.0.3", "0")
	// an old ID-only file
	if err := os.WriteFile(filepath.Join(dir, "net1", "10.1.0.9"), []byte("legacy"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := New(dir, nil)
	n := &ipam.Network{Name: "net1", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.1.0.0/24")}}}}
	got := add(t, s, n, "hl1", "eth0")
	if got[0].Addr.String() != "10.1.0.2" {
		t.Fatalf("idempotent ADD over host-local data got %s, want 10.1.0.2", got[0].Addr)
	}
	got = add(t, s, n, "new", "eth0")
	if got[0].Addr.String() != "10.1.0.4" {
		t.Fatalf("ADD after host-local's last_reserved_ip got %s, want 10.1.0.4", got[0].Addr)
	}
	add(t, s, n, "new2", "eth0")
	if rel, err := ipam.Del(ctx, s, "net1", ipam.Owner{ContainerID: "legacy", IfName: "eth0"}); err != nil || len(rel) != 1 {
		t.Fatalf("DEL of an ID-only reservation: %v %v", rel, err)
	}
	if ips := hl.s.GetByID("new", "eth0"); len(ips) != 1 || ips[0].String() != "10.1.0.4" {
		t.Fatalf("host-local reads vflab's reservation as %v", ips)
	}
	if last, err := hl.s.LastReservedIP("0"); err != nil || last.String() != "10.1.0.5" {
		t.Fatalf("host-local reads vflab's cursor as %v, %v", last, err)
	}
	if err := hl.s.ReleaseByID("new", "eth0"); err != nil {
		t.Fatal(err)
	}
	// A reservation made behind the cache's back surfaces on the next conflicting reserve and heals the cache.
	hl.reserve("sneaky", "eth0", "10.1.0.6", "0")
	err := s.Reserve(ctx, "net1", []ipam.Reservation{{Addr: netip.MustParseAddr("10.1.0.6"), Owner: ipam.Owner{ContainerID: "x", IfName: "eth0"}}})
	var inUse *ipam.AddressInUseError
	if !errors.As(err, &inUse) || inUse.Owner.ContainerID != "sneaky" {
		t.Fatalf("reserve of an address host-local took behind the cache: %v", err)
	}
	owned, err := s.Owned(ctx, "net1", ipam.Owner{ContainerID: "sneaky", IfName: "eth0"})
	if err != nil || len(owned) != 1 {
		t.Fatalf("cache not rebuilt after conflict: %v %v", owned, err)
	}
}

// The cache is rebuilt whenever it cannot be trusted.
func TestCacheRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		damage func(netDir string) error
	}{
		{"dirty mark", func(d string) error { return os.WriteFile(filepath.Join(d, dirtyName), nil, 0o600) }},
		{"no index", func(d string) error { return os.Remove(filepath.Join(d, indexName)) }},
		{"corrupt journal", func(d string) error {
			f, err := os.OpenFile(filepath.Join(d, journalName), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer func() { _ = f.Close() }()
			_, err = f.WriteString("+\t10.1.0.77\tghost\teth0\t\t\t\t0\t0\tbadsum\n")
			return err
		}},
		{"truncated index", func(d string) error {
			b, err := os.ReadFile(filepath.Join(d, indexName))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, indexName), b[:len(b)-3], 0o600)
		}},
		{"stray temp file", func(d string) error {
			if err := os.WriteFile(filepath.Join(d, tmpPrefix+"123"), []byte("half"), 0o600); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, dirtyName), nil, 0o600)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := New(dir, nil)
			n := testNetwork()
			for i := range 5 {
				add(t, s, n, fmt.Sprint("c", i), "eth0")
			}
			// force a snapshot, then more journal lines
			x, err := rebuild(filepath.Join(dir, "net1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.writeSnapshot(filepath.Join(dir, "net1"), x); err != nil {
				t.Fatal(err)
			}
			add(t, s, n, "c9", "eth0")
			want, _ := s.List(ctx, "net1")
			if err := tt.damage(filepath.Join(dir, "net1")); err != nil {
				t.Fatal(err)
			}
			got, err := New(dir, nil).List(ctx, "net1")
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after damage: %v %v\nwant %v", got, err, want)
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "net1"))
			for _, e := range entries {
				if e.Name() == dirtyName || len(e.Name()) > len(tmpPrefix) && e.Name()[:len(tmpPrefix)] == tmpPrefix {
					t.Fatalf("%s left after rebuild", e.Name())
				}
			}
		})
	}
}

func TestCompaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := New(dir, nil)
	s.compactAfter = 64
	n := &ipam.Network{Name: "net1", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.2.0.0/16")}}}}
	for i := range 150 {
		add(t, s, n, fmt.Sprint("c", i), "eth0")
		if i%3 == 0 {
			if _, err := s.Release(ctx, "net1", ipam.Owner{ContainerID: fmt.Sprint("c", i), IfName: "eth0"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "net1", journalName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if lines := countLines(b); lines > 100 {
		t.Fatalf("journal has %d lines, compaction at 100 (the snapshot's size)", lines)
	}
	got, err := New(dir, nil).List(ctx, "net1")
	if err != nil || len(got) != 100 {
		t.Fatalf("after compaction: %d reservations, %v", len(got), err)
	}
	fromFiles, err := rebuild(filepath.Join(dir, "net1"))
	if err != nil || len(fromFiles.byAddr) != 100 {
		t.Fatalf("files hold %d reservations, %v", len(fromFiles.byAddr), err)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func TestLockHonoursContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := New(dir, nil)
	if err := os.MkdirAll(filepath.Join(dir, "net1"), 0o755); err != nil {
		t.Fatal(err)
	}
	held, err := lockFile(context.Background(), filepath.Join(dir, "net1", lockName))
	if err != nil {
		t.Fatal(err)
	}
	defer unlockFile(held)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.List(ctx, "net1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("locked network: %v after %s", err, time.Since(start))
	}
}

func TestSortedOwned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(t.TempDir(), nil)
	o := ipam.Owner{ContainerID: "c", IfName: "e"}
	for _, a := range []string{"10.0.0.9", "10.0.0.3"} {
		if err := s.Reserve(ctx, "n", []ipam.Reservation{{Addr: netip.MustParseAddr(a), Owner: o}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Reserve(ctx, "n", []ipam.Reservation{{Addr: netip.MustParseAddr("10.0.0.3"), Owner: o}}); !errors.Is(err, ipam.ErrAddressInUse) {
		t.Fatalf("second reserve of the same address: %v", err)
	}
	got, err := New(s.DataDir(), nil).Owned(ctx, "n", o)
	if err != nil || len(got) != 2 || !slices.IsSortedFunc(got, func(a, b ipam.Reservation) int { return a.Addr.Compare(b.Addr) }) {
		t.Fatalf("owned %v %v", got, err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Two stores (two processes' worth of cache) interleave changes, compactions included: each sees the
// other's, through the journal's tail or a new snapshot.
func TestCacheRevalidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, b := New(dir, nil), New(dir, nil)
	a.compactAfter, b.compactAfter = 8, 8
	n := &ipam.Network{Name: "net1", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.3.0.0/24")}}}}
	want := map[string]bool{}
	for i := range 40 {
		s := []*Store{a, b}[i%2]
		id := fmt.Sprint("c", i)
		add(t, s, n, id, "eth0")
		want[id] = true
		if i%3 == 2 {
			old := fmt.Sprint("c", i-1)
			if _, err := s.Release(ctx, "net1", ipam.Owner{ContainerID: old, IfName: "eth0"}); err != nil {
				t.Fatal(err)
			}
			delete(want, old)
		}
		for _, s := range []*Store{a, b} {
			all, err := s.List(ctx, "net1")
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(want) {
				t.Fatalf("step %d: a store sees %d reservations, want %d", i, len(all), len(want))
			}
			for _, r := range all {
				if !want[r.Owner.ContainerID] {
					t.Fatalf("step %d: stale reservation %v", i, r)
				}
			}
		}
	}
}
