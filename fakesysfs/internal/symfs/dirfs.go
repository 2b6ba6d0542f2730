package symfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"
)

// DirFs is a filesystem rooted at a directory on disk. Links are real OS symlinks, stored exactly as
// given; every lookup is resolved here, component by component, and confined to the directory.
type DirFs struct {
	dir  string
	root *os.File // the directory, for openat2; nil where the kernel lacks it
}

var _ FS = (*DirFs)(nil)

// NewDirFs returns the filesystem rooted at dir, which must exist.
func NewDirFs(dir string) (*DirFs, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &os.PathError{Op: "open", Path: dir, Err: syscall.ENOTDIR}
	}
	// The kernel reports resolved paths: compare them with the directory's own resolved path.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	real = filepath.Clean(real)
	return &DirFs{dir: real, root: openRoot(real)}, nil
}

// Dir is the directory on disk.
func (d *DirFs) Dir() string { return d.dir }

func (d *DirFs) host(real string) string {
	if real == "/" {
		return d.dir
	}
	return d.dir + real
}

func (d *DirFs) lookup(real string) (kind, string, error) {
	fi, err := os.Lstat(d.host(real))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return kindNone, "", nil
		}
		return kindNone, "", unwrap(err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		t, err := os.Readlink(d.host(real))
		if err != nil {
			return kindNone, "", unwrap(err)
		}
		return kindLink, t, nil
	case fi.IsDir():
		return kindDir, "", nil
	}
	return kindFile, "", nil
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// Realpath implements FS.
func (d *DirFs) Realpath(name string) (string, bool, error) {
	if !strings.HasSuffix(name, "/") {
		if real, ok := d.fastRealpath(name, true); ok {
			return real, true, nil
		}
	}
	real, k, err := resolve(d.lookup, normalize(name), true)
	if err != nil {
		return "", false, pathErr("realpath", name, err)
	}
	return real, k != kindNone, nil
}

func (d *DirFs) get(name string, follow bool) (string, error) {
	real, k, err := resolve(d.lookup, normalize(name), follow)
	if err != nil {
		return "", err
	}
	if k == kindNone {
		return "", syscall.ENOENT
	}
	if strings.HasSuffix(name, "/") && k != kindDir {
		return "", syscall.ENOTDIR
	}
	return real, nil
}

// parent resolves everything but the last component of name (the fast way when it can).
func (d *DirFs) parent(name string) (string, string, error) {
	trimmed := strings.TrimRight(normalize(name), "/")
	if trimmed != "" {
		dir, base := parentAndBase(trimmed)
		if base != "." && base != ".." {
			if p, ok := d.fastRealpath(dir, true); ok {
				return p, base, nil
			}
		}
	}
	return resolveParent(d.lookup, name)
}

// Name implements afero.Fs.
func (d *DirFs) Name() string { return "symfs.DirFs" }

