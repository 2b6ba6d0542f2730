package fakesysfs

import (
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"
)

// The Kernel's filesystem view: the raw tree minus the private directory, with sysfs rules under /sys
// (attributes are opened, not created; writes are stores; read-only files refuse writers) and live
// netdev state applied. Paths outside /sys (/dev, /run, /var/lib/vflab) behave like a plain filesystem.

// Name implements afero.Fs.
func (k *Kernel) Name() string { return "fakesysfs" }

func inSys(real string) bool { return real == "/sys" || strings.HasPrefix(real, "/sys/") }

func isPrivate(real string) bool { return real == StateDir || strings.HasPrefix(real, StateDir+"/") }

func perr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// realpath resolves name fully; exists reports whether it names something visible.
func (k *Kernel) realpath(name string) (string, bool, error) {
	real, exists, err := k.raw.Realpath(name)
	if err != nil {
		return "", false, err
	}
	if isPrivate(real) || k.hidden(real) {
		return real, false, nil
	}
	return real, exists, nil
}

// lrealpath resolves everything but the last component of name.
func (k *Kernel) lrealpath(name string) (string, error) {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	trimmed := strings.TrimRight(name, "/")
	if trimmed == "" {
		return "/", nil
	}
	dir, base := path.Split(trimmed)
	if base == "." || base == ".." {
		real, _, err := k.raw.Realpath(trimmed)
		return real, err
	}
	pd, _, err := k.raw.Realpath(dir)
	if err != nil {
		return "", err
	}
	return path.Join(pd, base), nil
}

// netdevOf splits a path under a function's net/<if> directory.
func (k *Kernel) netdevOf(real string) (bdf, ifname, rest string, ok bool) {
	if !strings.HasPrefix(real, "/sys/devices/") {
		return "", "", "", false
	}
	i := strings.Index(real, "/net/")
	if i < 0 {
		return "", "", "", false
	}
	d, found := k.deviceByDir(real[:i])
	if !found {
		return "", "", "", false
	}
	ifname, rest, _ = strings.Cut(real[i+len("/net/"):], "/")
	if ifname == "" {
		return "", "", "", false
	}
	return d.bdf, ifname, rest, true
}

// hidden reports whether real lies in a netdev that Netdevs says is not in the host namespace.
func (k *Kernel) hidden(real string) bool {
	if k.opts.netdevs == nil {
		return false
	}
	bdf, ifname, _, ok := k.netdevOf(real)
	if !ok {
		return false
	}
	_, visible, err := k.opts.netdevs.Lookup(bdf, ifname)
	return err == nil && !visible
}

// hiddenLink reports whether a /sys/class/net/<if> link points into a hidden netdev.
func (k *Kernel) hiddenLink(real string) bool {
	if k.opts.netdevs == nil || !strings.HasPrefix(real, "/sys/class/net/") {
		return false
	}
	target, _, err := k.raw.Realpath(real)
	return err == nil && k.hidden(target)
}

// Open implements afero.Fs.
func (k *Kernel) Open(name string) (afero.File, error) { return k.OpenFile(name, os.O_RDONLY, 0) }

