package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/linkops"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/ipam"
)

// Attacher attaches VFs of one node to pods and detaches them, as the sriov and ib-sriov CNI plugins do.
// It is safe for concurrent use on different VFs; the same VF is serialised by its lock file.
type Attacher struct {
	pci   *sriov.Driver
	rdma  *ib.Driver
	host  *linkops.NS
	guids ib.GUIDAllocator
	locks string
	log   *slog.Logger
	pfs   map[string]int // PF PCI address -> its number on the node, for the GUID allocator
}

// AttacherConfig configures NewAttacher.
type AttacherConfig struct {
	// FS is the node's filesystem rooted at "/" (its fake kernel), VFs its PF-side VF configuration.
	FS  afero.Fs
	VFs drivers.VFConfig
	// HostNS is the path of the node's host namespace, where free VF netdevs live.
	HostNS string
	// LockDir holds one lock file per VF (created if missing).
	LockDir string
	// NodeID identifies the node within its InfiniBand fabric (VF GUIDs).
	NodeID uint32
	Logger *slog.Logger
}

// NewAttacher returns the Attacher of one node. Close it to release its host namespace handle.
func NewAttacher(cfg AttacherConfig) (*Attacher, error) {
	if cfg.FS == nil || cfg.VFs == nil {
		return nil, errors.New("attacher: FS and VFs are required")
	}
	if cfg.LockDir == "" {
		return nil, errors.New("attacher: LockDir is required")
	}
	if err := os.MkdirAll(cfg.LockDir, 0o755); err != nil {
		return nil, fmt.Errorf("attacher: %w", err)
	}
	host, err := linkops.Open(cfg.HostNS)
	if err != nil {
		return nil, fmt.Errorf("attacher: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pci := sriov.New(cfg.FS, cfg.VFs)
	inv, err := pci.Discover()
	if err != nil {
		_ = host.Close()
		return nil, fmt.Errorf("attacher: %w", err)
	}
	pfs := map[string]int{}
	for i, pf := range inv.PFs {
		pfs[pf.Address] = i
	}
	return &Attacher{
		pci: pci, rdma: ib.New(cfg.FS, cfg.VFs, pci), host: host,
		guids: ib.GUIDAllocator{Node: cfg.NodeID}, locks: cfg.LockDir, log: cfg.Logger, pfs: pfs,
	}, nil
}

// Close releases the host namespace handle.
func (a *Attacher) Close() error { return a.host.Close() }

// Request is one ADD: which VF goes into which pod, and how to configure it.
type Request struct {
	ContainerID string
	NetNS       string // the pod's network namespace path
	IfName      string // name in the pod, e.g. net1
	PCI         string // the VF's PCI address (device-info file, or the Allocate env)
	// Ethernet only: the VF's MAC (nil: leave it) and port VLAN (0: none).
	MAC  net.HardwareAddr
	VLAN int
	MTU  int // 0: leave it
	// IPAM: the store and the network to draw one address per range set from, and the pod for the
	// reconciler. A nil Store skips IPAM.
	Store   ipam.Store
	Network *ipam.Network
	Pod     ipam.PodRef
	// Routes added through the interface once it has its addresses.
	Routes []linkops.Route
}

// Attachment is what DEL needs to undo an ADD exactly (the plugins keep it in their cache file).
type Attachment struct {
	Request
	PFNetdev string
	VFIndex  int
	LinkType string // sriov.LinkEther or sriov.LinkInfiniBand
	HostName string // the VF netdev's name in the host namespace before the move
	HostMTU  int
	HostMAC  net.HardwareAddr // the Ethernet netdev's own address before (sriov-cni's EffectiveMAC)
	Snapshot *sriov.Snapshot  // PF-side state before (Ethernet)
	// GUIDs before and as set (InfiniBand).
	GUIDsBefore, GUIDs ib.VFGUIDs
	Addresses          []ipam.Allocation
}

// lock takes the VF's lock file.
func (a *Attacher) lock(ctx context.Context, pci string) (*flock.Flock, error) {
	l := flock.New(filepath.Join(a.locks, pci+".lock"))
	ok, err := l.TryLockContext(ctx, time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("lock vf %s: %w", pci, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock vf %s: %w", pci, ctx.Err())
	}
	return l, nil
}

// Attach gives the VF of req to the pod: lock, snapshot and configure through the PF, one netns move,
// rename, MTU, up, IPAM, addresses, routes. On failure it undoes what it did and returns the error.
func (a *Attacher) Attach(ctx context.Context, req Request) (_ *Attachment, err error) {
	if req.IfName == "" || req.NetNS == "" || req.PCI == "" {
		return nil, fmt.Errorf("attach: ifname %q, netns %q and vf %q are all required", req.IfName, req.NetNS, req.PCI)
	}
	if req.Store != nil && req.Network == nil {
		return nil, fmt.Errorf("attach %s: an IPAM store needs a network", req.PCI)
	}
	lk, err := a.lock(ctx, req.PCI)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer func() { _ = lk.Unlock() }()

	loc, err := a.pci.Locate(req.PCI)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
	}
	fn, err := a.pci.ReadFunction(req.PCI)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
	}
	// att is not the named result: the undo steps below use it after a `return nil, err`.
	att := &Attachment{Request: req, PFNetdev: loc.PFNetdev, VFIndex: loc.Index, LinkType: fn.LinkType}
	// undo runs the reverse of what succeeded so far when a later step fails.
	var undo []func() error
	var pod *linkops.NS // closed after the undo steps, which may need it
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				err = errors.Join(err, undo[i]())
			}
		}
		if pod != nil {
			_ = pod.Close()
		}
	}()

	switch fn.LinkType {
	case sriov.LinkInfiniBand:
		if req.MAC != nil || req.VLAN != 0 {
			return nil, fmt.Errorf("attach %s: mac %s, vlan %d: an InfiniBand VF has GUIDs, no MAC or VLAN", req.PCI, req.MAC, req.VLAN)
		}
		pfNum, known := a.pfs[loc.PF]
		if !known {
			return nil, fmt.Errorf("attach %s: pf %s appeared after the attacher started", req.PCI, loc.PF)
		}
		node, port, gerr := a.guids.VFGUIDs(pfNum, loc.Index)
		if gerr != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, gerr)
		}
		att.GUIDs = ib.VFGUIDs{Node: node, Port: port}
		if att.GUIDsBefore, err = a.rdma.SetVFGUIDs(req.PCI, att.GUIDs); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
		undo = append(undo, func() error { return a.restoreGUIDs(att) })
		// The rebind recreated the netdev: read its name again.
		if fn, err = a.pci.ReadFunction(req.PCI); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
		if att.HostName, att.HostMTU, _, err = a.hostNetdev(fn); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
	default:
		// The netdev's own address, read before the admin MAC replaces it, is put back on DEL.
		if att.HostName, att.HostMTU, att.HostMAC, err = a.hostNetdev(fn); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
		s := sriov.VFSettings{MAC: req.MAC}
		if req.VLAN != 0 {
			s.VLAN = &sriov.VLAN{ID: req.VLAN}
		}
		if att.Snapshot, err = a.pci.ConfigureVF(loc.PFNetdev, loc.Index, s); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
		undo = append(undo, func() error { return a.pci.RestoreVF(att.Snapshot) })
	}

	if pod, err = linkops.Open(req.NetNS); err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
	}
	name, err := a.host.Move(att.HostName, pod)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
	}
	undo = append(undo, func() error { return a.moveBack(pod, att, name) })
	if err = pod.Rename(name, req.IfName); err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
	}
	undo[len(undo)-1] = func() error { return a.moveBack(pod, att, req.IfName) }
	if req.MTU > 0 {
		if err = pod.SetMTU(req.IfName, req.MTU); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
	}
	if err = pod.Up(req.IfName); err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
	}
	if req.Store != nil {
		allocs, aerr := ipam.Add(ctx, req.Store, req.Network, ipam.Request{
			Owner: owner(req), Pod: req.Pod, Now: time.Now(),
		})
		if aerr != nil {
			return nil, fmt.Errorf("attach %s: ipam: %w", req.PCI, aerr)
		}
		att.Addresses = allocs
		undo = append(undo, func() error {
			_, err := ipam.Del(context.WithoutCancel(ctx), req.Store, req.Network.Name, owner(req))
			return err
		})
		for _, al := range allocs {
			if err = pod.AddAddr(req.IfName, ipNet(al.Prefix)); err != nil {
				return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
			}
		}
	}
	for _, r := range req.Routes {
		if err = pod.AddRoute(req.IfName, r); err != nil {
			return nil, fmt.Errorf("attach %s: %w", req.PCI, err)
		}
	}
	a.log.Debug("attached", "vf", req.PCI, "netns", req.NetNS, "ifname", req.IfName)
	return att, nil
}

