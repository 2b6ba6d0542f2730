package drivertest

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

// pciDevices is /sys/bus/pci/devices, where RemoveDevice finds a function's link.
const pciDevices = "/sys/bus/pci/devices"

// Updater is a fake kernel (*fakesysfs.Kernel) whose raw tree can be changed behind the drivers' back.
type Updater interface {
	Update(fn func(raw afero.Fs) error) error
}

// RemoveDevice makes the PCI function at bdf vanish behind the drivers' back (hot unplug, a VF disabled
// by someone else): its directory and its /sys/bus/pci/devices link, through the kernel's raw tree. It
// returns the error rather than failing the test, so that hooks running on other goroutines can use it.
func RemoveDevice(k Updater, bdf string) error {
	return k.Update(func(raw afero.Fs) error {
		link := path.Join(pciDevices, bdf)
		target, err := raw.(afero.LinkReader).ReadlinkIfPossible(link)
		if err != nil {
			return err
		}
		if err := raw.RemoveAll(path.Join(path.Dir(link), target)); err != nil {
			return err
		}
		return raw.Remove(link)
	})
}

// Golden compares got with testdata/name.golden, or rewrites that file when update is set (the test
// binary's -update flag).
func Golden(tb testing.TB, name string, got []byte, update bool) {
	tb.Helper()
	p := filepath.Join("testdata", name+".golden")
	if update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("trace differs from %s:\n--- got\n%s--- want\n%s", p, got, want)
	}
}