// Create implements afero.Fs.
func (k *Kernel) Create(name string) (afero.File, error) {
	return k.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// OpenFile implements afero.Fs.
func (k *Kernel) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	real, exists, err := k.realpath(name)
	if err != nil {
		return nil, retag(err, "open", name)
	}
	if isPrivate(real) {
		return nil, perr("open", name, syscall.ENOENT)
	}
	if !inSys(real) {
		if !exists && k.hidden(real) {
			return nil, perr("open", name, syscall.ENOENT)
		}
		f, err := k.raw.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		if real == "/" {
			return &dirFile{File: f, k: k, real: real}, nil
		}
		return f, nil
	}
	if !exists {
		if flag&os.O_CREATE != 0 && !k.hidden(real) {
			return nil, perr("open", name, syscall.EACCES)
		}
		return nil, perr("open", name, syscall.ENOENT)
	}
	fi, err := k.raw.Stat(real)
	if err != nil {
		return nil, retag(err, "open", name)
	}
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if fi.IsDir() {
		if write {
			return nil, perr("open", name, syscall.EISDIR)
		}
		f, err := k.raw.Open(real)
		if err != nil {
			return nil, retag(err, "open", name)
		}
		return &dirFile{File: f, k: k, real: real, name: name}, nil
	}
	if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return nil, perr("open", name, syscall.EEXIST)
	}
	mode := fi.Mode().Perm()
	read := flag&os.O_WRONLY == 0
	if (write && mode&0o222 == 0) || (read && mode&0o444 == 0) {
		return nil, perr("open", name, syscall.EACCES)
	}
	af := &attrFile{k: k, name: name, real: real, info: fi, write: write}
	if read {
		af.data, af.readErr = k.readAttr(real)
		if af.readErr != nil {
			af.readErr = perr("read", name, af.readErr)
		}
	}
	return af, nil
}

// readAttr reads an attribute as the kernel's show() would return it.
func (k *Kernel) readAttr(real string) ([]byte, error) {
	b, err := afero.ReadFile(k.raw, real)
	if err != nil {
		return nil, unwrapErrno(err)
	}
	base := path.Base(real)
	if strings.Contains(real, "/gid_attrs/") && len(b) == 0 {
		return nil, syscall.EINVAL // empty GID table entry, or ndevs of an InfiniBand port
	}
	bdf, ifname, rest, ok := k.netdevOf(real)
	if !ok || strings.Contains(rest, "/") {
		return b, nil
	}
	switch base {
	case "phys_port_name", "phys_switch_id", "phys_port_id":
		if len(b) == 0 {
			return nil, syscall.EOPNOTSUPP
		}
	}
	var live Netdev
	isLive := false
	if k.opts.netdevs != nil {
		l, visible, err := k.opts.netdevs.Lookup(bdf, ifname)
		live, isLive = l, err == nil && visible
	}
	switch base {
	case "speed", "duplex":
		// net-sysfs asks ethtool only while the link runs; without carrier the answer is EINVAL.
		carrier := isLive && live.Carrier && live.OperState != "down"
		if !isLive {
			c, _ := afero.ReadFile(k.raw, path.Dir(real)+"/carrier")
			carrier = strings.TrimSpace(string(c)) == "1"
		}
		if !carrier {
			return nil, syscall.EINVAL
		}
		return b, nil
	}
	if !isLive {
		return b, nil
	}
	switch base {
	case "address":
		typ, _ := afero.ReadFile(k.raw, path.Dir(real)+"/type")
		if strings.TrimSpace(string(typ)) == "1" && len(live.Address) == 6 {
			return []byte(live.Address.String() + "\n"), nil
		}
	case "mtu":
		if live.MTU > 0 {
			return []byte(strconv.Itoa(live.MTU) + "\n"), nil
		}
	case "operstate":
		if live.OperState != "" {
			return []byte(live.OperState + "\n"), nil
		}
	case "carrier":
		if live.Carrier {
			return []byte("1\n"), nil
		}
		return []byte("0\n"), nil
	case "ifindex", "iflink":
		if live.Ifindex > 0 {
			return []byte(strconv.Itoa(live.Ifindex) + "\n"), nil
		}
	}
	return b, nil
}

