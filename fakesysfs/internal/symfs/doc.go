// Package symfs provides two afero filesystems with real symbolic links, the ground the fake kernel
// stands on: MemFs, an in-memory tree, and DirFs, a directory on disk holding real OS symlinks (so that
// `ls -l`, lspci under a bind mount and other processes see the same tree).
//
// Both resolve paths component by component the way the kernel does: relative link targets are
// resolved against the link's directory, `..` is physical (taken after resolving the links before it)
// and clamped at "/", and more than 40 links in one lookup fail with ELOOP. Readlink returns a target
// exactly as stored. DirFs confines every lookup to its directory (chroot semantics): absolute targets
// and `..` are relative to it, so no link can escape.
package symfs
