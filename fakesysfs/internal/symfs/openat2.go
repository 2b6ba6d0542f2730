package symfs

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The fast path of DirFs: openat2(2) with RESOLVE_IN_ROOT resolves a whole path in one system call with
// exactly DirFs's semantics (absolute targets and `..` stay inside the root, 40 links at most), instead
// of one lstat per component. Anything unusual (a missing last component, an error, a kernel without
// openat2) falls back to the component-by-component resolver, which stays the reference.

const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openRoot opens dir for openat2 and checks the kernel supports it; nil when it does not.
func openRoot(dir string) *os.File {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	root := os.NewFile(uintptr(fd), dir)
	probe, err := unix.Openat2(fd, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveFlags})
	if err != nil {
		_ = root.Close()
		return nil
	}
	_ = unix.Close(probe)
	return root
}

// fastOpen opens name (relative to the root, links resolved in it) with flags; ok is false when the
// caller must take the slow path.
func (d *DirFs) fastOpen(name string, flags int, mode uint32) (fd int, err error, ok bool) {
	if d.root == nil {
		return -1, nil, false
	}
	rel := strings.TrimLeft(name, "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags}
	for range 4 {
		fd, err = unix.Openat2(int(d.root.Fd()), rel, how)
		if err == unix.EINTR || err == unix.EAGAIN { // EAGAIN: a concurrent rename; retry
			continue
		}
		break
	}
	if err != nil {
		return -1, err, false
	}
	return fd, nil, true
}

// fastReal is the link-free path of an open fd inside the root.
func (d *DirFs) fastReal(fd int) (string, bool) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil || strings.HasSuffix(p, " (deleted)") {
		return "", false
	}
	switch {
	case p == d.dir:
		return "/", true
	case strings.HasPrefix(p, d.dir+"/"):
		return p[len(d.dir):], true
	}
	return "", false
}

// fastRealpath resolves name fully when it exists.
func (d *DirFs) fastRealpath(name string, follow bool) (string, bool) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, _, ok := d.fastOpen(name, flags, 0)
	if !ok {
		return "", false
	}
	defer func() { _ = unix.Close(fd) }()
	return d.fastReal(fd)
}

// fastStat stats name (following a final link or not) when it exists.
func (d *DirFs) fastStat(name string, follow bool) (os.FileInfo, bool) {
	if strings.HasSuffix(name, "/") {
		return nil, false
	}
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, _, ok := d.fastOpen(name, flags, 0)
	if !ok {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), baseName(name))
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	return fi, true
}

// fastReadlink reads a final link when name is one.
func (d *DirFs) fastReadlink(name string) (string, error, bool) {
	fd, _, ok := d.fastOpen(name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if !ok {
		return "", nil, false
	}
	defer func() { _ = unix.Close(fd) }()
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EINVAL) {
			return "", syscall.EINVAL, true // not a link
		}
		if err != nil {
			return "", nil, false
		}
		if n < len(buf) {
			return string(buf[:n]), nil, true
		}
		buf = make([]byte, 2*len(buf))
	}
}

func baseName(name string) string {
	name = strings.TrimRight(name, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	if name == "" {
		return "/"
	}
	return name
}
