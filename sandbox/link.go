package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// arphrdInfiniband is the link type of an IPoIB netdev (ARPHRD_INFINIBAND).
const arphrdInfiniband = 32

// ensureBridge creates the fabric bridge in the fabric namespace if it is missing, and sets it up.
func ensureBridge(fab *nsHandle) (netlink.Link, error) {
	if l, err := fab.LinkByName(bridgeName); err == nil {
		return l, nil
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = bridgeName
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := fab.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("add bridge in %s: %w", fab.path, err)
	}
	l, err := fab.LinkByName(bridgeName)
	if err != nil {
		return nil, fmt.Errorf("bridge in %s: %w", fab.path, err)
	}
	if err := fab.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set bridge up in %s: %w", fab.path, err)
	}
	return l, nil
}

// linkSpec is a real link to create for a netdev.
type linkSpec struct {
	Name  string
	MAC   net.HardwareAddr // Ethernet only
	MTU   int
	Alias string
	Up    bool
}

// addVeth creates the netdev as a veth in the node namespace whose peer is created directly in the
// fabric namespace (no namespace move) and enslaved to its bridge.
func addVeth(node, fab *nsHandle, s linkSpec) error {
	br, err := ensureBridge(fab)
	if err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = s.Name
	attrs.MTU = s.MTU
	if len(s.MAC) == 6 {
		attrs.HardwareAddr = s.MAC
	}
	peer := peerName(s.Alias)
	veth := &netlink.Veth{
		LinkAttrs:     attrs,
		PeerName:      peer,
		PeerNamespace: netlink.NsFd(fab.ns),
		PeerMTU:       uint32(s.MTU),
	}
	if err := node.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s in %s: %w", s.Name, node.path, err)
	}
	ok := false
	defer func() {
		if !ok {
			if l, err := fab.LinkByName(peer); err == nil {
				_ = fab.LinkDel(l)
			}
		}
	}()
	p, err := fab.LinkByName(peer)
	if err != nil {
		return fmt.Errorf("veth peer %s in %s: %w", peer, fab.path, err)
	}
	if err := fab.LinkSetAlias(p, s.Alias); err != nil {
		return fmt.Errorf("alias veth peer %s: %w", peer, err)
	}
	if err := fab.LinkSetMaster(p, br); err != nil {
		return fmt.Errorf("enslave %s to the fabric bridge: %w", peer, err)
	}
	if err := fab.LinkSetUp(p); err != nil {
		return fmt.Errorf("set %s up: %w", peer, err)
	}
	l, err := node.LinkByName(s.Name)
	if err != nil {
		return fmt.Errorf("veth %s in %s: %w", s.Name, node.path, err)
	}
	if err := node.LinkSetAlias(l, s.Alias); err != nil {
		return fmt.Errorf("alias %s: %w", s.Name, err)
	}
	if s.Up {
		if err := node.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", s.Name, err)
		}
	}
	ok = true
	return nil
}

// addTUN creates the netdev as a persistent TUN device in the node namespace, switched to
// ARPHRD_INFINIBAND while down, so that netlink and `ip link` report link/infiniband. The device keeps
// no carrier until a Forwarder attaches to it.
func addTUN(node *nsHandle, s linkSpec) error {
	err := ns.WithNetNSPath(node.path, func(ns.NetNS) error {
		fd, err := openTUN(s.Name)
		if err != nil {
			return err
		}
		defer func() { _ = unix.Close(fd) }()
		if err := unix.IoctlSetInt(fd, unix.TUNSETLINK, arphrdInfiniband); err != nil {
			return fmt.Errorf("tun %s: set link type infiniband: %w", s.Name, err)
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			return fmt.Errorf("tun %s: set persistent: %w", s.Name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add tun %s in %s: %w", s.Name, node.path, err)
	}
	l, err := node.LinkByName(s.Name)
	if err != nil {
		return fmt.Errorf("tun %s in %s: %w", s.Name, node.path, err)
	}
	del := func(err error) error {
		return errors.Join(err, node.LinkDel(l))
	}
	if s.MTU > 0 {
		if err := node.LinkSetMTU(l, s.MTU); err != nil {
			return del(fmt.Errorf("set mtu of %s: %w", s.Name, err))
		}
	}
	if err := node.LinkSetAlias(l, s.Alias); err != nil {
		return del(fmt.Errorf("alias %s: %w", s.Name, err))
	}
	if s.Up {
		if err := node.LinkSetUp(l); err != nil {
			return del(fmt.Errorf("set %s up: %w", s.Name, err))
		}
	}
	return nil
}

// openTUN opens /dev/net/tun and attaches to (or creates) the TUN device name of the calling thread's
// namespace, single queue, without packet information.
func openTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("tun name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("tun %s: attach: %w", name, err)
	}
	return fd, nil
}

// openTUNIn attaches to the TUN device named ifname in the namespace at nsPath and returns its queue as
// a non-blocking file served by the Go poller.
func openTUNIn(nsPath, ifname string) (*os.File, error) {
	var fd int
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		fd, err = openTUN(ifname)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("tun %s: set non-blocking: %w", ifname, err)
	}
	return os.NewFile(uintptr(fd), "tun:"+ifname), nil
}

// isTUN reports whether a link is a TUN/TAP device.
func isTUN(l netlink.Link) bool {
	_, ok := l.(*netlink.Tuntap)
	return ok || l.Type() == "tuntap"
}
