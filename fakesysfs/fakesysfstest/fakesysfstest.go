package fakesysfstest

import (
	"testing"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// Node returns the topology preset name (see topology.Presets), for a test that changes it before
// rendering it.
func Node(tb testing.TB, name string) topology.Node {
	tb.Helper()
	node, err := topology.Preset(name)
	if err != nil {
		tb.Fatalf("preset %q: %v", name, err)
	}
	return node
}

// Preset renders the topology preset name into an in-memory fake kernel.
func Preset(tb testing.TB, name string, opts ...fakesysfs.Option) *fakesysfs.Kernel {
	tb.Helper()
	k, err := fakesysfs.New(Node(tb, name), opts...)
	if err != nil {
		tb.Fatalf("render preset %q: %v", name, err)
	}
	return k
}

// PresetDir renders the topology preset name on disk, into a new directory under tb.TempDir() (removed
// with it), and returns that root with its kernel: for code that opens a root path (fakesysfs.Open, a
// CLI's --root, VFLAB_ROOT) or reads the files directly.
func PresetDir(tb testing.TB, name string, opts ...fakesysfs.Option) (string, *fakesysfs.Kernel) {
	tb.Helper()
	dir := tb.TempDir()
	k, err := fakesysfs.Create(dir, Node(tb, name), opts...)
	if err != nil {
		tb.Fatalf("render preset %q in %s: %v", name, dir, err)
	}
	return dir, k
}