// Create implements afero.Fs.
func (d *DirFs) Create(name string) (afero.File, error) {
	return d.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir implements afero.Fs.
func (d *DirFs) Mkdir(name string, perm os.FileMode) error {
	parent, base, err := d.parent(name)
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	return pathErr("mkdir", name, unwrap(os.Mkdir(d.host(join(parent, base)), perm)))
}

// MkdirAll implements afero.Fs.
func (d *DirFs) MkdirAll(name string, perm os.FileMode) error {
	comps := strings.Split(strings.Trim(normalize(name), "/"), "/")
	cur := ""
	for _, c := range comps {
		if c == "" {
			continue
		}
		cur += "/" + c
		err := d.Mkdir(cur, perm)
		if err == nil {
			continue
		}
		if fi, serr := d.Stat(cur); serr == nil && fi.IsDir() {
			continue
		}
		return err
	}
	return nil
}

// Open implements afero.Fs.
func (d *DirFs) Open(name string) (afero.File, error) {
	return d.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile implements afero.Fs. The final open never follows a link on the host (O_NOFOLLOW), so a
// link swapped in concurrently cannot lead outside the directory.
func (d *DirFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if !strings.HasSuffix(name, "/") {
		if fd, _, ok := d.fastOpen(name, flag, uint32(perm.Perm())); ok {
			return os.NewFile(uintptr(fd), d.host(normalize(name))), nil
		}
	}
	real, k, err := resolve(d.lookup, normalize(name), true)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if k == kindNone {
		if flag&os.O_CREATE == 0 {
			return nil, pathErr("open", name, syscall.ENOENT)
		}
		dir, _ := parentAndBase(real)
		if pk, _, _ := d.lookup(dir); pk != kindDir {
			return nil, pathErr("open", name, syscall.ENOENT)
		}
	} else if strings.HasSuffix(name, "/") && k != kindDir {
		return nil, pathErr("open", name, syscall.ENOTDIR)
	}
	f, err := os.OpenFile(d.host(real), flag|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return nil, pathErr("open", name, unwrap(err))
	}
	return f, nil
}

// Remove implements afero.Fs; it never follows a final link.
func (d *DirFs) Remove(name string) error {
	parent, base, err := d.parent(name)
	if err != nil {
		return pathErr("remove", name, err)
	}
	return pathErr("remove", name, unwrap(os.Remove(d.host(join(parent, base)))))
}

// RemoveAll implements afero.Fs.
func (d *DirFs) RemoveAll(name string) error {
	parent, base, err := d.parent(name)
	if err == syscall.ENOENT {
		return nil
	}
	if err != nil {
		return pathErr("removeall", name, err)
	}
	return os.RemoveAll(d.host(join(parent, base)))
}

// Rename implements afero.Fs (rename(2): atomic, replaces a file at newname).
func (d *DirFs) Rename(oldname, newname string) error {
	op, ob, err := d.parent(oldname)
	if err != nil {
		return pathErr("rename", oldname, err)
	}
	np, nb, err := d.parent(newname)
	if err != nil {
		return pathErr("rename", newname, err)
	}
	if err := os.Rename(d.host(join(op, ob)), d.host(join(np, nb))); err != nil {
		return pathErr("rename", newname, unwrap(err))
	}
	return nil
}

// Stat implements afero.Fs; it follows links.
func (d *DirFs) Stat(name string) (os.FileInfo, error) {
	if fi, ok := d.fastStat(name, true); ok {
		return fi, nil
	}
	real, err := d.get(name, true)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	fi, err := os.Lstat(d.host(real))
	if err != nil {
		return nil, pathErr("stat", name, unwrap(err))
	}
	return fi, nil
}

// LstatIfPossible implements afero.Lstater.
func (d *DirFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if fi, ok := d.fastStat(name, false); ok {
		return fi, true, nil
	}
	real, err := d.get(name, false)
	if err != nil {
		return nil, true, pathErr("lstat", name, err)
	}
	fi, err := os.Lstat(d.host(real))
	if err != nil {
		return nil, true, pathErr("lstat", name, unwrap(err))
	}
	return fi, true, nil
}

// SymlinkIfPossible implements afero.Linker; the target is stored unchanged.
func (d *DirFs) SymlinkIfPossible(oldname, newname string) error {
	parent, base, err := d.parent(newname)
	if err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: err}
	}
	if err := os.Symlink(oldname, d.host(join(parent, base))); err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: unwrap(err)}
	}
	return nil
}

// ReadlinkIfPossible implements afero.LinkReader: the target exactly as stored.
func (d *DirFs) ReadlinkIfPossible(name string) (string, error) {
	if !strings.HasSuffix(name, "/") {
		if t, err, ok := d.fastReadlink(name); ok {
			if err != nil {
				return "", pathErr("readlink", name, err)
			}
			return t, nil
		}
	}
	real, err := d.get(name, false)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	t, err := os.Readlink(d.host(real))
	if err != nil {
		return "", pathErr("readlink", name, unwrap(err))
	}
	return t, nil
}

// Chmod implements afero.Fs.
func (d *DirFs) Chmod(name string, mode os.FileMode) error {
	real, err := d.get(name, true)
	if err != nil {
		return pathErr("chmod", name, err)
	}
	return pathErr("chmod", name, unwrap(os.Chmod(d.host(real), mode)))
}

// Chown implements afero.Fs.
func (d *DirFs) Chown(name string, uid, gid int) error {
	real, err := d.get(name, true)
	if err != nil {
		return pathErr("chown", name, err)
	}
	return pathErr("chown", name, unwrap(os.Lchown(d.host(real), uid, gid)))
}

// Chtimes implements afero.Fs.
func (d *DirFs) Chtimes(name string, atime, mtime time.Time) error {
	real, err := d.get(name, true)
	if err != nil {
		return pathErr("chtimes", name, err)
	}
	return pathErr("chtimes", name, unwrap(os.Chtimes(d.host(real), atime, mtime)))
}
