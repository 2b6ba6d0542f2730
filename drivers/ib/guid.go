package ib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
)

// GUID is a 64-bit InfiniBand globally unique identifier (node, port or system-image GUID).
//
// The kernel and the tools print the same value in several forms; ParseGUID accepts all of them and the
// methods print each one:
//
//	0c42:a103:0016:054c          sysfs node_guid, sys_image_guid (String)
//	0x0c42a1030016054c           ibstat, ibv_devinfo (Hex)
//	0c:42:a1:03:00:16:05:4c      ip link, OFED sriov/<vf>/{node,port}, CNI "guid" (Colon)
type GUID uint64

// ErrInvalidGUID is wrapped by every GUID parse error.
var ErrInvalidGUID = errors.New("invalid GUID")

// ParseGUID parses a GUID in any of the forms the kernel and tools print, upper or lower case:
// "0c42:a103:0016:054c", "0x0c42a1030016054c", "0c42a1030016054c", "0c:42:a1:03:00:16:05:4c" (also with
// '-' instead of ':'). Surrounding white space (a sysfs file's trailing newline) is ignored.
func ParseGUID(s string) (GUID, error) {
	in := strings.TrimSpace(s)
	var hex string
	switch {
	case strings.HasPrefix(in, "0x") || strings.HasPrefix(in, "0X"):
		hex = in[2:]
		if len(hex) == 0 || len(hex) > 16 {
			return 0, fmt.Errorf("%w %q: want up to 16 hex digits after 0x", ErrInvalidGUID, s)
		}
	case len(in) == 19 && in[4] == ':' && in[9] == ':' && in[14] == ':':
		hex = in[0:4] + in[5:9] + in[10:14] + in[15:19]
	case len(in) == 23:
		sep := in[2]
		if sep != ':' && sep != '-' {
			return 0, fmt.Errorf("%w %q: want 8 bytes separated by ':'", ErrInvalidGUID, s)
		}
		var b strings.Builder
		for i := 0; i < 8; i++ {
			if i > 0 && in[3*i-1] != sep {
				return 0, fmt.Errorf("%w %q: want 8 bytes separated by %q", ErrInvalidGUID, s, sep)
			}
			b.WriteString(in[3*i : 3*i+2])
		}
		hex = b.String()
	case len(in) == 16:
		hex = in
	default:
		return 0, fmt.Errorf("%w %q: want 0c42:a103:0016:054c, 0x0c42a1030016054c or 0c:42:a1:03:00:16:05:4c", ErrInvalidGUID, s)
	}
	var v uint64
	for _, c := range []byte(hex) {
		d, ok := hexDigit(c)
		if !ok {
			return 0, fmt.Errorf("%w %q: %q is not a hex digit", ErrInvalidGUID, s, c)
		}
		v = v<<4 | uint64(d)
	}
	return GUID(v), nil
}

// GUIDFromBytes returns the GUID held big-endian in b (8 bytes, as netlink and the IPoIB address carry it).
func GUIDFromBytes(b []byte) (GUID, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %d bytes, want 8", ErrInvalidGUID, len(b))
	}
	return GUID(binary.BigEndian.Uint64(b)), nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String prints the sysfs form, "0c42:a103:0016:054c".
func (g GUID) String() string {
	v := uint64(g)
	return fmt.Sprintf("%04x:%04x:%04x:%04x", v>>48, (v>>32)&0xffff, (v>>16)&0xffff, v&0xffff)
}

// Hex prints the ibstat form, "0x0c42a1030016054c".
func (g GUID) Hex() string { return fmt.Sprintf("0x%016x", uint64(g)) }

// Colon prints the ip-link / OFED form, "0c:42:a1:03:00:16:05:4c".
func (g GUID) Colon() string { return g.HardwareAddr().String() }

// HardwareAddr returns the 8 bytes big-endian, as VFConfig.LinkSetVfGUID takes them.
func (g GUID) HardwareAddr() net.HardwareAddr {
	b := make(net.HardwareAddr, 8)
	binary.BigEndian.PutUint64(b, uint64(g))
	return b
}

// Valid reports whether g can identify a port: neither all zeros (unset) nor all ones (the value
// ib-sriov-cni uses for "reset").
func (g GUID) Valid() bool { return g != 0 && g != ^GUID(0) }

// MarshalText prints the sysfs form, so GUIDs read naturally in JSON.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText accepts every form ParseGUID does.
func (g *GUID) UnmarshalText(b []byte) error {
	v, err := ParseGUID(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}
