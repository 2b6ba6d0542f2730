package fakesysfs

import (
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
	if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
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
	if strings.HasPrefix(rest, "\n") {
		rest = rest[1:]
	}
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

// parseOFEDGUID parses a write to MLNX_OFED's sriov/<vf>/{node,port}: sscanf "%hhx:...:%hhx" must
// convert 8 bytes, else EINVAL. Each field is 1 or more hex digits (an optional 0x prefix), the byte
// is its low 8 bits, and anything after the eighth field is ignored, as sscanf does.
func parseOFEDGUID(s string) (net.HardwareAddr, syscall.Errno) {
	out := make(net.HardwareAddr, 8)
	for i := range 8 {
		if i > 0 {
			if !strings.HasPrefix(s, ":") {
				return nil, syscall.EINVAL
			}
			s = s[1:]
		}
		s = strings.TrimLeft(s, " \t\n")
		if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHex(s[2]) {
			s = s[2:]
		}
		n := 0
		var v uint64
		for n < len(s) && isHex(s[n]) {
			d, _ := digit(s[n])
			v = v<<4 | d
			n++
		}
		if n == 0 {
			return nil, syscall.EINVAL
		}
		out[i] = byte(v)
		s = s[n:]
	}
	return out, 0
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
