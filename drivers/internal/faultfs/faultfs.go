package faultfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/afero"
)

// FS is an afero.Fs (and afero.Symlinker when the wrapped one is) with injected faults.
type FS struct {
	afero.Fs
	mu       sync.Mutex
	writeErr map[string]error
	hidden   func(name string) bool
	trace    io.Writer
	counts   Counts
}

// Counts are the operations made through the FS.
type Counts struct {
	Opens, Readlinks, Stats int
}

// Counts returns the operations made so far.
func (f *FS) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// Open implements afero.Fs.
func (f *FS) Open(name string) (afero.File, error) { return f.OpenFile(name, os.O_RDONLY, 0) }

// Stat implements afero.Fs.
func (f *FS) Stat(name string) (os.FileInfo, error) {
	f.mu.Lock()
	f.counts.Stats++
	f.mu.Unlock()
	return f.Fs.Stat(name)
}

// Trace records every write as one line, "write <path> <value>", on w (nil stops).
func (f *FS) Trace(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trace = w
}

type tracedFile struct {
	afero.File
	fs   *FS
	name string
}

func (t *tracedFile) Write(b []byte) (int, error) {
	t.fs.mu.Lock()
	if t.fs.trace != nil {
		_, _ = fmt.Fprintf(t.fs.trace, "write %s %s\n", t.name, strings.TrimRight(string(b), "\n"))
	}
	t.fs.mu.Unlock()
	return t.File.Write(b)
}

// New wraps fs.
func New(fs afero.Fs) *FS { return &FS{Fs: fs, writeErr: map[string]error{}} }

// FailWrites makes writes to files named base (e.g. "sriov_numvfs") fail with errno; nil clears it.
func (f *FS) FailWrites(base string, errno error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if errno == nil {
		delete(f.writeErr, base)
		return
	}
	f.writeErr[base] = errno
}

// HideLinks makes reading the links for which hide returns true fail with ENOENT, as if the kernel had
// not created them yet; nil shows everything again.
func (f *FS) HideLinks(hide func(name string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hidden = hide
}

// OpenFile implements afero.Fs.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f.mu.Lock()
	f.counts.Opens++
	f.mu.Unlock()
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		f.mu.Lock()
		err := f.writeErr[path.Base(name)]
		f.mu.Unlock()
		if err != nil {
			return nil, &os.PathError{Op: "write", Path: name, Err: err}
		}
	}
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil || flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return file, err
	}
	return &tracedFile{File: file, fs: f, name: name}, nil
}

// ReadlinkIfPossible implements afero.LinkReader.
func (f *FS) ReadlinkIfPossible(name string) (string, error) {
	f.mu.Lock()
	hide := f.hidden
	f.counts.Readlinks++
	f.mu.Unlock()
	if hide != nil && hide(name) {
		return "", &os.PathError{Op: "readlink", Path: name, Err: syscall.ENOENT}
	}
	lr, ok := f.Fs.(afero.LinkReader)
	if !ok {
		return "", &os.PathError{Op: "readlink", Path: name, Err: afero.ErrNoReadlink}
	}
	return lr.ReadlinkIfPossible(name)
}

// LstatIfPossible implements afero.Lstater.
func (f *FS) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if l, ok := f.Fs.(afero.Lstater); ok {
		return l.LstatIfPossible(name)
	}
	fi, err := f.Fs.Stat(name)
	return fi, false, err
}

// SymlinkIfPossible implements afero.Linker.
func (f *FS) SymlinkIfPossible(oldname, newname string) error {
	if l, ok := f.Fs.(afero.Linker); ok {
		return l.SymlinkIfPossible(oldname, newname)
	}
	return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: afero.ErrNoSymlink}
}
