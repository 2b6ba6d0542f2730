package topology

import (
	"crypto/sha256"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Defaults the fake kernel fills in for fields a description leaves empty. Everything is derived from
// the node name and PCI addresses, so the same description always renders the same tree.
const (
	DefaultNUMANodes       = 1
	DefaultCPUsPerNUMANode = 8
	DefaultEthernetMTU     = 1500
	DefaultIPoIBMTU        = 4092
	DefaultPortState       = "ACTIVE"
)

// mellanoxOUI is the OUI of derived MACs and GUIDs.
var mellanoxOUI = [3]byte{0x0c, 0x42, 0xa1}

// WithDefaults returns a deep copy of the node with every optional field filled in. It expects a node
// that passed Validate.
func (n Node) WithDefaults() Node {
	out := n
	if out.NUMANodes == 0 {
		out.NUMANodes = DefaultNUMANodes
	}
	if out.CPUsPerNUMANode == 0 {
		out.CPUsPerNUMANode = DefaultCPUsPerNUMANode
	}
	out.NICs = make([]NIC, len(n.NICs))
	for i, nic := range n.NICs {
		model := Models[nic.Model]
		if nic.FirmwareVersion == "" {
			nic.FirmwareVersion = model.FirmwareVersion
		}
		if nic.BoardID == "" {
			nic.BoardID = model.BoardID
		}
		ports := make([]Port, len(nic.Ports))
		for p, port := range nic.Ports {
			bdf := PFAddress(nic, p)
			if port.Netdev == "" {
				port.Netdev = DefaultNetdev(bdf, len(nic.Ports), p, port.LinkLayer)
			}
			if port.MTU == 0 {
				port.MTU = DefaultEthernetMTU
				if port.LinkLayer == InfiniBand {
					port.MTU = DefaultIPoIBMTU
				}
			}
			if port.State == "" {
				port.State = DefaultPortState
			}
			if port.Rate == "" {
				port.Rate = model.Rate[port.LinkLayer]
			}
			if port.Fabric == "" {
				port.Fabric = "eth0"
				if port.LinkLayer == InfiniBand {
					port.Fabric = "ib0"
				}
			}
			if port.MAC == "" && port.LinkLayer == Ethernet {
				port.MAC = DerivedMAC(n.Name, bdf).String()
			}
			if port.NodeGUID == "" {
				if port.LinkLayer == Ethernet {
					mac, _ := net.ParseMAC(port.MAC)
					port.NodeGUID = FormatGUID(GUIDFromMAC(mac))
				} else {
					port.NodeGUID = FormatGUID(DerivedGUID(n.Name, bdf))
				}
			} else if g, err := ParseGUID(port.NodeGUID); err == nil {
				port.NodeGUID = FormatGUID(g)
			}
			ports[p] = port
		}
		nic.Ports = ports
		out.NICs[i] = nic
	}
	return out
}

// PFAddress is the BDF of port p's PF: the NIC's address with function p.
func PFAddress(nic NIC, p int) string {
	i := strings.LastIndexByte(nic.PCIAddress, '.')
	if i < 0 {
		return nic.PCIAddress
	}
	return nic.PCIAddress[:i+1] + strconv.Itoa(p)
}

// VFOffsetStride is the SR-IOV First VF Offset and VF Stride of port p's PF (mlx5 with ARI): stride 1,
// the VFs of all ports packed after the last PF function, in port order.
func VFOffsetStride(nic NIC, p int) (offset, stride int) {
	offset = len(nic.Ports) - p
	for q := range p {
		offset += nic.Ports[q].TotalVFs
	}
	return offset, 1
}

// bdfParts splits "dddd:bb:dd.f" into numbers; ok is false when it does not parse.
func bdfParts(bdf string) (domain, bus, dev, fn int, ok bool) {
	if _, err := fmt.Sscanf(bdf, "%04x:%02x:%02x.%1x", &domain, &bus, &dev, &fn); err != nil {
		return 0, 0, 0, 0, false
	}
	return domain, bus, dev, fn, true
}

// DefaultNetdev is the name systemd's predictable naming gives a PF: `ibp59s0f0` (IPoIB) or
// `enp59s0f0np0` (mlx5e, with the phys_port_name suffix); single-port adapters have no `f<n>`, and a
// non-zero PCI domain adds `P<domain>`.
func DefaultNetdev(bdf string, ports, port int, ll LinkLayer) string {
	domain, bus, dev, fn, ok := bdfParts(bdf)
	if !ok {
		return ""
	}
	name := "en"
	if ll == InfiniBand {
		name = "ib"
	}
	if domain != 0 {
		name += fmt.Sprintf("P%d", domain)
	}
	name += fmt.Sprintf("p%ds%d", bus, dev)
	if ports > 1 || fn > 0 {
		name += fmt.Sprintf("f%d", fn)
	}
	if ll == Ethernet {
		name += fmt.Sprintf("np%d", port)
	}
	return name
}

var npSuffix = regexp.MustCompile(`np[0-9]+$`)

// VFNetdev is the name systemd gives VF vf of the PF named pf: the PF name without its `np<N>` suffix,
// plus `v<vf>` (`enp59s0f0v3`, `ibp75s0v7`).
func VFNetdev(pf string, vf int) string {
	return npSuffix.ReplaceAllString(pf, "") + "v" + strconv.Itoa(vf)
}

func derive(kind, node, bdf string) [32]byte {
	return sha256.Sum256([]byte(kind + "\x00" + node + "\x00" + bdf))
}

// DerivedMAC is the default MAC of the function at bdf on the named node: Mellanox OUI, hashed tail.
func DerivedMAC(node, bdf string) net.HardwareAddr {
	h := derive("mac", node, bdf)
	return net.HardwareAddr{mellanoxOUI[0], mellanoxOUI[1], mellanoxOUI[2], h[0], h[1], h[2]}
}

// DerivedGUID is the default node GUID of an InfiniBand function: Mellanox OUI, 03:00, hashed tail.
func DerivedGUID(node, bdf string) net.HardwareAddr {
	h := derive("guid", node, bdf)
	return net.HardwareAddr{mellanoxOUI[0], mellanoxOUI[1], mellanoxOUI[2], 0x03, 0x00, h[0], h[1], h[2]}
}

// GUIDFromMAC is the GUID mlx5 derives from a port MAC (0c:42:a1:16:05:4c -> 0c42:a103:0016:054c).
func GUIDFromMAC(mac net.HardwareAddr) net.HardwareAddr {
	if len(mac) != 6 {
		return make(net.HardwareAddr, 8)
	}
	return net.HardwareAddr{mac[0], mac[1], mac[2], 0x03, 0x00, mac[3], mac[4], mac[5]}
}

// FormatGUID prints 8 bytes the way sysfs node_guid does: "0c42:a103:0016:054c".
func FormatGUID(g net.HardwareAddr) string {
	if len(g) != 8 {
		g = make(net.HardwareAddr, 8)
	}
	return fmt.Sprintf("%02x%02x:%02x%02x:%02x%02x:%02x%02x", g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
}