// hostNetdev returns the name, MTU and address of the VF's netdev in the host namespace, which DEL
// puts back.
func (a *Attacher) hostNetdev(fn sriov.Function) (string, int, net.HardwareAddr, error) {
	if len(fn.Netdevs) == 0 {
		return "", 0, nil, errors.New("the VF has no netdev in the host namespace")
	}
	l, err := a.host.Link(fn.Netdevs[0])
	if err != nil {
		return "", 0, nil, err
	}
	return fn.Netdevs[0], l.Attrs().MTU, l.Attrs().HardwareAddr, nil
}

// Detach is the exact reverse of Attach: release the addresses, move the netdev back under its
// original name and MTU, restore the VF's PF-side state. Parts already gone are not errors: a pod
// namespace deleted first (its VF netdev is then back in the host namespace, under whatever name),
// addresses already released. It tries every step and returns every failure.
func (a *Attacher) Detach(ctx context.Context, att *Attachment) error {
	lk, err := a.lock(ctx, att.PCI)
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	defer func() { _ = lk.Unlock() }()
	var errs error
	if att.Store != nil {
		if _, err := ipam.Del(ctx, att.Store, att.Network.Name, owner(att.Request)); err != nil {
			errs = errors.Join(errs, fmt.Errorf("ipam: %w", err))
		}
	}
	if pod, err := linkops.Open(att.NetNS); err == nil {
		errs = errors.Join(errs, a.moveBack(pod, att, att.IfName))
		_ = pod.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = errors.Join(errs, err)
	}
	errs = errors.Join(errs, a.renameInHost(att))
	if att.LinkType == sriov.LinkInfiniBand {
		errs = errors.Join(errs, a.restoreGUIDs(att))
	} else if att.Snapshot != nil {
		errs = errors.Join(errs, a.pci.RestoreVF(att.Snapshot))
	}
	if errs != nil {
		return fmt.Errorf("detach %s: %w", att.PCI, errs)
	}
	return nil
}

