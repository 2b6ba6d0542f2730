package symfs

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/afero"
	"github.com/spf13/afero/mem"
)

// MemFs is an in-memory filesystem with files, directories and symbolic links.
type MemFs struct {
	mu    sync.RWMutex
	nodes map[string]*memNode // link-free absolute path -> node
}

type memNode struct {
	fd     *mem.FileData
	target string // symlink target, as stored
	link   bool
	dir    bool
	kids   map[string]*memNode // a directory's entries by name
}

var _ FS = (*MemFs)(nil)

// NewMemFs returns an empty filesystem holding only "/".
func NewMemFs() *MemFs {
	root := mem.CreateDir("/")
	mem.SetMode(root, os.ModeDir|0o755)
	return &MemFs{nodes: map[string]*memNode{"/": {fd: root, dir: true, kids: map[string]*memNode{}}}}
}

func (m *MemFs) lookup(real string) (kind, string, error) {
	n, ok := m.nodes[real]
	switch {
	case !ok:
		return kindNone, "", nil
	case n.link:
		return kindLink, n.target, nil
	case n.dir:
		return kindDir, "", nil
	}
	return kindFile, "", nil
}

// Realpath implements FS.
func (m *MemFs) Realpath(name string) (string, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	real, k, err := resolve(m.lookup, normalize(name), true)
	if err != nil {
		return "", false, pathErr("realpath", name, err)
	}
	return real, k != kindNone, nil
}

// Name implements afero.Fs.
func (m *MemFs) Name() string { return "symfs.MemFs" }

func (m *MemFs) get(name string, follow bool) (string, *memNode, error) {
	real, k, err := resolve(m.lookup, normalize(name), follow)
	if err != nil {
		return "", nil, err
	}
	if k == kindNone {
		return real, nil, syscall.ENOENT
	}
	if strings.HasSuffix(name, "/") && k != kindDir {
		return real, nil, syscall.ENOTDIR
	}
	return real, m.nodes[real], nil
}

// addToDir and removeFromDir change a directory's entry list under the directory's own lock: open
// handles (mem.File.Readdir) read that list holding only that lock, not m.mu, so an unlocked change would
// race with a concurrent listing (afero's MemMapFs locks the same way).
func addToDir(dir, f *mem.FileData) {
	dir.Lock()
	defer dir.Unlock()
	mem.AddToMemDir(dir, f)
}

func removeFromDir(dir, f *mem.FileData) {
	dir.Lock()
	defer dir.Unlock()
	mem.RemoveFromMemDir(dir, f)
}

// addLocked creates a node under an existing directory.
func (m *MemFs) addLocked(parent, base string, n *memNode) {
	p := m.nodes[parent]
	full := join(parent, base)
	mem.ChangeFileName(n.fd, full)
	addToDir(p.fd, n.fd)
	m.nodes[full] = n
	p.kids[base] = n
	if n.dir && n.kids == nil {
		n.kids = map[string]*memNode{}
	}
	mem.SetModTime(p.fd, time.Now())
}

