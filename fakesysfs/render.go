package fakesysfs

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs/internal/symfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// tx is one mutation of the tree under the kernel lock.
type tx struct {
	k       *Kernel
	fs      symfs.FS
	st      *state
	initial bool // rendering in New/Create: Netdevs.Added is not called
	dirty   bool
	err     error  // first error of the w* helpers
	stage   *stage // set while a new subtree is built aside (see staged)
}

// stage maps a subtree being built (final) to where it is built (tmp).
type stage struct{ final, tmp string }

// at translates a path into the stage, if it lies in the subtree being built.
func (t *tx) at(name string) (string, bool) {
	if t.stage == nil {
		return name, false
	}
	if name == t.stage.final {
		return t.stage.tmp, true
	}
	if strings.HasPrefix(name, t.stage.final+"/") {
		return t.stage.tmp + name[len(t.stage.final):], true
	}
	return name, false
}

func randomName(prefix string) string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%s/%s%d.%x", tmpDir, prefix, os.Getpid(), rnd)
}

// staged builds the new directory final with fn aside, in the private dir, and renames it into place,
// so that other processes see the whole directory appear at once (and never a half-written file).
// While rendering in New/Create nobody can look, and fn writes in place.
func (t *tx) staged(final string, fn func()) {
	if t.err != nil {
		return
	}
	if t.initial || t.stage != nil || t.exists(final) {
		fn()
		return
	}
	tmp := randomName("stage-")
	t.dirty = true
	if err := t.fs.Mkdir(tmp, 0o755); err != nil {
		t.fail(err)
		return
	}
	t.stage = &stage{final: final, tmp: tmp}
	fn()
	t.stage = nil
	if t.err == nil {
		t.fail(t.fs.MkdirAll(path.Dir(final), 0o755))
	}
	if t.err == nil {
		t.fail(t.fs.Rename(tmp, final))
	}
	if t.err != nil {
		_ = t.fs.RemoveAll(tmp)
	}
}

// Table sizes rendered per RDMA port.
const (
	gidTableLen  = 8
	pkeyTableLen = 8
)

// Char device numbers (sysfs.md §7).
const (
	majorIB         = 231
	minorUverbsBase = 192
	minorIssmBase   = 64
	majorDynamic    = 510 // uverbs beyond the 32 fixed minors, and vfio groups
)

func (t *tx) fail(err error) {
	if err != nil && t.err == nil {
		t.err = err
	}
}

// f writes a file atomically.
func (t *tx) f(name, content string, mode os.FileMode) {
	if t.err != nil {
		return
	}
	t.dirty = true
	if p, ok := t.at(name); ok {
		t.fail(writeDirect(t.fs, p, []byte(content), mode))
		return
	}
	if t.initial {
		// Nobody sees the tree before New/Create return: no need for rename.
		t.fail(writeDirect(t.fs, name, []byte(content), mode))
		return
	}
	t.fail(writeAtomic(t.fs, name, []byte(content), mode))
}

// d makes a directory and its parents.
func (t *tx) d(name string) {
	if t.err != nil {
		return
	}
	t.dirty = true
	p, _ := t.at(name)
	t.fail(t.fs.MkdirAll(p, 0o755))
}

// l makes name a relative link to the absolute target, replacing what was there.
func (t *tx) l(name, target string) {
	if t.err != nil {
		return
	}
	rel := kernfsTarget(path.Dir(name), target)
	t.dirty = true
	if p, ok := t.at(name); ok {
		t.fail(t.fs.SymlinkIfPossible(rel, p))
		return
	}
	if t.initial {
		t.fail(t.fs.SymlinkIfPossible(rel, name))
		return
	}
	// Replace atomically: make the link aside, rename it over.
	tmp := randomName("link-")
	if err := t.fs.SymlinkIfPossible(rel, tmp); err != nil {
		t.fail(err)
		return
	}
	if err := t.fs.Rename(tmp, name); err != nil {
		_ = t.fs.Remove(tmp)
		t.fail(err)
	}
}

// kernfsTarget is the relative target sysfs gives a link in dir to target (kernfs_get_target_path):
// up to the lowest common ancestor of dir and target's parent, then down, so the target's own name is
// always spelled out (`device -> ../../../0000:3b:00.1`, never `../..`).
func kernfsTarget(dir, target string) string {
	split := func(p string) []string {
		if p == "/" {
			return nil
		}
		return strings.Split(strings.TrimPrefix(p, "/"), "/")
	}
	from, to := split(dir), split(path.Dir(target))
	n := 0
	for n < len(from) && n < len(to) && from[n] == to[n] {
		n++
	}
	ups := strings.Repeat("../", len(from)-n)
	down := split(target)[n:]
	return ups + strings.Join(down, "/")
}

// rm removes name and everything below it.
func (t *tx) rm(name string) {
	if t.err != nil {
		return
	}
	t.dirty = true
	p, staged := t.at(name)
	if !staged && !t.initial {
		// A directory vanishes at once: moved aside, then deleted.
		if fi, _, err := t.fs.LstatIfPossible(p); err == nil && fi.IsDir() {
			trash := randomName("trash-")
			if err := t.fs.Rename(p, trash); err == nil {
				p = trash
			}
		}
	}
	t.fail(t.fs.RemoveAll(p))
}

func (t *tx) read(name string) (string, error) {
	name, _ = t.at(name)
	b, err := afero.ReadFile(t.fs, name)
	return string(b), err
}

func (t *tx) exists(name string) bool {
	name, _ = t.at(name)
	_, _, err := t.fs.LstatIfPossible(name)
	return err == nil
}

func (t *tx) readInt(name string) (int, error) {
	s, err := t.read(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(s))
}

// names lists a directory of the raw tree, sorted; a missing directory is empty.
func (t *tx) names(dir string) []string {
	dir, _ = t.at(dir)
	f, err := t.fs.Open(dir)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	names, _ := f.Readdirnames(-1)
	sort.Strings(names)
	return names
}

