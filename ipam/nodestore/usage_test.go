package nodestore

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vflab/vflab/ipam"
)

// checkUsage asserts that what a fresh store's fast path sees (usage bitmap, cursors, owner lookups)
// equals the reservation files of the network.
func checkUsage(t *testing.T, dir, network string) {
	t.Helper()
	ctx := context.Background()
	files, err := rebuild(filepath.Join(dir, network))
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(dir, nil).LoadUsage(ctx, network)
	if err != nil {
		t.Fatal(err)
	}
	if u.Count() != len(files.byAddr) {
		t.Fatalf("usage holds %d addresses, files %d", u.Count(), len(files.byAddr))
	}
	byOwner := map[ipam.Owner][]ipam.Reservation{}
	for a, r := range files.byAddr {
		if !u.Has(a) {
			t.Fatalf("usage misses %s", a)
		}
		byOwner[r.Owner] = append(byOwner[r.Owner], r)
	}
	for set, a := range files.last {
		if u.LastReserved[set] != a {
			t.Fatalf("usage cursor %d = %s, last_reserved_ip says %s", set, u.LastReserved[set], a)
		}
	}
	for o, want := range byOwner {
		if o.IfName == "" {
			continue // ID-only (host-local legacy) owners are found through an owner with an ifname
		}
		got, err := New(dir, nil).Owned(ctx, network, o)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(want, func(a, b ipam.Reservation) int { return a.Addr.Compare(b.Addr) })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("owned by %s: %v, files say %v", o, got, want)
		}
	}
}

// The usage file and the owner files are rebuilt whenever they cannot be trusted, and a fresh ADD never
// hands out an address that is taken.
func TestUsageRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		damage func(netDir string) error
	}{
		{"no usage", func(d string) error { return os.Remove(filepath.Join(d, usageName)) }},
		{"torn usage", func(d string) error {
			b, err := os.ReadFile(filepath.Join(d, usageName))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, usageName), b[:len(b)/2], 0o600)
		}},
		{"flipped bit", func(d string) error {
			b, err := os.ReadFile(filepath.Join(d, usageName))
			if err != nil {
				return err
			}
			b[len(b)-100] ^= 1
			return os.WriteFile(filepath.Join(d, usageName), b, 0o600)
		}},
		{"new snapshot", func(d string) error {
			x, err := rebuild(d)
			if err != nil {
				return err
			}
			return New(filepath.Dir(d), nil).writeSnapshot(d, x)
		}},
		{"journal appended by another writer", func(d string) error {
			f, err := os.OpenFile(filepath.Join(d, journalName), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			defer func() { _ = f.Close() }()
			_, err = f.WriteString(checksummed("-"+fieldSeparator+"10.1.0.200") + "\n")
			return err
		}},
		{"no owner files", func(d string) error { return os.RemoveAll(filepath.Join(d, ownersDir)) }},
		{"dirty mark", func(d string) error { return os.WriteFile(filepath.Join(d, dirtyName), nil, 0o600) }},
		{"host-local file behind its back", func(d string) error {
			if err := os.WriteFile(filepath.Join(d, "10.1.0.9"), []byte("sneaky\r\neth0"), 0o600); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(d, dirtyName), nil, 0o600)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			n := testNetwork()
			for i := range 6 {
				add(t, New(dir, nil), n, fmt.Sprint("c", i), "eth0")
			}
			if _, err := New(dir, nil).Release(ctx, "net1", ipam.Owner{ContainerID: "c2", IfName: "eth0"}); err != nil {
				t.Fatal(err)
			}
			checkUsage(t, dir, "net1")
			if err := tt.damage(filepath.Join(dir, "net1")); err != nil {
				t.Fatal(err)
			}
			checkUsage(t, dir, "net1")
			// Enough fresh ADDs to run through the whole /24: none may collide with a reservation.
			for i := range 30 {
				add(t, New(dir, nil), n, fmt.Sprint("d", i), "eth0")
			}
			checkUsage(t, dir, "net1")
		})
	}
}

// Compaction on the fast path keeps the usage valid (no rebuild) and the journal bounded.
func TestUsageSurvivesCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := &ipam.Network{Name: "net1", RangeSets: []ipam.RangeSet{{{Subnet: netip.MustParsePrefix("10.4.0.0/24")}}}}
	for i := range 40 {
		s := New(dir, nil)
		s.compactAfter = 8
		add(t, s, n, fmt.Sprint("c", i), "eth0")
		if i%2 == 1 {
			if _, err := s.Release(context.Background(), "net1", ipam.Owner{ContainerID: fmt.Sprint("c", i-1), IfName: "eth0"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := readUsage(filepath.Join(dir, "net1")); err != nil {
			t.Fatalf("step %d: usage not valid after a change: %v", i, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "net1", journalName))
	if lines := countLines(b); lines > 21 {
		t.Fatalf("journal has %d lines, want compaction at max(8, 20 reservations)", lines)
	}
	checkUsage(t, dir, "net1")
}

func TestUsageEncoding(t *testing.T) {
	t.Parallel()
	u := &ipam.Usage{LastReserved: map[int]netip.Addr{0: mustAddr("10.0.0.7"), 1: mustAddr("fd00::7")}}
	for _, a := range []string{"10.0.0.7", "10.0.16.1", "fd00::7", "fd00::1:0"} {
		u.Set(mustAddr(a))
	}
	in := &usageFile{u: u, gen: "0123456789abcdef", journalSize: 1234, journalLines: 9}
	b := encodeUsage(in)
	out, err := decodeUsage(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.gen != in.gen || out.journalSize != in.journalSize || out.journalLines != in.journalLines ||
		fmt.Sprint(out.u.Blocks) != fmt.Sprint(u.Blocks) || fmt.Sprint(out.u.LastReserved) != fmt.Sprint(u.LastReserved) {
		t.Fatalf("round trip: %+v, want %+v", out, in)
	}
	if out.u.LastReserved[0].Is4() != true || out.u.Blocks[0].Base.Is4() != true {
		t.Fatal("IPv4 addresses came back as IPv6")
	}
	for i := range b {
		if _, err := decodeUsage(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
	}
}

func FuzzDecodeUsage(f *testing.F) {
	u := &ipam.Usage{LastReserved: map[int]netip.Addr{0: mustAddr("10.0.0.7")}}
	u.Set(mustAddr("10.0.0.7"))
	f.Add(encodeUsage(&usageFile{u: u, gen: "00ff"}))
	f.Add([]byte(usageMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeUsage(b)
		if err != nil {
			return
		}
		again, err := decodeUsage(encodeUsage(got))
		if err != nil || fmt.Sprint(again.u.Blocks) != fmt.Sprint(got.u.Blocks) || again.gen != got.gen {
			t.Fatalf("re-encoding a decoded file: %v", err)
		}
	})
}
