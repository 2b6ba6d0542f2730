package rootfs

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultMaxUnpackSize is the most an archive may expand to unless WithMaxSize says otherwise: a real
// capture is a few megabytes, and a sparse entry in a tiny archive can stand for terabytes.
const DefaultMaxUnpackSize int64 = 1 << 30

// ErrTooLarge is returned by Unpack when the regular files of an archive add up to more than its limit.
var ErrTooLarge = errors.New("archive expands beyond the size limit")

// UnpackOption configures Unpack.
type UnpackOption func(*unpackConfig)

type unpackConfig struct {
	maxSize int64
}

// WithMaxSize bounds the total size of the regular files Unpack extracts (as the archive states them,
// holes of sparse entries included) to n bytes; default DefaultMaxUnpackSize.
func WithMaxSize(n int64) UnpackOption {
	return func(c *unpackConfig) { c.maxSize = n }
}

// Unpack extracts the tar archive at archive (plain, .gz/.tgz or .bz2, by name) into dir: directories,
// regular files and symlinks (targets kept as stored). Entries that would land outside dir are refused,
// by their name or through a symlink the archive placed before (all writes go through an os.Root). An
// entry that would take the regular files extracted past the size limit (WithMaxSize) is refused before
// it is written, with an error wrapping ErrTooLarge.
// keep, when not nil, selects the entries to extract by their name in the archive (see DriversOnly).
func Unpack(archive, dir string, keep func(name string) bool, opts ...UnpackOption) error {
	cfg := unpackConfig{maxSize: DefaultMaxUnpackSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxSize < 0 {
		return fmt.Errorf("unpack %s: negative size limit %d", archive, cfg.maxSize)
	}
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer func() { _ = f.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("unpack %s: %w", archive, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", archive, err)
	}
	defer func() { _ = root.Close() }()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(archive, ".gz") || strings.HasSuffix(archive, ".tgz"):
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		defer func() { _ = gz.Close() }()
		r = gz
	case strings.HasSuffix(archive, ".bz2"):
		r = bzip2.NewReader(f)
	}
	tr := tar.NewReader(r)
	made := map[string]bool{".": true} // directories made (or found) so far: each is made once
	var total int64                    // bytes of the regular files extracted so far
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", archive, err)
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if name == "." || keep != nil && !keep(h.Name) {
			continue
		}
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("unpack %s: entry %q leaves the target directory", archive, h.Name)
		}
		if parent := filepath.Dir(name); !made[parent] {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return fmt.Errorf("unpack %s: %w", archive, err)
			}
			made[parent] = true
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("unpack %s: %w", archive, err)
			}
			made[name] = true
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("unpack %s: %w", archive, err)
			}
		case tar.TypeReg:
			if h.Size < 0 || h.Size > cfg.maxSize-total {
				return fmt.Errorf("unpack %s: entry %q (%d bytes) takes the archive past %d bytes: %w",
					archive, h.Name, h.Size, cfg.maxSize, ErrTooLarge)
			}
			total += h.Size
			out, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return fmt.Errorf("unpack %s: %w", archive, err)
			}
			_, cerr := io.Copy(out, tr)
			if err := errors.Join(cerr, out.Close()); err != nil {
				return fmt.Errorf("unpack %s: %s: %w", archive, h.Name, err)
			}
		}
	}
}

// DriversOnly keeps what vflab's drivers read of a captured machine — /sys/bus, /sys/class, the PCI
// device trees under /sys/devices/pci*, /dev — and leaves out the bulk they never read (CPU and memory
// topology, firmware tables, power, interrupts, statistics and counters, resources, config space), which
// makes a capture unpack about three times faster. The machine tree may sit one directory deep.
func DriversOnly(name string) bool {
	parts := strings.Split(strings.Trim(path.Clean("/"+name), "/"), "/")
	switch parts[0] {
	case "sys", "dev", "proc", "run", "etc", "var", "usr":
	default:
		parts = parts[1:] // the capture's top-level wrapper directory
	}
	if len(parts) == 0 {
		return true
	}
	if parts[0] == "dev" {
		return true
	}
	if parts[0] != "sys" {
		return false
	}
	if len(parts) >= 2 && parts[1] != "bus" && parts[1] != "class" && parts[1] != "devices" {
		return false
	}
	if len(parts) >= 3 && parts[1] == "devices" && !strings.HasPrefix(parts[2], "pci") {
		return false
	}
	if len(parts) < 3 {
		return true
	}
	for _, p := range parts[2:] {
		switch p {
		case "power", "msi_irqs", "statistics", "queues", "counters", "diag_counters", "hw_counters", "hwmon", "pools", "config", "vpd", "rom":
			return false
		}
		if strings.HasPrefix(p, "resource") {
			return false
		}
	}
	return true
}

// FindRoot returns the directory under dir that holds the machine tree: dir itself when it has sys/,
// else its only subdirectory that has sys/ (captures often wrap the tree in one top-level directory).
func FindRoot(dir string) (string, error) {
	if fi, err := os.Stat(filepath.Join(dir, "sys")); err == nil && fi.IsDir() {
		return dir, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("find root: %w", err)
	}
	var found []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name(), "sys")); err == nil && fi.IsDir() {
			found = append(found, filepath.Join(dir, e.Name()))
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("find root: %s has no sys/ directory (nor exactly one subdirectory with one)", dir)
	}
	return found[0], nil
}

// The real sysfs archives in shared/fixtures/real-sysfs, relative to that directory.
const (
	// CaptureConnectX3IB: a ConnectX-3 InfiniBand host (mlx4_0, port 1 ACTIVE, ib0), no SR-IOV.
	CaptureConnectX3IB = "hwloc/32em64t-2n8c+dax+nvme+mic+dimms.tar.bz2"
	// CaptureConnectX4PFs: two ConnectX-4 InfiniBand PFs (PCI attributes only) and an i40e PF.
	CaptureConnectX4PFs = "hwloc/32intel64-2p8co2t+8ve.tar.bz2"
	// CaptureI350SRIOV: an Intel I350 with 2 PFs x 4 VFs (igb/igbvf).
	CaptureI350SRIOV = "ghw/linux-amd64-8581cf3a529e5d8b97ea876eade2f60d.pr230-9058f61.tar.gz"
)
