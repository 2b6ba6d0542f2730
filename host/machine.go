package host

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/host/rootfs"
)

// Machine is what production code receives: the node's filesystem and VF configuration.
type Machine struct {
	// FS is rooted at "/": /sys, /dev, /var/lib/vflab, /run/vflab.
	FS afero.Fs
	// VFs configures VFs through their PF (nil on a read-only machine such as a captured tree).
	VFs drivers.VFConfig
	// Root is where FS's "/" lives: "/" on hardware, the node's fake root in simulation.
	Root string
	// Simulated is true when the machine is a fake kernel.
	Simulated bool

	closers []func() error
}

// Close releases what Default opened (netlink handles, the sandbox's link handles).
func (m *Machine) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// SRIOV returns the SR-IOV driver of the machine.
func (m *Machine) SRIOV(logger *slog.Logger, opts ...sriov.Option) *sriov.Driver {
	if logger != nil {
		opts = append([]sriov.Option{sriov.WithLogger(logger)}, opts...)
	}
	return sriov.New(m.FS, m.VFs, opts...)
}

// IB returns the InfiniBand driver of the machine, binding through pci (nil: a default SR-IOV driver).
func (m *Machine) IB(logger *slog.Logger, pci *sriov.Driver) *ib.Driver {
	var opts []ib.Option
	if logger != nil {
		opts = append(opts, ib.WithLogger(logger))
	}
	return ib.New(m.FS, m.VFs, pci, opts...)
}

// OpenRoot returns the machine whose "/" is the directory dir, read-only: a fake kernel's root (opened
// as that kernel, in simulation builds) or any tree on disk, such as a real machine's captured sysfs
// (dir itself or its only subdirectory holding sys/). Its VFs is nil.
func OpenRoot(dir string) (*Machine, error) {
	if m, ok, err := openSimRoot(dir); ok {
		if err != nil {
			return nil, err
		}
		m.FS, m.VFs = afero.NewReadOnlyFs(m.FS), nil
		return m, nil
	}
	root, err := rootfs.FindRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	fs, err := rootfs.New(root)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return &Machine{FS: fs, Root: root}, nil
}
