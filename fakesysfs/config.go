package fakesysfs

import "encoding/binary"

// configSpaceSize is the size of a PCI Express function's config space (the sysfs `config` file).
const configSpaceSize = 4096

// pciConfig describes what the `config` file of one function carries.
type pciConfig struct {
	vendor, device       uint16
	subVendor, subDevice uint16
	class                uint32 // 0xCCSSPP
	revision             uint8
	multiFunction        bool
	bar0                 uint64
	linkGen, linkWidth   int // PCIe generation (1..5) and lanes
	sriov                *sriovConfig
}

// sriovConfig is the SR-IOV extended capability (ID 0x0010) of a PF.
type sriovConfig struct {
	initialVFs, totalVFs, numVFs uint16
	offset, stride, vfDevice     uint16
	function                     uint8 // Function Dependency Link
}

// Capability offsets in the fake config space.
const (
	capPCIe   = 0x60
	capMSIX   = 0x9c
	extSRIOV  = 0x100
	sriovNumV = extSRIOV + 0x10
	sriovCtl  = extSRIOV + 0x08
)

// build returns the 4096 bytes of config space: standard header, a PCI Express capability, MSI-X,
// and (PFs) the SR-IOV extended capability, so `lspci -vvv` decodes them.
func (c pciConfig) build() []byte {
	b := make([]byte, configSpaceSize)
	le := binary.LittleEndian
	le.PutUint16(b[0x00:], c.vendor)
	le.PutUint16(b[0x02:], c.device)
	le.PutUint16(b[0x04:], 0x0406) // memory space, bus master, INTx disable
	le.PutUint16(b[0x06:], 0x0010) // capability list
	b[0x08] = c.revision
	b[0x09] = byte(c.class)
	b[0x0a] = byte(c.class >> 8)
	b[0x0b] = byte(c.class >> 16)
	b[0x0c] = 0x08
	if c.multiFunction {
		b[0x0e] = 0x80
	}
	le.PutUint32(b[0x10:], uint32(c.bar0)|0x0c) // 64-bit prefetchable memory
	le.PutUint32(b[0x14:], uint32(c.bar0>>32))
	le.PutUint16(b[0x2c:], c.subVendor)
	le.PutUint16(b[0x2e:], c.subDevice)
	b[0x34] = capPCIe
	b[0x3c] = 0xff
	b[0x3d] = 0x01

	// PCI Express capability v2, endpoint.
	b[capPCIe] = 0x10
	b[capPCIe+1] = capMSIX
	le.PutUint16(b[capPCIe+0x02:], 0x0002)
	le.PutUint32(b[capPCIe+0x04:], 0x10008fe2) // DevCap: MaxPayload 512, FLR
	le.PutUint16(b[capPCIe+0x08:], 0x5937)     // DevCtl
	linkCap := uint32(c.linkGen&0xf) | uint32(c.linkWidth&0x3f)<<4
	le.PutUint32(b[capPCIe+0x0c:], linkCap)
	le.PutUint16(b[capPCIe+0x12:], uint16(linkCap&0x3ff)) // LnkSta: current = max
	le.PutUint32(b[capPCIe+0x24:], 0x0001_0000)           // DevCap2
	le.PutUint32(b[capPCIe+0x2c:], uint32((1<<(c.linkGen+1))-2))

	// MSI-X, enabled, 64 vectors, table and PBA in BAR 0.
	b[capMSIX] = 0x11
	b[capMSIX+1] = 0x00
	le.PutUint16(b[capMSIX+0x02:], 0x8000|63)
	le.PutUint32(b[capMSIX+0x04:], 0x2000)
	le.PutUint32(b[capMSIX+0x08:], 0x3000)

	if s := c.sriov; s != nil {
		le.PutUint32(b[extSRIOV:], 0x0010|1<<16) // ID 0x0010, version 1, no next capability
		le.PutUint16(b[sriovCtl:], sriovControl(s.numVFs))
		le.PutUint16(b[extSRIOV+0x0c:], s.initialVFs)
		le.PutUint16(b[extSRIOV+0x0e:], s.totalVFs)
		le.PutUint16(b[sriovNumV:], s.numVFs)
		b[extSRIOV+0x12] = s.function
		le.PutUint16(b[extSRIOV+0x14:], s.offset)
		le.PutUint16(b[extSRIOV+0x16:], s.stride)
		le.PutUint16(b[extSRIOV+0x1a:], s.vfDevice)
		le.PutUint32(b[extSRIOV+0x1c:], 0x00000553) // supported page sizes
		le.PutUint32(b[extSRIOV+0x20:], 0x00000001) // system page size 4K
		le.PutUint32(b[extSRIOV+0x24:], uint32(c.bar0+0x0800_0000)|0x0c)
		le.PutUint32(b[extSRIOV+0x28:], uint32((c.bar0+0x0800_0000)>>32))
	}
	return b
}

// sriovControl is the IOVCtl register: ARI hierarchy always, VF Enable and VF MSE while VFs exist.
func sriovControl(numVFs uint16) uint16 {
	if numVFs > 0 {
		return 0x0019
	}
	return 0x0010
}

// setNumVFs updates NumVFs and IOVCtl in a PF's config space.
func setNumVFs(b []byte, n uint16) {
	if len(b) < configSpaceSize || binary.LittleEndian.Uint16(b[extSRIOV:]) != 0x0010 {
		return
	}
	binary.LittleEndian.PutUint16(b[sriovNumV:], n)
	binary.LittleEndian.PutUint16(b[sriovCtl:], sriovControl(n))
}
