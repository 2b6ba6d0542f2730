package deviceplugin

import (
	"slices"
	"strings"

	"github.com/vflab/vflab/deviceplugin/config"
)

// Matches reports whether d matches one selector entry (all of its non-empty fields).
func Matches(s *config.Selector, d *Device) bool {
	if len(s.Vendors) > 0 && !slices.Contains(s.Vendors, d.Vendor) {
		return false
	}
	if len(s.Devices) > 0 && !slices.Contains(s.Devices, d.DeviceID) {
		return false
	}
	if len(s.Drivers) > 0 && !slices.Contains(s.Drivers, d.Driver) {
		return false
	}
	if len(s.PCIAddresses) > 0 && !slices.Contains(s.PCIAddresses, d.PCIAddress) {
		return false
	}
	if len(s.ACPIIndexes) > 0 && !slices.Contains(s.ACPIIndexes, d.ACPIIndex) {
		return false
	}
	if len(s.PFNames) > 0 && !inRanges(s.PFNames, d.PFName, d.VFIndex, true) {
		return false
	}
	if len(s.RootDevices) > 0 && !inRanges(s.RootDevices, d.PFAddress, d.VFIndex, false) {
		return false
	}
	if len(s.LinkTypes) > 0 && !slices.Contains(s.LinkTypes, d.LinkType) {
		return false
	}
	if len(s.DDPProfiles) > 0 && !slices.Contains(s.DDPProfiles, d.DDPProfile) {
		return false
	}
	if len(s.PKeys) > 0 && !slices.Contains(s.PKeys, strings.ToLower(d.PKey)) {
		return false
	}
	if s.IsRdma && !d.IsRDMA() {
		return false
	}
	if s.VdpaType != "" && s.VdpaType != d.VdpaType {
		return false
	}
	return true
}

// inRanges: only the first entry naming the PF counts (upstream); names compare case-insensitively.
func inRanges(rs []config.PFRange, pf string, vf int, fold bool) bool {
	if pf == "" {
		return false
	}
	for _, r := range rs {
		if r.PF == pf || (fold && strings.EqualFold(r.PF, pf)) {
			return r.Contains(vf)
		}
	}
	return false
}

// classOK filters by device type: netDevice wants PCI class 0x02, accelerator 0x12.
func classOK(dt config.DeviceType, class uint32) bool {
	base := class >> 16
	if dt == config.Accelerator {
		return base == 0x12
	}
	return base == 0x02
}

// PoolOf returns the index of the first pool one of whose selectors d matches, or -1 (a device joins
// the first pool it matches, never two).
func PoolOf(rs []config.Resource, d *Device) int {
	i, _ := poolOf(rs, d)
	return i
}