// moveBack moves the VF netdev called name out of the pod into the host namespace, under its original
// name and MTU. A netdev no longer in the pod is not an error.
func (a *Attacher) moveBack(pod *linkops.NS, att *Attachment, name string) error {
	if _, err := pod.Link(name); errors.Is(err, linkops.ErrLinkNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if err := pod.Rename(name, att.HostName); err != nil {
		return err
	}
	if err := pod.SetMTU(att.HostName, att.HostMTU); err != nil {
		return err
	}
	if len(att.HostMAC) > 0 {
		if err := pod.SetMAC(att.HostName, att.HostMAC); err != nil {
			return err
		}
	}
	got, err := pod.Move(att.HostName, a.host)
	if err != nil {
		return err
	}
	if got != att.HostName {
		return a.host.Rename(got, att.HostName)
	}
	return nil
}

// renameInHost puts the VF netdev back under its original name and MTU when it came back to the host
// namespace by another way (the pod namespace was deleted while holding it).
func (a *Attacher) renameInHost(att *Attachment) error {
	fn, err := a.pci.ReadFunction(att.PCI)
	if err != nil || len(fn.Netdevs) == 0 {
		return nil // not in the host namespace (vfio, gone): nothing to rename
	}
	cur := fn.Netdevs[0]
	if cur != att.HostName {
		if err := a.host.Rename(cur, att.HostName); err != nil {
			return err
		}
	}
	l, err := a.host.Link(att.HostName)
	if err != nil {
		return err
	}
	if att.HostMTU > 0 && l.Attrs().MTU != att.HostMTU {
		if err := a.host.SetMTU(att.HostName, att.HostMTU); err != nil {
			return err
		}
	}
	if len(att.HostMAC) > 0 && !bytes.Equal(l.Attrs().HardwareAddr, att.HostMAC) {
		return a.host.SetMAC(att.HostName, att.HostMAC)
	}
	return nil
}

// restoreGUIDs puts back the GUIDs an InfiniBand VF had before Attach. A VF whose GUIDs were unset
// (zero) keeps the ones Attach gave it: the kernel refuses a zero GUID (EINVAL), and the allocator
// gives the same VF the same GUIDs every time, so the next attach needs no rebind.
func (a *Attacher) restoreGUIDs(att *Attachment) error {
	if !att.GUIDsBefore.Node.Valid() || !att.GUIDsBefore.Port.Valid() || att.GUIDsBefore == att.GUIDs {
		return nil
	}
	_, err := a.rdma.SetVFGUIDs(att.PCI, att.GUIDsBefore)
	return err
}

func owner(req Request) ipam.Owner {
	return ipam.Owner{ContainerID: req.ContainerID, IfName: req.IfName}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
