package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"
)

// maxLinks bounds symlink resolution, as the kernel's MAXSYMLINKS does.
const maxLinks = 40

// Fs is a read-only view of the directory Dir as if it were "/". Every write returns EROFS.
type Fs struct {
	dir string
}

var (
	_ afero.Fs         = (*Fs)(nil)
	_ afero.Lstater    = (*Fs)(nil)
	_ afero.LinkReader = (*Fs)(nil)
	_ afero.Linker     = (*Fs)(nil)
)

// New returns a read-only Fs rooted at dir, which must be an existing directory.
func New(dir string) (*Fs, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("rootfs %s: not a directory", dir)
	}
	return &Fs{dir: abs}, nil
}

// Name implements afero.Fs.
func (f *Fs) Name() string { return "rootfs(" + f.dir + ")" }

// resolve maps the virtual path name to a path on disk inside f.dir, following every symlink on the way
// (and the last component too when followLast).
func (f *Fs) resolve(op, name string, followLast bool) (string, error) {
	rest := strings.Split(name, "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		if comp == "" || comp == "." {
			continue
		}
		if comp == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, comp)
		if len(rest) == 0 && !followLast {
			cur = next
			break
		}
		fi, err := os.Lstat(f.host(next))
		if err != nil {
			return "", &os.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		links++
		if links > maxLinks {
			return "", &os.PathError{Op: op, Path: name, Err: syscall.ELOOP}
		}
		target, err := os.Readlink(f.host(next))
		if err != nil {
			return "", &os.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return f.host(cur), nil
}

func (f *Fs) host(virtual string) string { return filepath.Join(f.dir, filepath.FromSlash(virtual)) }

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Open implements afero.Fs.
func (f *Fs) Open(name string) (afero.File, error) {
	p, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: unwrapPathErr(err)}
	}
	return &file{File: fh, name: name}, nil
}

// OpenFile implements afero.Fs; only read-only opens succeed.
func (f *Fs) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) != 0 {
		return nil, erofs("open", name)
	}
	return f.Open(name)
}

// Stat implements afero.Fs.
func (f *Fs) Stat(name string) (os.FileInfo, error) {
	p, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: unwrapPathErr(err)}
	}
	return fi, nil
}

// LstatIfPossible implements afero.Lstater.
func (f *Fs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	p, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, true, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, true, &os.PathError{Op: "lstat", Path: name, Err: unwrapPathErr(err)}
	}
	return fi, true, nil
}

// ReadlinkIfPossible implements afero.LinkReader: the link's target exactly as stored.
func (f *Fs) ReadlinkIfPossible(name string) (string, error) {
	p, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	t, err := os.Readlink(p)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: name, Err: unwrapPathErr(err)}
	}
	return t, nil
}

// SymlinkIfPossible implements afero.Linker: always EROFS.
func (f *Fs) SymlinkIfPossible(_, newname string) error { return erofs("symlink", newname) }

// Create implements afero.Fs: EROFS.
func (f *Fs) Create(name string) (afero.File, error) { return nil, erofs("create", name) }

// Mkdir implements afero.Fs: EROFS.
func (f *Fs) Mkdir(name string, _ os.FileMode) error { return erofs("mkdir", name) }

// MkdirAll implements afero.Fs: EROFS.
func (f *Fs) MkdirAll(name string, _ os.FileMode) error { return erofs("mkdir", name) }

// Remove implements afero.Fs: EROFS.
func (f *Fs) Remove(name string) error { return erofs("remove", name) }

// RemoveAll implements afero.Fs: EROFS.
func (f *Fs) RemoveAll(name string) error { return erofs("remove", name) }

// Rename implements afero.Fs: EROFS.
func (f *Fs) Rename(oldname, _ string) error { return erofs("rename", oldname) }

// Chmod implements afero.Fs: EROFS.
func (f *Fs) Chmod(name string, _ os.FileMode) error { return erofs("chmod", name) }

// Chown implements afero.Fs: EROFS.
func (f *Fs) Chown(name string, _, _ int) error { return erofs("chown", name) }

// Chtimes implements afero.Fs: EROFS.
func (f *Fs) Chtimes(name string, _, _ time.Time) error { return erofs("chtimes", name) }

func erofs(op, name string) error { return &os.PathError{Op: op, Path: name, Err: syscall.EROFS} }

// file is an open file that reports its virtual name and refuses writes.
type file struct {
	*os.File
	name string
}

func (f *file) Name() string { return f.name }

func (f *file) Write([]byte) (int, error)          { return 0, erofs("write", f.name) }
func (f *file) WriteAt([]byte, int64) (int, error) { return 0, erofs("write", f.name) }
func (f *file) WriteString(string) (int, error)    { return 0, erofs("write", f.name) }
func (f *file) Truncate(int64) error               { return erofs("truncate", f.name) }
