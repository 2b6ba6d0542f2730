//go:build hardware

package host

import (
	"fmt"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"
)

// Default returns the real machine: the OS filesystem and a netlink handle in the process's network
// namespace as the VF configuration (a *netlink.Handle is a drivers.VFConfig).
func Default() (*Machine, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("host: netlink handle: %w", err)
	}
	return &Machine{
		FS:      afero.NewOsFs(),
		VFs:     h,
		Root:    "/",
		closers: []func() error{func() error { h.Close(); return nil }},
	}, nil
}

// openSimRoot: a hardware build has no fake kernels; every tree is read as captured.
func openSimRoot(string) (*Machine, bool, error) { return nil, false, nil }
