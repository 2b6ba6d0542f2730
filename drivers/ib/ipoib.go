package ib

import (
	"encoding/binary"
	"fmt"
	"net"
)

// IPoIBAddrLen is the length of an IPoIB hardware address (addr_len 20): 4 bytes of flags and queue pair
// number followed by the port's 16-byte GID.
const IPoIBAddrLen = 20

// LinkLocalPrefix is the default GID subnet prefix, fe80:0000:0000:0000.
const LinkLocalPrefix uint64 = 0xfe80_0000_0000_0000

// IPoIBConnected is the flag bit (top bit of the first byte) an IPoIB netdev in connected mode sets.
const IPoIBConnected byte = 0x80

// IPoIBAddress is the content of the 20-byte hardware address an IPoIB netdev shows: flags and the 24-bit
// queue pair number, then the GID made of the subnet prefix and the port GUID.
type IPoIBAddress struct {
	Flags        byte // IPoIBConnected in connected mode
	QPN          uint32
	SubnetPrefix uint64 // LinkLocalPrefix unless the subnet manager assigned another
	Port         GUID
}

// HardwareAddr encodes a. Example (ConnectX-3, connected mode): {0x80, 0x48, LinkLocalPrefix,
// 0x0002c90300f9bfa1} = 80:00:00:48:fe:80:00:00:00:00:00:00:00:02:c9:03:00:f9:bf:a1.
func (a IPoIBAddress) HardwareAddr() (net.HardwareAddr, error) {
	if a.QPN > 0xffffff {
		return nil, fmt.Errorf("ipoib address: qpn %#x does not fit in 24 bits", a.QPN)
	}
	b := make(net.HardwareAddr, IPoIBAddrLen)
	binary.BigEndian.PutUint32(b[0:4], uint32(a.Flags)<<24|a.QPN)
	binary.BigEndian.PutUint64(b[4:12], a.SubnetPrefix)
	binary.BigEndian.PutUint64(b[12:20], uint64(a.Port))
	return b, nil
}

// ParseIPoIBAddress decodes a 20-byte IPoIB hardware address, e.g. a netdev's address file or
// netlink.LinkAttrs.HardwareAddr of a link of type infiniband.
func ParseIPoIBAddress(hw net.HardwareAddr) (IPoIBAddress, error) {
	if len(hw) != IPoIBAddrLen {
		return IPoIBAddress{}, fmt.Errorf("ipoib address %q: %d bytes, want %d", hw, len(hw), IPoIBAddrLen)
	}
	fq := binary.BigEndian.Uint32(hw[0:4])
	return IPoIBAddress{
		Flags:        byte(fq >> 24),
		QPN:          fq & 0xffffff,
		SubnetPrefix: binary.BigEndian.Uint64(hw[4:12]),
		Port:         GUID(binary.BigEndian.Uint64(hw[12:20])),
	}, nil
}
