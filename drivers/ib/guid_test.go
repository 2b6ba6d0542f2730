package ib

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
)

func TestParseGUID(t *testing.T) {
	t.Parallel()
	const want GUID = 0x0c42a1030016054c
	for _, in := range []string{
		"0c42:a103:0016:054c",
		"0c42:a103:0016:054c\n",
		"0C42:A103:0016:054C",
		"0x0c42a1030016054c",
		"0X0C42A1030016054C",
		"0c42a1030016054c",
		"0c:42:a1:03:00:16:05:4c",
		"0C:42:A1:03:00:16:05:4C",
		"0c-42-a1-03-00-16-05-4c",
	} {
		got, err := ParseGUID(in)
		if err != nil || got != want {
			t.Errorf("ParseGUID(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if g, err := ParseGUID("0x2c9"); err != nil || g != 0x2c9 {
		t.Errorf("ParseGUID(0x2c9) = %v, %v", g, err)
	}
	for _, in := range []string{
		"", "0x", "0x0c42a1030016054c00", "0c42:a103:0016:054", "0c42:a103:0016:054g",
		"0c:42:a1:03:00:16:05-4c", "0c:42:a1:03:00:16:05:4", "zz:42:a1:03:00:16:05:4c",
		"0c42a1030016054", "0c.42.a1.03.00.16.05.4c", "0c42-a103-0016-054c",
	} {
		if _, err := ParseGUID(in); !errors.Is(err, ErrInvalidGUID) {
			t.Errorf("ParseGUID(%q) error = %v; want ErrInvalidGUID", in, err)
		}
	}
}

func TestGUIDForms(t *testing.T) {
	t.Parallel()
	g := GUID(0x0002c90300f9bfa0)
	for _, tc := range []struct{ got, want string }{
		{g.String(), "0002:c903:00f9:bfa0"},
		{g.Hex(), "0x0002c90300f9bfa0"},
		{g.Colon(), "00:02:c9:03:00:f9:bf:a0"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if !bytes.Equal(g.HardwareAddr(), net.HardwareAddr{0, 2, 0xc9, 3, 0, 0xf9, 0xbf, 0xa0}) {
		t.Errorf("HardwareAddr = %v", g.HardwareAddr())
	}
	if b, _ := GUIDFromBytes(g.HardwareAddr()); b != g {
		t.Errorf("GUIDFromBytes round trip = %v", b)
	}
	if _, err := GUIDFromBytes([]byte{1, 2}); !errors.Is(err, ErrInvalidGUID) {
		t.Errorf("GUIDFromBytes(2 bytes) = %v", err)
	}
	if GUID(0).Valid() || (^GUID(0)).Valid() || !g.Valid() {
		t.Error("Valid: zero and all-ones must be invalid, a real GUID valid")
	}
	var u GUID
	if err := u.UnmarshalText([]byte("0x0002c90300f9bfa0")); err != nil || u != g {
		t.Errorf("UnmarshalText = %v, %v", u, err)
	}
	if err := u.UnmarshalText([]byte("nope")); err == nil {
		t.Error("UnmarshalText(nope) succeeded")
	}
}

func FuzzParseGUID(f *testing.F) {
	for _, s := range []string{"0c42:a103:0016:054c", "0x0c42a1030016054c", "0c:42:a1:03:00:16:05:4c", "0C42A1030016054C", "", "0x", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidGUID) {
				t.Fatalf("ParseGUID(%q) error %v does not wrap ErrInvalidGUID", s, err)
			}
			return
		}
		for _, form := range []string{g.String(), g.Hex(), g.Colon()} {
			back, err := ParseGUID(form)
			if err != nil || back != g {
				t.Fatalf("ParseGUID(%q) = %v, %v; want %v (from %q)", form, back, err, g, s)
			}
		}
	})
}

func TestIPoIBAddress(t *testing.T) {
	t.Parallel()
	// The ConnectX-3 capture (hwloc): ib0 in connected mode, port GUID 0002:c903:00f9:bfa1.
	const captured = "80:00:00:48:fe:80:00:00:00:00:00:00:00:02:c9:03:00:f9:bf:a1"
	a := IPoIBAddress{Flags: IPoIBConnected, QPN: 0x48, SubnetPrefix: LinkLocalPrefix, Port: 0x0002c90300f9bfa1}
	hw, err := a.HardwareAddr()
	if err != nil || hw.String() != captured {
		t.Fatalf("HardwareAddr = %v, %v; want %s", hw, err, captured)
	}
	back, err := ParseIPoIBAddress(hw)
	if err != nil || back != a {
		t.Fatalf("ParseIPoIBAddress = %+v, %v; want %+v", back, err, a)
	}
	if _, err := (IPoIBAddress{QPN: 1 << 24}).HardwareAddr(); err == nil {
		t.Error("QPN over 24 bits accepted")
	}
	if _, err := ParseIPoIBAddress(hw[:6]); err == nil {
		t.Error("6-byte address accepted as IPoIB")
	}
}

func TestGUIDAllocatorNoCollisions(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[GUID]VFOwner{}
	nodes := []uint32{0, 1, 2, NodeIDFromName("node-a"), NodeIDFromName("node-b"), ^uint32(0)}
	for i := 0; i < 200; i++ {
		nodes = append(nodes, r.Uint32())
	}
	for _, n := range nodes {
		a := GUIDAllocator{Node: n}
		for _, pf := range []int{0, 1, 7, 255} {
			for _, vf := range []int{0, 1, 2, 127, 65535, r.IntN(65536)} {
				node, port, err := a.VFGUIDs(pf, vf)
				if err != nil {
					t.Fatal(err)
				}
				n2, p2, _ := a.VFGUIDs(pf, vf)
				if n2 != node || p2 != port {
					t.Fatal("allocation not deterministic")
				}
				for _, g := range []GUID{node, port} {
					if !g.Valid() {
						t.Fatalf("invalid GUID %v for %d/%d/%d", g, n, pf, vf)
					}
					o, ok := OwnerOf(g)
					if !ok || o.Node != n || o.PF != pf || o.VF != vf || o.Port != (g == port) {
						t.Fatalf("OwnerOf(%v) = %+v, %v; want %d/%d/%d", g, o, ok, n, pf, vf)
					}
					if prev, dup := seen[g]; dup && prev != o {
						t.Fatalf("collision: %v for %+v and %+v", g, prev, o)
					}
					seen[g] = o
				}
			}
		}
	}
	if _, _, err := (GUIDAllocator{}).VFGUIDs(256, 0); err == nil {
		t.Error("pf 256 accepted")
	}
	if _, _, err := (GUIDAllocator{}).VFGUIDs(0, 65536); err == nil {
		t.Error("vf 65536 accepted")
	}
	if _, ok := OwnerOf(0x0c42a1030016054c); ok {
		t.Error("a vendor GUID decoded as allocated")
	}
}

func FuzzParseIPoIBAddress(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 0x48, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 2, 0xc9, 3, 0, 0xf9, 0xbf, 0xa1})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseIPoIBAddress(b)
		if err != nil {
			if len(b) == IPoIBAddrLen {
				t.Fatalf("20 bytes refused: %v", err)
			}
			return
		}
		back, err := a.HardwareAddr()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip %x -> %+v -> %x, %v", b, a, back, err)
		}
	})
}
