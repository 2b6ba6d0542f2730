package fakesysfs

import (
	"fmt"
	"os"
	"path"
	"strings"
)

// repair brings a tree left half-changed by a writer that died under the lock back to a consistent
// state: leftover temporary files go, a PF whose VFs do not match its sriov_numvfs loses all its VFs
// (sriov_numvfs 0, as after a failed enable), and class links, driver links and char devices whose
// device is gone are removed.
func (t *tx) repair() error {
	for _, name := range t.names(tmpDir) {
		t.rm(tmpDir + "/" + name)
	}
	for _, pf := range t.k.devs {
		if pf.isVF() || pf.spec().TotalVFs == 0 || !t.present(pf) {
			continue
		}
		n, _ := t.readInt(pf.dir + "/sriov_numvfs")
		consistent := len(t.st.VFs[pf.bdf]) == n
		var present []device
		for _, vf := range t.k.devs {
			if vf.pfBDF != pf.bdf || !vf.isVF() {
				continue
			}
			if t.exists(vf.dir) || t.exists("/sys/bus/pci/devices/"+vf.bdf) {
				present = append(present, vf)
			}
		}
		virtfns := 0
		for _, name := range t.names(pf.dir) {
			if strings.HasPrefix(name, "virtfn") {
				virtfns++
			}
		}
		if consistent && len(present) == n && virtfns == n {
			continue
		}
		t.k.opts.logger.Warn("fake kernel repair: disabling half-changed VFs", "pf", pf.bdf, "numvfs", n,
			"vfs", len(present), "virtfns", virtfns)
		for i := len(present) - 1; i >= 0; i-- {
			vf := present[i]
			if t.exists(vf.dir) {
				t.unbind(vf)
			}
			t.removeFunction(vf)
		}
		for _, name := range t.names(pf.dir) {
			if strings.HasPrefix(name, "virtfn") {
				t.rm(pf.dir + "/" + name)
			}
		}
		for _, name := range t.names(pf.dir + "/sriov") {
			t.rm(pf.dir + "/sriov/" + name)
		}
		delete(t.st.VFs, pf.bdf)
		t.setNumVFs(pf, 0)
	}
	// Links whose target is gone, and the char devices of vanished class devices.
	for _, dir := range []string{"/sys/bus/pci/devices", "/sys/bus/pci/drivers/" + driverMLX5, "/sys/bus/pci/drivers/" + driverVFIO,
		"/sys/class/net", "/sys/class/infiniband", "/sys/class/infiniband_verbs", "/sys/class/infiniband_mad"} {
		for _, name := range t.names(dir) {
			p := dir + "/" + name
			if fi, _, err := t.fs.LstatIfPossible(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				if _, err := t.fs.Stat(p); err != nil {
					t.rm(p)
				}
			}
		}
	}
	for _, name := range t.names("/dev/infiniband") {
		if name == "rdma_cm" {
			continue
		}
		class := "/sys/class/infiniband_mad/"
		if strings.HasPrefix(name, "uverbs") {
			class = "/sys/class/infiniband_verbs/"
		}
		if !t.exists(class + name) {
			t.rm("/dev/infiniband/" + name)
		}
	}
	for _, name := range t.names("/sys/kernel/iommu_groups") {
		g := "/sys/kernel/iommu_groups/" + name
		if len(t.names(g+"/devices")) == 0 {
			t.rm(g)
		}
	}
	if t.err != nil {
		return fmt.Errorf("%w (in %s)", t.err, path.Clean(t.k.root))
	}
	return nil
}