func unwrapErrno(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// retag renames the operation of a raw error to the caller's.
func retag(err error, op, name string) error {
	if pe, ok := err.(*os.PathError); ok {
		return &os.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return err
}

// Mkdir implements afero.Fs: sysfs has no mkdir (EPERM).
func (k *Kernel) Mkdir(name string, perm os.FileMode) error {
	real, err := k.lrealpath(name)
	if err != nil {
		return retag(err, "mkdir", name)
	}
	if isPrivate(real) {
		return perr("mkdir", name, syscall.EACCES)
	}
	if inSys(real) {
		if _, ok, _ := k.realpath(name); ok {
			return perr("mkdir", name, syscall.EEXIST)
		}
		return perr("mkdir", name, syscall.EPERM)
	}
	return k.raw.Mkdir(name, perm)
}

// MkdirAll implements afero.Fs.
func (k *Kernel) MkdirAll(name string, perm os.FileMode) error {
	if fi, err := k.Stat(name); err == nil && fi.IsDir() {
		return nil
	}
	real, _, err := k.raw.Realpath(name)
	if err == nil && (inSys(real) || isPrivate(real)) {
		return perr("mkdir", name, syscall.EPERM)
	}
	if err == nil && real == "/" {
		return nil
	}
	return k.raw.MkdirAll(name, perm)
}

func (k *Kernel) guardRemove(op, name string) (string, error) {
	real, err := k.lrealpath(name)
	if err != nil {
		return "", retag(err, op, name)
	}
	if isPrivate(real) {
		return "", perr(op, name, syscall.ENOENT)
	}
	if inSys(real) {
		return "", perr(op, name, syscall.EPERM)
	}
	return real, nil
}

// Remove implements afero.Fs: nothing under /sys can be removed (EPERM).
func (k *Kernel) Remove(name string) error {
	if _, err := k.guardRemove("remove", name); err != nil {
		return err
	}
	return k.raw.Remove(name)
}

// RemoveAll implements afero.Fs.
func (k *Kernel) RemoveAll(name string) error {
	real, err := k.guardRemove("removeall", name)
	if err != nil {
		return err
	}
	if real == "/" {
		return perr("removeall", name, syscall.EPERM)
	}
	return k.raw.RemoveAll(name)
}

// Rename implements afero.Fs.
func (k *Kernel) Rename(oldname, newname string) error {
	if _, err := k.guardRemove("rename", oldname); err != nil {
		return err
	}
	if _, err := k.guardRemove("rename", newname); err != nil {
		return err
	}
	return k.raw.Rename(oldname, newname)
}

// Stat implements afero.Fs; it follows links.
func (k *Kernel) Stat(name string) (os.FileInfo, error) {
	real, exists, err := k.realpath(name)
	if err != nil {
		return nil, retag(err, "stat", name)
	}
	if !exists {
		return nil, perr("stat", name, syscall.ENOENT)
	}
	fi, err := k.raw.Stat(real)
	if err != nil {
		return nil, retag(err, "stat", name)
	}
	return fi, nil
}

// LstatIfPossible implements afero.Lstater.
func (k *Kernel) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	real, err := k.lrealpath(name)
	if err != nil {
		return nil, true, retag(err, "lstat", name)
	}
	if isPrivate(real) || k.hidden(real) || k.hiddenLink(real) {
		return nil, true, perr("lstat", name, syscall.ENOENT)
	}
	fi, _, err := k.raw.LstatIfPossible(real)
	if err != nil {
		return nil, true, retag(err, "lstat", name)
	}
	return fi, true, nil
}

// SymlinkIfPossible implements afero.Linker; sysfs refuses (EPERM).
func (k *Kernel) SymlinkIfPossible(oldname, newname string) error {
	real, err := k.lrealpath(newname)
	if err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: unwrapErrno(err)}
	}
	if inSys(real) || isPrivate(real) {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	return k.raw.SymlinkIfPossible(oldname, newname)
}

// ReadlinkIfPossible implements afero.LinkReader: the target exactly as stored (relative).
func (k *Kernel) ReadlinkIfPossible(name string) (string, error) {
	real, err := k.lrealpath(name)
	if err != nil {
		return "", retag(err, "readlink", name)
	}
	if isPrivate(real) || k.hidden(real) || k.hiddenLink(real) {
		return "", perr("readlink", name, syscall.ENOENT)
	}
	t, err := k.raw.ReadlinkIfPossible(real)
	if err != nil {
		return "", retag(err, "readlink", name)
	}
	return t, nil
}

// Chmod implements afero.Fs.
func (k *Kernel) Chmod(name string, mode os.FileMode) error {
	if _, ok, _ := k.realpath(name); !ok {
		return perr("chmod", name, syscall.ENOENT)
	}
	return k.raw.Chmod(name, mode)
}

