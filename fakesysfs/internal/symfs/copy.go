package symfs

import (
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/afero/mem"
	"golang.org/x/sys/unix"
)

// CopyTo writes the whole tree into the directory dir on disk, which must exist and be empty: what a
// DirFs opened on dir then shows is what m shows. Every entry is created relative to its parent's
// descriptor (mkdirat, openat, symlinkat), with no lookup of the path: rendering a node on disk this
// way takes one system call or so per entry, where building it through DirFs resolves each path again.
// Directories get their mode through mkdir (the umask applies, as for DirFs.Mkdir); files get theirs
// exactly (fchmod), links their target unchanged.
func (m *MemFs) CopyTo(dir string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer func() { _ = unix.Close(fd) }()
	return m.copyKids(m.nodes["/"], fd, dir)
}

// copyKids creates the entries of the directory n, already made at host and open as dirfd.
func (m *MemFs) copyKids(n *memNode, dirfd int, host string) error {
	names := make([]string, 0, len(n.kids))
	for name := range n.kids {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		kid, kidHost := n.kids[name], filepath.Join(host, name)
		if err := m.copyNode(kid, dirfd, name, kidHost); err != nil {
			return err
		}
		if !kid.dir {
			continue
		}
		fd, err := unix.Openat(dirfd, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: kidHost, Err: err}
		}
		err = m.copyKids(kid, fd, kidHost)
		_ = unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *MemFs) copyNode(n *memNode, dirfd int, name, host string) error {
	perr := func(op string, err error) error { return &os.PathError{Op: op, Path: host, Err: err} }
	switch {
	case n.link:
		if err := unix.Symlinkat(n.target, dirfd, name); err != nil {
			return &os.LinkError{Op: "symlink", Old: n.target, New: host, Err: err}
		}
		return nil
	case n.dir:
		if err := unix.Mkdirat(dirfd, name, uint32(mem.GetFileInfo(n.fd).Mode().Perm())); err != nil {
			return perr("mkdir", err)
		}
		return nil
	}
	data, err := io.ReadAll(mem.NewReadOnlyFileHandle(n.fd))
	if err != nil {
		return perr("read", err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return perr("open", err)
	}
	for len(data) > 0 {
		var k int
		if k, err = unix.Write(fd, data); err != nil {
			break
		}
		data = data[k:]
	}
	if err == nil {
		err = unix.Fchmod(fd, uint32(mem.GetFileInfo(n.fd).Mode().Perm()))
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return perr("write", err)
	}
	return nil
}
