package symfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/spf13/afero"
)

// backings returns a fresh filesystem of each kind.
func backings(t *testing.T) map[string]FS {
	t.Helper()
	d, err := NewDirFs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]FS{"mem": NewMemFs(), "dir": d}
}

// sample builds:
//
//	/sys/devices/pci/bdf/{vendor,net/eth0/address}
//	/sys/bus/devices/bdf -> ../../devices/pci/bdf
//	/sys/class/net/eth0 -> ../../devices/pci/bdf/net/eth0
//	/sys/loop/a -> b, /sys/loop/b -> a
//	/sys/dangling -> nowhere
//	/sys/escape -> ../../../../etc, /sys/abs -> /sys/devices
func sample(t *testing.T, fs FS) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(fs.MkdirAll("/sys/devices/pci/bdf/net/eth0", 0o755))
	must(afero.WriteFile(fs, "/sys/devices/pci/bdf/vendor", []byte("0x15b3\n"), 0o444))
	must(afero.WriteFile(fs, "/sys/devices/pci/bdf/net/eth0/address", []byte("aa\n"), 0o644))
	must(fs.MkdirAll("/sys/bus/devices", 0o755))
	must(fs.SymlinkIfPossible("../../devices/pci/bdf", "/sys/bus/devices/bdf"))
	must(fs.MkdirAll("/sys/class/net", 0o755))
	must(fs.SymlinkIfPossible("../../devices/pci/bdf/net/eth0", "/sys/class/net/eth0"))
	must(fs.MkdirAll("/sys/loop", 0o755))
	must(fs.SymlinkIfPossible("b", "/sys/loop/a"))
	must(fs.SymlinkIfPossible("a", "/sys/loop/b"))
	must(fs.SymlinkIfPossible("nowhere", "/sys/dangling"))
	must(fs.SymlinkIfPossible("../../../../etc", "/sys/escape"))
	must(fs.SymlinkIfPossible("/sys/devices", "/sys/abs"))
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func TestLinks(t *testing.T) {
	t.Parallel()
	for name, fs := range backings(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sample(t, fs)
			reads := []struct {
				path  string
				want  string
				errno syscall.Errno
			}{
				{"/sys/bus/devices/bdf/vendor", "0x15b3\n", 0},
				{"/sys/class/net/eth0/address", "aa\n", 0},
				{"/sys/class/net/eth0/../../vendor", "0x15b3\n", 0}, // `..` is physical: after the link
				{"/sys/bus/devices/bdf/net/../vendor", "0x15b3\n", 0},
				{"/sys/abs/pci/bdf/vendor", "0x15b3\n", 0},
				{"sys/bus/devices/bdf/vendor", "0x15b3\n", 0}, // relative to "/"
				{"/sys/loop/a", "", syscall.ELOOP},
				{"/sys/loop/a/x", "", syscall.ELOOP},
				{"/sys/dangling", "", syscall.ENOENT},
				{"/sys/bus/devices/bdf/vendor/x", "", syscall.ENOTDIR},
				{"/sys/escape", "", syscall.ENOENT}, // clamped at the root: /etc of the tree
			}
			for _, r := range reads {
				b, err := afero.ReadFile(fs, r.path)
				if r.errno != 0 {
					if errnoOf(err) != r.errno {
						t.Errorf("read %s: %v, want %v", r.path, err, r.errno)
					}
					continue
				}
				if err != nil || string(b) != r.want {
					t.Errorf("read %s = %q, %v; want %q", r.path, b, err, r.want)
				}
			}
			for link, want := range map[string]string{
				"/sys/bus/devices/bdf": "../../devices/pci/bdf",
				"/sys/class/net/eth0":  "../../devices/pci/bdf/net/eth0",
				"/sys/loop/a":          "b",
				"/sys/dangling":        "nowhere",
				"/sys/abs":             "/sys/devices",
			} {
				got, err := fs.ReadlinkIfPossible(link)
				if err != nil || got != want {
					t.Errorf("readlink %s = %q, %v; want %q", link, got, err, want)
				}
			}
			if _, err := fs.ReadlinkIfPossible("/sys/devices"); errnoOf(err) != syscall.EINVAL {
				t.Errorf("readlink of a dir: %v, want EINVAL", err)
			}
			// Stat follows, Lstat does not.
			fi, err := fs.Stat("/sys/bus/devices/bdf")
			if err != nil || !fi.IsDir() {
				t.Errorf("stat link to dir: %v %v", fi, err)
			}
			fi, _, err = fs.LstatIfPossible("/sys/bus/devices/bdf")
			if err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("lstat link: %v %v", fi, err)
			}
			if _, _, err := fs.LstatIfPossible("/sys/dangling"); err != nil {
				t.Errorf("lstat dangling: %v", err)
			}
			if _, err := fs.Stat("/sys/dangling"); errnoOf(err) != syscall.ENOENT {
				t.Errorf("stat dangling: %v", err)
			}
			// ReadDir through a linked dir lists the target's entries; links are listed as links.
			f, err := fs.Open("/sys/bus/devices/bdf")
			if err != nil {
				t.Fatal(err)
			}
			names, err := f.Readdirnames(-1)
			_ = f.Close()
			sort.Strings(names)
			if err != nil || len(names) != 2 || names[0] != "net" || names[1] != "vendor" {
				t.Errorf("readdir via link = %v, %v", names, err)
			}
			f, _ = fs.Open("/sys/class/net")
			fis, _ := f.Readdir(-1)
			_ = f.Close()
			if len(fis) != 1 || fis[0].Mode()&os.ModeSymlink == 0 || fis[0].Name() != "eth0" {
				t.Errorf("readdir of links: %v", fis)
			}
			// Realpath.
			real, ok, err := fs.Realpath("/sys/class/net/eth0/address")
			if err != nil || !ok || real != "/sys/devices/pci/bdf/net/eth0/address" {
				t.Errorf("realpath = %q %v %v", real, ok, err)
			}
			// Remove removes the link, not its target.
			if err := fs.Remove("/sys/bus/devices/bdf"); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Stat("/sys/devices/pci/bdf/vendor"); err != nil {
				t.Errorf("target gone with its link: %v", err)
			}
			// Writing through a link writes the target.
			if err := afero.WriteFile(fs, "/sys/class/net/eth0/address", []byte("bb\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if b, _ := afero.ReadFile(fs, "/sys/devices/pci/bdf/net/eth0/address"); string(b) != "bb\n" {
				t.Errorf("write via link: target = %q", b)
			}
			// Creating through a dangling link creates its target.
			if err := afero.WriteFile(fs, "/sys/dangling", []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if b, _ := afero.ReadFile(fs, "/sys/nowhere"); string(b) != "x" {
				t.Errorf("create via dangling link: %q", b)
			}
			// Existing symlink: EEXIST.
			if err := fs.SymlinkIfPossible("x", "/sys/loop/a"); errnoOf(err) != syscall.EEXIST {
				t.Errorf("symlink over existing: %v", err)
			}
			// Rename replaces atomically; renaming a dir moves its subtree.
			if err := afero.WriteFile(fs, "/sys/tmpfile", []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := fs.Rename("/sys/tmpfile", "/sys/devices/pci/bdf/vendor"); err != nil {
				t.Fatal(err)
			}
			if b, _ := afero.ReadFile(fs, "/sys/class/net/eth0/../../vendor"); string(b) != "new" {
				t.Errorf("after rename: %q", b)
			}
			if err := fs.Rename("/sys/devices/pci", "/sys/devices/pci2"); err != nil {
				t.Fatal(err)
			}
			if b, err := afero.ReadFile(fs, "/sys/devices/pci2/bdf/net/eth0/address"); err != nil || string(b) != "bb\n" {
				t.Errorf("after dir rename: %q %v", b, err)
			}
			if err := fs.Remove("/sys/devices/pci2"); errnoOf(err) != syscall.ENOTEMPTY {
				t.Errorf("remove non-empty dir: %v", err)
			}
			if err := fs.RemoveAll("/sys/devices/pci2"); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Stat("/sys/devices/pci2/bdf"); errnoOf(err) != syscall.ENOENT {
				t.Errorf("after RemoveAll: %v", err)
			}
		})
	}
}

