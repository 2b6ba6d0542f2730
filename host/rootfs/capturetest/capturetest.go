package capturetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vflab/vflab/host/rootfs"
)

// FixturesDir finds shared/fixtures/real-sysfs from a package directory of the repository (it lives next
// to the repository: ../shared/fixtures/real-sysfs from the repo root), or from $VFLAB_REAL_SYSFS.
func FixturesDir() (string, bool) {
	if d := os.Getenv("VFLAB_REAL_SYSFS"); d != "" {
		return d, true
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			c := filepath.Join(filepath.Dir(d), "shared", "fixtures", "real-sysfs")
			if _, err := os.Stat(c); err == nil {
				return c, true
			}
			return "", false
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// Unpack extracts the capture (one of rootfs.Capture*) into a temporary directory and returns the
// directory holding its sys/.
func Unpack(tb testing.TB, capture string) string {
	tb.Helper()
	fixtures, ok := FixturesDir()
	if !ok {
		tb.Skip("real sysfs captures not found (../shared/fixtures/real-sysfs); skipping")
	}
	archive := filepath.Join(fixtures, capture)
	if _, err := os.Stat(archive); err != nil {
		tb.Skipf("capture %s not found; skipping", archive)
	}
	dir := tb.TempDir()
	if err := rootfs.Unpack(archive, dir, rootfs.DriversOnly); err != nil {
		tb.Fatal(err)
	}
	root, err := rootfs.FindRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// Open unpacks the capture and returns it as a read-only filesystem rooted at its "/".
func Open(tb testing.TB, capture string) *rootfs.Fs {
	tb.Helper()
	fs, err := rootfs.New(Unpack(tb, capture))
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}
