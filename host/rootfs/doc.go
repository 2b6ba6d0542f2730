// Package rootfs is a read-only afero.Fs over a directory on disk that holds a machine's tree — a sysfs
// captured from a real host (hwloc, ghw snapshots) or any other copy of "/". Paths are resolved inside the
// directory: absolute and relative symlinks are followed as the kernel would follow them on the captured
// machine, and can never lead out of the directory. afero.NewBasePathFs cannot do this (it resolves
// relative links against the real root), which is why this package exists.
package rootfs
