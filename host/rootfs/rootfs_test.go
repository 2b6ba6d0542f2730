package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/spf13/afero"
)

// tree builds a small machine tree on disk with relative and absolute links at real depths.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mk := func(p, content string) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, p string) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	mk("sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.0/vendor", "0x15b3\n")
	mk("sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.1/vendor", "0x15b3\n")
	mk("sys/bus/pci/drivers/mlx5_core/bind", "")
	ln("../../../devices/pci0000:00/0000:00:02.0/0000:3b:00.0", "sys/bus/pci/devices/0000:3b:00.0")
	ln("../0000:3b:00.1", "sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.0/virtfn0")
	ln("../../../../bus/pci/drivers/mlx5_core", "sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.0/driver")
	ln("/sys/bus/pci/devices/0000:3b:00.0", "abs")
	ln("../../../../../../../../../../etc", "sys/escape")
	ln("loop", "loop")
	return dir
}

func TestRootfsFollowsLinksInside(t *testing.T) {
	t.Parallel()
	fs, err := New(tree(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/sys/bus/pci/devices/0000:3b:00.0/vendor",
		"/sys/bus/pci/devices/0000:3b:00.0/virtfn0/vendor",
		"/abs/virtfn0/vendor",
		"sys/bus/pci/devices/0000:3b:00.0/virtfn0/../0000:3b:00.0/vendor",
	} {
		b, err := afero.ReadFile(fs, p)
		if err != nil || string(b) != "0x15b3\n" {
			t.Errorf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
	if got, err := fs.ReadlinkIfPossible("/sys/bus/pci/devices/0000:3b:00.0/virtfn0"); err != nil || got != "../0000:3b:00.1" {
		t.Errorf("Readlink virtfn0 = %q, %v", got, err)
	}
	fi, _, err := fs.LstatIfPossible("/sys/bus/pci/devices/0000:3b:00.0/driver")
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("Lstat driver = %v, %v; want a symlink", fi, err)
	}
	if fi, err := fs.Stat("/sys/bus/pci/devices/0000:3b:00.0/driver"); err != nil || !fi.IsDir() {
		t.Errorf("Stat driver = %v, %v; want the driver dir", fi, err)
	}
	names, err := afero.ReadDir(fs, "/sys/bus/pci/devices")
	if err != nil || len(names) != 1 || names[0].Name() != "0000:3b:00.0" {
		t.Errorf("ReadDir = %v, %v", names, err)
	}
	// A link climbing above the root stops at the root, as ".." at "/" does.
	if _, err := fs.Stat("/sys/escape/passwd"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("escape: %v; want not-exist inside the root", err)
	}
	if _, err := fs.Stat("/loop"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("loop: %v; want ELOOP", err)
	}
	if _, err := fs.Stat("/nope/x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestRootfsIsReadOnly(t *testing.T) {
	t.Parallel()
	dir := tree(t)
	fs, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	const vendor = "/sys/bus/pci/devices/0000:3b:00.0/vendor"
	for name, err := range map[string]error{
		"WriteFile": afero.WriteFile(fs, vendor, []byte("x"), 0o644),
		"Mkdir":     fs.Mkdir("/x", 0o755),
		"Remove":    fs.Remove(vendor),
		"RemoveAll": fs.RemoveAll("/sys"),
		"Rename":    fs.Rename(vendor, "/y"),
		"Symlink":   fs.SymlinkIfPossible("/a", "/b"),
		"Chmod":     fs.Chmod(vendor, 0),
	} {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v; want EROFS", name, err)
		}
	}
	f, err := fs.Open(vendor)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteString("x"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write through open file: %v", err)
	}
	if f.Name() != vendor {
		t.Errorf("Name = %q, want the virtual path", f.Name())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.0/vendor"))
	if string(b) != "0x15b3\n" {
		t.Errorf("file changed on disk: %q", b)
	}
	if _, err := New(filepath.Join(dir, "sys/bus/pci/devices/0000:3b:00.0/vendor")); err == nil {
		t.Error("New on a file succeeded")
	}
}

func TestDriversOnly(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"32em64t-2n8c+1mic/": true,
		"32em64t-2n8c+1mic/sys/bus/pci/devices/0000:82:00.0":                                                true,
		"32em64t-2n8c+1mic/proc/cpuinfo":                                                                    false,
		"sys/devices/pci0000:80/0000:80:02.2/0000:82:00.0/net":                                              true,
		"sys/devices/pci0000:80/0000:80:02.2/0000:82:00.0/infiniband/mlx4_0/ports/1/gids/0":                 true,
		"sys/devices/pci0000:80/0000:80:02.2/0000:82:00.0/infiniband/mlx4_0/ports/1/counters/port_rcv_data": false,
		"sys/devices/pci0000:80/0000:80:02.2/0000:82:00.0/resource0":                                        false,
		"sys/devices/pci0000:80/0000:80:02.2/0000:82:00.0/power/control":                                    false,
		"sys/devices/system/cpu/cpu0/topology/core_id":                                                      false,
		"sys/firmware/acpi/tables/DSDT":                                                                     false,
		"sys/class/infiniband/mlx4_0":                                                                       true,
		"dev/infiniband/rdma_cm":                                                                            true,
		"sys":                                                                                               true,
	} {
		if got := DriversOnly(name); got != want {
			t.Errorf("DriversOnly(%q) = %v, want %v", name, got, want)
		}
	}
}
