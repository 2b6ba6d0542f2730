package symfs

import (
	"os"
	"strings"
	"syscall"

	"github.com/spf13/afero"
)

// FS is what both filesystems offer: afero with symlinks, and path resolution.
type FS interface {
	afero.Fs
	afero.Symlinker
	// Realpath resolves every symlink in name and returns the link-free absolute path. The last
	// component need not exist (exists reports whether it does); missing intermediate directories fail.
	Realpath(name string) (real string, exists bool, err error)
}

// maxHops is the kernel's MAXSYMLINKS.
const maxHops = 40

type kind int

const (
	kindNone kind = iota
	kindFile
	kindDir
	kindLink
)

// lookupFunc reports what sits at a link-free absolute path, and a link's target.
type lookupFunc func(real string) (k kind, target string, err error)

// resolve walks name component by component. With followLast a final symlink is followed too.
func resolve(lookup lookupFunc, name string, followLast bool) (real string, k kind, err error) {
	comps := strings.Split(name, "/")
	// cur is the resolved path so far; ends[i] is len(cur) after its i-th component.
	cur := ""
	var ends []int
	hops := 0
	k = kindDir // "/" itself
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(ends) > 0 {
				ends = ends[:len(ends)-1]
				cur = cur[:last(ends)]
			}
			k = kindDir
			continue
		}
		if k == kindFile {
			return "", kindNone, syscall.ENOTDIR
		}
		if k == kindNone {
			return "", kindNone, syscall.ENOENT
		}
		next := cur + "/" + c
		ck, target, err := lookup(next)
		if err != nil {
			return "", kindNone, err
		}
		if ck == kindLink && (followLast || len(comps) > 0) {
			hops++
			if hops > maxHops {
				return "", kindNone, syscall.ELOOP
			}
			if strings.HasPrefix(target, "/") {
				cur, ends = "", ends[:0]
			}
			comps = append(strings.Split(target, "/"), comps...)
			k = kindDir
			continue
		}
		cur = next
		ends = append(ends, len(cur))
		k = ck
	}
	if cur == "" {
		return "/", k, nil
	}
	return cur, k, nil
}

func last(ends []int) int {
	if len(ends) == 0 {
		return 0
	}
	return ends[len(ends)-1]
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}

// parentAndBase splits an absolute link-free path.
func parentAndBase(real string) (string, string) {
	i := strings.LastIndex(real, "/")
	if i <= 0 {
		return "/", real[i+1:]
	}
	return real[:i], real[i+1:]
}

// normalize makes name absolute ("a/b" is taken relative to "/").
func normalize(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

// resolveParent resolves everything but the last component of name, which it returns unresolved.
func resolveParent(lookup lookupFunc, name string) (parent, base string, err error) {
	name = normalize(name)
	trimmed := strings.TrimRight(name, "/")
	if trimmed == "" {
		return "", "", syscall.EBUSY // the root itself
	}
	dir, base := parentAndBase(trimmed)
	if base == "." || base == ".." {
		return "", "", syscall.EINVAL
	}
	p, k, err := resolve(lookup, dir, true)
	if err != nil {
		return "", "", err
	}
	switch k {
	case kindNone:
		return "", "", syscall.ENOENT
	case kindFile:
		return "", "", syscall.ENOTDIR
	}
	return p, base, nil
}

func join(dir, base string) string {
	if dir == "/" {
		return "/" + base
	}
	return dir + "/" + base
}
