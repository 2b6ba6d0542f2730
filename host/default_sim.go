//go:build !hardware

package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/sandbox"
)

// RootLink is the link the simulated node agent writes to its fake root, so that processes started
// without VFLAB_ROOT (CNI binaries exec'd by a container runtime) find their node's kernel.
const RootLink = "/run/vflab/root"

// ErrNoFakeKernel: a simulation build found no fake kernel to run on.
var ErrNoFakeKernel = errors.New("this vflab binary was built for simulation but found no fake kernel (set VFLAB_ROOT or create " +
	RootLink + "); build it with -tags hardware to run on real hardware")

// Default returns the simulated machine: the fake kernel of the node named by VFLAB_ROOT, else by the
// link /run/vflab/root, wired to the node's real links when it is a sandbox node, and the sandbox's
// PF-side VF state as the VF configuration.
func Default() (*Machine, error) {
	root := os.Getenv("VFLAB_ROOT")
	if root == "" {
		t, err := filepath.EvalSymlinks(RootLink)
		if err != nil {
			return nil, ErrNoFakeKernel
		}
		root = t
	}
	return openSim(root)
}

func openSim(root string) (*Machine, error) {
	k, nd, err := sandbox.OpenNode(root)
	if err == nil {
		return &Machine{
			FS: k, VFs: sandbox.NewVFConfig(k, nd), Root: root, Simulated: true,
			closers: []func() error{nd.Close},
		}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("host: %w", err)
	}
	// Not a sandbox node (no node file next to the root: a kernel rendered by `vflab topology render`, or
	// a test's): the tree alone.
	k, ferr := fakesysfs.Open(root)
	if ferr != nil {
		return nil, fmt.Errorf("host: fake kernel at %s: %w", root, errors.Join(err, ferr))
	}
	return &Machine{FS: k, VFs: sandbox.NewVFConfig(k, nil), Root: root, Simulated: true}, nil
}

// openSimRoot opens dir as a fake kernel when it is one (it has the kernel's private state dir).
func openSimRoot(dir string) (*Machine, bool, error) {
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(fakesysfs.StateDir))); err != nil {
		return nil, false, nil
	}
	m, err := openSim(dir)
	return m, true, err
}
