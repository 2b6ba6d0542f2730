package vftrace

import (
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/vflab/vflab/drivers"
)

// Recorder is a drivers.VFConfig that records every call, then forwards it.
type Recorder struct {
	inner drivers.VFConfig
	mu    sync.Mutex
	w     io.Writer
	reads bool
}

var _ drivers.VFConfig = (*Recorder)(nil)

// New records the calls made to inner on w. LinkByName calls (reads) are recorded only when reads is true.
func New(inner drivers.VFConfig, w io.Writer, reads bool) *Recorder {
	return &Recorder{inner: inner, w: w, reads: reads}
}

func (r *Recorder) line(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = fmt.Fprintf(r.w, format+"\n", args...)
}

func name(l netlink.Link) string {
	if l == nil || l.Attrs() == nil {
		return "<nil>"
	}
	return l.Attrs().Name
}

// LinkByName implements drivers.VFConfig.
func (r *Recorder) LinkByName(n string) (netlink.Link, error) {
	if r.reads {
		r.line("LinkByName %s", n)
	}
	return r.inner.LinkByName(n)
}

// LinkSetVfHardwareAddr implements drivers.VFConfig.
func (r *Recorder) LinkSetVfHardwareAddr(pf netlink.Link, vf int, hw net.HardwareAddr) error {
	r.line("LinkSetVfHardwareAddr %s %d %s", name(pf), vf, hw)
	return r.inner.LinkSetVfHardwareAddr(pf, vf, hw)
}

// LinkSetVfVlanQosProto implements drivers.VFConfig.
func (r *Recorder) LinkSetVfVlanQosProto(pf netlink.Link, vf, vlan, qos, proto int) error {
	r.line("LinkSetVfVlanQosProto %s %d %d %d %d", name(pf), vf, vlan, qos, proto)
	return r.inner.LinkSetVfVlanQosProto(pf, vf, vlan, qos, proto)
}

// LinkSetVfSpoofchk implements drivers.VFConfig.
func (r *Recorder) LinkSetVfSpoofchk(pf netlink.Link, vf int, check bool) error {
	r.line("LinkSetVfSpoofchk %s %d %t", name(pf), vf, check)
	return r.inner.LinkSetVfSpoofchk(pf, vf, check)
}

// LinkSetVfTrust implements drivers.VFConfig.
func (r *Recorder) LinkSetVfTrust(pf netlink.Link, vf int, state bool) error {
	r.line("LinkSetVfTrust %s %d %t", name(pf), vf, state)
	return r.inner.LinkSetVfTrust(pf, vf, state)
}

// LinkSetVfState implements drivers.VFConfig.
func (r *Recorder) LinkSetVfState(pf netlink.Link, vf int, state uint32) error {
	r.line("LinkSetVfState %s %d %d", name(pf), vf, state)
	return r.inner.LinkSetVfState(pf, vf, state)
}

// LinkSetVfRate implements drivers.VFConfig.
func (r *Recorder) LinkSetVfRate(pf netlink.Link, vf, minRate, maxRate int) error {
	r.line("LinkSetVfRate %s %d %d %d", name(pf), vf, minRate, maxRate)
	return r.inner.LinkSetVfRate(pf, vf, minRate, maxRate)
}

// LinkSetVfGUID implements drivers.VFConfig.
func (r *Recorder) LinkSetVfGUID(pf netlink.Link, vf int, guid net.HardwareAddr, guidType int) error {
	kind := fmt.Sprintf("type%d", guidType)
	switch guidType {
	case nl.IFLA_VF_IB_NODE_GUID:
		kind = "node_guid"
	case nl.IFLA_VF_IB_PORT_GUID:
		kind = "port_guid"
	}
	r.line("LinkSetVfGUID %s %d %s %s", name(pf), vf, guid, kind)
	return r.inner.LinkSetVfGUID(pf, vf, guid, guidType)
}
