package sandbox

import (
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestAlias(t *testing.T) {
	t.Parallel()
	a := Alias("c1", "node-0", "0000:3b:00.2", "ib0")
	if a != "vflab:c1:node-0:0000:3b:00.2:ib0" {
		t.Errorf("Alias = %q", a)
	}
	if f, ok := aliasFabric(a); !ok || f != "ib0" {
		t.Errorf("aliasFabric(%q) = %q, %v", a, f, ok)
	}
	if _, ok := aliasFabric("something else"); ok {
		t.Error("aliasFabric accepted a foreign alias")
	}
	if p := aliasOwner("c1", "node-0", "0000:3b:00.2"); len(p) >= len(a) || a[:len(p)] != p {
		t.Errorf("aliasOwner %q is not a prefix of %q", p, a)
	}
	p1, p2 := peerName(a), peerName(Alias("c1", "node-1", "0000:3b:00.2", "ib0"))
	if len(p1) > 15 || p1 == p2 {
		t.Errorf("peer names %q, %q: want distinct, at most 15 bytes", p1, p2)
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"c1", "laptop-0", "A.b_c"} {
		if err := validName(ok); err != nil {
			t.Errorf("validName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a:b", "a b", "ü"} {
		if validName(bad) == nil {
			t.Errorf("validName(%q) accepted", bad)
		}
	}
}

func TestOperState(t *testing.T) {
	t.Parallel()
	for _, s := range []netlink.LinkOperState{netlink.OperUp, netlink.OperDown, netlink.OperDormant, netlink.OperNotPresent,
		netlink.OperLowerLayerDown, netlink.OperTesting, netlink.OperUnknown} {
		if got := parseOperState(operState(s)); got != s {
			t.Errorf("operstate %v round trip = %v", s, got)
		}
	}
}

func TestProcess(t *testing.T) {
	t.Parallel()
	p, err := SelfProcess()
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.StartTime == 0 || !p.Alive() {
		t.Errorf("SelfProcess = %+v, alive %v", p, p.Alive())
	}
	if (Process{PID: p.PID, StartTime: p.StartTime + 1}).Alive() {
		t.Error("a process with another start time is alive")
	}
	if (Process{}).Alive() {
		t.Error("pid 0 is alive")
	}
}

func TestIPAddrs(t *testing.T) {
	t.Parallel()
	v4 := make([]byte, 20)
	v4[0] = 0x45
	copy(v4[12:], []byte{10, 0, 0, 1})
	copy(v4[16:], []byte{10, 0, 0, 2})
	src, dst, ok := ipAddrs(v4)
	if !ok || src != netip.MustParseAddr("10.0.0.1") || dst != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("v4: %v %v %v", src, dst, ok)
	}
	v6 := make([]byte, 40)
	v6[0] = 0x60
	v6[23], v6[39] = 1, 2
	src, dst, ok = ipAddrs(v6)
	if !ok || src != netip.MustParseAddr("::1") || dst != netip.MustParseAddr("::2") {
		t.Errorf("v6: %v %v %v", src, dst, ok)
	}
	for _, bad := range [][]byte{nil, {0x45}, v6[:39], {0x00, 1, 2}} {
		if _, _, ok := ipAddrs(bad); ok {
			t.Errorf("ipAddrs(% x) accepted", bad)
		}
	}
}

// FuzzIPAddrs: the forwarder parses whatever a pod sends.
func FuzzIPAddrs(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add(make([]byte, 40))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		src, dst, ok := ipAddrs(pkt)
		if ok && (!src.IsValid() || !dst.IsValid()) {
			t.Errorf("ok with invalid addresses %v %v", src, dst)
		}
	})
}

// FuzzForwarderRequest: any process of the node may write to the forwarder's socket.
func FuzzForwarderRequest(f *testing.F) {
	f.Add([]byte(`{"op":"ping"}`))
	f.Add([]byte(`{"op":"has","alias":"vflab:c:n:0000:3b:00.2:ib0"}`))
	f.Add([]byte(`{"op":"delete","alias":"x"}`))
	f.Add([]byte(`{"op":"attach","ns":"/proc/self/ns/net","ifname":"x","alias":"vflab:x"}`))
	f.Add([]byte(`{"op":`))
	fwd := NewForwarder(nil)
	f.Fuzz(func(t *testing.T, line []byte) {
		rep := fwd.handle(line)
		if rep.Found {
			t.Errorf("found a port in an empty forwarder: %q", line)
		}
		if len(fwd.Attached()) != 0 {
			t.Fatalf("%q attached a TUN", line)
		}
	})
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// 52 fields, as Linux 6.x writes them; starttime (field 22) is 4242.
	const tail = " 1 1 0 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	for _, tc := range []struct {
		name, stat string
		want       uint64
		err        bool
		gone       bool
	}{
		{"plain", "77 (vflab) S" + tail, 4242, false, false},
		{"name with spaces and parens", "77 (a) b (c)) R" + tail, 4242, false, false},
		{"zombie", "77 (vflab) Z" + tail, 0, true, true},
		{"no parenthesis", "77 vflab S" + tail, 0, true, false},
		{"too few fields", "77 (vflab) S 1 1 0", 0, true, false},
		{"bad start time", "77 (vflab) S 1 1 0 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 x 1000", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseStat(77, []byte(tc.stat))
			if tc.err {
				if err == nil {
					t.Fatalf("parseStat accepted %q: %+v", tc.stat, p)
				}
				if errors.Is(err, os.ErrNotExist) != tc.gone {
					t.Errorf("error %v: wraps ErrNotExist = %v, want %v", err, !tc.gone, tc.gone)
				}
				return
			}
			if err != nil || p != (Process{PID: 77, StartTime: tc.want}) {
				t.Errorf("parseStat = %+v, %v; want start time %d", p, err, tc.want)
			}
		})
	}
}

// FuzzParseStat: /proc/<pid>/stat carries the command name, which any process chooses.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5 1000 100"))
	f.Add([]byte("2 ()) ) Z 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseStat(9, b)
		if err == nil && p.PID != 9 {
			t.Errorf("parseStat(%q) = %+v", b, p)
		}
	})
}
