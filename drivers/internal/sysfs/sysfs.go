package sysfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/afero"
)

// ReadString returns the content of the attribute file p without surrounding white space.
func ReadString(fs afero.Fs, p string) (string, error) {
	b, err := afero.ReadFile(fs, p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ReadInt reads a decimal (or 0x-prefixed hex) integer attribute.
func ReadInt(fs afero.Fs, p string) (int, error) {
	s, err := ReadString(fs, p)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return int(v), nil
}

// Readlink returns the target of the symlink p as stored (usually relative).
func Readlink(fs afero.Fs, p string) (string, error) {
	lr, ok := fs.(afero.LinkReader)
	if !ok {
		return "", &os.PathError{Op: "readlink", Path: p, Err: afero.ErrNoReadlink}
	}
	return lr.ReadlinkIfPossible(p)
}

// LinkBase returns the last element of the target of the symlink p: the driver of a `driver` link, the
// BDF of a `physfn` or `virtfnN` link. ok is false when p does not exist.
func LinkBase(fs afero.Fs, p string) (string, bool, error) {
	t, err := Readlink(fs, p)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	t = strings.TrimRight(t, "/")
	return t[strings.LastIndexByte(t, '/')+1:], true, nil
}

// List returns the sorted names in directory p; a missing directory is an error wrapping os.ErrNotExist.
func List(fs afero.Fs, p string) ([]string, error) {
	f, err := fs.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	names, err := f.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// Exists reports whether p exists (following links).
func Exists(fs afero.Fs, p string) bool {
	_, err := fs.Stat(p)
	return err == nil
}

// Write writes value to the existing attribute file p in one write, as `echo value > p` does. It never
// creates p: writing to a file that vanished fails with an error wrapping os.ErrNotExist.
func Write(fs afero.Fs, p, value string) error {
	f, err := fs.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte(value))
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}
