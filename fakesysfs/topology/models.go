package topology

// Model is what the fake kernel needs to know about one adapter family (shared/reference/sysfs.md §8).
type Model struct {
	Name            string
	PFDevice        uint16 // PCI device ID of the PF, e.g. 0x1017
	VFDevice        uint16 // PCI device ID of its VFs, e.g. 0x1018
	SubsystemDevice uint16 // subsystem_device of the PF
	HCAType         string // hca_type of the PF, e.g. "MT4119"
	VFHCAType       string // hca_type of a VF
	FirmwareVersion string // default fw_ver
	BoardID         string // default board_id (PSID)
	MaxPorts        int
	// Rate is the default port rate per link layer, in the kernel's format.
	Rate map[LinkLayer]string
}

// Vendor is the PCI vendor ID of every model (Mellanox Technologies).
const Vendor uint16 = 0x15b3

// Models are the adapter families a topology may name, by Model.Name.
var Models = map[string]Model{
	"ConnectX-4": {
		Name: "ConnectX-4", PFDevice: 0x1013, VFDevice: 0x1014, SubsystemDevice: 0x0013,
		HCAType: "MT4115", VFHCAType: "MT4116", FirmwareVersion: "12.28.2006", BoardID: "MT_2180110032", MaxPorts: 2,
		Rate: map[LinkLayer]string{InfiniBand: "100 Gb/sec (4X EDR)", Ethernet: "100 Gb/sec (4X EDR)"},
	},
	"ConnectX-4 Lx": {
		Name: "ConnectX-4 Lx", PFDevice: 0x1015, VFDevice: 0x1016, SubsystemDevice: 0x0004,
		HCAType: "MT4117", VFHCAType: "MT4118", FirmwareVersion: "14.29.1016", BoardID: "MT_2420110034", MaxPorts: 2,
		Rate: map[LinkLayer]string{Ethernet: "25 Gb/sec (1X EDR)"},
	},
	"ConnectX-5": {
		Name: "ConnectX-5", PFDevice: 0x1017, VFDevice: 0x1018, SubsystemDevice: 0x0007,
		HCAType: "MT4119", VFHCAType: "MT4120", FirmwareVersion: "16.35.2000", BoardID: "MT_0000000008", MaxPorts: 2,
		Rate: map[LinkLayer]string{InfiniBand: "100 Gb/sec (4X EDR)", Ethernet: "100 Gb/sec (4X EDR)"},
	},
	"ConnectX-6": {
		Name: "ConnectX-6", PFDevice: 0x101b, VFDevice: 0x101c, SubsystemDevice: 0x0006,
		HCAType: "MT4123", VFHCAType: "MT4124", FirmwareVersion: "20.33.1048", BoardID: "MT_0000000222", MaxPorts: 2,
		Rate: map[LinkLayer]string{InfiniBand: "200 Gb/sec (4X HDR)", Ethernet: "200 Gb/sec (4X HDR)"},
	},
	"ConnectX-6 Dx": {
		Name: "ConnectX-6 Dx", PFDevice: 0x101d, VFDevice: 0x101e, SubsystemDevice: 0x0016,
		HCAType: "MT4125", VFHCAType: "MT4126", FirmwareVersion: "22.38.1900", BoardID: "MT_0000000436", MaxPorts: 2,
		Rate: map[LinkLayer]string{Ethernet: "100 Gb/sec (2X HDR)"},
	},
	"ConnectX-7": {
		Name: "ConnectX-7", PFDevice: 0x1021, VFDevice: 0x101e, SubsystemDevice: 0x0040,
		HCAType: "MT4129", VFHCAType: "MT4126", FirmwareVersion: "28.39.2048", BoardID: "MT_0000000838", MaxPorts: 2,
		Rate: map[LinkLayer]string{InfiniBand: "400 Gb/sec (4X NDR)", Ethernet: "400 Gb/sec (4X NDR)"},
	},
}