func TestFileOps(t *testing.T) {
	t.Parallel()
	for name, fs := range backings(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := fs.Mkdir("/a", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fs.Mkdir("/a", 0o755); errnoOf(err) != syscall.EEXIST {
				t.Errorf("mkdir twice: %v", err)
			}
			if _, err := fs.OpenFile("/a/b/c", os.O_CREATE|os.O_WRONLY, 0o644); errnoOf(err) != syscall.ENOENT {
				t.Errorf("create in missing dir: %v", err)
			}
			f, err := fs.OpenFile("/a/f", os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
			if _, err := fs.OpenFile("/a/f", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640); errnoOf(err) != syscall.EEXIST {
				t.Errorf("O_EXCL on existing: %v", err)
			}
			f, _ = fs.OpenFile("/a/f", os.O_WRONLY|os.O_APPEND, 0)
			_, _ = f.Write([]byte(" world"))
			_ = f.Close()
			f, _ = fs.Open("/a/f")
			b, _ := io.ReadAll(f)
			_ = f.Close()
			if string(b) != "hello world" {
				t.Errorf("append: %q", b)
			}
			fi, _ := fs.Stat("/a/f")
			if fi.Mode().Perm() != 0o640 || fi.Size() != 11 || fi.Name() != "f" {
				t.Errorf("stat: %v %v %v", fi.Mode(), fi.Size(), fi.Name())
			}
			if err := fs.Chmod("/a/f", 0o200); err != nil {
				t.Fatal(err)
			}
			fi, _ = fs.Stat("/a/f")
			if fi.Mode().Perm() != 0o200 {
				t.Errorf("chmod: %v", fi.Mode())
			}
			if _, err := fs.OpenFile("/a", os.O_WRONLY, 0); err == nil {
				t.Errorf("open dir for writing succeeded")
			}
		})
	}
}

