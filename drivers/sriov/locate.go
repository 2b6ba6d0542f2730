package sriov

import (
	"fmt"
	"path"
	"strconv"

	"github.com/vflab/vflab/drivers/internal/sysfs"
)

// Location is where a single VF sits: its PF, its index there, and the PF netdev VF configuration goes
// through.
type Location struct {
	VF       string // BDF
	PF       string // BDF
	Index    int
	PFNetdev string // "" when the PF has no netdev
}

// Locate finds one VF's PF and index without a full discovery: the VF's physfn link, then the PF's
// virtfnN links up to the one pointing back (one readlink per VF of that PF). Use Discover to map many.
func (d *Driver) Locate(vf string) (Location, error) {
	vdir := path.Join(PCIDevices, vf)
	if !sysfs.Exists(d.fs, vdir) {
		return Location{}, fmt.Errorf("locate vf %s: %w", vf, ErrDeviceGone)
	}
	pf, ok, err := sysfs.LinkBase(d.fs, path.Join(vdir, "physfn"))
	if err != nil {
		return Location{}, fmt.Errorf("locate vf %s: %w", vf, err)
	}
	if !ok {
		return Location{}, fmt.Errorf("locate vf %s: no physfn link, not a VF: %w", vf, ErrVFNotFound)
	}
	pdir := path.Join(PCIDevices, pf)
	numvfs, err := sysfs.ReadInt(d.fs, path.Join(pdir, "sriov_numvfs"))
	if err != nil {
		return Location{}, fmt.Errorf("locate vf %s: pf %w", vf, gone(pf, err))
	}
	loc := Location{VF: vf, PF: pf, Index: -1}
	for i := 0; i < numvfs; i++ {
		t, ok, err := sysfs.LinkBase(d.fs, path.Join(pdir, "virtfn"+strconv.Itoa(i)))
		if err != nil {
			return Location{}, fmt.Errorf("locate vf %s: %w", vf, err)
		}
		if ok && t == vf {
			loc.Index = i
			break
		}
	}
	if loc.Index < 0 {
		return Location{}, fmt.Errorf("locate vf %s: pf %s has no virtfn link to it: %w", vf, pf, ErrVFNotFound)
	}
	if nets, err := sysfs.List(d.fs, path.Join(pdir, "net")); err == nil && len(nets) > 0 {
		loc.PFNetdev = nets[0]
	}
	return loc, nil
}