// Chown implements afero.Fs.
func (k *Kernel) Chown(name string, uid, gid int) error {
	if _, ok, _ := k.realpath(name); !ok {
		return perr("chown", name, syscall.ENOENT)
	}
	return k.raw.Chown(name, uid, gid)
}

// Chtimes implements afero.Fs.
func (k *Kernel) Chtimes(name string, atime, mtime time.Time) error {
	if _, ok, _ := k.realpath(name); !ok {
		return perr("chtimes", name, syscall.ENOENT)
	}
	return k.raw.Chtimes(name, atime, mtime)
}

// dirFile is a directory of the view: entries the kernel hides are left out.
type dirFile struct {
	afero.File
	k       *Kernel
	real    string
	name    string
	entries []os.FileInfo
	loaded  bool
	off     int
}

func (f *dirFile) Name() string {
	if f.name != "" {
		return f.name
	}
	return f.File.Name()
}

func (f *dirFile) load() error {
	if f.loaded {
		return nil
	}
	all, err := f.File.Readdir(-1)
	if err != nil {
		return err
	}
	for _, fi := range all {
		child := path.Join(f.real, fi.Name())
		if isPrivate(child) || f.k.hidden(child) || f.k.hiddenLink(child) {
			continue
		}
		f.entries = append(f.entries, fi)
	}
	f.loaded = true
	return nil
}

// Readdir implements afero.File.
func (f *dirFile) Readdir(count int) ([]os.FileInfo, error) {
	if err := f.load(); err != nil {
		return nil, err
	}
	rest := f.entries[f.off:]
	if count <= 0 {
		f.off = len(f.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if count > len(rest) {
		count = len(rest)
	}
	f.off += count
	return rest[:count], nil
}

// Readdirnames implements afero.File.
func (f *dirFile) Readdirnames(n int) ([]string, error) {
	fis, err := f.Readdir(n)
	names := make([]string, len(fis))
	for i, fi := range fis {
		names[i] = fi.Name()
	}
	return names, err
}

// attrFile is an open sysfs attribute: reads return the value shown at open, each Write is a store.
type attrFile struct {
	k       *Kernel
	name    string
	real    string
	info    os.FileInfo
	write   bool
	data    []byte
	readErr error
	off     int64
	closed  bool
}

var _ afero.File = (*attrFile)(nil)

func (f *attrFile) Name() string { return f.name }

func (f *attrFile) Close() error {
	if f.closed {
		return perr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}

func (f *attrFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *attrFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, perr("read", f.name, os.ErrClosed)
	}
	if f.readErr != nil {
		return 0, f.readErr
	}
	if f.data == nil && f.write && f.info.Mode().Perm()&0o444 == 0 {
		return 0, perr("read", f.name, syscall.EBADF)
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	return copy(p, f.data[off:]), nil
}

func (f *attrFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += int64(len(f.data))
	}
	if offset < 0 {
		return 0, perr("seek", f.name, syscall.EINVAL)
	}
	f.off = offset
	return offset, nil
}

func (f *attrFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, perr("write", f.name, os.ErrClosed)
	}
	if !f.write {
		return 0, perr("write", f.name, syscall.EBADF)
	}
	if err := f.k.store(f.name, f.real, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *attrFile) WriteAt(p []byte, _ int64) (int, error) { return f.Write(p) }

func (f *attrFile) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

func (f *attrFile) Readdir(int) ([]os.FileInfo, error) {
	return nil, perr("readdirent", f.name, syscall.ENOTDIR)
}

func (f *attrFile) Readdirnames(int) ([]string, error) {
	return nil, perr("readdirent", f.name, syscall.ENOTDIR)
}

func (f *attrFile) Stat() (os.FileInfo, error) { return f.info, nil }

func (f *attrFile) Sync() error { return nil }

// Truncate is accepted and ignored, as sysfs does for O_TRUNC.
func (f *attrFile) Truncate(int64) error { return nil }
