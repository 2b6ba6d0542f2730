package linkops

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrLinkNotFound is wrapped when a named link is not in the namespace.
var ErrLinkNotFound = errors.New("link not found")

// NS is one network namespace and a netlink handle bound to it. Close releases both.
type NS struct {
	path string
	fd   netns.NsHandle
	h    *netlink.Handle
}

// maxAttempts bounds retries of dumps the kernel interrupted (netlink.ErrDumpInterrupted), as
// containernetworking/plugins' netlinksafe does.
const maxAttempts = 5

func retryDump(f func() error) error {
	var err error
	for i := 0; i < maxAttempts; i++ {
		if err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// Open opens the namespace at path (a bind mount such as /var/run/netns/x or /proc/<pid>/ns/net); ""
// opens the process's own namespace (/proc/self/ns/net).
func Open(path string) (*NS, error) {
	if path == "" {
		path = "/proc/self/ns/net"
	}
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		_ = fd.Close()
		return nil, fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	return &NS{path: path, fd: fd, h: h}, nil
}

// Close releases the handle and the namespace fd.
func (n *NS) Close() error {
	n.h.Close()
	return n.fd.Close()
}

// Path is the namespace's path as opened.
func (n *NS) Path() string { return n.path }

// Handle is the netlink handle bound to the namespace, for calls this package does not wrap.
func (n *NS) Handle() *netlink.Handle { return n.h }

// Link returns the link called name in the namespace; the error wraps ErrLinkNotFound when it is not there.
func (n *NS) Link(name string) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("link %s in %s: %w", name, n.path, ErrLinkNotFound)
		}
		return nil, fmt.Errorf("link %s in %s: %w", name, n.path, err)
	}
	return l, nil
}

// LinkByIndex returns the link with ifindex in the namespace.
func (n *NS) LinkByIndex(ifindex int) (netlink.Link, error) {
	l, err := n.h.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("link #%d in %s: %w", ifindex, n.path, err)
	}
	return l, nil
}

func (n *NS) with(op, name string, f func(netlink.Link) error) error {
	l, err := n.Link(name)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := f(l); err != nil {
		return fmt.Errorf("%s %s in %s: %w", op, name, n.path, err)
	}
	return nil
}

// Up sets the link up.
func (n *NS) Up(name string) error {
	return n.with("set up", name, func(l netlink.Link) error { return n.h.LinkSetUp(l) })
}

// Down sets the link down.
func (n *NS) Down(name string) error {
	return n.with("set down", name, func(l netlink.Link) error { return n.h.LinkSetDown(l) })
}

// SetMTU sets the link's MTU.
func (n *NS) SetMTU(name string, mtu int) error {
	return n.with("set mtu "+strconv.Itoa(mtu), name, func(l netlink.Link) error { return n.h.LinkSetMTU(l, mtu) })
}

// SetMAC sets the link's hardware address.
func (n *NS) SetMAC(name string, mac net.HardwareAddr) error {
	return n.with("set mac "+mac.String(), name, func(l netlink.Link) error { return n.h.LinkSetHardwareAddr(l, mac) })
}

// Rename renames a link (taking it down first, as the kernel requires) and removes every alternative
// name it carries (kernel 6.x keeps the old name as an altname, which breaks the next rename; sriov-cni
// #250, #445). The link is left down.
func (n *NS) Rename(name, newName string) error {
	return n.with("rename to "+newName, name, func(l netlink.Link) error {
		if name == newName {
			return nil
		}
		if err := n.h.LinkSetDown(l); err != nil {
			return err
		}
		for _, alt := range l.Attrs().AltNames {
			if err := n.h.LinkDelAltName(l, alt); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("delete altname %s: %w", alt, err)
			}
		}
		if err := n.h.LinkSetName(l, newName); err != nil {
			return err
		}
		nl, err := n.h.LinkByName(newName)
		if err != nil {
			return err
		}
		for _, alt := range nl.Attrs().AltNames {
			if err := n.h.LinkDelAltName(nl, alt); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("delete altname %s: %w", alt, err)
			}
		}
		return nil
	})
}

// Move moves the link into dst with one netns move, down. When dst already has a link of that name, the
// link is first renamed to a temporary name (vfdev<ifindex>, as ib-sriov-cni does) here; the name it has
// in dst is returned.
func (n *NS) Move(name string, dst *NS) (string, error) {
	l, err := n.Link(name)
	if err != nil {
		return "", fmt.Errorf("move: %w", err)
	}
	inDst := name
	if _, err := dst.h.LinkByName(name); err == nil {
		inDst = "vfdev" + strconv.Itoa(l.Attrs().Index)
		if err := n.Rename(name, inDst); err != nil {
			return "", fmt.Errorf("move %s to %s: %w", name, dst.path, err)
		}
		if l, err = n.Link(inDst); err != nil {
			return "", fmt.Errorf("move: %w", err)
		}
	} else if err := n.h.LinkSetDown(l); err != nil {
		return "", fmt.Errorf("move %s: set down: %w", name, err)
	}
	if err := n.h.LinkSetNsFd(l, int(dst.fd)); err != nil {
		return "", fmt.Errorf("move %s from %s to %s: %w", name, n.path, dst.path, err)
	}
	return inDst, nil
}

// AddAddr adds an address (CIDR, e.g. 10.1.0.5/24) to the link; an address already there is not an error.
func (n *NS) AddAddr(name string, addr *net.IPNet) error {
	return n.with("add address "+addr.String(), name, func(l netlink.Link) error {
		err := n.h.AddrAdd(l, &netlink.Addr{IPNet: addr})
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	})
}

// DelAddr removes an address from the link; an address not there is not an error.
func (n *NS) DelAddr(name string, addr *net.IPNet) error {
	return n.with("delete address "+addr.String(), name, func(l netlink.Link) error {
		err := n.h.AddrDel(l, &netlink.Addr{IPNet: addr})
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil
		}
		return err
	})
}

// Addrs lists the link's addresses of family (netlink.FAMILY_ALL, _V4, _V6).
func (n *NS) Addrs(name string, family int) ([]netlink.Addr, error) {
	var out []netlink.Addr
	err := n.with("list addresses", name, func(l netlink.Link) error {
		return retryDump(func() error {
			var err error
			out, err = n.h.AddrList(l, family)
			return err
		})
	})
	return out, err
}

// Route is a route through a link: to Dst (nil = default route) via Gw (nil = on-link).
type Route struct {
	Dst *net.IPNet
	Gw  net.IP
}

// AddRoute adds (or replaces) a route through the link.
func (n *NS) AddRoute(name string, r Route) error {
	return n.with(fmt.Sprintf("add route %v via %v", r.Dst, r.Gw), name, func(l netlink.Link) error {
		return n.h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: r.Dst, Gw: r.Gw})
	})
}

// Routes lists the routes through the link of family.
func (n *NS) Routes(name string, family int) ([]netlink.Route, error) {
	var out []netlink.Route
	err := n.with("list routes", name, func(l netlink.Link) error {
		return retryDump(func() error {
			var err error
			out, err = n.h.RouteList(l, family)
			return err
		})
	})
	return out, err
}
