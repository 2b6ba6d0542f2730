package ib

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers"
	"github.com/vflab/vflab/drivers/internal/sysfs"
	"github.com/vflab/vflab/drivers/sriov"
)

// Paths of the RDMA subsystem.
const (
	ClassInfiniBand = "/sys/class/infiniband"
	ClassVerbs      = "/sys/class/infiniband_verbs"
	ClassMAD        = "/sys/class/infiniband_mad"
	DevDir          = "/dev/infiniband"
	RDMACM          = "/dev/infiniband/rdma_cm"
)

// Device is one RDMA device (mlx5_0, mlx4_0, ibp59s0f0) of a PCI function.
type Device struct {
	Name            string `json:"name"`
	PCIAddress      string `json:"pciAddress"`
	NodeType        string `json:"nodeType,omitempty"` // "1: CA"
	NodeGUID        GUID   `json:"nodeGUID"`
	SysImageGUID    GUID   `json:"sysImageGUID"`
	FirmwareVersion string `json:"fwVer,omitempty"`
	HCAType         string `json:"hcaType,omitempty"`
	BoardID         string `json:"boardId,omitempty"`
	NodeDesc        string `json:"nodeDesc,omitempty"`
	Ports           []Port `json:"ports"`
	// CharDevices are the device's uverbs, umad and issm nodes (rdma_cm is shared, see Driver.RDMACM).
	CharDevices []CharDevice `json:"charDevices,omitempty"`
}

// Port is one port of an RDMA device (ports/<n>/).
type Port struct {
	Number    int    `json:"number"`
	State     string `json:"state"`     // "4: ACTIVE"
	PhysState string `json:"physState"` // "5: LinkUp"
	Rate      string `json:"rate"`      // "56 Gb/sec (4X FDR)"
	LinkLayer string `json:"linkLayer"` // InfiniBand, Ethernet
	LID       uint16 `json:"lid"`
	SMLID     uint16 `json:"smLid"`
	// PortGUID is the low 64 bits of GID 0, as ibstat shows it: on RoCE the EUI-64 of the netdev's MAC;
	// zero for an unconfigured InfiniBand VF.
	PortGUID GUID `json:"portGUID"`
	// GIDs are the non-zero entries of the GID table, by index.
	GIDs map[int]string `json:"gids,omitempty"`
	// PKeys are the non-zero entries of the P_Key table, by index.
	PKeys map[int]string `json:"pkeys,omitempty"`
}

// Active reports whether the port is up (state 4: ACTIVE).
func (p Port) Active() bool { return strings.HasPrefix(p.State, "4:") }

// CharDevice is a char device of an RDMA device.
type CharDevice struct {
	Name string `json:"name"` // uverbs0, umad0, issm0
	Kind string `json:"kind"` // uverbs, umad, issm
	Port int    `json:"port,omitempty"`
	Path string `json:"path"`          // /dev/infiniband/uverbs0
	Dev  string `json:"dev,omitempty"` // major:minor, e.g. 231:192
}

// Driver reads RDMA devices and sets VF GUIDs on one machine.
type Driver struct {
	fs  afero.Fs
	vfs drivers.VFConfig
	pci *sriov.Driver
	log *slog.Logger
}

// Option configures a Driver.
type Option interface{ apply(*Driver) }

type optionFunc func(*Driver)

func (f optionFunc) apply(d *Driver) { f(d) }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(d *Driver) { d.log = l }) }

// New returns a Driver for the machine whose filesystem (rooted at "/") is fs and whose PF-side VF
// configuration is vfs (nil for read-only use). pci binds and rebinds functions; nil builds one on fs.
func New(fs afero.Fs, vfs drivers.VFConfig, pci *sriov.Driver, opts ...Option) *Driver {
	d := &Driver{fs: fs, vfs: vfs, pci: pci, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o.apply(d)
	}
	if d.pci == nil {
		d.pci = sriov.New(fs, vfs, sriov.WithLogger(d.log))
	}
	return d
}

