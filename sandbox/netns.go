package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// createNamespace creates the named network namespace /run/netns/<name> without changing the namespace
// of the caller's thread: the work runs on a fresh locked thread, which is discarded if it cannot return
// to its original namespace.
func createNamespace(name string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("create namespace %s: %w", name, err)
			return
		}
		defer func() { _ = orig.Close() }()
		h, err := netns.NewNamed(name)
		if err == nil {
			_ = h.Close()
		} else {
			err = fmt.Errorf("create namespace %s: %w", name, err)
			// NewNamed leaves the mount point behind when the bind mount fails.
			if rerr := os.Remove(NamespacePath(name)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		if serr := netns.Set(orig); serr != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			errc <- errors.Join(err, fmt.Errorf("restore thread namespace: %w", serr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// deleteNamespace unmounts and removes /run/netns/<name>; the namespace dies with its last user, and with
// it every link inside. A missing namespace is not an error.
func deleteNamespace(name string) error {
	p := NamespacePath(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete namespace %s: unmount: %w", name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// listNamespaces returns the names of the mounted namespaces starting with prefix.
func listNamespaces(prefix string) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// nsHandle is a netlink handle bound to a named namespace, with the namespace fd kept open for links
// created into it (netlink.NsFd).
type nsHandle struct {
	*netlink.Handle
	ns     netns.NsHandle
	path   string
	closed bool
}

// openNamespace returns a netlink handle working in the namespace mounted at path.
func openNamespace(path string) (*nsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	return &nsHandle{Handle: h, ns: ns, path: path}, nil
}

// Close releases the handle and the namespace fd; it may be called more than once.
func (h *nsHandle) Close() {
	if h.closed {
		return
	}
	h.closed = true
	h.Handle.Close()
	_ = h.ns.Close()
}

// linksByAliasPrefix returns the links of the handle's namespace whose alias starts with prefix.
func linksByAliasPrefix(h *netlink.Handle, prefix string) ([]netlink.Link, error) {
	links, err := linkList(h)
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, prefix) {
			out = append(out, l)
		}
	}
	return out, nil
}

// linkList is LinkList retrying an interrupted dump.
func linkList(h *netlink.Handle) ([]netlink.Link, error) {
	var err error
	for range 5 {
		var links []netlink.Link
		links, err = h.LinkList()
		if err == nil {
			return links, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, fmt.Errorf("list links: %w", err)
}