// renderNode renders the whole node: bus, classes, every PF bound to mlx5_core, initial VFs.
func (t *tx) renderNode() error {
	t.renderBase()
	devs := t.k.devs
	for _, d := range devs {
		if d.isVF() {
			continue
		}
		t.renderFunction(d)
		t.bind(d, driverMLX5)
	}
	for _, d := range devs {
		if !d.isVF() && d.spec().NumVFs > 0 {
			t.enableVFs(d, d.spec().NumVFs)
		}
	}
	return t.err
}

func (t *tx) renderBase() {
	t.d("/sys/bus/pci/devices")
	t.d("/sys/bus/pci/slots")
	t.f("/sys/bus/pci/drivers_probe", "", 0o200)
	t.f("/sys/bus/pci/drivers_autoprobe", "1\n", 0o644)
	t.f("/sys/bus/pci/rescan", "", 0o200)
	t.f("/sys/bus/pci/uevent", "", 0o200)
	for _, drv := range []string{driverMLX5, driverVFIO} {
		dir := "/sys/bus/pci/drivers/" + drv
		t.d(dir)
		for _, name := range []string{"bind", "unbind", "new_id", "remove_id", "uevent"} {
			t.f(dir+"/"+name, "", 0o200)
		}
		mod := "/sys/module/" + moduleOf[drv]
		t.d(mod + "/drivers")
		t.f(mod+"/initstate", "live\n", 0o444)
		t.f(mod+"/refcnt", "0\n", 0o444)
		t.l(dir+"/module", mod)
		t.l(mod+"/drivers/pci:"+drv, dir)
	}
	t.d("/sys/class/net")
	t.d("/sys/class/infiniband")
	t.d("/sys/class/infiniband_verbs")
	t.f("/sys/class/infiniband_verbs/abi_version", "6\n", 0o444)
	t.d("/sys/class/infiniband_mad")
	t.f("/sys/class/infiniband_mad/abi_version", "5\n", 0o444)
	t.d("/sys/class/infiniband_cm")
	t.f("/sys/class/infiniband_cm/abi_version", "1\n", 0o444)
	t.d("/sys/kernel/iommu_groups")
	t.d("/dev/infiniband")
	t.f("/dev/infiniband/rdma_cm", "10:56\n", 0o666)
	t.d("/dev/vfio")
	t.f("/dev/vfio/vfio", "10:196\n", 0o666)
	t.d("/run")
}

// pcieGen is the PCIe generation of a model's host interface.
func pcieGen(model string) (gen, width int) {
	switch model {
	case "ConnectX-4 Lx":
		return 3, 8
	case "ConnectX-6", "ConnectX-6 Dx":
		return 4, 16
	case "ConnectX-7":
		return 5, 16
	}
	return 3, 16
}

var genSpeed = map[int]string{1: "2.5 GT/s PCIe", 2: "5.0 GT/s PCIe", 3: "8.0 GT/s PCIe", 4: "16.0 GT/s PCIe", 5: "32.0 GT/s PCIe"}

func (t *tx) modalias(d device) string {
	c := d.class()
	return fmt.Sprintf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", topology.Vendor, d.deviceID(),
		topology.Vendor, d.model().SubsystemDevice, c>>16, (c>>8)&0xff, c&0xff)
}

func (t *tx) uevent(d device, driver string) string {
	var b strings.Builder
	if driver != "" {
		fmt.Fprintf(&b, "DRIVER=%s\n", driver)
	}
	fmt.Fprintf(&b, "PCI_CLASS=%X\n", d.class())
	fmt.Fprintf(&b, "PCI_ID=%04X:%04X\n", topology.Vendor, d.deviceID())
	fmt.Fprintf(&b, "PCI_SUBSYS_ID=%04X:%04X\n", topology.Vendor, d.model().SubsystemDevice)
	fmt.Fprintf(&b, "PCI_SLOT_NAME=%s\n", d.bdf)
	fmt.Fprintf(&b, "MODALIAS=%s\n", t.modalias(d))
	return b.String()
}

// cpus returns local_cpulist and local_cpus of a NUMA node.
func (t *tx) cpus(numa int) (list, mask string) {
	per := t.k.node.CPUsPerNUMANode
	total := t.k.node.NUMANodes * per
	lo, hi := 0, total-1
	if numa >= 0 {
		lo, hi = numa*per, (numa+1)*per-1
	}
	list = fmt.Sprintf("%d-%d", lo, hi)
	if lo == hi {
		list = strconv.Itoa(lo)
	}
	// cpumask_print: ceil(nr_cpu_ids/4) hex digits, a comma every 8 from the right.
	digits := make([]byte, (total+3)/4)
	for i := range digits {
		var nibble int
		for b := range 4 {
			if c := i*4 + b; c >= lo && c <= hi {
				nibble |= 1 << b
			}
		}
		digits[len(digits)-1-i] = "0123456789abcdef"[nibble]
	}
	var parts []string
	for end := len(digits); end > 0; end -= 8 {
		parts = append([]string{string(digits[max(0, end-8):end])}, parts...)
	}
	return list, strings.Join(parts, ",")
}

func bar0(d device) uint64 {
	domain, bus, dev, fn, _ := parseBDF(d.bdf)
	rid := uint64(bus<<8 | dev<<3 | fn)
	return 0x3800_0000_0000 | uint64(domain)<<40 | rid<<27
}

