package fakesysfs

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/afero"
)

// Dump prints the tree under root deterministically, one entry a line, sorted by path:
//
//	d 0755 /sys/bus/pci
//	l      /sys/bus/pci/devices/0000:3b:00.0 -> ../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0
//	f 0444 /sys/.../vendor "0x15b3\n"
//
// File contents are quoted; binary contents and files over 512 bytes are summarized by size and a
// checksum, write-only files by their size. fs should implement afero.Lstater and afero.LinkReader
// (symlinks are printed, not followed); reads go through fs, so a Kernel dumps what readers see
// (including read errors, printed as `!errno`).
func Dump(fs afero.Fs, root string) (string, error) {
	var lines []string
	lst, _ := fs.(afero.Lstater)
	lr, _ := fs.(afero.LinkReader)
	var walk func(p string) error
	walk = func(p string) error {
		var fi os.FileInfo
		var err error
		if lst != nil {
			fi, _, err = lst.LstatIfPossible(p)
		} else {
			fi, err = fs.Stat(p)
		}
		if err != nil {
			return err
		}
		mode := fi.Mode()
		switch {
		case mode&os.ModeSymlink != 0:
			target := "?"
			if lr != nil {
				if target, err = lr.ReadlinkIfPossible(p); err != nil {
					return err
				}
			}
			lines = append(lines, fmt.Sprintf("l      %s -> %s", p, target))
			return nil
		case mode.IsDir():
			lines = append(lines, fmt.Sprintf("d %04o %s", mode.Perm(), p))
			f, err := fs.Open(p)
			if err != nil {
				return err
			}
			names, err := f.Readdirnames(-1)
			_ = f.Close()
			if err != nil {
				return err
			}
			sort.Strings(names)
			for _, n := range names {
				if err := walk(path.Join(p, n)); err != nil {
					return err
				}
			}
			return nil
		}
		lines = append(lines, fmt.Sprintf("f %04o %s %s", mode.Perm(), p, dumpContent(fs, p, mode)))
		return nil
	}
	if err := walk(root); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n") + "\n", nil
}

func dumpContent(fs afero.Fs, p string, mode os.FileMode) string {
	if mode.Perm()&0o444 == 0 {
		return "(write-only)"
	}
	b, err := afero.ReadFile(fs, p)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return "!" + pe.Err.Error()
		}
		return "!" + err.Error()
	}
	if len(b) > 512 || !utf8.Valid(b) || strings.ContainsRune(string(b), 0) {
		var sum uint32 = 2166136261
		for _, c := range b {
			sum = (sum ^ uint32(c)) * 16777619
		}
		return fmt.Sprintf("(%d bytes, fnv32 %08x)", len(b), sum)
	}
	return strconv.Quote(string(b))
}
