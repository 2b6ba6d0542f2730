package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Forwarder is the data plane of the InfiniBand fabrics of one cluster, IPoIB as the pods see it: it holds
// the queue of every TUN device standing for an IPoIB netdev (which gives the links carrier), reads the IP
// packets they send and writes each to the TUN of the same fabric that owns the destination address.
// Owners are learnt from source addresses; a packet to an address not yet learnt (or to a broadcast or
// multicast address) goes to every other TUN of the fabric, whose kernel drops what is not its own.
//
// A Forwarder runs in-process (tests) or as the background process of `vflab sandbox up`; either way it
// serves ForwarderSocket of the state directory so that any process of a node (a CNI plugin enabling VFs)
// can attach new TUNs to it. The TUNs are persistent: closing the Forwarder leaves them in place, and a
// new Forwarder attaches again to those in the nodes' host namespaces (Scan).
type Forwarder struct {
	logger *slog.Logger

	mu      sync.Mutex
	ports   map[string]*tunPort // by alias
	fabrics map[string]*fabricTable
	closed  bool
	wg      sync.WaitGroup
}

type tunPort struct {
	alias, fabric, ifname string
	f                     *os.File
}

type fabricTable struct {
	ports map[*tunPort]struct{}
	owner map[netip.Addr]*tunPort
}

// NewForwarder returns a Forwarder with no TUN attached. logger may be nil.
func NewForwarder(logger *slog.Logger) *Forwarder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{logger: logger, ports: map[string]*tunPort{}, fabrics: map[string]*fabricTable{}}
}

// Attach opens the queue of the TUN device ifname in the namespace at nsPath and forwards its packets
// within fabric. alias identifies the device (Alias); attaching an alias twice is a no-op.
func (f *Forwarder) Attach(fabric, nsPath, ifname, alias string) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errors.New("forwarder closed")
	}
	if _, ok := f.ports[alias]; ok {
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()
	if err := checkTUN(nsPath, ifname, alias); err != nil {
		return fmt.Errorf("forwarder: attach %s: %w", alias, err)
	}
	file, err := openTUNIn(nsPath, ifname)
	if err != nil {
		return fmt.Errorf("forwarder: attach %s: %w", alias, err)
	}
	p := &tunPort{alias: alias, fabric: fabric, ifname: ifname, f: file}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ports[alias]; ok || f.closed {
		_ = file.Close()
		if f.closed {
			return errors.New("forwarder closed")
		}
		return nil
	}
	f.ports[alias] = p
	t := f.fabrics[fabric]
	if t == nil {
		t = &fabricTable{ports: map[*tunPort]struct{}{}, owner: map[netip.Addr]*tunPort{}}
		f.fabrics[fabric] = t
	}
	t.ports[p] = struct{}{}
	f.wg.Add(1)
	go f.read(p, t)
	f.logger.Debug("attached tun", "alias", alias, "fabric", fabric, "ifname", ifname)
	return nil
}

// checkTUN makes sure the forwarder only attaches to a TUN the sandbox made (TUNSETIFF would create a
// missing one): ifname must be a TUN carrying alias in a vflab namespace.
func checkTUN(nsPath, ifname, alias string) error {
	if !strings.HasPrefix(nsPath, NamespacePath(NamespacePrefix)) || strings.Contains(nsPath, "..") {
		return fmt.Errorf("namespace %s is not a sandbox namespace", nsPath)
	}
	if !strings.HasPrefix(alias, aliasPrefix) {
		return fmt.Errorf("alias %q is not a sandbox alias", alias)
	}
	h, err := openNamespace(nsPath)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("tun %s in %s: %w", ifname, nsPath, err)
	}
	if !isTUN(l) || l.Attrs().Alias != alias {
		return fmt.Errorf("%s in %s is not the sandbox TUN %s", ifname, nsPath, alias)
	}
	return nil
}

// Delete deletes the TUN device with alias wherever it is now (host or pod namespace): it clears the
// persistent flag and closes the queue, which unregisters the device. found is false when the Forwarder
// does not hold it.
func (f *Forwarder) Delete(alias string) (found bool, err error) {
	f.mu.Lock()
	p, ok := f.ports[alias]
	if ok {
		f.detachLocked(p)
	}
	f.mu.Unlock()
	if !ok {
		return false, nil
	}
	sc, err := p.f.SyscallConn()
	if err == nil {
		cerr := sc.Control(func(fd uintptr) { err = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, 0) })
		err = errors.Join(err, cerr)
	}
	return true, errors.Join(err, p.f.Close())
}

// detachLocked forgets p; the caller closes its file.
func (f *Forwarder) detachLocked(p *tunPort) {
	if f.ports[p.alias] != p {
		return
	}
	delete(f.ports, p.alias)
	t := f.fabrics[p.fabric]
	delete(t.ports, p)
	for a, o := range t.owner {
		if o == p {
			delete(t.owner, a)
		}
	}
}

// Attached returns the aliases of the attached TUNs.
func (f *Forwarder) Attached() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.ports))
	for a := range f.ports {
		out = append(out, a)
	}
	return out
}

