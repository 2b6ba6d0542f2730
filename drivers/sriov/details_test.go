package sriov_test

import (
	"errors"
	"os"
	"path"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// withIOMMU gives every function of the node an IOMMU group, or none.
func withIOMMU(on bool) func(*topology.Node) { return func(n *topology.Node) { n.IOMMU = on } }

// failReads is a fake kernel whose reads of one file fail with EIO.
type failReads struct {
	*fakesysfs.Kernel
	bad string
}

func (f failReads) Open(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}

func (f failReads) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if name == f.bad {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EIO}
	}
	return f.Kernel.OpenFile(name, flag, perm)
}

// TestDetails: every function of a preset with IOMMU gets its own group, its netdev's operstate, and
// none of the attributes the preset does not have; then acpi_index, a uio device and a vfio-noiommu
// group written into the kernel show up, and a vanished VF reads as empty without an error.
func TestDetails(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop", withIOMMU(true))
	d := sriov.New(k, nil)
	inv, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]string{}
	var vfs []sriov.VF
	for _, pf := range inv.PFs {
		vfs = append(vfs, pf.VFs...)
		fns := []sriov.Function{pf.Function}
		for _, vf := range pf.VFs {
			fns = append(fns, vf.Function)
		}
		for _, fn := range fns {
			det, err := d.Details(&fn)
			if err != nil {
				t.Fatalf("%s: %v", fn.Address, err)
			}
			if det.IOMMUGroup == "" || det.NoIOMMU || det.UIO != "" || det.ACPIIndex != "" {
				t.Errorf("%s: details %+v, want an IOMMU group only", fn.Address, det)
			}
			if other, dup := groups[det.IOMMUGroup]; dup {
				t.Errorf("%s and %s share IOMMU group %s", fn.Address, other, det.IOMMUGroup)
			}
			groups[det.IOMMUGroup] = fn.Address
			want := ""
			if len(fn.Netdevs) > 0 {
				b, err := afero.ReadFile(k, path.Join("/sys/class/net", fn.Netdevs[0], "operstate"))
				if err != nil {
					t.Fatal(err)
				}
				want = string(b[:len(b)-1])
			}
			if det.OperState != want {
				t.Errorf("%s: operstate %q, want %q", fn.Address, det.OperState, want)
			}
		}
	}
	if len(vfs) < 2 {
		t.Fatalf("laptop has %d VFs, want at least 2", len(vfs))
	}

	vf := vfs[0].Function
	dir := realDir(t, k, vf.Address)
	group, err := d.Details(&vf)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Update(func(raw afero.Fs) error {
		if err := afero.WriteFile(raw, dir+"/acpi_index", []byte("3\n"), 0o444); err != nil {
			return err
		}
		if err := raw.MkdirAll(dir+"/uio/uio7", 0o755); err != nil {
			return err
		}
		return afero.WriteFile(raw, path.Join(sriov.IOMMUGroups, group.IOMMUGroup, "name"), []byte("vfio-noiommu\n"), 0o444)
	}); err != nil {
		t.Fatal(err)
	}
	det, err := d.Details(&vf)
	want := sriov.Details{IOMMUGroup: group.IOMMUGroup, NoIOMMU: true, UIO: "uio7", ACPIIndex: "3", OperState: group.OperState}
	if err != nil || det != want {
		t.Errorf("after writes: %+v, %v; want %+v", det, err, want)
	}

	failing := sriov.New(failReads{Kernel: k, bad: path.Join(sriov.PCIDevices, vf.Address, "acpi_index")}, nil)
	det, err = failing.Details(&vf)
	want.ACPIIndex = ""
	if !errors.Is(err, syscall.EIO) || det != want {
		t.Errorf("acpi_index unreadable: %+v, %v; want %+v and EIO", det, err, want)
	}

	gone := vfs[1].Function
	removeDevice(t, k, gone.Address)
	if det, err := d.Details(&gone); err != nil || det != (sriov.Details{}) {
		t.Errorf("vanished VF: %+v, %v; want nothing and no error", det, err)
	}
}

// TestDetailsWithoutIOMMU: without IOMMU no function has a group.
func TestDetailsWithoutIOMMU(t *testing.T) {
	t.Parallel()
	d := sriov.New(kernel(t, "laptop", withIOMMU(false)), nil)
	inv, err := d.Discover()
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range inv.PFs {
		for _, vf := range pf.VFs {
			if det, err := d.Details(&vf.Function); err != nil || det.IOMMUGroup != "" || det.NoIOMMU {
				t.Errorf("%s: %+v, %v; want no IOMMU group", vf.Address, det, err)
			}
		}
	}
}

// TestHostDevices: /dev/vhost-net and /dev/net/tun are reported as they come and go.
func TestHostDevices(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop")
	d := sriov.New(k, nil)
	for _, step := range []struct {
		create, remove string
		want           sriov.HostDevices
	}{
		{want: sriov.HostDevices{}},
		{create: sriov.DevVhostNet, want: sriov.HostDevices{VhostNet: true}},
		{create: sriov.DevTun, want: sriov.HostDevices{VhostNet: true, Tun: true}},
		{remove: sriov.DevVhostNet, want: sriov.HostDevices{Tun: true}},
	} {
		if err := k.Update(func(raw afero.Fs) error {
			if step.create != "" {
				if err := raw.MkdirAll(path.Dir(step.create), 0o755); err != nil {
					return err
				}
				return afero.WriteFile(raw, step.create, []byte("10:200\n"), 0o666)
			}
			if step.remove != "" {
				return raw.Remove(step.remove)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := d.HostDevices(); got != step.want {
			t.Errorf("after creating %q, removing %q: %+v, want %+v", step.create, step.remove, got, step.want)
		}
	}
}

// realDir resolves /sys/bus/pci/devices/<bdf> to its directory under /sys/devices.
func realDir(t *testing.T, k *fakesysfs.Kernel, bdf string) string {
	t.Helper()
	link := path.Join(sriov.PCIDevices, bdf)
	target, err := k.ReadlinkIfPossible(link)
	if err != nil {
		t.Fatal(err)
	}
	return path.Join(path.Dir(link), target)
}

func TestVFIOGroupDevice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		group   string
		noIOMMU bool
		want    string
	}{
		{"42", false, "/dev/vfio/42"},
		{"42", true, "/dev/vfio/noiommu-42"},
	} {
		if got := sriov.VFIOGroupDevice(tc.group, tc.noIOMMU); got != tc.want {
			t.Errorf("VFIOGroupDevice(%q, %v) = %q, want %q", tc.group, tc.noIOMMU, got, tc.want)
		}
	}
}
