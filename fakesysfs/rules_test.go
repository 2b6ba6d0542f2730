package fakesysfs

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs/topology"
)

const (
	ethPF = "/sys/bus/pci/devices/0000:5e:00.0" // laptop: ConnectX-6 Dx, 4 of 8 VFs
	ibPF  = "/sys/bus/pci/devices/0000:3b:00.0" // laptop: ConnectX-6 IB, 4 of 8 VFs
	ethVF = "0000:5e:00.1"
)

func listDir(t *testing.T, fs afero.Fs, dir string) []string {
	t.Helper()
	f, err := fs.Open(dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer func() { _ = f.Close() }()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func mustWrite(t *testing.T, fs afero.Fs, name, value string) {
	t.Helper()
	if err := write(fs, name, value); err != nil {
		t.Fatalf("write %q to %s: %v", value, name, err)
	}
}

func exists(fs afero.Fs, name string) bool {
	_, _, err := fs.(afero.Lstater).LstatIfPossible(name)
	return err == nil
}

// TestNumVFsRules walks sriov_numvfs_store's check order (sysfs.md §10.1).
func TestNumVFsRules(t *testing.T) {
	t.Parallel()
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, preset(t, "laptop"))
			nv := ethPF + "/sriov_numvfs"
			steps := []struct {
				value string
				errno syscall.Errno // 0 = success
				after string        // sriov_numvfs afterwards
			}{
				{"abc", syscall.EINVAL, "4\n"},
				{"", syscall.EINVAL, "4\n"},
				{"4 ", syscall.EINVAL, "4\n"},
				{"4\n\n", syscall.EINVAL, "4\n"},
				{"-1", syscall.EINVAL, "4\n"},
				{"0x", syscall.EINVAL, "4\n"},
				{"9", syscall.ERANGE, "4\n"},
				{"70000", syscall.ERANGE, "4\n"},
				{"4\n", 0, "4\n"}, // same value: no-op
				{"0x4", 0, "4\n"}, // base 0: hex
				{"04", 0, "4\n"},  // base 0: octal
				{"+4", 0, "4\n"},  // kstrtox accepts a leading '+'
				{"2", syscall.EBUSY, "4\n"},
				{"010", syscall.EBUSY, "4\n"}, // octal 8
				{"0", 0, "0\n"},
				{"010\n", 0, "8\n"},
				{"0", 0, "0\n"},
				{"0x3", 0, "3\n"},
			}
			for _, s := range steps {
				err := write(k, nv, s.value)
				if s.errno == 0 && err != nil {
					t.Fatalf("write %q: %v", s.value, err)
				}
				if s.errno != 0 {
					wantErrno(t, err, "write", s.errno)
				}
				if got := read(t, k, nv); got != s.after {
					t.Fatalf("after %q: sriov_numvfs = %q, want %q", s.value, got, s.after)
				}
			}
			// VF count in the tree follows.
			var virtfns []string
			for _, n := range listDir(t, k, ethPF) {
				if strings.HasPrefix(n, "virtfn") {
					virtfns = append(virtfns, n)
				}
			}
			if len(virtfns) != 3 {
				t.Fatalf("virtfns = %v", virtfns)
			}
			// No PF driver: ERANGE still comes first, same value still succeeds, then ENOENT.
			mustWrite(t, k, "/sys/bus/pci/drivers/mlx5_core/unbind", "0000:5e:00.0")
			if got := read(t, k, nv); got != "0\n" {
				t.Fatalf("unbinding the PF left %q VFs", got)
			}
			wantErrno(t, write(k, nv, "9"), "write", syscall.ERANGE)
			mustWrite(t, k, nv, "0")
			wantErrno(t, write(k, nv, "2"), "write", syscall.ENOENT)
			mustWrite(t, k, "/sys/bus/pci/drivers/mlx5_core/bind", "0000:5e:00.0\n")
			mustWrite(t, k, nv, "2")
			if !exists(k, "/sys/class/net/enp94s0np0") || !exists(k, "/sys/class/net/enp94s0v1") {
				t.Fatalf("netdevs missing after rebind and enable: %v", listDir(t, k, "/sys/class/net"))
			}
		})
	}
}