// Devices returns the RDMA devices of the PCI function at bdf (none when it has no infiniband/ dir).
func (d *Driver) Devices(bdf string) ([]Device, error) {
	dir := path.Join(sriov.PCIDevices, bdf)
	names, err := sysfs.List(d.fs, path.Join(dir, "infiniband"))
	if errors.Is(err, os.ErrNotExist) {
		if !sysfs.Exists(d.fs, dir) {
			return nil, fmt.Errorf("rdma devices of %s: %w", bdf, sriov.ErrDeviceGone)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rdma devices of %s: %w", bdf, err)
	}
	chars, err := d.charDevices(bdf)
	if err != nil {
		return nil, fmt.Errorf("rdma devices of %s: %w", bdf, err)
	}
	devs := make([]Device, 0, len(names))
	for _, n := range names {
		dev, err := d.readDevice(path.Join(dir, "infiniband", n), n, bdf)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed while we read (VF disabled, driver unbound)
			}
			return nil, fmt.Errorf("rdma device %s of %s: %w", n, bdf, err)
		}
		dev.CharDevices = chars[n]
		devs = append(devs, dev)
	}
	return devs, nil
}

// Device returns the RDMA device called name (/sys/class/infiniband/<name>).
func (d *Driver) Device(name string) (Device, error) {
	if name == "" || strings.ContainsRune(name, '/') {
		return Device{}, fmt.Errorf("rdma device %q: bad name", name)
	}
	bdf, ok, err := sysfs.LinkBase(d.fs, path.Join(ClassInfiniBand, name, "device"))
	if err != nil {
		return Device{}, fmt.Errorf("rdma device %s: %w", name, err)
	}
	if !ok {
		return Device{}, fmt.Errorf("rdma device %s: %w", name, sriov.ErrDeviceGone)
	}
	devs, err := d.Devices(bdf)
	if err != nil {
		return Device{}, err
	}
	for _, dev := range devs {
		if dev.Name == name {
			return dev, nil
		}
	}
	return Device{}, fmt.Errorf("rdma device %s: not under %s: %w", name, bdf, sriov.ErrDeviceGone)
}

