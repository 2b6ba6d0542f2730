package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// Netdevs keeps the fake kernel of one node in step with its real links (fakesysfs.Netdevs): Lookup reads
// a netdev's live state from the link carrying its alias in the node's host namespace, Added creates and
// cables a link, Removed deletes it wherever it is. It works in any process of the node, inside the host
// namespace or not: every netlink call goes through a handle bound to that namespace.
type Netdevs struct {
	cluster, node string
	nsPath        string
	stateDir      string
	logger        *slog.Logger

	mu    sync.Mutex
	host  *nsHandle
	index map[string]int // pci -> ifindex last seen in the host namespace
}

var _ fakesysfs.Netdevs = (*Netdevs)(nil)

// NetdevsConfig configures NewNetdevs.
type NetdevsConfig struct {
	Cluster, Node string
	// Namespace is the path of the node's host namespace; default /run/netns/vflab-<cluster>-<node>.
	Namespace string
	// StateDir is the run's state directory (its forwarder socket serves InfiniBand fabrics).
	StateDir string
	Logger   *slog.Logger
}

// NewNetdevs returns the Netdevs of one node. Close it to release its netlink handle.
func NewNetdevs(cfg NetdevsConfig) (*Netdevs, error) {
	if err := validName(cfg.Cluster); err != nil {
		return nil, fmt.Errorf("netdevs: cluster: %w", err)
	}
	if err := validName(cfg.Node); err != nil {
		return nil, fmt.Errorf("netdevs: node: %w", err)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = NamespacePath(NodeNamespace(cfg.Cluster, cfg.Node))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Netdevs{cluster: cfg.Cluster, node: cfg.Node, nsPath: cfg.Namespace, stateDir: cfg.StateDir, logger: cfg.Logger, index: map[string]int{}}, nil
}

// handle returns the netlink handle of the host namespace, opened on first use.
func (n *Netdevs) handle() (*nsHandle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.host != nil {
		return n.host, nil
	}
	h, err := openNamespace(n.nsPath)
	if err != nil {
		return nil, err
	}
	n.host = h
	return h, nil
}

// Close releases the netlink handle.
func (n *Netdevs) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.host != nil {
		n.host.Close()
		n.host = nil
	}
	return nil
}

// link returns the link standing for the netdev of pci in the host namespace, or nil. The ifindex seen
// last is tried first (one request instead of a dump; an ifindex survives renames and, mostly, moves);
// the alias decides either way.
func (n *Netdevs) link(pci string) (netlink.Link, error) {
	h, err := n.handle()
	if err != nil {
		return nil, err
	}
	owner := aliasOwner(n.cluster, n.node, pci)
	n.mu.Lock()
	idx, ok := n.index[pci]
	n.mu.Unlock()
	if ok {
		if l, err := h.LinkByIndex(idx); err == nil && strings.HasPrefix(l.Attrs().Alias, owner) {
			return l, nil
		}
	}
	links, err := linksByAliasPrefix(h.Handle, owner)
	if err != nil || len(links) == 0 {
		return nil, err
	}
	n.mu.Lock()
	n.index[pci] = links[0].Attrs().Index
	n.mu.Unlock()
	return links[0], nil
}

// Lookup implements fakesysfs.Netdevs: the live state of the netdev of pci while it is in the host
// namespace, whatever it is called now.
func (n *Netdevs) Lookup(pci, name string) (fakesysfs.Netdev, bool, error) {
	l, err := n.link(pci)
	if err != nil {
		return fakesysfs.Netdev{}, false, fmt.Errorf("lookup netdev %s of %s: %w", name, pci, err)
	}
	if l == nil {
		return fakesysfs.Netdev{}, false, nil
	}
	a := l.Attrs()
	live := fakesysfs.Netdev{
		Name:      a.Name,
		MTU:       a.MTU,
		OperState: operState(a.OperState),
		Carrier:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		Ifindex:   a.Index,
	}
	if !isTUN(l) {
		live.Address = a.HardwareAddr
	}
	return live, true, nil
}

// operState prints a link's operational state as /sys/class/net/<if>/operstate does.
func operState(s netlink.LinkOperState) string {
	switch s {
	case netlink.OperUp:
		return "up"
	case netlink.OperDown:
		return "down"
	case netlink.OperDormant:
		return "dormant"
	case netlink.OperNotPresent:
		return "notpresent"
	case netlink.OperLowerLayerDown:
		return "lowerlayerdown"
	case netlink.OperTesting:
		return "testing"
	}
	return "unknown"
}

// fabricOf returns the fabric a netdev is cabled to (topology defaults when unset).
func fabricOf(spec fakesysfs.NetdevSpec) string {
	if spec.Fabric != "" {
		return spec.Fabric
	}
	if spec.LinkLayer == topology.InfiniBand {
		return "ib0"
	}
	return "eth0"
}

// Added implements fakesysfs.Netdevs: it creates the netdev's link in the host namespace and cables it
// to its fabric (veth into the fabric bridge, or a TUN attached to the forwarder).
func (n *Netdevs) Added(spec fakesysfs.NetdevSpec) error {
	h, err := n.handle()
	if err != nil {
		return err
	}
	fabric := fabricOf(spec)
	s := linkSpec{Name: spec.Name, MTU: spec.MTU, Alias: Alias(n.cluster, n.node, spec.PCIAddress, fabric), Up: spec.PF}
	if spec.LinkLayer == topology.InfiniBand {
		if err := addTUN(h, s); err != nil {
			return err
		}
		_, err := callForwarder(filepath.Join(n.stateDir, forwarderSock), forwarderRequest{
			Op: "attach", Fabric: fabric, NS: n.nsPath, Ifname: spec.Name, Alias: s.Alias,
		})
		if err != nil {
			if l, lerr := h.LinkByName(spec.Name); lerr == nil {
				err = errors.Join(err, h.LinkDel(l))
			}
			return fmt.Errorf("cable %s to fabric %s: %w", spec.Name, fabric, err)
		}
		return nil
	}
	fab, err := openNamespace(NamespacePath(FabricNamespace(n.cluster, fabric)))
	if err != nil {
		return fmt.Errorf("cable %s: fabric %s: %w", spec.Name, fabric, err)
	}
	defer fab.Close()
	if len(spec.Address) == 6 {
		s.MAC = spec.Address
	}
	return addVeth(h, fab, s)
}

