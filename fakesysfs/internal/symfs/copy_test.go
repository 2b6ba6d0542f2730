package symfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
)

// listing describes every entry under "/" of fsys: kind, permissions, link target or content.
func listing(t *testing.T, fsys FS) string {
	t.Helper()
	var lines []string
	var walk func(p string)
	walk = func(p string) {
		names := func() []string {
			f, err := fsys.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			n, err := f.Readdirnames(-1)
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(n)
			return n
		}()
		for _, n := range names {
			full := path.Join(p, n)
			fi, _, err := fsys.LstatIfPossible(full)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, err := fsys.ReadlinkIfPossible(full)
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, fmt.Sprintf("l %s -> %s", full, target))
			case fi.IsDir():
				lines = append(lines, fmt.Sprintf("d %04o %s", fi.Mode().Perm(), full))
				walk(full)
			case fi.Mode().Perm()&0o444 == 0:
				// Write-only attributes (bind, unbind, remove…): a non-root reader may not open them,
				// and their content is irrelevant; compare the mode only.
				lines = append(lines, fmt.Sprintf("f %04o %s", fi.Mode().Perm(), full))
			default:
				f, err := fsys.OpenFile(full, os.O_RDONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				b, err := afero.ReadAll(f)
				_ = f.Close()
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, fmt.Sprintf("f %04o %s %q", fi.Mode().Perm(), full, b))
			}
		}
	}
	walk("/")
	return strings.Join(lines, "\n")
}

// TestCopyTo: a tree copied to disk reads back through a DirFs exactly as the MemFs shows it — modes
// (read-only and write-only files too), contents, relative, absolute, looping and dangling link
// targets as stored — and a copy that meets an existing entry fails with EEXIST.
func TestCopyTo(t *testing.T) {
	t.Parallel()
	m := NewMemFs()
	sample(t, m)
	if err := afero.WriteFile(m, "/sys/devices/pci/bdf/remove", nil, 0o200); err != nil {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/dev/infiniband", 0o755); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789abcdef", 1<<12)
	if err := afero.WriteFile(m, "/sys/devices/pci/bdf/config", []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.CopyTo(dir); err != nil {
		t.Fatal(err)
	}
	d, err := NewDirFs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want, got := listing(t, m), listing(t, d); got != want {
		t.Errorf("copy differs:\n--- mem\n%s\n--- disk\n%s", want, got)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "sys/devices/pci/bdf/remove")); err != nil || fi.Mode().Perm() != 0o200 {
		t.Errorf("write-only file on disk: %v, %v", fi, err)
	}

	clash := t.TempDir()
	if err := os.Mkdir(filepath.Join(clash, "sys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clash, "sys", "abs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.CopyTo(clash); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("CopyTo over an existing entry = %v, want EEXIST", err)
	}
	if err := m.CopyTo(filepath.Join(clash, "missing")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("CopyTo a missing dir = %v, want ENOENT", err)
	}
}