// TestVFLayout: addresses from offset/stride, links at the kernel's spelling, removal undoes all.
func TestVFLayout(t *testing.T) {
	t.Parallel()
	node := topology.Node{Name: "dual", IOMMU: true, NICs: []topology.NIC{{
		Model: "ConnectX-6", PCIAddress: "0000:4b:00.0", NUMANode: 0, Ports: []topology.Port{
			{LinkLayer: topology.InfiniBand, TotalVFs: 8, NumVFs: 2},
			{LinkLayer: topology.Ethernet, TotalVFs: 8, NumVFs: 2},
		}}}}
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, node)
			pf0, pf1 := "/sys/bus/pci/devices/0000:4b:00.0", "/sys/bus/pci/devices/0000:4b:00.1"
			for file, want := range map[string]string{
				pf0 + "/sriov_offset": "2\n", pf0 + "/sriov_stride": "1\n",
				pf1 + "/sriov_offset": "9\n", pf1 + "/sriov_stride": "1\n",
			} {
				if got := read(t, k, file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
			for link, want := range map[string]string{
				pf0 + "/virtfn0": "../0000:4b:00.2",
				pf0 + "/virtfn1": "../0000:4b:00.3",
				pf1 + "/virtfn0": "../0000:4b:01.2",
				pf1 + "/virtfn1": "../0000:4b:01.3",
				"/sys/bus/pci/devices/0000:4b:00.2/physfn": "../0000:4b:00.0",
				"/sys/bus/pci/devices/0000:4b:01.3/physfn": "../0000:4b:00.1",
				"/sys/bus/pci/devices/0000:4b:00.2":        "../../../devices/pci0000:4a/0000:4a:00.0/0000:4b:00.2",
				"/sys/bus/pci/devices/0000:4b:00.2/driver": "../../../../bus/pci/drivers/mlx5_core",
				"/sys/class/net/enp75s0f1v1":               "../../devices/pci0000:4a/0000:4a:00.0/0000:4b:01.3/net/enp75s0f1v1",
				"/sys/class/net/ibp75s0f0v0/device":        "../../../0000:4b:00.2",
			} {
				got, err := k.ReadlinkIfPossible(link)
				if err != nil || got != want {
					t.Errorf("readlink %s = %q, %v; want %q", link, got, err, want)
				}
			}
			if got := read(t, k, "/sys/class/net/enp75s0f1np1/phys_port_name"); got != "p1\n" {
				t.Errorf("PF1 phys_port_name = %q", got)
			}
			_, err := afero.ReadFile(k, "/sys/class/net/enp75s0f1v0/phys_port_name")
			wantErrno(t, err, "read", syscall.EOPNOTSUPP)
			_, err = afero.ReadFile(k, "/sys/class/net/enp75s0f1v0/phys_switch_id")
			wantErrno(t, err, "read", syscall.EOPNOTSUPP)
			// RoCE GID attrs name the netdev; IB ports refuse ndevs.
			roce := "/sys/class/net/enp75s0f1np1/device/infiniband"
			dev := listDir(t, k, roce)[0]
			if got := read(t, k, roce+"/"+dev+"/ports/1/gid_attrs/ndevs/0"); got != "enp75s0f1np1\n" {
				t.Errorf("RoCE ndevs/0 = %q", got)
			}
			if got := read(t, k, roce+"/"+dev+"/ports/1/gid_attrs/types/1"); got != "RoCE v2\n" {
				t.Errorf("RoCE types/1 = %q", got)
			}
			ib := "/sys/class/net/ibp75s0f0/device/infiniband"
			ibdev := listDir(t, k, ib)[0]
			_, err = afero.ReadFile(k, ib+"/"+ibdev+"/ports/1/gid_attrs/ndevs/0")
			wantErrno(t, err, "read", syscall.EINVAL)

			before, err := Dump(k, "/")
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, k, pf1+"/sriov_numvfs", "0")
			for _, p := range []string{pf1 + "/virtfn0", "/sys/bus/pci/devices/0000:4b:01.2", "/sys/class/net/enp75s0f1v0"} {
				if exists(k, p) {
					t.Errorf("%s survives numvfs=0", p)
				}
			}
			after, _ := Dump(k, "/")
			if strings.Contains(after, "0000:4b:01.2") || strings.Contains(after, "0000:4b:01.3") {
				t.Errorf("VF traces survive removal:\n%s", grepLines(after, "0000:4b:01."))
			}
			if len(after) >= len(before) {
				t.Errorf("tree did not shrink")
			}
			// Counters are global and never reused.
			mustWrite(t, k, pf1+"/sriov_numvfs", "1")
			ibs := listDir(t, k, "/sys/bus/pci/devices/0000:4b:01.2/infiniband")
			if len(ibs) != 1 || ibs[0] != "mlx5_6" {
				t.Errorf("re-enabled VF RDMA device = %v, want [mlx5_6]", ibs)
			}
			verbs := listDir(t, k, "/sys/bus/pci/devices/0000:4b:01.2/infiniband_verbs")
			if len(verbs) != 1 || verbs[0] != "uverbs6" || !exists(k, "/dev/infiniband/uverbs6") || exists(k, "/dev/infiniband/uverbs4") {
				t.Errorf("uverbs = %v", verbs)
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBindRules covers bind/unbind/driver_override/drivers_probe/autoprobe/new_id (sysfs.md §10.2-10.3).
func TestBindRules(t *testing.T) {
	t.Parallel()
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, preset(t, "laptop"))
			drv := "/sys/bus/pci/drivers/"
			vf := "/sys/bus/pci/devices/" + ethVF
			wantErrno(t, write(k, drv+"mlx5_core/bind", "0000:99:00.0"), "write", syscall.ENODEV)
			wantErrno(t, write(k, drv+"mlx5_core/bind", ethVF), "write", syscall.EBUSY)
			wantErrno(t, write(k, drv+"vfio-pci/unbind", ethVF), "write", syscall.ENODEV)
			wantErrno(t, write(k, drv+"vfio-pci/bind", "0000:5e:00.2"), "write", syscall.ENODEV) // bound, but no id match first
			wantErrno(t, write(k, "/sys/bus/pci/drivers_probe", "0000:99:00.0"), "write", syscall.ENODEV)

			mustWrite(t, k, drv+"mlx5_core/unbind", ethVF+"\n")
			if exists(k, vf+"/driver") || exists(k, drv+"mlx5_core/"+ethVF) || exists(k, "/sys/class/net/enp94s0v0") || exists(k, vf+"/infiniband") {
				t.Fatal("unbind left driver links, netdev or RDMA device")
			}
			if !strings.HasPrefix(read(t, k, vf+"/uevent"), "PCI_CLASS=") {
				t.Errorf("uevent keeps DRIVER= after unbind")
			}
			wantErrno(t, write(k, drv+"mlx5_core/unbind", ethVF), "write", syscall.ENODEV)
			wantErrno(t, write(k, drv+"vfio-pci/bind", ethVF), "write", syscall.ENODEV) // no id match

			// driver_override: the vfio flow.
			mustWrite(t, k, vf+"/driver_override", "vfio-pci\n")
			if got := read(t, k, vf+"/driver_override"); got != "vfio-pci\n" {
				t.Fatalf("driver_override = %q", got)
			}
			wantErrno(t, write(k, drv+"mlx5_core/bind", ethVF), "write", syscall.ENODEV) // override names another driver
			mustWrite(t, k, "/sys/bus/pci/drivers_probe", ethVF)
			target, err := k.ReadlinkIfPossible(vf + "/driver")
			if err != nil || !strings.HasSuffix(target, "/vfio-pci") {
				t.Fatalf("after drivers_probe: driver -> %q, %v", target, err)
			}
			group, _ := k.ReadlinkIfPossible(vf + "/iommu_group")
			n := group[strings.LastIndexByte(group, '/')+1:]
			if !exists(k, "/dev/vfio/"+n) || !exists(k, "/sys/kernel/iommu_groups/"+n+"/devices/"+ethVF) {
				t.Fatalf("no /dev/vfio/%s for the vfio-bound VF", n)
			}
			mustWrite(t, k, drv+"vfio-pci/unbind", ethVF)
			if exists(k, "/dev/vfio/"+n) {
				t.Fatal("/dev/vfio group survives unbind")
			}
			for _, clear := range []string{"\x00", "\n", ""} {
				mustWrite(t, k, vf+"/driver_override", "vfio-pci")
				mustWrite(t, k, vf+"/driver_override", clear)
				if got := read(t, k, vf+"/driver_override"); got != "(null)\n" {
					t.Errorf("after writing %q: driver_override = %q", clear, got)
				}
			}
			wantErrno(t, write(k, vf+"/driver_override", strings.Repeat("x", 4096)), "write", syscall.EINVAL)
			mustWrite(t, k, vf+"/driver_override", strings.Repeat("x", 4095))
			mustWrite(t, k, vf+"/driver_override", "mlx5_core\nignored")
			if got := read(t, k, vf+"/driver_override"); got != "mlx5_core\n" {
				t.Errorf("driver_override = %q", got)
			}
			mustWrite(t, k, vf+"/driver_override", "")
			mustWrite(t, k, drv+"mlx5_core/bind", ethVF)
			if !exists(k, "/sys/class/net/enp94s0v0") {
				t.Fatal("rebind did not recreate the netdev")
			}

			// Autoprobe gate.
			ap := ethPF + "/sriov_drivers_autoprobe"
			wantErrno(t, write(k, ap, "maybe"), "write", syscall.EINVAL)
			wantErrno(t, write(k, ap, ""), "write", syscall.EINVAL)
			for _, c := range []struct{ in, want string }{{"off", "0\n"}, {"on", "1\n"}, {"N", "0\n"}, {"y\n", "1\n"}, {"0", "0\n"}} {
				mustWrite(t, k, ap, c.in)
				if got := read(t, k, ap); got != c.want {
					t.Errorf("autoprobe %q reads %q, want %q", c.in, got, c.want)
				}
			}
			mustWrite(t, k, ethPF+"/sriov_numvfs", "0")
			mustWrite(t, k, ethPF+"/sriov_numvfs", "2")
			if exists(k, vf+"/driver") || exists(k, vf+"/net") {
				t.Fatal("autoprobe=0: new VF got a driver")
			}
			mustWrite(t, k, "/sys/bus/pci/drivers_probe", ethVF) // may not probe: no error, no driver
			if exists(k, vf+"/driver") {
				t.Fatal("drivers_probe bound a VF despite autoprobe=0")
			}
			wantErrno(t, write(k, drv+"mlx5_core/bind", ethVF), "write", syscall.ENODEV)
			mustWrite(t, k, vf+"/driver_override", "mlx5_core")
			mustWrite(t, k, drv+"mlx5_core/bind", ethVF)
			if !exists(k, vf+"/net/enp94s0v0") {
				t.Fatal("override bind: no netdev")
			}

			// new_id / remove_id.
			wantErrno(t, write(k, drv+"vfio-pci/new_id", "zz"), "write", syscall.EINVAL)
			wantErrno(t, write(k, drv+"mlx5_core/new_id", "15b3 101e"), "write", syscall.EEXIST)
			wantErrno(t, write(k, drv+"vfio-pci/remove_id", "15b3 101e"), "write", syscall.ENODEV)
			mustWrite(t, k, "/sys/bus/pci/devices/0000:5e:00.2/driver_override", "")
			mustWrite(t, k, "/sys/bus/pci/drivers_autoprobe", "1")
			mustWrite(t, k, ap, "1")
			mustWrite(t, k, drv+"vfio-pci/new_id", "15b3 101e")
			wantErrno(t, write(k, drv+"vfio-pci/new_id", "15b3 101e"), "write", syscall.EEXIST)
			target, _ = k.ReadlinkIfPossible("/sys/bus/pci/devices/0000:5e:00.2/driver")
			if !strings.HasSuffix(target, "/vfio-pci") {
				t.Fatalf("new_id did not bind the unbound VF: driver -> %q", target)
			}
			mustWrite(t, k, drv+"vfio-pci/remove_id", "15b3 101e")
		})
	}
}

