package sys

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// newRoot renders the laptop preset into a fresh directory.
func newRoot(t *testing.T) string {
	t.Helper()
	node, err := topology.Preset("laptop")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "root")
	if _, err := fakesysfs.Create(dir, node); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	sharedOnce sync.Once
	sharedDir  string
	sharedErr  error
)

// readOnlyRoot is one laptop rendering shared by the tests that only read (rendering on disk takes a
// second or two); it lives in a directory of its own, removed by TestMain.
func readOnlyRoot(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() {
		node, _ := topology.Preset("laptop")
		if sharedDir, sharedErr = os.MkdirTemp("", "vflab-sys-test-"); sharedErr == nil {
			_, sharedErr = fakesysfs.Create(filepath.Join(sharedDir, "root"), node)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return filepath.Join(sharedDir, "root")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// run executes `sys args...` in-process.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand(nil)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

const pf = "/sys/bus/pci/devices/0000:3b:00.0"

func TestCat(t *testing.T) {
	t.Parallel()
	root := readOnlyRoot(t)
	out, err := run(t, "cat", "--root", root, pf+"/vendor", "sys/class/net/ibp59s0/device/sriov_totalvfs")
	if err != nil || out != "0x15b3\n8\n" {
		t.Errorf("cat = %q, %v", out, err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/sys/class/net/ibp59s0v0/phys_port_name", "/sys/class/net/ibp59s0v0/phys_port_name: Operation not supported"},
		{"/sys/nope", "/sys/nope: No such file or directory"},
		{"/sys/class", "/sys/class: Is a directory"},
	} {
		if _, err := run(t, "cat", "--root", root, tt.path); err == nil || err.Error() != tt.want {
			t.Errorf("cat %s = %v, want %q", tt.path, err, tt.want)
		}
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	root := newRoot(t)
	numvfs := func() string {
		out, err := run(t, "cat", "--root", root, pf+"/sriov_numvfs")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tt := range []struct {
		value, wantErr, wantNumVFs string
	}{
		{"9", "write error: Numerical result out of range", "4\n"}, // ERANGE above sriov_totalvfs
		{"2", "write error: Device or resource busy", "4\n"},       // EBUSY changing a non-zero count
		{"four", "write error: Invalid argument", "4\n"},           // EINVAL
		{"4", "", "4\n"}, // same value: no-op
		{"0", "", "0\n"}, // removes every VF
		{"8", "", "8\n"},
	} {
		_, err := run(t, "write", "--root", root, pf+"/sriov_numvfs", tt.value)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("write %s: %v", tt.value, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("write %s = %v, want %q", tt.value, err, tt.wantErr)
		}
		if got := numvfs(); got != tt.wantNumVFs {
			t.Errorf("after write %s: sriov_numvfs = %q, want %q", tt.value, got, tt.wantNumVFs)
		}
	}
	// The eight VFs exist, with the kernel's relative links, also for other processes reading the disk.
	out, err := run(t, "readlink", "--root", root, pf+"/virtfn7")
	if err != nil || out != "../0000:3b:01.0\n" {
		t.Errorf("readlink virtfn7 = %q, %v", out, err)
	}
	if target, err := os.Readlink(filepath.Join(root, "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:01.0/physfn")); err != nil || target != "../0000:3b:00.0" {
		t.Errorf("physfn of VF 7 = %q, %v", target, err)
	}
	out, err = run(t, "ls", "--root", root, "/sys/class/net")
	if err != nil || !strings.Contains(out, "ibp59s0v7\n") {
		t.Errorf("ls /sys/class/net = %q, %v", out, err)
	}
	// -n writes without the newline; a missing file is not created.
	if _, err := run(t, "write", "-n", "--root", root, pf+"/sriov_drivers_autoprobe", "0"); err != nil {
		t.Errorf("write -n: %v", err)
	}
	if _, err := run(t, "write", "--root", root, "/sys/bus/pci/devices/0000:3b:00.0/nope", "1"); err == nil || err.Error() != "/sys/bus/pci/devices/0000:3b:00.0/nope: No such file or directory" {
		t.Errorf("write to a missing file = %v", err)
	}
}

func TestLs(t *testing.T) {
	t.Parallel()
	root := readOnlyRoot(t)
	out, err := run(t, "ls", "-l", "--root", root, pf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Lrwxrwxrwx virtfn0 -> ../0000:3b:00.1\n", "Lrwxrwxrwx driver -> ../../../../bus/pci/drivers/mlx5_core\n", "-r--r--r-- vendor\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls -l lacks %q:\n%s", want, out)
		}
	}
}

func TestRootRequired(t *testing.T) {
	t.Setenv(RootEnv, "")
	if _, err := run(t, "cat", pf+"/vendor"); err == nil || !strings.Contains(err.Error(), "pass --root DIR or set VFLAB_ROOT") {
		t.Errorf("cat without a root = %v", err)
	}
	if _, err := run(t, "cat", "--root", t.TempDir(), pf+"/vendor"); err == nil {
		t.Error("cat in a directory without a kernel succeeded")
	}
	t.Setenv(RootEnv, readOnlyRoot(t))
	if out, err := run(t, "cat", pf+"/vendor"); err != nil || out != "0x15b3\n" {
		t.Errorf("cat with $%s = %q, %v", RootEnv, out, err)
	}
}