// renderFunction renders a function's PCI directory, bus link and IOMMU group (no driver).
func (t *tx) renderFunction(d device) {
	dir := d.dir
	m := d.model()
	spec := d.spec()
	group := -1
	if t.k.node.IOMMU {
		group = t.st.Next.IOMMUGroup
		t.st.Next.IOMMUGroup++
	}
	t.staged(dir, func() {
		t.d(dir)
		t.f(dir+"/vendor", fmt.Sprintf("0x%04x\n", topology.Vendor), 0o444)
		t.f(dir+"/device", fmt.Sprintf("0x%04x\n", d.deviceID()), 0o444)
		t.f(dir+"/subsystem_vendor", fmt.Sprintf("0x%04x\n", topology.Vendor), 0o444)
		t.f(dir+"/subsystem_device", fmt.Sprintf("0x%04x\n", m.SubsystemDevice), 0o444)
		t.f(dir+"/revision", "0x00\n", 0o444)
		t.f(dir+"/class", fmt.Sprintf("0x%06x\n", d.class()), 0o444)
		t.f(dir+"/modalias", t.modalias(d)+"\n", 0o444)
		t.f(dir+"/uevent", t.uevent(d, ""), 0o644)
		t.f(dir+"/numa_node", fmt.Sprintf("%d\n", d.nic.NUMANode), 0o644)
		list, mask := t.cpus(d.nic.NUMANode)
		t.f(dir+"/local_cpulist", list+"\n", 0o444)
		t.f(dir+"/local_cpus", mask+"\n", 0o444)
		irq := 0
		if !d.isVF() {
			irq = t.st.Next.IRQ
			t.st.Next.IRQ++
		}
		t.f(dir+"/irq", fmt.Sprintf("%d\n", irq), 0o444)
		t.f(dir+"/enable", "0\n", 0o644)
		t.f(dir+"/driver_override", "(null)\n", 0o644)
		t.f(dir+"/broken_parity_status", "0\n", 0o644)
		t.f(dir+"/consistent_dma_mask_bits", "64\n", 0o444)
		t.f(dir+"/dma_mask_bits", "64\n", 0o444)
		t.f(dir+"/d3cold_allowed", "1\n", 0o644)
		t.f(dir+"/msi_bus", "1\n", 0o644)
		t.f(dir+"/power_state", "D0\n", 0o444)
		t.f(dir+"/remove", "", 0o200)
		t.f(dir+"/rescan", "", 0o200)
		t.f(dir+"/reset", "", 0o200)
		resetMethod := "flr bus\n"
		if d.isVF() {
			resetMethod = "flr\n"
		}
		t.f(dir+"/reset_method", resetMethod, 0o644)
		gen, width := pcieGen(d.nic.Model)
		t.f(dir+"/current_link_speed", genSpeed[gen]+"\n", 0o444)
		t.f(dir+"/max_link_speed", genSpeed[gen]+"\n", 0o444)
		t.f(dir+"/current_link_width", fmt.Sprintf("%d\n", width), 0o444)
		t.f(dir+"/max_link_width", fmt.Sprintf("%d\n", width), 0o444)

		base := bar0(d)
		size := uint64(32 << 20)
		if d.isVF() {
			size = 1 << 20
		}
		var res strings.Builder
		lines := 13
		for i := range lines {
			switch {
			case i == 0:
				fmt.Fprintf(&res, "0x%016x 0x%016x 0x%016x\n", base, base+size-1, 0x14220c)
			case i == 7 && !d.isVF() && spec.TotalVFs > 0:
				vfBase := base + 0x0800_0000
				fmt.Fprintf(&res, "0x%016x 0x%016x 0x%016x\n", vfBase, vfBase+uint64(spec.TotalVFs)<<20-1, 0x14220c)
			default:
				fmt.Fprintf(&res, "0x%016x 0x%016x 0x%016x\n", 0, 0, 0)
			}
		}
		t.f(dir+"/resource", res.String(), 0o444)

		cfg := pciConfig{
			vendor: topology.Vendor, device: d.deviceID(), subVendor: topology.Vendor, subDevice: m.SubsystemDevice,
			class: d.class(), multiFunction: !d.isVF() && len(d.nic.Ports) > 1, bar0: base, linkGen: gen, linkWidth: width,
		}
		if !d.isVF() && spec.TotalVFs > 0 {
			offset, stride := topology.VFOffsetStride(d.nic, d.port)
			cfg.sriov = &sriovConfig{
				initialVFs: uint16(spec.TotalVFs), totalVFs: uint16(spec.TotalVFs), offset: uint16(offset),
				stride: uint16(stride), vfDevice: m.VFDevice, function: uint8(d.port),
			}
			t.f(dir+"/sriov_totalvfs", fmt.Sprintf("%d\n", spec.TotalVFs), 0o444)
			t.f(dir+"/sriov_numvfs", "0\n", 0o644)
			t.f(dir+"/sriov_offset", fmt.Sprintf("%d\n", offset), 0o444)
			t.f(dir+"/sriov_stride", fmt.Sprintf("%d\n", stride), 0o444)
			t.f(dir+"/sriov_vf_device", fmt.Sprintf("%x\n", m.VFDevice), 0o444)
			t.f(dir+"/sriov_drivers_autoprobe", "1\n", 0o644)
			t.f(dir+"/sriov_vf_total_msix", "0\n", 0o444)
		}
		if d.isVF() {
			t.f(dir+"/sriov_vf_msix_count", "", 0o200)
		}
		t.f(dir+"/config", string(cfg.build()), 0o644)
		t.l(dir+"/subsystem", "/sys/bus/pci")
		if group >= 0 {
			t.l(dir+"/iommu_group", fmt.Sprintf("/sys/kernel/iommu_groups/%d", group))
		}
	})
	if group >= 0 {
		g := fmt.Sprintf("/sys/kernel/iommu_groups/%d", group)
		t.staged(g, func() {
			t.d(g + "/devices")
			t.f(g+"/type", "DMA\n", 0o644)
			t.f(g+"/reserved_regions", "0x00000000fee00000 0x00000000feefffff msi\n", 0o444)
			t.l(g+"/devices/"+d.bdf, dir)
		})
	}
	t.l("/sys/bus/pci/devices/"+d.bdf, dir)
}

// iommuGroup is the IOMMU group number of a present function, or -1.
func (t *tx) iommuGroup(d device) int {
	target, err := t.fs.ReadlinkIfPossible(d.dir + "/iommu_group")
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(path.Base(target))
	if err != nil {
		return -1
	}
	return n
}

// removeFunction removes a function's directory, bus link and IOMMU group.
func (t *tx) removeFunction(d device) {
	if g := t.iommuGroup(d); g >= 0 {
		t.rm(fmt.Sprintf("/sys/kernel/iommu_groups/%d", g))
	}
	t.rm("/sys/bus/pci/devices/" + d.bdf)
	t.rm(d.dir)
}