// Create implements afero.Fs.
func (m *MemFs) Create(name string) (afero.File, error) {
	return m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir implements afero.Fs.
func (m *MemFs) Mkdir(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, err := resolveParent(m.lookup, name)
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	if _, ok := m.nodes[join(parent, base)]; ok {
		return pathErr("mkdir", name, syscall.EEXIST)
	}
	fd := mem.CreateDir(base)
	mem.SetMode(fd, os.ModeDir|perm.Perm())
	m.addLocked(parent, base, &memNode{fd: fd, dir: true})
	return nil
}

// MkdirAll implements afero.Fs.
func (m *MemFs) MkdirAll(name string, perm os.FileMode) error {
	name = normalize(name)
	comps := strings.Split(strings.Trim(name, "/"), "/")
	cur := ""
	for _, c := range comps {
		if c == "" {
			continue
		}
		cur += "/" + c
		err := m.Mkdir(cur, perm)
		if err == nil {
			continue
		}
		if fi, serr := m.Stat(cur); serr == nil && fi.IsDir() {
			continue
		}
		return err
	}
	return nil
}

// Open implements afero.Fs.
func (m *MemFs) Open(name string) (afero.File, error) {
	return m.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile implements afero.Fs.
func (m *MemFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	real, n, err := m.get(name, true)
	if err == syscall.ENOENT && flag&os.O_CREATE != 0 {
		parent, base, perr := resolveParent(m.lookup, name)
		if perr != nil {
			return nil, pathErr("open", name, perr)
		}
		if full := join(parent, base); m.nodes[full] != nil {
			// A dangling link: create its target, as open(2) does.
			n = nil
			target, k, rerr := resolve(m.lookup, full, true)
			if rerr != nil {
				return nil, pathErr("open", name, rerr)
			}
			if k != kindNone {
				return nil, pathErr("open", name, syscall.EEXIST)
			}
			parent, base = parentAndBase(target)
			if pk, _, _ := m.lookup(parent); pk != kindDir {
				return nil, pathErr("open", name, syscall.ENOENT)
			}
		}
		fd := mem.CreateFile(base)
		mem.SetMode(fd, perm.Perm())
		n = &memNode{fd: fd}
		m.addLocked(parent, base, n)
		real = join(parent, base)
		err = nil
	} else if err == nil && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return nil, pathErr("open", name, syscall.EEXIST)
	}
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	_ = real
	if n.dir && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	var f *mem.File
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		f = mem.NewReadOnlyFileHandle(n.fd)
	} else {
		f = mem.NewFileHandle(n.fd)
	}
	if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if err := f.Truncate(0); err != nil {
			return nil, pathErr("open", name, err)
		}
	}
	if flag&os.O_APPEND != 0 {
		if _, err := f.Seek(0, 2); err != nil {
			return nil, pathErr("open", name, err)
		}
	}
	return f, nil
}

// Remove implements afero.Fs; it never follows a final link.
func (m *MemFs) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, err := resolveParent(m.lookup, name)
	if err != nil {
		return pathErr("remove", name, err)
	}
	full := join(parent, base)
	n, ok := m.nodes[full]
	if !ok {
		return pathErr("remove", name, syscall.ENOENT)
	}
	if !n.link && n.dir && m.hasChildrenLocked(full) {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	m.unlinkLocked(parent, full, n)
	return nil
}

func (m *MemFs) hasChildrenLocked(dir string) bool {
	return len(m.nodes[dir].kids) > 0
}

// subtreeLocked lists the paths below dir, parents before children.
func (m *MemFs) subtreeLocked(dir string) []string {
	var out []string
	var walk func(p string, n *memNode)
	walk = func(p string, n *memNode) {
		for name, c := range n.kids {
			cp := join(p, name)
			out = append(out, cp)
			if c.dir {
				walk(cp, c)
			}
		}
	}
	walk(dir, m.nodes[dir])
	return out
}

func (m *MemFs) unlinkLocked(parent, full string, n *memNode) {
	p := m.nodes[parent]
	removeFromDir(p.fd, n.fd)
	delete(m.nodes, full)
	_, base := parentAndBase(full)
	delete(p.kids, base)
	mem.SetModTime(p.fd, time.Now())
}

// RemoveAll implements afero.Fs.
func (m *MemFs) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, err := resolveParent(m.lookup, name)
	if err == syscall.ENOENT {
		return nil
	}
	if err != nil {
		return pathErr("removeall", name, err)
	}
	full := join(parent, base)
	n, ok := m.nodes[full]
	if !ok {
		return nil
	}
	if !n.link && n.dir {
		sub := m.subtreeLocked(full)
		for i := len(sub) - 1; i >= 0; i-- {
			pp, _ := parentAndBase(sub[i])
			m.unlinkLocked(pp, sub[i], m.nodes[sub[i]])
		}
	}
	m.unlinkLocked(parent, full, n)
	return nil
}