func (f *Forwarder) read(p *tunPort, t *fabricTable) {
	defer f.wg.Done()
	buf := make([]byte, 65536)
	var targets []*tunPort
	for {
		n, err := p.f.Read(buf)
		if err != nil {
			// Closed by Delete/Close, or the device is gone (its namespace was deleted).
			f.mu.Lock()
			f.detachLocked(p)
			f.mu.Unlock()
			if !errors.Is(err, os.ErrClosed) {
				_ = p.f.Close()
				f.logger.Debug("tun gone", "alias", p.alias, "err", err)
			}
			return
		}
		src, dst, ok := ipAddrs(buf[:n])
		if !ok {
			continue
		}
		targets = targets[:0]
		f.mu.Lock()
		if src.IsValid() && !src.IsUnspecified() {
			t.owner[src] = p
		}
		if o, ok := t.owner[dst]; ok {
			if o != p {
				targets = append(targets, o)
			}
		} else {
			for q := range t.ports {
				if q != p {
					targets = append(targets, q)
				}
			}
		}
		f.mu.Unlock()
		for _, q := range targets {
			// A TUN whose link is down refuses writes (EIO): the packet is lost, as on a down port.
			_, _ = q.f.Write(buf[:n])
		}
	}
}

// ipAddrs returns the source and destination addresses of an IPv4 or IPv6 packet.
func ipAddrs(pkt []byte) (src, dst netip.Addr, ok bool) {
	if len(pkt) < 1 {
		return src, dst, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return src, dst, false
		}
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), true
	case 6:
		if len(pkt) < 40 {
			return src, dst, false
		}
		return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), true
	}
	return src, dst, false
}

// Close detaches every TUN (they stay, being persistent) and stops forwarding.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	ports := make([]*tunPort, 0, len(f.ports))
	for _, p := range f.ports {
		ports = append(ports, p)
	}
	f.mu.Unlock()
	var err error
	for _, p := range ports {
		// A reader that saw its device vanish may have closed it already.
		if cerr := p.f.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	f.wg.Wait()
	return err
}

// Scan attaches every TUN found in the host namespaces of the nodes of st (after a restart, or at start).
// TUNs sitting in pod namespaces cannot be found and stay without carrier until they come back and are
// attached again.
func (f *Forwarder) Scan(st *State) error {
	var errs error
	for _, n := range st.Nodes {
		h, err := openNamespace(NamespacePath(n.Namespace))
		if errors.Is(err, os.ErrNotExist) {
			continue // not built yet
		}
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		links, err := linksByAliasPrefix(h.Handle, aliasPrefix+st.Cluster+":")
		h.Close()
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		for _, l := range links {
			if !isTUN(l) {
				continue
			}
			fabric, _ := aliasFabric(l.Attrs().Alias)
			errs = errors.Join(errs, f.Attach(fabric, NamespacePath(n.Namespace), l.Attrs().Name, l.Attrs().Alias))
		}
	}
	return errs
}

// forwarderRequest is one line a client sends over ForwarderSocket.
type forwarderRequest struct {
	Op     string `json:"op"` // "attach", "delete", "has", "ping"
	Fabric string `json:"fabric,omitempty"`
	NS     string `json:"ns,omitempty"`
	Ifname string `json:"ifname,omitempty"`
	Alias  string `json:"alias,omitempty"`
}

// forwarderReply answers one request.
type forwarderReply struct {
	Error string `json:"error,omitempty"`
	Found bool   `json:"found,omitempty"`
}

// Serve answers requests on ln until ctx ends or ln is closed. It closes ln when it returns.
func (f *Forwarder) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("forwarder: accept: %w", err)
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			f.serveConn(c)
		}()
	}
}

func (f *Forwarder) serveConn(c net.Conn) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	enc := json.NewEncoder(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		rep := f.handle(line)
		if err := enc.Encode(rep); err != nil {
			return
		}
	}
}

// handle answers one request line.
func (f *Forwarder) handle(line []byte) forwarderReply {
	var req forwarderRequest
	var rep forwarderReply
	if err := json.Unmarshal(line, &req); err != nil {
		rep.Error = fmt.Sprintf("bad request: %v", err)
		return rep
	}
	switch req.Op {
	case "attach":
		if err := f.Attach(req.Fabric, req.NS, req.Ifname, req.Alias); err != nil {
			rep.Error = err.Error()
		}
	case "delete":
		found, err := f.Delete(req.Alias)
		rep.Found = found
		if err != nil {
			rep.Error = err.Error()
		}
	case "has":
		f.mu.Lock()
		_, rep.Found = f.ports[req.Alias]
		f.mu.Unlock()
	case "ping":
	default:
		rep.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	return rep
}

// ErrNoForwarder is returned by forwarder clients when no forwarder listens on the socket.
var ErrNoForwarder = errors.New("no forwarder")

// callForwarder sends one request to the forwarder listening on sock.
func callForwarder(sock string, req forwarderRequest) (forwarderReply, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return forwarderReply{}, fmt.Errorf("%w at %s: %w", ErrNoForwarder, sock, err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return forwarderReply{}, fmt.Errorf("forwarder %s: %w", sock, err)
	}
	var rep forwarderReply
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&rep); err != nil {
		return forwarderReply{}, fmt.Errorf("forwarder %s: reply: %w", sock, err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("forwarder %s: %s", sock, rep.Error)
	}
	return rep, nil
}

// listenForwarder listens on sock, replacing a stale socket file.
func listenForwarder(sock string) (net.Listener, error) {
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("forwarder socket: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("forwarder socket: %w", err)
	}
	// Only the run's owner (root, or root of the test's user namespace) may ask for TUNs.
	if err := os.Chmod(sock, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("forwarder socket: %w", err)
	}
	return ln, nil
}
