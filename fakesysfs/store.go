package fakesysfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vflab/vflab/fakesysfs/topology"
)

// store applies one write(2) to a sysfs attribute, with the kernel's semantics, under the lock.
// name is the path as the writer spelled it, real the link-free path.
func (k *Kernel) store(name, real string, data []byte) error {
	err := k.mutate(func(t *tx) error {
		if !t.exists(real) {
			return syscall.ENODEV // the kobject went away under an open file
		}
		return t.store(real, data)
	})
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errors.Unwrap(err) == nil {
		return &os.PathError{Op: "write", Path: name, Err: errno}
	}
	k.opts.logger.Error("fake kernel write failed", "path", name, "err", err)
	return &os.PathError{Op: "write", Path: name, Err: fmt.Errorf("%w: %v", syscall.EIO, err)}
}

func (t *tx) store(real string, data []byte) error {
	s := string(data)
	switch {
	case real == "/sys/bus/pci/drivers_probe":
		return t.storeDriversProbe(s)
	case real == "/sys/bus/pci/drivers_autoprobe":
		v := "1"
		if strings.HasPrefix(s, "0") {
			v = "0"
		}
		t.f(real, v+"\n", 0o644)
		return t.err
	case strings.HasPrefix(real, "/sys/bus/pci/drivers/"):
		rest := strings.TrimPrefix(real, "/sys/bus/pci/drivers/")
		drv, file, _ := strings.Cut(rest, "/")
		switch file {
		case "bind":
			return t.storeBind(drv, s)
		case "unbind":
			return t.storeUnbind(drv, s)
		case "new_id":
			return t.storeNewID(drv, s)
		case "remove_id":
			return t.storeRemoveID(drv, s)
		}
	case strings.HasPrefix(real, "/sys/devices/"):
		dir, base := path.Dir(real), path.Base(real)
		if d, ok := t.k.deviceByDir(dir); ok {
			switch base {
			case "sriov_numvfs", "mlx5_num_vfs":
				if d.isVF() {
					break
				}
				return t.storeNumVFs(d, s)
			case "sriov_drivers_autoprobe":
				on, errno := parseBool(s)
				if errno != 0 {
					return errno
				}
				t.f(real, map[bool]string{true: "1\n", false: "0\n"}[on], 0o644)
				return t.err
			case "driver_override":
				v, errno := parseDriverOverride(data)
				if errno != 0 {
					return errno
				}
				if v == "" {
					v = "(null)"
				}
				t.f(real, v+"\n", 0o644)
				return t.err
			}
		}
		if sriov := path.Dir(dir); path.Base(sriov) == "sriov" {
			if pf, ok := t.k.deviceByDir(path.Dir(sriov)); ok && !pf.isVF() {
				if i, err := strconv.Atoi(path.Base(dir)); err == nil {
					return t.storeOFED(pf, i, base, s)
				}
			}
		}
	}
	return t.storeGeneric(real, data)
}

// storeGeneric stores a plain attribute: a readable one keeps what was written; a write-only trigger
// without semantics here (remove, rescan, reset, uevent...) accepts and ignores it.
func (t *tx) storeGeneric(real string, data []byte) error {
	fi, err := t.fs.Stat(real)
	if err != nil {
		return syscall.ENODEV
	}
	if fi.Mode().Perm()&0o444 == 0 {
		return nil
	}
	t.f(real, string(data), fi.Mode().Perm())
	return t.err
}

// storeNumVFs is sriov_numvfs_store (sysfs.md §10.1), in the kernel's check order.
func (t *tx) storeNumVFs(pf device, s string) error {
	n, errno := parseU16(s)
	if errno != 0 {
		return errno // EINVAL, or ERANGE beyond u16 as kstrtou16 reports it
	}
	total, err := t.readInt(pf.dir + "/sriov_totalvfs")
	if err != nil {
		return syscall.EIO
	}
	if int(n) > total {
		return syscall.ERANGE
	}
	cur, err := t.readInt(pf.dir + "/sriov_numvfs")
	if err != nil {
		return syscall.EIO
	}
	if int(n) == cur {
		return nil
	}
	if t.driverOf(pf) == "" { // both mlx5_core and vfio-pci implement sriov_configure
		return syscall.ENOENT
	}
	if n == 0 {
		t.disableVFs(pf)
		return t.err
	}
	if cur != 0 {
		return syscall.EBUSY
	}
	t.enableVFs(pf, int(n))
	return t.err
}

