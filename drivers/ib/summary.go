package ib

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/vflab/vflab/drivers/internal/sysfs"
	"github.com/vflab/vflab/drivers/sriov"
)

// Summary is the cheap part of a PCI function's RDMA devices, what a device plugin rescanning every
// function several times a second needs: Devices reads every GID and P_Key of every port (hundreds of
// files per function), Summary a handful.
type Summary struct {
	// Devices are the function's RDMA device names (<bdf>/infiniband/), sorted; none for a function
	// without RDMA.
	Devices []string `json:"devices,omitempty"`
	// PortState is the state of port 1 of the first device ("4: ACTIVE"), "" when unreadable.
	PortState string `json:"portState,omitempty"`
	// PKey0 is entry 0 of that port's P_Key table ("0xffff"), "" when unreadable.
	PKey0 string `json:"pkey0,omitempty"`
	// PortGUIDSet tells whether that port's GUID (the interface ID of GID 0) is set: neither zero
	// (an InfiniBand VF before its GUID is configured, when the port stays down by design) nor all ones.
	PortGUIDSet bool `json:"portGUIDSet,omitempty"`
	// Uverbs, Umad and Issm are the char devices listed under the function itself
	// (<bdf>/infiniband_verbs/, <bdf>/infiniband_mad/), sorted: exactly the function's, with no
	// matching of device names. A function without those dirs has none (Devices falls back to the
	// class dirs, Summary does not).
	Uverbs []string `json:"uverbs,omitempty"`
	Umad   []string `json:"umad,omitempty"`
	Issm   []string `json:"issm,omitempty"`
}

// Summary reads the summary of the RDMA devices of the PCI function at bdf. It is best effort, as
// a device that vanishes while being read must not fail a scan: a missing file (no RDMA, the VF disabled
// meanwhile) leaves its field empty. Other read errors are returned, joined, with the fields that could
// be read.
func (d *Driver) Summary(bdf string) (Summary, error) {
	// Each path is joined once, whole: the device plugin reads every function several times a second.
	var s Summary
	var errs []error
	var err error
	s.Devices, err = sysfs.List(d.fs, path.Join(sriov.PCIDevices, bdf, "infiniband"))
	errs = keep(errs, "devices", bdf, err)
	if len(s.Devices) == 0 {
		s.Devices = nil
		return s, errors.Join(errs...)
	}
	dev := s.Devices[0]
	s.PortState, err = sysfs.ReadString(d.fs, path.Join(sriov.PCIDevices, bdf, "infiniband", dev, "ports", "1", "state"))
	errs = keep(errs, "port state", bdf, err)
	s.PKey0, err = sysfs.ReadString(d.fs, path.Join(sriov.PCIDevices, bdf, "infiniband", dev, "ports", "1", "pkeys", "0"))
	errs = keep(errs, "pkey 0", bdf, err)
	gid, err := sysfs.ReadString(d.fs, path.Join(sriov.PCIDevices, bdf, "infiniband", dev, "ports", "1", "gids", "0"))
	errs = keep(errs, "gid 0", bdf, err)
	if err == nil {
		g := portGUIDOf(gid)
		s.PortGUIDSet = g != 0 && g != ^GUID(0)
	}
	verbs, err := sysfs.List(d.fs, path.Join(sriov.PCIDevices, bdf, "infiniband_verbs"))
	errs = keep(errs, "uverbs", bdf, err)
	for _, n := range verbs {
		if strings.HasPrefix(n, "uverbs") {
			s.Uverbs = append(s.Uverbs, n)
		}
	}
	mads, err := sysfs.List(d.fs, path.Join(sriov.PCIDevices, bdf, "infiniband_mad"))
	errs = keep(errs, "umad", bdf, err)
	for _, n := range mads {
		switch {
		case strings.HasPrefix(n, "umad"):
			s.Umad = append(s.Umad, n)
		case strings.HasPrefix(n, "issm"):
			s.Issm = append(s.Issm, n)
		}
	}
	return s, errors.Join(errs...)
}

// portGUIDOf is gidInterfaceID without big integers for a GID as sysfs prints it (8 groups of 4 hex
// digits): the scan parses one per function.
func portGUIDOf(gid string) GUID {
	if len(gid) != 39 {
		return gidInterfaceID(gid)
	}
	v, err := strconv.ParseUint(strings.ReplaceAll(gid[20:], ":", ""), 16, 64)
	if err != nil {
		return 0
	}
	return GUID(v)
}

// keep adds err, about what of the function at bdf, to errs unless it says the file is missing.
func keep(errs []error, what, bdf string, err error) []error {
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return errs
	}
	return append(errs, fmt.Errorf("rdma %s of %s: %w", what, bdf, err))
}
