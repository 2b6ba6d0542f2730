package host

import "fmt"

// Open returns the writable machine whose fake kernel's root is dir, wired exactly as Default wires
// $VFLAB_ROOT: a sandbox node's kernel (DIR/nodes/<node>/root of `vflab sandbox up`) with its real links
// (sriov_numvfs creates and removes them, netdevs moved into pods are hidden) and the sandbox's PF-side
// VF state, any other fake kernel (`vflab topology render`) as its tree alone. A hardware build has no
// fake kernels: it refuses. Close the machine when done.
func Open(dir string) (*Machine, error) {
	m, ok, err := openSimRoot(dir)
	if !ok {
		return nil, fmt.Errorf("host: %s is not the root of a fake kernel (vflab topology render, vflab sandbox up)", dir)
	}
	return m, err
}