// override is a function's driver_override, or "".
func (t *tx) override(d device) string {
	s, _ := t.read(d.dir + "/driver_override")
	s = strings.TrimSuffix(s, "\n")
	if s == "(null)" {
		return ""
	}
	return s
}

func idKey(vendor, device uint32) string { return fmt.Sprintf("%04x:%04x", vendor, device) }

// staticIDs is a driver's built-in id table.
func staticIDs(drv string) []string {
	if drv != driverMLX5 {
		return nil
	}
	var ids []string
	for _, name := range topology.ModelNames() {
		m := topology.Models[name]
		ids = append(ids, idKey(uint32(topology.Vendor), uint32(m.PFDevice)), idKey(uint32(topology.Vendor), uint32(m.VFDevice)))
	}
	return ids
}

// matches is pci_bus_match: driver_override decides when set; else the static and dynamic id tables.
func (t *tx) matches(d device, drv string) bool {
	if o := t.override(d); o != "" {
		return o == drv
	}
	key := idKey(uint32(topology.Vendor), uint32(d.deviceID()))
	return slices.Contains(staticIDs(drv), key) || slices.Contains(t.st.DriverIDs[drv], key)
}

// canProbe is pci_device_can_probe: PFs always; VFs when their PF autoprobes or an override is set.
func (t *tx) canProbe(d device) bool {
	if !d.isVF() || t.override(d) != "" {
		return true
	}
	pf, _ := t.k.pfPort(d.pfBDF)
	s, _ := t.read(pf.dir + "/sriov_drivers_autoprobe")
	return strings.TrimSpace(s) == "1"
}

func knownDriver(drv string) bool { return drv == driverMLX5 || drv == driverVFIO }

// attach binds after the match: the probe's own failures (no IOMMU group for vfio-pci).
func (t *tx) attach(d device, drv string) error {
	if !t.canProbe(d) {
		return syscall.ENODEV
	}
	if drv == driverVFIO && t.iommuGroup(d) < 0 {
		return syscall.EINVAL
	}
	t.bind(d, drv)
	return t.err
}

func (t *tx) presentDevice(bdf string) (device, bool) {
	d, ok := t.k.device(bdf)
	if !ok || !t.present(d) {
		return device{}, false
	}
	return d, true
}

func (t *tx) storeBind(drv, s string) error {
	if !knownDriver(drv) {
		return syscall.ENODEV
	}
	d, ok := t.presentDevice(parseDeviceName(s))
	if !ok || !t.matches(d, drv) {
		return syscall.ENODEV
	}
	if t.driverOf(d) != "" {
		return syscall.EBUSY
	}
	return t.attach(d, drv)
}

func (t *tx) storeUnbind(drv, s string) error {
	d, ok := t.presentDevice(parseDeviceName(s))
	if !ok || t.driverOf(d) != drv {
		return syscall.ENODEV
	}
	t.unbind(d)
	return t.err
}

// probe is device_attach: the first matching driver that probes successfully; none is not an error.
func (t *tx) probe(d device) error {
	if t.driverOf(d) != "" {
		return nil
	}
	for _, drv := range []string{driverMLX5, driverVFIO} {
		if !t.matches(d, drv) || !t.canProbe(d) {
			continue
		}
		if drv == driverVFIO && t.iommuGroup(d) < 0 {
			continue
		}
		t.bind(d, drv)
		return t.err
	}
	return nil
}

func (t *tx) storeDriversProbe(s string) error {
	d, ok := t.presentDevice(parseDeviceName(s))
	if !ok {
		return syscall.ENODEV
	}
	return t.probe(d)
}