// TestVFSRules: read-only and write-only attributes, and what sysfs refuses.
func TestVFSRules(t *testing.T) {
	t.Parallel()
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, preset(t, "laptop"))
			wantErrno(t, write(k, ethPF+"/vendor", "0x1234"), "open", syscall.EACCES)
			wantErrno(t, write(k, ethPF+"/no_such_attribute", "1"), "open", syscall.EACCES)
			_, err := afero.ReadFile(k, "/sys/bus/pci/drivers/mlx5_core/bind")
			wantErrno(t, err, "open", syscall.EACCES)
			_, err = k.Open(ethPF + "/nothing")
			wantErrno(t, err, "open", syscall.ENOENT)
			var pe *os.PathError
			if err := k.Mkdir("/sys/class/foo", 0o755); !errors.As(err, &pe) || pe.Err != syscall.EPERM {
				t.Errorf("mkdir in sysfs: %v", err)
			}
			if err := k.Remove(ethPF + "/vendor"); !errors.As(err, &pe) || pe.Err != syscall.EPERM {
				t.Errorf("remove in sysfs: %v", err)
			}
			if err := k.SymlinkIfPossible("x", "/sys/class/net/x"); err == nil {
				t.Errorf("symlink in sysfs succeeded")
			}
			if got := read(t, k, ethPF+"/vendor"); got != "0x15b3\n" {
				t.Errorf("vendor = %q", got)
			}
			// The private state is invisible; /run is a plain filesystem.
			if _, err := k.Stat(StateDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat %s: %v", StateDir, err)
			}
			if slices.Contains(listDir(t, k, "/"), ".fakesysfs") {
				t.Errorf("root lists the private dir")
			}
			if err := k.MkdirAll("/run/vflab", 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, k, "/run/vflab/x", "y")
			if got := read(t, k, "/run/vflab/x"); got != "y" {
				t.Errorf("/run file = %q", got)
			}
		})
	}
}