// Rename implements afero.Fs: an existing file or link at newname is replaced atomically.
func (m *MemFs) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, ob, err := resolveParent(m.lookup, oldname)
	if err != nil {
		return pathErr("rename", oldname, err)
	}
	np, nb, err := resolveParent(m.lookup, newname)
	if err != nil {
		return pathErr("rename", newname, err)
	}
	oldFull, newFull := join(op, ob), join(np, nb)
	n, ok := m.nodes[oldFull]
	if !ok {
		return pathErr("rename", oldname, syscall.ENOENT)
	}
	if oldFull == newFull {
		return nil
	}
	isDir := !n.link && n.dir
	if isDir && strings.HasPrefix(newFull, oldFull+"/") {
		return pathErr("rename", newname, syscall.EINVAL)
	}
	if existing, ok := m.nodes[newFull]; ok {
		exDir := !existing.link && existing.dir
		switch {
		case exDir && !isDir:
			return pathErr("rename", newname, syscall.EISDIR)
		case !exDir && isDir:
			return pathErr("rename", newname, syscall.ENOTDIR)
		case exDir && m.hasChildrenLocked(newFull):
			return pathErr("rename", newname, syscall.ENOTEMPTY)
		}
		m.unlinkLocked(np, newFull, existing)
	}
	m.unlinkLocked(op, oldFull, n)
	if isDir {
		// The subtree keeps its nodes (and kids maps); the path index and the names change. mem's
		// directory maps are keyed by full name: re-register each entry under its new one.
		var walk func(oldDir, newDir string, d *memNode)
		walk = func(oldDir, newDir string, d *memNode) {
			for name, c := range d.kids {
				op, np := join(oldDir, name), join(newDir, name)
				delete(m.nodes, op)
				removeFromDir(d.fd, c.fd)
				mem.ChangeFileName(c.fd, np)
				addToDir(d.fd, c.fd)
				m.nodes[np] = c
				if c.dir {
					walk(op, np, c)
				}
			}
		}
		walk(oldFull, newFull, n)
	}
	m.addLocked(np, nb, n)
	return nil
}

// Stat implements afero.Fs; it follows links.
func (m *MemFs) Stat(name string) (os.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, n, err := m.get(name, true)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return mem.GetFileInfo(n.fd), nil
}

// LstatIfPossible implements afero.Lstater; it does not follow a final link.
func (m *MemFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, n, err := m.get(name, false)
	if err != nil {
		return nil, true, pathErr("lstat", name, err)
	}
	return mem.GetFileInfo(n.fd), true, nil
}

// SymlinkIfPossible implements afero.Linker: newname becomes a link to oldname, stored as given.
func (m *MemFs) SymlinkIfPossible(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, err := resolveParent(m.lookup, newname)
	if err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: err}
	}
	if _, ok := m.nodes[join(parent, base)]; ok {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: syscall.EEXIST}
	}
	fd := mem.CreateFile(base)
	mem.SetMode(fd, os.ModeSymlink|0o777)
	m.addLocked(parent, base, &memNode{fd: fd, target: oldname, link: true})
	return nil
}

// ReadlinkIfPossible implements afero.LinkReader: the target exactly as stored.
func (m *MemFs) ReadlinkIfPossible(name string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, n, err := m.get(name, false)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	if !n.link {
		return "", pathErr("readlink", name, syscall.EINVAL)
	}
	return n.target, nil
}

// Chmod implements afero.Fs.
func (m *MemFs) Chmod(name string, mode os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, err := m.get(name, true)
	if err != nil {
		return pathErr("chmod", name, err)
	}
	old := mem.GetFileInfo(n.fd).Mode()
	mem.SetMode(n.fd, old&^os.ModePerm|mode.Perm())
	return nil
}

// Chown implements afero.Fs.
func (m *MemFs) Chown(name string, uid, gid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, err := m.get(name, true)
	if err != nil {
		return pathErr("chown", name, err)
	}
	mem.SetUID(n.fd, uid)
	mem.SetGID(n.fd, gid)
	return nil
}

// Chtimes implements afero.Fs.
func (m *MemFs) Chtimes(name string, _ time.Time, mtime time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, n, err := m.get(name, true)
	if err != nil {
		return pathErr("chtimes", name, err)
	}
	mem.SetModTime(n.fd, mtime)
	return nil
}
