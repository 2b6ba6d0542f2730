package fakesysfstest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/fakesysfstest"
)

func TestPreset(t *testing.T) {
	t.Parallel()
	k := fakesysfstest.Preset(t, "laptop")
	if ok, err := afero.DirExists(k, "/sys/bus/pci/devices"); !ok || err != nil {
		t.Errorf("in-memory kernel has no /sys/bus/pci/devices: %v", err)
	}
	dir, k := fakesysfstest.PresetDir(t, "laptop")
	if fi, err := os.Stat(filepath.Join(dir, "sys/bus/pci/devices")); err != nil || !fi.IsDir() {
		t.Errorf("on-disk kernel has no sys/bus/pci/devices: %v", err)
	}
	if _, err := fakesysfs.Open(dir); err != nil {
		t.Errorf("reopen %s: %v", dir, err)
	}
	if k.Root() != dir {
		t.Errorf("kernel root %q, want %q", k.Root(), dir)
	}
}

// fatalTB records the first Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestPresetUnknown(t *testing.T) {
	t.Parallel()
	for name, call := range map[string]func(testing.TB){
		"Preset":    func(tb testing.TB) { fakesysfstest.Preset(tb, "no-such-preset") },
		"PresetDir": func(tb testing.TB) { fakesysfstest.PresetDir(tb, "no-such-preset") },
		"Node":      func(tb testing.TB) { fakesysfstest.Node(tb, "no-such-preset") },
	} {
		tb := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); call(tb) }()
		<-done
		if !strings.Contains(tb.msg, `"no-such-preset"`) {
			t.Errorf("%s of an unknown preset: failed with %q, want a message naming it", name, tb.msg)
		}
	}
}