// present reports whether the function exists in the tree.
func (t *tx) present(d device) bool {
	return t.exists("/sys/bus/pci/devices/"+d.bdf) && t.exists(d.dir)
}

// driverOf is the driver bound to a function, or "".
func (t *tx) driverOf(d device) string {
	target, err := t.fs.ReadlinkIfPossible(d.dir + "/driver")
	if err != nil {
		return ""
	}
	return path.Base(target)
}

// bind attaches a driver (the caller checked the rules) and runs its probe.
func (t *tx) bind(d device, drv string) {
	t.l(d.dir+"/driver", "/sys/bus/pci/drivers/"+drv)
	t.l("/sys/bus/pci/drivers/"+drv+"/"+d.bdf, d.dir)
	t.f(d.dir+"/uevent", t.uevent(d, drv), 0o644)
	t.f(d.dir+"/enable", "1\n", 0o644)
	switch drv {
	case driverMLX5:
		t.probeMLX5(d)
	case driverVFIO:
		if g := t.iommuGroup(d); g >= 0 {
			t.f(fmt.Sprintf("/dev/vfio/%d", g), fmt.Sprintf("%d:%d\n", majorDynamic, g), 0o600)
		}
	}
}

// unbind detaches the function's driver and undoes its probe.
func (t *tx) unbind(d device) {
	drv := t.driverOf(d)
	switch drv {
	case "":
		return
	case driverMLX5:
		t.removeMLX5(d)
	case driverVFIO:
		if g := t.iommuGroup(d); g >= 0 {
			t.rm(fmt.Sprintf("/dev/vfio/%d", g))
		}
	}
	t.rm(d.dir + "/driver")
	t.rm("/sys/bus/pci/drivers/" + drv + "/" + d.bdf)
	t.f(d.dir+"/uevent", t.uevent(d, ""), 0o644)
	t.f(d.dir+"/enable", "0\n", 0o644)
}

func (t *tx) probeMLX5(d device) {
	if !d.isVF() && t.k.node.OFED && d.spec().TotalVFs > 0 {
		numvfs, _ := t.readInt(d.dir + "/sriov_numvfs")
		t.f(d.dir+"/mlx5_num_vfs", fmt.Sprintf("%d\n", numvfs), 0o600)
		t.d(d.dir + "/sriov")
		for i := range numvfs {
			t.renderOFEDVF(d, i, "Down")
		}
	}
	t.addNetdev(d)
	t.addRDMA(d)
}

func (t *tx) removeMLX5(d device) {
	if !d.isVF() {
		if n, _ := t.readInt(d.dir + "/sriov_numvfs"); n > 0 {
			t.disableVFs(d)
		}
		if t.k.node.OFED {
			t.rm(d.dir + "/mlx5_num_vfs")
			t.rm(d.dir + "/sriov")
		}
	}
	t.removeRDMA(d)
	t.removeNetdev(d)
}

// vfState is the PF-side state of a VF function (zero value when missing).
func (t *tx) vfState(d device) VF {
	vfs := t.st.VFs[d.pfBDF]
	if d.vf < 0 || d.vf >= len(vfs) {
		return VF{Index: d.vf}
	}
	return vfs[d.vf]
}