func (t *tx) storeNewID(drv, s string) error {
	if !knownDriver(drv) {
		return syscall.ENODEV
	}
	vendor, dev, errno := parseNewID(s)
	if errno != 0 {
		return errno
	}
	key := idKey(vendor, dev)
	if slices.Contains(staticIDs(drv), key) || slices.Contains(t.st.DriverIDs[drv], key) {
		return syscall.EEXIST
	}
	if t.st.DriverIDs == nil {
		t.st.DriverIDs = map[string][]string{}
	}
	t.st.DriverIDs[drv] = append(t.st.DriverIDs[drv], key)
	t.dirty = true
	if !t.busAutoprobe() {
		return nil
	}
	for _, d := range t.k.devs {
		if t.present(d) && t.driverOf(d) == "" && t.matches(d, drv) && t.canProbe(d) {
			if drv == driverVFIO && t.iommuGroup(d) < 0 {
				continue
			}
			t.bind(d, drv)
		}
	}
	return t.err
}

func (t *tx) storeRemoveID(drv, s string) error {
	vendor, dev, errno := parseNewID(s)
	if errno != 0 {
		return errno
	}
	key := idKey(vendor, dev)
	ids := t.st.DriverIDs[drv]
	i := slices.Index(ids, key)
	if i < 0 {
		return syscall.ENODEV
	}
	t.st.DriverIDs[drv] = slices.Delete(ids, i, i+1)
	t.dirty = true
	return nil
}

// storeOFED handles MLNX_OFED's sriov/<i>/ files (sriov_sysfs.c).
func (t *tx) storeOFED(pf device, i int, file, s string) error {
	ib := pf.spec().LinkLayer == topology.InfiniBand
	set := func(fn func(v *VF)) error {
		return t.updateVF(pf.bdf, i, func(v *VF) error { fn(v); return nil })
	}
	switch {
	case file == "node" || (ib && file == "port"):
		g, errno := parseOFEDGUID(s)
		if errno != 0 {
			return errno
		}
		return set(func(v *VF) {
			if file == "node" {
				v.NodeGUID = g
			} else {
				v.PortGUID = g
			}
		})
	case ib && file == "policy":
		p, errno := parseOFEDPolicy(s)
		if errno != 0 {
			return errno
		}
		t.f(fmt.Sprintf("%s/sriov/%d/policy", pf.dir, i), p+"\n", 0o644)
		return t.err
	case !ib && file == "mac":
		mac, errno := parseOFEDMAC(s)
		if errno != 0 {
			return errno
		}
		return set(func(v *VF) { v.MAC = mac })
	case !ib && file == "vlan":
		vlan, qos, proto, errno := parseOFEDVlan(s)
		if errno != 0 {
			return errno
		}
		return set(func(v *VF) { v.Vlan, v.Qos, v.VlanProto = vlan, qos, proto })
	case !ib && (file == "spoofcheck" || file == "trust"):
		var on bool
		switch strings.TrimSuffix(s, "\n") {
		case "ON":
			on = true
		case "OFF":
		default:
			return syscall.EINVAL
		}
		return set(func(v *VF) {
			if file == "trust" {
				v.Trust = on
			} else {
				v.Spoofchk = on
			}
		})
	case !ib && file == "link_state":
		p, errno := parseOFEDPolicy(s)
		if errno != 0 {
			return errno
		}
		state := map[string]uint32{"Follow": linkStateAuto, "Up": linkStateEnable, "Down": linkStateDisable}[p]
		return set(func(v *VF) { v.LinkState = state })
	case !ib && (file == "max_tx_rate" || file == "min_tx_rate"):
		rate, errno := parseOFEDRate(s)
		if errno != 0 {
			return errno
		}
		return set(func(v *VF) {
			if file == "max_tx_rate" {
				v.MaxTxRate = rate
			} else {
				v.MinTxRate = rate
			}
		})
	}
	return t.storeGeneric(fmt.Sprintf("%s/sriov/%d/%s", pf.dir, i, file), []byte(s))
}
