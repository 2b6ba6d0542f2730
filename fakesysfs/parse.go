package fakesysfs

import (
	"crypto/rand"
	"net"
	"strings"
	"syscall"
)

// parseU16 parses a sysfs write the way kstrtou16(buf, 0, &v) does: an optional '+', base from the
// prefix (0x hex, 0 octal, else decimal), one optional trailing newline, nothing else.
func parseU16(s string) (uint16, syscall.Errno) {
	v, errno := parseULL(s)
	if errno != 0 {
		return 0, errno
	}
	if v > 0xffff {
		return 0, syscall.ERANGE
	}
	return uint16(v), 0
}

// parseULL is the kernel's _kstrtoull with base 0.
func parseULL(s string) (uint64, syscall.Errno) {
	s = strings.TrimPrefix(s, "+")
	base := uint64(10)
	if len(s) > 0 && s[0] == '0' {
		if len(s) > 2 && (s[1] == 'x' || s[1] == 'X') && isHex(s[2]) {
			base, s = 16, s[2:]
		} else {
			base = 8
		}
	}
	var v uint64
	n := 0
	overflow := false
	for n < len(s) {
		d, ok := digit(s[n])
		if !ok || d >= base {
			break
		}
		if v > (^uint64(0)-d)/base {
			overflow = true
		}
		v = v*base + d
		n++
	}
	if n == 0 {
		return 0, syscall.EINVAL
	}
	if overflow {
		return 0, syscall.ERANGE
	}
	rest := s[n:]
	rest = strings.TrimPrefix(rest, "\n")
	if rest != "" {
		return 0, syscall.EINVAL
	}
	return v, 0
}

func isHex(c byte) bool {
	_, ok := digit(c)
	return ok
}

