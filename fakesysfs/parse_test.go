package fakesysfs

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vflab/vflab/fakesysfs/topology"
)

func TestParseU16(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		want  uint16
		errno syscall.Errno
	}{
		{"0", 0, 0}, {"7\n", 7, 0}, {"0x10", 16, 0}, {"0X1f\n", 31, 0}, {"010", 8, 0}, {"+5", 5, 0},
		{"65535", 65535, 0}, {"65536", 0, syscall.ERANGE}, {"99999999999999999999999", 0, syscall.ERANGE},
		{"", 0, syscall.EINVAL}, {"\n", 0, syscall.EINVAL}, {"-1", 0, syscall.EINVAL}, {" 1", 0, syscall.EINVAL},
		{"1 ", 0, syscall.EINVAL}, {"1\n\n", 0, syscall.EINVAL}, {"08", 0, syscall.EINVAL}, {"0x", 0, syscall.EINVAL},
		{"0xg", 0, syscall.EINVAL}, {"1a", 0, syscall.EINVAL}, {"++1", 0, syscall.EINVAL},
	} {
		got, errno := parseU16(c.in)
		if got != c.want || errno != c.errno {
			t.Errorf("parseU16(%q) = %d, %v; want %d, %v", c.in, got, errno, c.want, c.errno)
		}
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"1": 1, "y": 1, "Yes": 1, "on": 1, "ON\n": 1, "0": 0, "n": 0, "off": 0, "oF": 0,
		"": -1, "o": -1, "ox": -1, "2": -1, "true": -1, " 1": -1} {
		got, errno := parseBool(in)
		switch {
		case want < 0 && errno != syscall.EINVAL:
			t.Errorf("parseBool(%q) = %v, %v; want EINVAL", in, got, errno)
		case want >= 0 && (errno != 0 || got != (want == 1)):
			t.Errorf("parseBool(%q) = %v, %v; want %v", in, got, errno, want == 1)
		}
	}
}

func TestParseOFED(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"11:22:33:44:55:66:77:88":      "11:22:33:44:55:66:77:88",
		"11:22:33:44:55:66:77:88\n":    "11:22:33:44:55:66:77:88",
		"a:b:c:d:e:f:0:1":              "0a:0b:0c:0d:0e:0f:00:01",
		"AA:BB:CC:DD:EE:FF:00:11 junk": "aa:bb:cc:dd:ee:ff:00:11",
		"11:22:33":                     "",
		"zz:22:33:44:55:66:77:88":      "",
		"":                             "",
		"11-22-33-44-55-66-77-88":      "",
	} {
		got, errno := parseOFEDGUID(in)
		if want == "" {
			if errno != syscall.EINVAL {
				t.Errorf("parseOFEDGUID(%q) = %v, want EINVAL", in, got)
			}
			continue
		}
		if errno != 0 || got.String() != want {
			t.Errorf("parseOFEDGUID(%q) = %v, %v; want %s", in, got, errno, want)
		}
	}
	for in, ok := range map[string]bool{"Down": true, "Up\n": true, "Follow": true, "follow": false, "Up ": false, "": false} {
		if _, errno := parseOFEDPolicy(in); (errno == 0) != ok {
			t.Errorf("parseOFEDPolicy(%q) errno %v", in, errno)
		}
	}
}

// FuzzParseU16 checks kstrtou16 semantics against a reference built on strconv.
func FuzzParseU16(f *testing.F) {
	for _, s := range []string{"0", "8\n", "0x10", "010", "+1", "65536", "", "0x", "1 ", "-1", "0X", "09"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, errno := parseU16(s)
		// Reference: the kernel's _kstrtoull. Overflow of the digit run wins over trailing junk.
		body := strings.TrimPrefix(s, "+")
		base := uint64(10)
		if len(body) > 2 && (body[:2] == "0x" || body[:2] == "0X") && isHex(body[2]) {
			base, body = 16, body[2:]
		} else if strings.HasPrefix(body, "0") {
			base = 8
		}
		n := 0
		for n < len(body) {
			if d, ok := digit(body[n]); !ok || d >= base {
				break
			}
			n++
		}
		want, wantErr := uint64(0), syscall.Errno(0)
		v, err := strconv.ParseUint(body[:n], int(base), 64)
		rest := strings.TrimPrefix(body[n:], "\n")
		switch {
		case n == 0:
			wantErr = syscall.EINVAL
		case err != nil:
			wantErr = syscall.ERANGE
		case rest != "":
			wantErr = syscall.EINVAL
		case v > 0xffff:
			wantErr = syscall.ERANGE
		default:
			want = v
		}
		if errno != wantErr || uint64(got) != want {
			t.Fatalf("parseU16(%q) = %d, %v; want %d, %v", s, got, errno, want, wantErr)
		}
	})
}

