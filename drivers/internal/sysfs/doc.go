// Package sysfs holds the few primitives drivers use to read and write kernel attribute files through an
// afero.Fs rooted at "/": read a value (trimmed), read a symlink, list a directory, write a value the way
// echo does. Errors keep the kernel's errno (wrapped in *os.PathError), so callers can branch on it.
package sysfs