// TestDirFsConfined: no link leads outside the directory, also for absolute targets and `..`.
func TestDirFsConfined(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewDirFs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SymlinkIfPossible(outside, "/abs"); err != nil {
		t.Fatal(err)
	}
	if err := d.SymlinkIfPossible("../../../../../../../../"+outside, "/rel"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/abs/secret", "/rel/secret", "/../../../../" + outside + "/secret"} {
		if _, err := afero.ReadFile(d, p); errnoOf(err) != syscall.ENOENT {
			t.Errorf("read %s escaped or failed oddly: %v", p, err)
		}
	}
	// The same targets are readable as real OS symlinks (so ls -l shows them unchanged).
	got, err := os.Readlink(filepath.Join(d.Dir(), "rel"))
	if err != nil || got != "../../../../../../../../"+outside {
		t.Errorf("on-disk link = %q, %v", got, err)
	}
}

// TestRenameDirThenEdit: entries of a renamed directory can be listed, removed and re-added.
func TestRenameDirThenEdit(t *testing.T) {
	t.Parallel()
	for name, fs := range backings(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := fs.MkdirAll("/a/b/c", 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"/a/b/x", "/a/b/c/y"} {
				if err := afero.WriteFile(fs, f, []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := fs.Rename("/a", "/z"); err != nil {
				t.Fatal(err)
			}
			if err := fs.Remove("/z/b/x"); err != nil {
				t.Fatal(err)
			}
			if err := fs.Remove("/z/b/c/y"); err != nil {
				t.Fatal(err)
			}
			for dir, want := range map[string]int{"/z/b": 1, "/z/b/c": 0, "/": 1} {
				f, err := fs.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				names, _ := f.Readdirnames(-1)
				_ = f.Close()
				if len(names) != want {
					t.Errorf("%s lists %v, want %d entries", dir, names, want)
				}
			}
			if err := fs.Remove("/z/b/c"); err != nil {
				t.Errorf("remove emptied dir: %v", err)
			}
			if _, err := fs.Stat("/a"); errnoOf(err) != syscall.ENOENT {
				t.Errorf("old name still there: %v", err)
			}
		})
	}
}