// Removed implements fakesysfs.Netdevs: it deletes the netdev's link wherever it is. A link in the host
// namespace is deleted there; one that sits in a pod namespace is deleted through its fabric (the veth
// peer on the bridge, whose deletion takes the pair; the forwarder's queue of a TUN, whose persistence
// it clears) — so a VF disabled while a pod holds it vanishes from the pod, as on hardware. A netdev
// found nowhere is not an error.
func (n *Netdevs) Removed(spec fakesysfs.NetdevSpec) error {
	fabric := fabricOf(spec)
	alias := Alias(n.cluster, n.node, spec.PCIAddress, fabric)
	if spec.LinkLayer == topology.InfiniBand {
		rep, err := callForwarder(filepath.Join(n.stateDir, forwarderSock), forwarderRequest{Op: "delete", Alias: alias})
		if err != nil && !errors.Is(err, ErrNoForwarder) {
			return fmt.Errorf("remove %s: %w", spec.Name, err)
		}
		if rep.Found {
			return nil
		}
	}
	l, err := n.link(spec.PCIAddress)
	if err != nil {
		return fmt.Errorf("remove %s: %w", spec.Name, err)
	}
	if l != nil {
		h, err := n.handle()
		if err != nil {
			return err
		}
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("remove %s: %w", spec.Name, err)
		}
		return nil
	}
	if spec.LinkLayer == topology.InfiniBand {
		return nil
	}
	fab, err := openNamespace(NamespacePath(FabricNamespace(n.cluster, fabric)))
	if err != nil {
		return nil // fabric gone: so is the pair
	}
	defer fab.Close()
	peers, err := linksByAliasPrefix(fab.Handle, alias)
	if err != nil {
		return fmt.Errorf("remove %s: %w", spec.Name, err)
	}
	for _, p := range peers {
		if err := fab.LinkDel(p); err != nil {
			return fmt.Errorf("remove %s: peer %s: %w", spec.Name, p.Attrs().Name, err)
		}
	}
	return nil
}

// SetAddress sets the MAC of the netdev of pci if it is in the host namespace (a VF MAC set through the
// PF shows as the VF netdev's address, as on mlx5). It reports whether the link was found.
func (n *Netdevs) SetAddress(pci string, mac net.HardwareAddr) (bool, error) {
	l, err := n.link(pci)
	if err != nil || l == nil {
		return false, err
	}
	h, err := n.handle()
	if err != nil {
		return false, err
	}
	if err := h.LinkSetHardwareAddr(l, mac); err != nil {
		return true, fmt.Errorf("set address of %s: %w", l.Attrs().Name, err)
	}
	return true, nil
}

// Reclaim recreates in the host namespace every netdev the kernel k records that exists nowhere any
// more: on hardware, deleting a pod namespace that still holds a VF netdev returns it to the host
// namespace, while a veth or TUN is destroyed with the namespace. The simulated runtime calls Reclaim
// after deleting a pod namespace (namespace teardown is asynchronous: a netdev still being destroyed
// counts as existing). A recreated netdev gets the name, address and MTU the kernel records; the real
// kernel would keep the name it had in the pod when free. It runs under the kernel lock, so it cannot
// race a sriov_numvfs write, and returns the names it recreated.
func (n *Netdevs) Reclaim(k *fakesysfs.Kernel) ([]string, error) {
	var names []string
	err := k.Update(func(afero.Fs) error {
		specs, err := k.Netdevs()
		if err != nil {
			return err
		}
		for _, spec := range specs {
			exists, err := n.exists(spec)
			if err != nil {
				return fmt.Errorf("reclaim %s: %w", spec.Name, err)
			}
			if exists {
				continue
			}
			if err := n.Added(spec); err != nil {
				return fmt.Errorf("reclaim %s: %w", spec.Name, err)
			}
			names = append(names, spec.Name)
		}
		return nil
	})
	return names, err
}

// exists reports whether the link of spec exists anywhere: in the host namespace, or elsewhere as seen
// from its fabric (a veth peer on the bridge, a TUN queue the forwarder holds).
func (n *Netdevs) exists(spec fakesysfs.NetdevSpec) (bool, error) {
	l, err := n.link(spec.PCIAddress)
	if err != nil || l != nil {
		return l != nil, err
	}
	fabric := fabricOf(spec)
	alias := Alias(n.cluster, n.node, spec.PCIAddress, fabric)
	if spec.LinkLayer == topology.InfiniBand {
		rep, err := callForwarder(filepath.Join(n.stateDir, forwarderSock), forwarderRequest{Op: "has", Alias: alias})
		return rep.Found, err
	}
	fab, err := openNamespace(NamespacePath(FabricNamespace(n.cluster, fabric)))
	if err != nil {
		return false, err
	}
	defer fab.Close()
	peers, err := linksByAliasPrefix(fab.Handle, alias)
	return len(peers) > 0, err
}
