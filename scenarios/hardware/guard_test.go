//go:build hardware

package hardware_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/drivers"
)

// guardFS refuses every write that does not name an allowed device: the path must contain one of the
// allowed BDFs, or (bind, unbind, drivers_probe) the value written must be one.
type guardFS struct {
	afero.Fs
	mu      sync.Mutex
	allowed map[string]bool
}

func newGuardFS(fs afero.Fs, pf string) *guardFS {
	return &guardFS{Fs: fs, allowed: map[string]bool{pf: true}}
}

// allow adds devices (the PF's VFs once they exist).
func (g *guardFS) allow(bdfs ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range bdfs {
		g.allowed[b] = true
	}
}

func (g *guardFS) pathAllowed(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for b := range g.allowed {
		if strings.Contains(name, "/"+b+"/") || strings.HasSuffix(name, "/"+b) {
			return true
		}
	}
	return false
}

func (g *guardFS) valueAllowed(v string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowed[strings.TrimSpace(v)]
}

func (g *guardFS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) == 0 {
		return g.Fs.OpenFile(name, flag, perm)
	}
	f, err := g.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &guardFile{File: f, g: g, name: name, byPath: g.pathAllowed(name)}, nil
}

func (g *guardFS) Create(name string) (afero.File, error) {
	return nil, fmt.Errorf("lab guard: refusing to create %s", name)
}
func (g *guardFS) Remove(name string) error {
	return fmt.Errorf("lab guard: refusing to remove %s", name)
}
func (g *guardFS) RemoveAll(name string) error {
	return fmt.Errorf("lab guard: refusing to remove %s", name)
}

func (g *guardFS) ReadlinkIfPossible(name string) (string, error) {
	return g.Fs.(afero.LinkReader).ReadlinkIfPossible(name)
}

func (g *guardFS) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	return g.Fs.(afero.Lstater).LstatIfPossible(name)
}

type guardFile struct {
	afero.File
	g      *guardFS
	name   string
	byPath bool
}

func (f *guardFile) Write(b []byte) (int, error) {
	if !f.byPath && !f.g.valueAllowed(string(b)) {
		return 0, fmt.Errorf("lab guard: refusing to write %q to %s: not the named PF or its VFs", b, f.name)
	}
	return f.File.Write(b)
}

func (f *guardFile) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// guardVFs refuses VF configuration through any PF netdev but the named one.
type guardVFs struct {
	inner drivers.VFConfig
	pf    string
}

var _ drivers.VFConfig = guardVFs{}

func (g guardVFs) check(l netlink.Link) error {
	if l == nil || l.Attrs().Name != g.pf {
		return fmt.Errorf("lab guard: refusing VF configuration through %v: only %s may be touched", l, g.pf)
	}
	return nil
}

func (g guardVFs) LinkByName(name string) (netlink.Link, error) { return g.inner.LinkByName(name) }

func (g guardVFs) LinkSetVfHardwareAddr(pf netlink.Link, vf int, hw net.HardwareAddr) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfHardwareAddr(pf, vf, hw)
}

func (g guardVFs) LinkSetVfVlanQosProto(pf netlink.Link, vf, vlan, qos, proto int) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfVlanQosProto(pf, vf, vlan, qos, proto)
}

func (g guardVFs) LinkSetVfSpoofchk(pf netlink.Link, vf int, on bool) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfSpoofchk(pf, vf, on)
}

func (g guardVFs) LinkSetVfTrust(pf netlink.Link, vf int, on bool) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfTrust(pf, vf, on)
}

func (g guardVFs) LinkSetVfState(pf netlink.Link, vf int, state uint32) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfState(pf, vf, state)
}

func (g guardVFs) LinkSetVfRate(pf netlink.Link, vf, minRate, maxRate int) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfRate(pf, vf, minRate, maxRate)
}

func (g guardVFs) LinkSetVfGUID(pf netlink.Link, vf int, guid net.HardwareAddr, guidType int) error {
	if err := g.check(pf); err != nil {
		return err
	}
	return g.inner.LinkSetVfGUID(pf, vf, guid, guidType)
}
