// Package capturetest gives tests a real machine's captured sysfs (shared/fixtures/real-sysfs) as a
// read-only rootfs.Fs, unpacked into the test's temporary directory. Tests skip with one line when the
// fixtures are not there.
package capturetest