// FuzzDriverOverride checks driver_set_override: length limit, cut at newline/NUL, never a newline kept.
func FuzzDriverOverride(f *testing.F) {
	for _, s := range []string{"vfio-pci", "vfio-pci\n", "\x00", "", "a\nb", strings.Repeat("x", 4096)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, errno := parseDriverOverride(b)
		if len(b) >= pageSize {
			if errno != syscall.EINVAL {
				t.Fatalf("%d bytes accepted", len(b))
			}
			return
		}
		if errno != 0 || strings.ContainsAny(v, "\n\x00") || !strings.HasPrefix(string(b), v) {
			t.Fatalf("parseDriverOverride(%q) = %q, %v", b, v, errno)
		}
	})
}

// FuzzOFEDGUID checks the OFED node/port parser round-trips what it accepts.
func FuzzOFEDGUID(f *testing.F) {
	for _, s := range []string{"00:11:22:33:44:55:66:77", "a:b:c:d:e:f:1:2\n", "11:22", "0x1:2:3:4:5:6:7:8", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, errno := parseOFEDGUID(s)
		if errno != 0 {
			if errno != syscall.EINVAL || g != nil {
				t.Fatalf("parseOFEDGUID(%q) = %v, %v", s, g, errno)
			}
			return
		}
		if len(g) != 8 || strings.Count(s, ":") < 7 {
			t.Fatalf("parseOFEDGUID(%q) = %v from too little input", s, g)
		}
		again, errno := parseOFEDGUID(g.String())
		if errno != 0 || again.String() != g.String() {
			t.Fatalf("round trip of %v: %v, %v", g, again, errno)
		}
	})
}

// FuzzNumVFsWrite drives sriov_numvfs through the kernel with arbitrary input: a write either fails
// with one of the kernel's errnos and changes nothing, or leaves as many VFs as sriov_numvfs says.
func FuzzNumVFsWrite(f *testing.F) {
	for _, s := range []string{"0", "3", "0x2", "9", "abc", "4\n", "010"} {
		f.Add(s)
	}
	node, err := topology.Preset("laptop")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := New(node)
		if err != nil {
			t.Fatal(err)
		}
		before := read(t, k, ethPF+"/sriov_numvfs")
		err = write(k, ethPF+"/sriov_numvfs", s)
		after := read(t, k, ethPF+"/sriov_numvfs")
		if err != nil {
			var errno syscall.Errno
			switch {
			case !errors.As(err, &errno):
				t.Fatalf("write %q: %v is not an errno", s, err)
			case errno != syscall.EINVAL && errno != syscall.ERANGE && errno != syscall.EBUSY:
				t.Fatalf("write %q: unexpected %v", s, errno)
			case after != before:
				t.Fatalf("failed write %q changed sriov_numvfs %q -> %q", s, before, after)
			}
			return
		}
		n, _ := strconv.Atoi(strings.TrimSpace(after))
		vfs, _ := k.VFs("0000:5e:00.0")
		if len(vfs) != n {
			t.Fatalf("write %q: sriov_numvfs %d but %d VFs", s, n, len(vfs))
		}
	})
}

// FuzzOFEDEthernet checks the OFED Ethernet setters' parsers: what they accept is in range and
// round-trips through the form they print.
func FuzzOFEDEthernet(f *testing.F) {
	for _, s := range []string{"10:3", "10:3:802.1ad", "4095:7:802.1Q\n", "5000:0", "02:00:00:00:00:01", "Random", "1000", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if vlan, qos, proto, errno := parseOFEDVlan(s); errno == 0 {
			if vlan < 0 || vlan > 4095 || qos < 0 || qos > 7 || (proto != 0x8100 && proto != 0x88a8) {
				t.Fatalf("parseOFEDVlan(%q) = %d %d %#x", s, vlan, qos, proto)
			}
			again := strconv.Itoa(vlan) + ":" + strconv.Itoa(qos)
			if v2, q2, _, e2 := parseOFEDVlan(again); e2 != 0 || v2 != vlan || q2 != qos {
				t.Fatalf("round trip of %q", again)
			}
		} else if errno != syscall.EINVAL {
			t.Fatalf("parseOFEDVlan(%q): %v", s, errno)
		}
		if mac, errno := parseOFEDMAC(s); errno == 0 {
			if len(mac) != 6 {
				t.Fatalf("parseOFEDMAC(%q) = %v", s, mac)
			}
			if again, e2 := parseOFEDMAC(mac.String()); e2 != 0 || again.String() != mac.String() {
				t.Fatalf("round trip of %v", mac)
			}
		} else if errno != syscall.EINVAL {
			t.Fatalf("parseOFEDMAC(%q): %v", s, errno)
		}
		if rate, errno := parseOFEDRate(s); errno == 0 && rate < 0 {
			t.Fatalf("parseOFEDRate(%q) = %d", s, rate)
		}
	})
}