// TestUpdateVF: PF-side state, MAC shown at once, IB GUIDs on rebind, OFED files.
func TestUpdateVF(t *testing.T) {
	t.Parallel()
	node := topology.Node{Name: "ofed", OFED: true, NICs: []topology.NIC{
		{Model: "ConnectX-7", PCIAddress: "0000:18:00.0", NUMANode: 0, Ports: []topology.Port{{LinkLayer: topology.InfiniBand, TotalVFs: 4, NumVFs: 2}}},
		{Model: "ConnectX-6 Dx", PCIAddress: "0000:5e:00.0", NUMANode: 0, Ports: []topology.Port{{LinkLayer: topology.Ethernet, TotalVFs: 4, NumVFs: 2}}},
	}}
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, node)
			mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
			if err := k.UpdateVF("0000:5e:00.0", 1, func(v *VF) error { v.MAC = mac; v.Vlan = 10; return nil }); err != nil {
				t.Fatal(err)
			}
			if got := read(t, k, "/sys/class/net/enp94s0v1/address"); got != "02:00:00:00:00:42\n" {
				t.Errorf("VF address after MAC set = %q", got)
			}
			vfs, err := k.VFs("0000:5e:00.0")
			if err != nil || len(vfs) != 2 || vfs[1].Vlan != 10 || vfs[1].MAC.String() != mac.String() || vfs[1].Index != 1 {
				t.Fatalf("VFs = %+v, %v", vfs, err)
			}
			err = k.UpdateVF("0000:5e:00.0", 7, func(*VF) error { return nil })
			if !errors.Is(err, syscall.ENOENT) {
				t.Errorf("UpdateVF of a missing VF: %v", err)
			}
			if err := k.UpdateVF("0000:5e:00.0", 0, func(v *VF) error { v.MAC = net.HardwareAddr{1}; return nil }); err == nil {
				t.Errorf("UpdateVF accepted a 1-byte MAC")
			}

			// MLNX_OFED Ethernet VF files: usage strings, setters into the PF-side state, config.
			eth := "/sys/bus/pci/devices/0000:5e:00.0/sriov/1"
			if got := read(t, k, eth+"/spoofcheck"); got != "usage: write <ON|OFF> to enable|disable VF SpoofCheck\n" {
				t.Errorf("spoofcheck reads %q", got)
			}
			wantErrno(t, write(k, eth+"/vlan", "5000:0"), "write", syscall.EINVAL)
			wantErrno(t, write(k, eth+"/vlan", "10:3:802.1x"), "write", syscall.EINVAL)
			wantErrno(t, write(k, eth+"/spoofcheck", "on"), "write", syscall.EINVAL)
			wantErrno(t, write(k, eth+"/mac", "02:00"), "write", syscall.EINVAL)
			mustWrite(t, k, eth+"/vlan", "10:3:802.1ad\n")
			mustWrite(t, k, eth+"/spoofcheck", "ON\n")
			mustWrite(t, k, eth+"/trust", "ON")
			mustWrite(t, k, eth+"/link_state", "Up")
			mustWrite(t, k, eth+"/max_tx_rate", "1000")
			mustWrite(t, k, eth+"/mac", "02:00:00:00:00:99")
			vfs, _ = k.VFs("0000:5e:00.0")
			if v := vfs[1]; v.Vlan != 10 || v.Qos != 3 || v.VlanProto != 0x88a8 || !v.Spoofchk || !v.Trust || v.LinkState != 1 || v.MaxTxRate != 1000 {
				t.Errorf("VF state after OFED writes: %+v", v)
			}
			if got := read(t, k, "/sys/class/net/enp94s0v1/address"); got != "02:00:00:00:00:99\n" {
				t.Errorf("VF address after OFED mac = %q", got)
			}
			wantConfig := "VF         : 1\nMAC        : 02:00:00:00:00:99\nVLAN       : 10\nQoS        : 3\nVLAN Proto : 802.1ad\n" +
				"SpoofCheck : ON\nTrust      : ON\nLinkState  : Up\nMinTxRate  : 0\nMaxTxRate  : 1000\nVGT+       : OFF\n"
			if got := read(t, k, eth+"/config"); got != wantConfig {
				t.Errorf("config = %q, want %q", got, wantConfig)
			}

			// IB VF: zero GUIDs and DOWN until a GUID is set and the VF rebinds.
			ib := "/sys/bus/pci/devices/0000:18:00.0"
			vf := "/sys/bus/pci/devices/0000:18:00.1"
			port := func() string {
				devs := listDir(t, k, vf+"/infiniband")
				return vf + "/infiniband/" + devs[0] + "/ports/1"
			}
			if got := read(t, k, port()+"/state"); got != "1: DOWN\n" {
				t.Fatalf("fresh IB VF state = %q", got)
			}
			if got := read(t, k, port()+"/lid"); got != "0xffff\n" {
				t.Errorf("fresh IB VF lid = %q", got)
			}
			if got := read(t, k, ib+"/sriov/0/node"); got != "00:00:00:00:00:00:00:00\n" {
				t.Errorf("OFED node = %q", got)
			}
			if got := read(t, k, ib+"/sriov/0/policy"); got != "Down\n" {
				t.Errorf("OFED policy = %q", got)
			}
			wantErrno(t, write(k, ib+"/sriov/0/node", "zz"), "write", syscall.EINVAL)
			wantErrno(t, write(k, ib+"/sriov/0/port", "11:22:33"), "write", syscall.EINVAL)
			wantErrno(t, write(k, ib+"/sriov/0/policy", "follow"), "write", syscall.EINVAL)
			mustWrite(t, k, ib+"/sriov/0/policy", "Follow\n")
			mustWrite(t, k, ib+"/sriov/0/node", "11:22:33:44:55:66:77:88\n")
			mustWrite(t, k, ib+"/sriov/0/port", "11:22:33:44:55:66:77:89")
			if got := read(t, k, ib+"/sriov/0/port"); got != "11:22:33:44:55:66:77:89\n" {
				t.Errorf("OFED port reads %q", got)
			}
			vfs, _ = k.VFs("0000:18:00.0")
			if vfs[0].NodeGUID.String() != "11:22:33:44:55:66:77:88" {
				t.Errorf("VF state NodeGUID = %v", vfs[0].NodeGUID)
			}
			if got := read(t, k, port()+"/state"); got != "1: DOWN\n" {
				t.Fatalf("IB VF became %q before rebind", got)
			}
			mustWrite(t, k, "/sys/bus/pci/drivers/mlx5_core/unbind", "0000:18:00.1")
			mustWrite(t, k, "/sys/bus/pci/drivers/mlx5_core/bind", "0000:18:00.1")
			if got := read(t, k, port()+"/state"); got != "4: ACTIVE\n" {
				t.Errorf("IB VF after GUID and rebind = %q", got)
			}
			if got := read(t, k, port()+"/gids/0"); got != "fe80:0000:0000:0000:1122:3344:5566:7789\n" {
				t.Errorf("IB VF gid 0 = %q", got)
			}
			addr := read(t, k, "/sys/class/net/ibp24s0v0/address")
			if !strings.HasSuffix(addr, ":fe:80:00:00:00:00:00:00:11:22:33:44:55:66:77:89\n") {
				t.Errorf("IPoIB VF address = %q", addr)
			}
			// Disabling VFs clears their OFED dirs and state.
			mustWrite(t, k, ib+"/sriov_numvfs", "0")
			if exists(k, ib+"/sriov/0") || !exists(k, ib+"/sriov") {
				t.Errorf("sriov/ after numvfs=0: %v", listDir(t, k, ib+"/sriov"))
			}
			if vfs, _ := k.VFs("0000:18:00.0"); len(vfs) != 0 {
				t.Errorf("VF state survives: %+v", vfs)
			}
			if got := read(t, k, ib+"/mlx5_num_vfs"); got != "0\n" {
				t.Errorf("mlx5_num_vfs = %q", got)
			}
			mustWrite(t, k, ib+"/mlx5_num_vfs", "3")
			if got := read(t, k, ib+"/sriov_numvfs"); got != "3\n" || !exists(k, ib+"/sriov/2/node") {
				t.Errorf("mlx5_num_vfs=3: sriov_numvfs %q", got)
			}
		})
	}
}

