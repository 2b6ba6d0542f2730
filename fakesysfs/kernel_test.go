package fakesysfs

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs/topology"
)

// backings runs a test on an in-memory kernel and on an on-disk one.
var backings = []struct {
	name string
	make func(t *testing.T, n topology.Node, opts ...Option) *Kernel
}{
	{"mem", func(t *testing.T, n topology.Node, opts ...Option) *Kernel {
		t.Helper()
		k, err := New(n, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}},
	{"disk", func(t *testing.T, n topology.Node, opts ...Option) *Kernel {
		t.Helper()
		k, err := Create(tempRoot(t), n, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}},
}

// tempRoot is a fresh directory for an on-disk kernel: on tmpfs (/dev/shm) where there is one, since
// creating files on a VM's ext4 costs about 1 ms each and a rendered node has thousands.
func tempRoot(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "fakesysfs-test-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir + "/root"
		}
	}
	return t.TempDir() + "/root"
}

func preset(t *testing.T, name string) topology.Node {
	t.Helper()
	n, err := topology.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func read(t *testing.T, fs afero.Fs, name string) string {
	t.Helper()
	b, err := afero.ReadFile(fs, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func write(fs afero.Fs, name, value string) error {
	return afero.WriteFile(fs, name, []byte(value), 0o644)
}

// wantErrno checks err is a *os.PathError carrying errno (op "write" for writes).
func wantErrno(t *testing.T, err error, op string, errno syscall.Errno) {
	t.Helper()
	var pe *os.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v (%T), want *os.PathError with %v", err, err, errno)
	}
	if pe.Op != op || pe.Err != errno {
		t.Fatalf("got %s %v (%#v), want %s %v", pe.Op, pe.Err, pe.Err, op, errno)
	}
}

func TestRenderLaptop(t *testing.T) {
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, preset(t, "laptop"))
			pf := "/sys/bus/pci/devices/0000:3b:00.0"
			for file, want := range map[string]string{
				"vendor":                "0x15b3\n",
				"device":                "0x101b\n",
				"class":                 "0x020700\n",
				"sriov_totalvfs":        "8\n",
				"sriov_numvfs":          "4\n",
				"sriov_vf_device":       "101c\n",
				"driver_override":       "(null)\n",
				"modalias":              "pci:v000015B3d0000101Bsv000015B3sd00000006bc02sc07i00\n",
				"virtfn0/physfn/vendor": "0x15b3\n",
			} {
				if got := read(t, k, pf+"/"+file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
			if got, err := k.ReadlinkIfPossible(pf + "/virtfn0"); err != nil || got != "../0000:3b:00.1" {
				t.Errorf("virtfn0 -> %q, %v", got, err)
			}
			if got := read(t, k, "/sys/class/net/ibp59s0v0/device/physfn/net/ibp59s0/type"); got != "32\n" {
				t.Errorf("PF type via VF = %q", got)
			}
			if !strings.HasPrefix(read(t, k, "/sys/class/net/ibp59s0/address"), "00:00:10:87:fe:80:00:00:00:00:00:00:") {
				t.Errorf("IPoIB address %q", read(t, k, "/sys/class/net/ibp59s0/address"))
			}
		})
	}
}

func TestNumVFs(t *testing.T) {
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			k := b.make(t, preset(t, "laptop"))
			pf := "/sys/bus/pci/devices/0000:5e:00.0"
			wantErrno(t, write(k, pf+"/sriov_numvfs", "2"), "write", syscall.EBUSY)
			if err := write(k, pf+"/sriov_numvfs", "0"); err != nil {
				t.Fatal(err)
			}
			if _, err := k.Stat("/sys/class/net/enp94s0v0"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("VF netdev after numvfs=0: %v", err)
			}
			if err := write(k, pf+"/sriov_numvfs", "0x8\n"); err != nil {
				t.Fatal(err)
			}
			if got := read(t, k, "/sys/class/net/enp94s0v7/device/uevent"); !strings.Contains(got, "PCI_SLOT_NAME=0000:5e:00.8") && !strings.Contains(got, "0000:5e:01.0") {
				t.Fatalf("VF7 uevent %q", got)
			}
		})
	}
}

func TestCPUs(t *testing.T) {
	t.Parallel()
	k, err := New(topology.Node{Name: "n", NUMANodes: 2, CPUsPerNUMANode: 56, NICs: []topology.NIC{
		{Model: "ConnectX-7", PCIAddress: "0000:18:00.0", NUMANode: 1, Ports: []topology.Port{{LinkLayer: topology.InfiniBand}}},
		{Model: "ConnectX-7", PCIAddress: "0000:19:00.0", NUMANode: -1, Ports: []topology.Port{{LinkLayer: topology.InfiniBand}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"0000:18:00.0/local_cpulist": "56-111\n",
		"0000:18:00.0/local_cpus":    "ffff,ffffffff,ff000000,00000000\n", // 112 CPUs: 28 digits, as the kernel prints
		"0000:18:00.0/numa_node":     "1\n",
		"0000:19:00.0/local_cpulist": "0-111\n",
		"0000:19:00.0/local_cpus":    "ffff,ffffffff,ffffffff,ffffffff\n",
		"0000:19:00.0/numa_node":     "-1\n",
	} {
		if got := read(t, k, "/sys/bus/pci/devices/"+file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func TestCreateOpen(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	k, err := Create(root, preset(t, "laptop"), WithProbeDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if k.Root() == "" || !strings.HasSuffix(k.Root(), "/root") {
		t.Errorf("Root() = %q", k.Root())
	}
	if _, err := Create(root, preset(t, "laptop")); err == nil {
		t.Error("Create into a non-empty dir succeeded")
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open of an empty dir succeeded")
	}
	bad := preset(t, "laptop")
	bad.NICs[0].Model = "ConnectX-99"
	if _, err := New(bad); err == nil || !strings.Contains(err.Error(), "nics[0].model") {
		t.Errorf("New(invalid) = %v", err)
	}
	badRoot := tempRoot(t)
	if _, err := Create(badRoot, bad); err == nil {
		t.Error("Create(invalid) succeeded")
	}
	if entries, err := os.ReadDir(badRoot); err != nil || len(entries) != 0 {
		t.Errorf("failed Create left %d entries (%v)", len(entries), err)
	}
	// Another opener sees the same tree and the same state, and its writes apply the same semantics.
	k2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Node().Name != "laptop" || k2.Node().NICs[1].Ports[0].Netdev != "enp94s0np0" {
		t.Errorf("Open: node %+v", k2.Node())
	}
	mustWrite(t, k2, ethPF+"/sriov_numvfs", "0")
	start := time.Now()
	mustWrite(t, k, ethPF+"/sriov_numvfs", "3") // probe delay: 3 × 20 ms
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("3 VFs with a 20 ms probe delay took %v", d)
	}
	if got := read(t, k2, "/sys/class/net/enp94s0v2/device/physfn/sriov_numvfs"); got != "3\n" {
		t.Errorf("second opener reads %q", got)
	}
	if _, err := New(preset(t, "laptop"), WithLogger(nil)); err != nil {
		t.Fatal(err)
	}
	var k3 *Kernel
	if k3, err = New(preset(t, "laptop")); err != nil || k3.Root() != "" {
		t.Errorf("in-memory Root() = %q, %v", k3.Root(), err)
	}
}