func digit(c byte) (uint64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// parseBool is the kernel's kstrtobool: y/Y/1 true, n/N/0 false, on/off; only the first one or two
// characters count.
func parseBool(s string) (bool, syscall.Errno) {
	if s == "" {
		return false, syscall.EINVAL
	}
	switch s[0] {
	case 'y', 'Y', '1':
		return true, 0
	case 'n', 'N', '0':
		return false, 0
	case 'o', 'O':
		if len(s) > 1 {
			switch s[1] {
			case 'n', 'N':
				return true, 0
			case 'f', 'F':
				return false, 0
			}
		}
	}
	return false, syscall.EINVAL
}

// pageSize bounds driver_override (PAGE_SIZE - 1 bytes).
const pageSize = 4096

// parseDriverOverride is driver_set_override: at most PAGE_SIZE-1 bytes, the value ends at the first
// newline (or NUL, the buffer being a C string); empty clears (returns "").
func parseDriverOverride(b []byte) (string, syscall.Errno) {
	if len(b) >= pageSize {
		return "", syscall.EINVAL
	}
	s := string(b)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s, 0
}

// parseOFEDGUID parses a write to MLNX_OFED's sriov/<vf>/{node,port}: sscanf "%02x:...:%02x" must
// convert 8 fields, else EINVAL. A field is 1 or 2 hex digits (after optional blanks); anything after
// the eighth field is ignored, as sscanf does.
func parseOFEDGUID(s string) (net.HardwareAddr, syscall.Errno) {
	out := make(net.HardwareAddr, 8)
	for i := range 8 {
		if i > 0 {
			if !strings.HasPrefix(s, ":") {
				return nil, syscall.EINVAL
			}
			s = s[1:]
		}
		v, n := hexField(s, 2)
		if n == 0 {
			return nil, syscall.EINVAL
		}
		out[i] = byte(v)
		s = s[n:]
	}
	return out, 0
}

// hexField scans blanks and then at most width hex digits; n is the number of bytes consumed, 0 when
// no digit was found.
func hexField(s string, width int) (v uint64, n int) {
	blanks := len(s) - len(strings.TrimLeft(s, " \t\n"))
	digits := 0
	for digits < width && blanks+digits < len(s) && isHex(s[blanks+digits]) {
		d, _ := digit(s[blanks+digits])
		v = v<<4 | d
		digits++
	}
	if digits == 0 {
		return 0, 0
	}
	return v, blanks + digits
}

// parseOFEDMAC parses sriov/<vf>/mac: "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", or "Random".
func parseOFEDMAC(s string) (net.HardwareAddr, syscall.Errno) {
	if strings.TrimSuffix(s, "\n") == "Random" {
		mac := make(net.HardwareAddr, 6)
		_, _ = rand.Read(mac)
		mac[0] = mac[0]&^1 | 2 // unicast, locally administered (eth_random_addr)
		return mac, 0
	}
	mac := make(net.HardwareAddr, 6)
	rest := s
	for i := range 6 {
		if i > 0 {
			if !strings.HasPrefix(rest, ":") {
				return nil, syscall.EINVAL
			}
			rest = rest[1:]
		}
		v, n := hexField(rest, 16)
		if n == 0 {
			return nil, syscall.EINVAL
		}
		mac[i] = byte(v)
		rest = rest[n:]
	}
	return mac, 0
}

// decField scans blanks and a decimal number.
func decField(s string) (v uint64, n int) {
	blanks := len(s) - len(strings.TrimLeft(s, " \t\n"))
	digits := 0
	for blanks+digits < len(s) && s[blanks+digits] >= '0' && s[blanks+digits] <= '9' {
		v = v*10 + uint64(s[blanks+digits]-'0')
		digits++
	}
	if digits == 0 {
		return 0, 0
	}
	return v, blanks + digits
}

// parseOFEDVlan parses sriov/<vf>/vlan: "<vlan>:<qos>[:802.1Q|:802.1ad]"; the eswitch refuses a VLAN
// above 4095 or a QoS above 7 (EINVAL).
func parseOFEDVlan(s string) (vlan, qos, proto int, errno syscall.Errno) {
	v, n := decField(s)
	if n == 0 || !strings.HasPrefix(s[n:], ":") {
		return 0, 0, 0, syscall.EINVAL
	}
	s = s[n+1:]
	q, n := decField(s)
	if n == 0 {
		return 0, 0, 0, syscall.EINVAL
	}
	s = s[n:]
	proto = 0x8100
	if ext, ok := strings.CutPrefix(s, ":802."); ok {
		ext = strings.TrimRight(ext, "\n")
		switch ext {
		case "1AD", "1ad":
			proto = 0x88a8
		case "1Q", "1q":
		default:
			return 0, 0, 0, syscall.EINVAL
		}
	}
	if v > 4095 || q > 7 {
		return 0, 0, 0, syscall.EINVAL
	}
	return int(v), int(q), proto, 0
}

// parseOFEDRate parses sriov/<vf>/{max,min}_tx_rate: "%u" (Mbit/s).
func parseOFEDRate(s string) (int, syscall.Errno) {
	v, n := decField(s)
	if n == 0 || v > 1<<31 {
		return 0, syscall.EINVAL
	}
	return int(v), 0
}

// parseOFEDPolicy accepts exactly Down, Up or Follow (one trailing newline allowed).
func parseOFEDPolicy(s string) (string, syscall.Errno) {
	s = strings.TrimSuffix(s, "\n")
	switch s {
	case "Down", "Up", "Follow":
		return s, 0
	}
	return "", syscall.EINVAL
}

// parseDeviceName is a bus-device name as bind/unbind/drivers_probe take it: sysfs_streq semantics,
// one trailing newline ignored.
func parseDeviceName(s string) string {
	return strings.TrimSuffix(s, "\n")
}

// parseNewID parses a driver's new_id: "vvvv dddd [svvv sddd cccccc mmmmmm dd]" in hex; at least
// vendor and device.
func parseNewID(s string) (vendor, device uint32, errno syscall.Errno) {
	fields := strings.Fields(s)
	if len(fields) < 2 || len(fields) > 7 {
		return 0, 0, syscall.EINVAL
	}
	var vals [2]uint64
	for i := range 2 {
		f := fields[i]
		if len(f) > 2 && f[0] == '0' && (f[1] == 'x' || f[1] == 'X') {
			f = f[2:]
		}
		if f == "" || len(f) > 8 {
			return 0, 0, syscall.EINVAL
		}
		for j := 0; j < len(f); j++ {
			d, ok := digit(f[j])
			if !ok {
				return 0, 0, syscall.EINVAL
			}
			vals[i] = vals[i]<<4 | d
		}
	}
	return uint32(vals[0]), uint32(vals[1]), 0
}