func isZeroHW(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func guid8(b []byte) net.HardwareAddr {
	if len(b) != 8 {
		return make(net.HardwareAddr, 8)
	}
	return net.HardwareAddr(b)
}

// nodeGUID and portGUID of a function: the PF's from the topology, a VF's from its PF-side state.
func (t *tx) nodeGUID(d device) net.HardwareAddr {
	if d.isVF() {
		return guid8(t.vfState(d).NodeGUID)
	}
	g, _ := topology.ParseGUID(d.spec().NodeGUID)
	return guid8(g)
}

func (t *tx) portGUID(d device) net.HardwareAddr {
	if d.isVF() {
		return guid8(t.vfState(d).PortGUID)
	}
	return t.nodeGUID(d)
}

// ethAddress is the MAC a function's mlx5e netdev gets when probed.
func (t *tx) ethAddress(d device) net.HardwareAddr {
	if !d.isVF() {
		mac, _ := net.ParseMAC(d.spec().MAC)
		return mac
	}
	if mac := t.vfState(d).MAC; len(mac) == 6 && !isZeroHW(mac) {
		return net.HardwareAddr(cloneHW(mac))
	}
	return topology.DerivedMAC(t.k.node.Name, d.bdf)
}

// IPoIBAddress is the 20-byte hardware address of an IPoIB netdev in datagram mode: flags 0, the
// 24-bit QPN, then the port GID fe80::<port GUID>.
func IPoIBAddress(qpn uint32, portGUID net.HardwareAddr) net.HardwareAddr {
	a := make(net.HardwareAddr, 20)
	a[1], a[2], a[3] = byte(qpn>>16), byte(qpn>>8), byte(qpn)
	a[4], a[5] = 0xfe, 0x80
	copy(a[12:], guid8(portGUID))
	return a
}

// netdevName is the name a function's netdev gets.
func (t *tx) netdevName(d device) string {
	if d.isVF() {
		return topology.VFNetdev(d.spec().Netdev, d.vf)
	}
	return d.spec().Netdev
}

// portActive reports whether a function's RDMA port is ACTIVE: the PF's per the topology; an IB VF's
// only when its PF's is and it has a non-zero GUID (sampled at probe time).
func (t *tx) portActive(d device) bool {
	pfActive := d.spec().State == topology.DefaultPortState
	if !d.isVF() || d.spec().LinkLayer == topology.Ethernet {
		return pfActive
	}
	return pfActive && (!isZeroHW(t.portGUID(d)) || !isZeroHW(t.nodeGUID(d)))
}

func (t *tx) addNetdev(d device) {
	spec := d.spec()
	name := t.netdevName(d)
	dir := d.dir + "/net/" + name
	ifindex := t.st.Next.Ifindex
	t.st.Next.Ifindex++
	ib := spec.LinkLayer == topology.InfiniBand
	var addr net.HardwareAddr
	mtu := spec.MTU
	if ib {
		qpn := t.st.Next.QPN
		t.st.Next.QPN++
		addr = IPoIBAddress(uint32(qpn), t.portGUID(d))
		if d.isVF() {
			mtu = topology.DefaultIPoIBMTU
		}
	} else {
		addr = t.ethAddress(d)
		if d.isVF() {
			mtu = topology.DefaultEthernetMTU
		}
	}
	oper, carrier := "down", "0"
	if !d.isVF() && spec.State == topology.DefaultPortState {
		oper, carrier = "up", "1"
	}
	t.staged(dir, func() {
		t.d(dir)
		if ib {
			t.f(dir+"/type", "32\n", 0o444)
			t.f(dir+"/addr_len", "20\n", 0o444)
			t.f(dir+"/broadcast", "00:ff:ff:ff:ff:12:40:1b:ff:ff:00:00:00:00:00:00:ff:ff:ff:ff\n", 0o444)
			t.f(dir+"/pkey", "0xffff\n", 0o444)
			t.f(dir+"/mode", "datagram\n", 0o644)
			t.f(dir+"/umcast", "0\n", 0o644)
			t.f(dir+"/create_child", "", 0o200)
			t.f(dir+"/delete_child", "", 0o200)
			t.f(dir+"/phys_switch_id", "", 0o444)
			t.f(dir+"/phys_port_name", "", 0o444)
		} else {
			t.f(dir+"/type", "1\n", 0o444)
			t.f(dir+"/addr_len", "6\n", 0o444)
			t.f(dir+"/broadcast", "ff:ff:ff:ff:ff:ff\n", 0o444)
			if d.isVF() {
				t.f(dir+"/phys_port_name", "", 0o444)
				t.f(dir+"/phys_switch_id", "", 0o444)
			} else {
				t.f(dir+"/phys_port_name", fmt.Sprintf("p%d\n", d.port), 0o444)
				sys := t.sysImageGUID(d)
				t.f(dir+"/phys_switch_id", fmt.Sprintf("%02x%02x%02x%02x%02x%02x%02x%02x\n",
					sys[7], sys[6], sys[5], sys[4], sys[3], sys[2], sys[1], sys[0]), 0o444)
			}
		}
		t.f(dir+"/address", addr.String()+"\n", 0o444)
		t.f(dir+"/addr_assign_type", "0\n", 0o444)
		t.f(dir+"/mtu", fmt.Sprintf("%d\n", mtu), 0o644)
		t.f(dir+"/operstate", oper+"\n", 0o444)
		t.f(dir+"/carrier", carrier+"\n", 0o644)
		// speed and duplex hold what ethtool reports with carrier; reads fail with EINVAL without it.
		t.f(dir+"/speed", fmt.Sprintf("%d\n", rateMbps(spec.Rate)), 0o444)
		t.f(dir+"/duplex", "full\n", 0o444)
		t.f(dir+"/dev_id", "0x0\n", 0o444)
		t.f(dir+"/dev_port", "0\n", 0o444)
		t.f(dir+"/ifindex", fmt.Sprintf("%d\n", ifindex), 0o444)
		t.f(dir+"/iflink", fmt.Sprintf("%d\n", ifindex), 0o444)
		t.f(dir+"/ifalias", "", 0o644)
		t.f(dir+"/dormant", "0\n", 0o444)
		t.f(dir+"/flags", "0x1003\n", 0o644)
		t.f(dir+"/link_mode", "0\n", 0o644)
		t.f(dir+"/name_assign_type", "4\n", 0o444)
		t.f(dir+"/netdev_group", "0\n", 0o644)
		t.f(dir+"/phys_port_id", "", 0o444)
		t.f(dir+"/tx_queue_len", "1000\n", 0o644)
		t.f(dir+"/uevent", fmt.Sprintf("INTERFACE=%s\nIFINDEX=%d\n", name, ifindex), 0o644)
		t.l(dir+"/device", d.dir)
		t.l(dir+"/subsystem", "/sys/class/net")
	})
	t.l("/sys/class/net/"+name, dir)
	if t.err == nil && !t.initial && t.k.opts.netdevs != nil {
		ns := NetdevSpec{PCIAddress: d.bdf, Name: name, PF: !d.isVF(), LinkLayer: spec.LinkLayer, Address: addr, MTU: mtu, Fabric: spec.Fabric}
		if err := t.k.opts.netdevs.Added(ns); err != nil {
			t.fail(fmt.Errorf("netdev %s added: %w", name, err))
		}
	}
}

// netdevSpecs reads the netdevs a present function has from the tree.
func (t *tx) netdevSpecs(d device) []NetdevSpec {
	var out []NetdevSpec
	for _, name := range t.names(d.dir + "/net") {
		dir := d.dir + "/net/" + name
		addrS, _ := t.read(dir + "/address")
		addr, _ := net.ParseMAC(strings.TrimSpace(addrS))
		mtu, _ := t.readInt(dir + "/mtu")
		out = append(out, NetdevSpec{PCIAddress: d.bdf, Name: name, PF: !d.isVF(), LinkLayer: d.spec().LinkLayer,
			Address: addr, MTU: mtu, Fabric: d.spec().Fabric})
	}
	return out
}

func (t *tx) removeNetdev(d device) {
	for _, ns := range t.netdevSpecs(d) {
		t.rm("/sys/class/net/" + ns.Name)
		t.rm(d.dir + "/net/" + ns.Name)
		if t.err == nil && t.k.opts.netdevs != nil {
			if err := t.k.opts.netdevs.Removed(ns); err != nil {
				t.fail(fmt.Errorf("netdev %s removed: %w", ns.Name, err))
			}
		}
	}
	t.rm(d.dir + "/net")
}

func (t *tx) listNetdevs() ([]NetdevSpec, error) {
	var out []NetdevSpec
	for _, d := range t.k.devs {
		if t.present(d) {
			out = append(out, t.netdevSpecs(d)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PCIAddress < out[j].PCIAddress })
	return out, t.err
}

// sysImageGUID is the NIC's system image GUID: port 0's node GUID, shared by every function.
func (t *tx) sysImageGUID(d device) net.HardwareAddr {
	g, _ := topology.ParseGUID(d.nic.Ports[0].NodeGUID)
	return guid8(g)
}

func formatGID(prefix uint64, guid net.HardwareAddr) string {
	g := guid8(guid)
	return fmt.Sprintf("%04x:%04x:%04x:%04x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
		prefix>>48, (prefix>>32)&0xffff, (prefix>>16)&0xffff, prefix&0xffff,
		g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
}

// eui64 is the interface identifier RoCE derives from a MAC.
func eui64(mac net.HardwareAddr) net.HardwareAddr {
	if len(mac) != 6 {
		return make(net.HardwareAddr, 8)
	}
	return net.HardwareAddr{mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
}

func (t *tx) addRDMA(d device) {
	spec := d.spec()
	m := d.model()
	n := t.st.Next.MLX5
	t.st.Next.MLX5++
	name := fmt.Sprintf("mlx5_%d", n)
	dir := d.dir + "/infiniband/" + name
	ib := spec.LinkLayer == topology.InfiniBand
	t.staged(dir, func() {
		t.d(dir)
		t.f(dir+"/node_type", "1: CA\n", 0o444)
		t.f(dir+"/node_guid", topology.FormatGUID(t.nodeGUID(d))+"\n", 0o444)
		t.f(dir+"/sys_image_guid", topology.FormatGUID(t.sysImageGUID(d))+"\n", 0o444)
		t.f(dir+"/fw_ver", d.nic.FirmwareVersion+"\n", 0o444)
		hca := m.HCAType
		if d.isVF() {
			hca = m.VFHCAType
		}
		t.f(dir+"/hca_type", hca+"\n", 0o444)
		t.f(dir+"/hw_rev", "0\n", 0o444)
		t.f(dir+"/board_id", d.nic.BoardID+"\n", 0o444)
		t.f(dir+"/node_desc", fmt.Sprintf("%s %s\n", t.k.node.Name, name), 0o644)
		t.f(dir+"/fw_pages", "0\n", 0o444)
		t.f(dir+"/reg_pages", "0\n", 0o444)
		t.f(dir+"/uevent", fmt.Sprintf("NAME=%s\n", name), 0o644)
		t.l(dir+"/device", d.dir)
		t.l(dir+"/subsystem", "/sys/class/infiniband")

		p := dir + "/ports/1"
		active := t.portActive(d)
		pfUp := spec.State == topology.DefaultPortState
		t.d(p + "/gids")
		t.d(p + "/pkeys")
		t.d(p + "/gid_attrs/types")
		t.d(p + "/gid_attrs/ndevs")
		state, phys := "1: DOWN", "3: Disabled"
		if pfUp {
			phys = "5: LinkUp"
		}
		if active {
			state = "4: ACTIVE"
		}
		t.f(p+"/state", state+"\n", 0o444)
		t.f(p+"/phys_state", phys+"\n", 0o444)
		t.f(p+"/rate", spec.Rate+"\n", 0o444)
		t.f(p+"/link_layer", string(spec.LinkLayer)+"\n", 0o444)
		t.f(p+"/lid_mask_count", "0\n", 0o444)
		t.f(p+"/sm_sl", "0\n", 0o444)
		gids := make([]string, gidTableLen)
		types := make([]string, gidTableLen)
		ndevs := make([]string, gidTableLen)
		zero := formatGID(0, nil)
		for i := range gids {
			gids[i] = zero
		}
		if ib {
			lid, smLid := "0xffff", "0x0"
			if active {
				lid, smLid = fmt.Sprintf("0x%x", t.k.portIndex(d)+2), "0x1"
			}
			t.f(p+"/lid", lid+"\n", 0o444)
			t.f(p+"/sm_lid", smLid+"\n", 0o444)
			t.f(p+"/cap_mask", "0x2659e848\n", 0o444)
			if g := t.portGUID(d); !isZeroHW(g) {
				gids[0] = formatGID(0xfe80000000000000, g)
				types[0] = "IB/RoCE v1"
			}
		} else {
			t.f(p+"/lid", "0x0\n", 0o444)
			t.f(p+"/sm_lid", "0x0\n", 0o444)
			t.f(p+"/cap_mask", "0x04010000\n", 0o444)
			g := formatGID(0xfe80000000000000, eui64(t.ethAddress(d)))
			gids[0], gids[1] = g, g
			types[0], types[1] = "IB/RoCE v1", "RoCE v2"
			ndevs[0], ndevs[1] = t.netdevName(d), t.netdevName(d)
		}
		for i := range gidTableLen {
			t.f(fmt.Sprintf("%s/gids/%d", p, i), gids[i]+"\n", 0o444)
			t.f(fmt.Sprintf("%s/gid_attrs/types/%d", p, i), nonEmptyLine(types[i]), 0o444)
			t.f(fmt.Sprintf("%s/gid_attrs/ndevs/%d", p, i), nonEmptyLine(ndevs[i]), 0o444)
		}
		for i := range pkeyTableLen {
			pk := "0x0000"
			if i == 0 {
				pk = "0xffff"
			}
			t.f(fmt.Sprintf("%s/pkeys/%d", p, i), pk+"\n", 0o444)
		}
	})
	t.l("/sys/class/infiniband/"+name, dir)

	// uverbs
	u := t.st.Next.Uverbs
	t.st.Next.Uverbs++
	uname := fmt.Sprintf("uverbs%d", u)
	major, minor := majorIB, minorUverbsBase+u
	if u >= 32 {
		major, minor = majorDynamic, u-32
	}
	t.charDev(d, "infiniband_verbs", uname, name, major, minor, 0o666, "", "1")

	// umad and issm share one index
	mad := t.st.Next.Umad
	t.st.Next.Umad++
	t.charDev(d, "infiniband_mad", fmt.Sprintf("umad%d", mad), name, majorIB, mad, 0o600, "1", "")
	t.charDev(d, "infiniband_mad", fmt.Sprintf("issm%d", mad), name, majorIB, minorIssmBase+mad, 0o600, "1", "")
}

func nonEmptyLine(s string) string {
	if s == "" {
		return ""
	}
	return s + "\n"
}

// charDev renders one class device of a function (infiniband_verbs/uverbsN, infiniband_mad/umadN...),
// its class link and its /dev/infiniband node (a regular file naming major:minor).
func (t *tx) charDev(d device, class, name, ibdev string, major, minor int, mode os.FileMode, port, abi string) {
	dir := d.dir + "/" + class + "/" + name
	t.staged(dir, func() {
		t.d(dir)
		t.f(dir+"/ibdev", ibdev+"\n", 0o444)
		if port != "" {
			t.f(dir+"/port", port+"\n", 0o444)
		}
		if abi != "" {
			t.f(dir+"/abi_version", abi+"\n", 0o444)
		}
		t.f(dir+"/dev", fmt.Sprintf("%d:%d\n", major, minor), 0o444)
		t.f(dir+"/uevent", fmt.Sprintf("MAJOR=%d\nMINOR=%d\nDEVNAME=infiniband/%s\n", major, minor, name), 0o644)
		t.l(dir+"/device", d.dir)
		t.l(dir+"/subsystem", "/sys/class/"+class)
	})
	t.l("/sys/class/"+class+"/"+name, dir)
	t.f("/dev/infiniband/"+name, fmt.Sprintf("%d:%d\n", major, minor), mode)
}

func (t *tx) removeRDMA(d device) {
	for _, name := range t.names(d.dir + "/infiniband") {
		t.rm("/sys/class/infiniband/" + name)
	}
	for _, class := range []string{"infiniband_verbs", "infiniband_mad"} {
		for _, name := range t.names(d.dir + "/" + class) {
			t.rm("/sys/class/" + class + "/" + name)
			t.rm("/dev/infiniband/" + name)
		}
		t.rm(d.dir + "/" + class)
	}
	t.rm(d.dir + "/infiniband")
}

// renderOFEDVF renders MLNX_OFED's sriov/<i>/ files of a PF (sysfs.md §9.1): node, port and policy on
// an InfiniBand port; on an Ethernet port node, the eswitch setters (reading back their usage) and
// config. With policy "" (a state update) the policy file is left as it is.
func (t *tx) renderOFEDVF(pf device, i int, policy string) {
	dir := fmt.Sprintf("%s/sriov/%d", pf.dir, i)
	vfs := t.st.VFs[pf.bdf]
	v := VF{Index: i}
	if i < len(vfs) {
		v = vfs[i]
	}
	t.staged(dir, func() {
		t.d(dir)
		t.f(dir+"/node", guid8(v.NodeGUID).String()+"\n", 0o644)
		if pf.spec().LinkLayer == topology.InfiniBand {
			t.f(dir+"/port", guid8(v.PortGUID).String()+"\n", 0o644)
			if policy != "" {
				t.f(dir+"/policy", policy+"\n", 0o644)
			}
			return
		}
		if policy != "" {
			for name, usage := range ofedUsage {
				t.f(dir+"/"+name, usage, 0o644)
			}
		}
		t.f(dir+"/config", ofedConfig(v), 0o444)
	})
}

// ofedUsage is what MLNX_OFED's Ethernet VF setters read back.
var ofedUsage = map[string]string{
	"mac":         "usage: write <LLADDR|Random> to set VF Mac Address\n",
	"vlan":        "usage: write <Vlan:Qos[:Proto]> to set VF Vlan, Qos, and optionally Vlan Protocol (default 802.1Q)\n",
	"spoofcheck":  "usage: write <ON|OFF> to enable|disable VF SpoofCheck\n",
	"trust":       "usage: write <ON|OFF> to trust|untrust VF\n",
	"link_state":  "usage: write <Up|Down|Follow> to set VF State\n",
	"max_tx_rate": "usage: write <Rate (Mbit/s)> to set VF max rate\n",
	"min_tx_rate": "usage: write <Rate (Mbit/s)> to set VF min rate\n",
}

// VF link states as netlink reports them (IFLA_VF_LINK_STATE_*).
const (
	linkStateAuto    = 0
	linkStateEnable  = 1
	linkStateDisable = 2
)

// ofedConfig is the Ethernet VF's sriov/<i>/config.
func ofedConfig(v VF) string {
	onOff := map[bool]string{true: "ON", false: "OFF"}
	proto := "N/A"
	if v.Vlan != 0 || v.Qos != 0 {
		proto = "802.1Q"
		if v.VlanProto == 0x88a8 {
			proto = "802.1ad"
		}
	}
	state := map[uint32]string{linkStateAuto: "Follow", linkStateEnable: "Up", linkStateDisable: "Down"}[v.LinkState]
	mac := make(net.HardwareAddr, 6)
	copy(mac, v.MAC)
	var b strings.Builder
	fmt.Fprintf(&b, "VF         : %d\n", v.Index)
	fmt.Fprintf(&b, "MAC        : %s\n", mac)
	fmt.Fprintf(&b, "VLAN       : %d\n", v.Vlan)
	fmt.Fprintf(&b, "QoS        : %d\n", v.Qos)
	fmt.Fprintf(&b, "VLAN Proto : %s\n", proto)
	fmt.Fprintf(&b, "SpoofCheck : %s\n", onOff[v.Spoofchk])
	fmt.Fprintf(&b, "Trust      : %s\n", onOff[v.Trust])
	fmt.Fprintf(&b, "LinkState  : %s\n", state)
	fmt.Fprintf(&b, "MinTxRate  : %d\n", v.MinTxRate)
	fmt.Fprintf(&b, "MaxTxRate  : %d\n", v.MaxTxRate)
	fmt.Fprintf(&b, "VGT+       : OFF\n")
	return b.String()
}

// vfAt is VF i of a PF as its sriov_offset and sriov_stride place it.
func (t *tx) vfAt(pf device, i int) (device, error) {
	offset, err := t.readInt(pf.dir + "/sriov_offset")
	if err != nil {
		return device{}, err
	}
	stride, err := t.readInt(pf.dir + "/sriov_stride")
	if err != nil {
		return device{}, err
	}
	domain, bus, dev, fn, err := parseBDF(pf.bdf)
	if err != nil {
		return device{}, err
	}
	bdf := formatRID(domain, (bus<<8|dev<<3|fn)+offset+stride*i)
	d, ok := t.k.device(bdf)
	if !ok || !d.isVF() || d.pfBDF != pf.bdf {
		return device{}, fmt.Errorf("VF %d of %s at %s is not a function of this node", i, pf.bdf, bdf)
	}
	return d, nil
}

func (t *tx) busAutoprobe() bool {
	s, _ := t.read("/sys/bus/pci/drivers_autoprobe")
	return strings.TrimSpace(s) != "0"
}

// enableVFs creates n VFs of a PF: directories, links, probe (sysfs.md §10.1).
func (t *tx) enableVFs(pf device, n int) {
	if t.st.VFs == nil {
		t.st.VFs = map[string][]VF{}
	}
	vfs := make([]VF, n)
	for i := range vfs {
		vfs[i] = VF{Index: i, VlanProto: 0x8100}
	}
	t.st.VFs[pf.bdf] = vfs
	autoprobe, _ := t.read(pf.dir + "/sriov_drivers_autoprobe")
	probe := t.busAutoprobe() && strings.TrimSpace(autoprobe) == "1"
	for i := range n {
		if t.err != nil {
			return
		}
		if d := t.k.opts.probeDelay; d > 0 && !t.initial {
			time.Sleep(d)
		}
		vf, err := t.vfAt(pf, i)
		if err != nil {
			t.fail(err)
			return
		}
		t.renderFunction(vf)
		t.l(fmt.Sprintf("%s/virtfn%d", pf.dir, i), vf.dir)
		t.l(vf.dir+"/physfn", pf.dir)
		if t.k.node.OFED && t.exists(pf.dir+"/sriov") {
			t.renderOFEDVF(pf, i, "Down")
		}
		if probe && t.matches(vf, driverMLX5) {
			t.bind(vf, driverMLX5)
		}
	}
	t.setNumVFs(pf, n)
}

func (t *tx) setNumVFs(pf device, n int) {
	t.f(pf.dir+"/sriov_numvfs", fmt.Sprintf("%d\n", n), 0o644)
	if t.exists(pf.dir + "/mlx5_num_vfs") {
		t.f(pf.dir+"/mlx5_num_vfs", fmt.Sprintf("%d\n", n), 0o600)
	}
	cfg, err := t.read(pf.dir + "/config")
	if err == nil {
		b := []byte(cfg)
		setNumVFs(b, uint16(n))
		t.f(pf.dir+"/config", string(b), 0o644)
	}
}

// disableVFs removes every VF of a PF, in reverse order.
func (t *tx) disableVFs(pf device) {
	n, _ := t.readInt(pf.dir + "/sriov_numvfs")
	for i := n - 1; i >= 0; i-- {
		link := fmt.Sprintf("%s/virtfn%d", pf.dir, i)
		target, err := t.fs.ReadlinkIfPossible(link)
		if err != nil {
			continue
		}
		vf, ok := t.k.device(path.Base(target))
		if !ok {
			t.rm(link)
			continue
		}
		t.unbind(vf)
		if t.k.node.OFED {
			t.rm(fmt.Sprintf("%s/sriov/%d", pf.dir, i))
		}
		t.rm(link)
		t.removeFunction(vf)
	}
	delete(t.st.VFs, pf.bdf)
	t.setNumVFs(pf, 0)
}

// updateVF changes the PF-side state of one VF.
func (t *tx) updateVF(pfBDF string, i int, fn func(*VF) error) error {
	pf, ok := t.k.pfPort(pfBDF)
	if !ok || !t.present(pf) {
		return fmt.Errorf("update VF %d of %s: %w", i, pfBDF, &os.PathError{Op: "lookup", Path: pfBDF, Err: syscall.ENOENT})
	}
	vfs := t.st.VFs[pfBDF]
	if i < 0 || i >= len(vfs) {
		return fmt.Errorf("update VF %d of %s: %w", i, pfBDF, &os.PathError{Op: "lookup", Path: fmt.Sprintf("%s/virtfn%d", pf.dir, i), Err: syscall.ENOENT})
	}
	v := cloneVFs(vfs[i : i+1])[0]
	oldMAC := cloneHW(v.MAC)
	if err := fn(&v); err != nil {
		return err
	}
	v.Index = i
	for _, c := range []struct {
		name string
		b    []byte
		n    int
	}{{"MAC", v.MAC, 6}, {"NodeGUID", v.NodeGUID, 8}, {"PortGUID", v.PortGUID, 8}} {
		if c.b != nil && len(c.b) != c.n {
			return fmt.Errorf("update VF %d of %s: %s %x is %d bytes, want %d", i, pfBDF, c.name, c.b, len(c.b), c.n)
		}
	}
	vfs[i] = v
	t.dirty = true
	vf, err := t.vfAt(pf, i)
	if err != nil {
		return err
	}
	if !bytes.Equal(oldMAC, v.MAC) && pf.spec().LinkLayer == topology.Ethernet && len(v.MAC) == 6 && !isZeroHW(v.MAC) {
		for _, name := range t.names(vf.dir + "/net") {
			t.f(vf.dir+"/net/"+name+"/address", v.MAC.String()+"\n", 0o444)
		}
	}
	if t.k.node.OFED && t.exists(fmt.Sprintf("%s/sriov/%d", pf.dir, i)) {
		t.renderOFEDVF(pf, i, "")
	}
	return t.err
}

// rateMbps is the ethtool speed (Mb/s) of a port whose ports/<p>/rate reads rate ("200 Gb/sec (4X HDR)"
// → 200000, "2.5 Gb/sec (1X SDR)" → 2500): what mlx5e and ipoib report as lane speed × width. A rate
// the validator would reject gives 0.
func rateMbps(rate string) int {
	num, _, _ := strings.Cut(rate, " ")
	whole, frac, _ := strings.Cut(num, ".")
	gbps, err := strconv.Atoi(whole)
	if err != nil {
		return 0
	}
	mbps := gbps * 1000
	if frac != "" {
		f, err := strconv.Atoi((frac + "000")[:3])
		if err != nil {
			return 0
		}
		mbps += f
	}
	return mbps
}
