//go:build !hardware

package host_test

import (
	"os"
	"strings"
	"testing"

	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
	"github.com/vflab/vflab/host"
)

// TestOpen: a plain fake kernel's root opens writable (its kernel rules apply); a directory without a
// kernel is refused with an error naming it. Sandbox roots are covered by cli/sys's TestWriteSandboxNode.
func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := host.Open(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open(empty dir) = %v, want an error naming it", err)
	}
	root, _ := fakesysfstest.PresetDir(t, "laptop")
	m, err := host.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	if !m.Simulated || m.Root != root || m.VFs == nil {
		t.Errorf("machine = %+v", m)
	}
	f, err := m.FS.OpenFile("/sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("0\n")); err != nil {
		t.Errorf("write sriov_numvfs through the opened machine: %v", err)
	}
	_ = f.Close()
}