func (d *Driver) readDevice(dir, name, bdf string) (Device, error) {
	dev := Device{Name: name, PCIAddress: bdf}
	var err error
	for _, a := range []struct {
		file string
		dst  *string
	}{
		{"node_type", &dev.NodeType}, {"fw_ver", &dev.FirmwareVersion}, {"hca_type", &dev.HCAType},
		{"board_id", &dev.BoardID}, {"node_desc", &dev.NodeDesc},
	} {
		if *a.dst, err = sysfs.ReadString(d.fs, path.Join(dir, a.file)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dev, err
		}
	}
	if dev.NodeGUID, err = d.readGUID(path.Join(dir, "node_guid")); err != nil {
		return dev, err
	}
	if dev.SysImageGUID, err = d.readGUID(path.Join(dir, "sys_image_guid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return dev, err
	}
	ports, err := sysfs.List(d.fs, path.Join(dir, "ports"))
	if err != nil {
		return dev, err
	}
	for _, p := range ports {
		n, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		port, err := d.readPort(path.Join(dir, "ports", p), n)
		if err != nil {
			return dev, fmt.Errorf("port %d: %w", n, err)
		}
		dev.Ports = append(dev.Ports, port)
	}
	sort.Slice(dev.Ports, func(i, j int) bool { return dev.Ports[i].Number < dev.Ports[j].Number })
	return dev, nil
}

func (d *Driver) readGUID(p string) (GUID, error) {
	s, err := sysfs.ReadString(d.fs, p)
	if err != nil {
		return 0, err
	}
	g, err := ParseGUID(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return g, nil
}

func (d *Driver) readPort(dir string, n int) (Port, error) {
	port := Port{Number: n}
	var err error
	for _, a := range []struct {
		file string
		dst  *string
	}{
		{"state", &port.State}, {"phys_state", &port.PhysState}, {"rate", &port.Rate}, {"link_layer", &port.LinkLayer},
	} {
		if *a.dst, err = sysfs.ReadString(d.fs, path.Join(dir, a.file)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return port, err
		}
	}
	if port.LinkLayer == "" {
		port.LinkLayer = "InfiniBand" // kernels before link_layer existed only had IB
	}
	for _, a := range []struct {
		file string
		dst  *uint16
	}{{"lid", &port.LID}, {"sm_lid", &port.SMLID}} {
		v, err := sysfs.ReadInt(d.fs, path.Join(dir, a.file))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return port, err
		}
		*a.dst = uint16(v)
	}
	if port.GIDs, err = d.readTable(path.Join(dir, "gids"), isZeroGID); err != nil {
		return port, err
	}
	if port.PKeys, err = d.readTable(path.Join(dir, "pkeys"), func(s string) bool { return s == "0x0000" || s == "0x0" }); err != nil {
		return port, err
	}
	// As libibumad (ibstat) reads it: the interface ID of GID 0 whatever the link layer, so that a RoCE
	// port reports its MAC-derived EUI-64 (fe80::0e42:a1ff:fe55:1177 → 0e42:a1ff:fe55:1177).
	if g0, ok := port.GIDs[0]; ok {
		port.PortGUID = gidInterfaceID(g0)
	}
	return port, nil
}

// readTable reads the numbered entries of a gids/ or pkeys/ dir, leaving out the empty ones.
func (d *Driver) readTable(dir string, empty func(string) bool) (map[int]string, error) {
	names, err := sysfs.List(d.fs, dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, n := range names {
		i, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		v, err := sysfs.ReadString(d.fs, path.Join(dir, n))
		if err != nil {
			continue // EINVAL on reserved entries (RoCE) reads as empty
		}
		if !empty(v) {
			out[i] = v
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func isZeroGID(s string) bool { return strings.Trim(s, "0:") == "" }

// gidInterfaceID returns the low 64 bits of a GID printed as 8 groups of 4 hex digits.
func gidInterfaceID(gid string) GUID {
	v, ok := new(big.Int).SetString(strings.ReplaceAll(gid, ":", ""), 16)
	if !ok {
		return 0
	}
	return GUID(v.Uint64()) // Uint64 keeps the low 64 bits
}

// charDevices maps RDMA device names to the char devices of the PCI function at bdf: the entries of
// <bdf>/infiniband_verbs/ and <bdf>/infiniband_mad/, each attributed by its ibdev file compared whole
// (mlx5_1 never matches mlx5_10). When the function has neither dir, the class dirs are used instead.
func (d *Driver) charDevices(bdf string) (map[string][]CharDevice, error) {
	dir := path.Join(sriov.PCIDevices, bdf)
	out := map[string][]CharDevice{}
	found := false
	for _, sub := range []string{"infiniband_verbs", "infiniband_mad"} {
		base := path.Join(dir, sub)
		names, err := sysfs.List(d.fs, base)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		if err := d.addChars(out, base, names, ""); err != nil {
			return nil, err
		}
	}
	if found {
		return out, nil
	}
	for _, base := range []string{ClassVerbs, ClassMAD} {
		names, err := sysfs.List(d.fs, base)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := d.addChars(out, base, names, bdf); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addChars reads base/<name>/{ibdev,port,dev}; with onlyBDF set, entries whose device link points to
// another function are skipped.
func (d *Driver) addChars(out map[string][]CharDevice, base string, names []string, onlyBDF string) error {
	for _, n := range names {
		kind := strings.TrimRight(n, "0123456789")
		if kind != "uverbs" && kind != "umad" && kind != "issm" {
			continue // abi_version
		}
		p := path.Join(base, n)
		if onlyBDF != "" {
			if b, _, err := sysfs.LinkBase(d.fs, path.Join(p, "device")); err != nil || b != onlyBDF {
				continue
			}
		}
		ibdev, err := sysfs.ReadString(d.fs, path.Join(p, "ibdev"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		c := CharDevice{Name: n, Kind: kind, Path: path.Join(DevDir, n)}
		if kind != "uverbs" {
			if c.Port, err = sysfs.ReadInt(d.fs, path.Join(p, "port")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if c.Dev, err = sysfs.ReadString(d.fs, path.Join(p, "dev")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		out[ibdev] = append(out[ibdev], c)
	}
	return nil
}

// RDMACM returns the path of the rdma_cm char device, or "" when the machine has none (it is optional:
// upstream device plugins fail allocation without it, vflab reports it instead).
func (d *Driver) RDMACM() string {
	if sysfs.Exists(d.fs, RDMACM) {
		return RDMACM
	}
	return ""
}