// fakeNetdevs is a hand-written Netdevs: it records calls and serves live state.
type fakeNetdevs struct {
	mu      sync.Mutex
	added   []string
	removed []string
	hidden  map[string]bool
	live    map[string]Netdev
}

func (f *fakeNetdevs) Lookup(pci, name string) (Netdev, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hidden[name] {
		return Netdev{}, false, nil
	}
	l, ok := f.live[name]
	if !ok {
		return Netdev{Name: name}, true, nil
	}
	return l, true, nil
}

func (f *fakeNetdevs) Added(s NetdevSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, s.PCIAddress+"/"+s.Name+"/"+s.Address.String())
	return nil
}

func (f *fakeNetdevs) Removed(s NetdevSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, s.Name)
	return nil
}

func TestNetdevsHook(t *testing.T) {
	t.Parallel()
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			nd := &fakeNetdevs{hidden: map[string]bool{}, live: map[string]Netdev{}}
			k := b.make(t, preset(t, "laptop"), WithNetdevs(nd))
			if len(nd.added) != 0 {
				t.Fatalf("initial rendering called Added: %v", nd.added)
			}
			specs, err := k.Netdevs()
			if err != nil || len(specs) != 10 {
				t.Fatalf("Netdevs() = %d specs, %v", len(specs), err)
			}
			if specs[0].PCIAddress != "0000:3b:00.0" || specs[0].Name != "ibp59s0" || !specs[0].PF || len(specs[0].Address) != 20 || specs[0].Fabric != "ib0" {
				t.Errorf("first spec = %+v", specs[0])
			}
			mustWrite(t, k, ethPF+"/sriov_numvfs", "0")
			if !slices.Equal(nd.removed, []string{"enp94s0v3", "enp94s0v2", "enp94s0v1", "enp94s0v0"}) {
				t.Errorf("Removed calls = %v", nd.removed)
			}
			mustWrite(t, k, ethPF+"/sriov_numvfs", "1")
			if len(nd.added) != 1 || !strings.HasPrefix(nd.added[0], "0000:5e:00.1/enp94s0v0/") {
				t.Errorf("Added calls = %v", nd.added)
			}
			// A netdev moved out of the host namespace vanishes from the view, not from the tree.
			nd.mu.Lock()
			nd.hidden["enp94s0v0"] = true
			nd.live["enp94s0np0"] = Netdev{Name: "enp94s0np0", Address: net.HardwareAddr{2, 1, 1, 1, 1, 1}, MTU: 9000, OperState: "down", Ifindex: 77}
			nd.live["ibp59s0"] = Netdev{Name: "ibp59s0", Address: net.HardwareAddr{2, 1, 1, 1, 1, 1}, MTU: 2044, OperState: "up", Carrier: true, Ifindex: 78}
			nd.mu.Unlock()
			for _, p := range []string{"/sys/class/net/enp94s0v0", "/sys/class/net/enp94s0v0/address", "/sys/bus/pci/devices/" + ethVF + "/net/enp94s0v0"} {
				if _, err := k.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("stat hidden %s: %v", p, err)
				}
			}
			if _, _, err := k.LstatIfPossible("/sys/class/net/enp94s0v0"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("lstat hidden class link: %v", err)
			}
			if slices.Contains(listDir(t, k, "/sys/class/net"), "enp94s0v0") || len(listDir(t, k, "/sys/bus/pci/devices/"+ethVF+"/net")) != 0 {
				t.Errorf("hidden netdev listed")
			}
			if specs, _ := k.Netdevs(); len(specs) != 7 {
				t.Errorf("Netdevs() after hide = %d, want 7 (5 IB + PF + VF0)", len(specs))
			}
			for file, want := range map[string]string{
				"/sys/class/net/enp94s0np0/address":   "02:01:01:01:01:01\n",
				"/sys/class/net/enp94s0np0/mtu":       "9000\n",
				"/sys/class/net/enp94s0np0/operstate": "down\n",
				"/sys/class/net/enp94s0np0/carrier":   "0\n",
				"/sys/class/net/enp94s0np0/ifindex":   "77\n",
				"/sys/class/net/ibp59s0/mtu":          "2044\n",
				"/sys/class/net/ibp59s0/carrier":      "1\n",
			} {
				if got := read(t, k, file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
			if got := read(t, k, "/sys/class/net/ibp59s0/address"); len(got) != 60 {
				t.Errorf("IPoIB address overridden: %q", got)
			}
		})
	}
}

// TestVFIOWithoutIOMMU: vfio-pci's probe fails without an IOMMU group (EINVAL), and drivers_probe
// then leaves the device unbound without an error.
func TestVFIOWithoutIOMMU(t *testing.T) {
	t.Parallel()
	node := preset(t, "laptop")
	node.IOMMU = false
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, node)
			vf := "/sys/bus/pci/devices/" + ethVF
			if exists(k, vf+"/iommu_group") || len(listDir(t, k, "/sys/kernel/iommu_groups")) != 0 {
				t.Fatal("IOMMU groups without an IOMMU")
			}
			mustWrite(t, k, "/sys/bus/pci/drivers/mlx5_core/unbind", ethVF)
			mustWrite(t, k, vf+"/driver_override", "vfio-pci")
			wantErrno(t, write(k, "/sys/bus/pci/drivers/vfio-pci/bind", ethVF), "write", syscall.EINVAL)
			mustWrite(t, k, "/sys/bus/pci/drivers_probe", ethVF)
			if exists(k, vf+"/driver") {
				t.Error("vfio-pci bound without an IOMMU group")
			}
		})
	}
}
