package sys

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vflab/vflab/fakesysfs/topology"
	"github.com/vflab/vflab/sandbox"
)

// TestWriteSandboxNode: on a sandbox node, `vflab sys write .../sriov_numvfs` goes through the node's
// real links: disabling VFs removes their links from the node's namespace, enabling creates them.
func TestWriteSandboxNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sandbox node test needs root (network namespaces)")
	}
	node, err := topology.Preset("laptop")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "vflab-sys-sandbox-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
	}
	c, err := sandbox.Up(context.Background(), fmt.Sprintf("systest%d", os.Getpid()%100000), []topology.Node{node}, sandbox.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Down(); err != nil {
			t.Errorf("sandbox down: %v", err)
		}
	})
	n := c.Nodes[0]
	ns, err := netns.GetFromPath(n.NamespacePath())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ns.Close() }()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	vfLinks := func() []string {
		t.Helper()
		links, err := h.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "enp94s0v") {
				names = append(names, l.Attrs().Name)
			}
		}
		slices.Sort(names)
		return names
	}
	if got := vfLinks(); len(got) != 4 {
		t.Fatalf("before: VF links %v, want 4", got)
	}
	numvfs := "/sys/bus/pci/devices/0000:5e:00.0/sriov_numvfs"
	if _, err := run(t, "write", "--root", n.Root, numvfs, "0"); err != nil {
		t.Fatal(err)
	}
	if got := vfLinks(); len(got) != 0 {
		t.Errorf("after writing 0: VF links %v remain", got)
	}
	if _, err := run(t, "write", "--root", n.Root, numvfs, "6"); err != nil {
		t.Fatal(err)
	}
	want := []string{"enp94s0v0", "enp94s0v1", "enp94s0v2", "enp94s0v3", "enp94s0v4", "enp94s0v5"}
	if got := vfLinks(); !slices.Equal(got, want) {
		t.Errorf("after writing 6: VF links %v, want %v", got, want)
	}
	// The view is the node's: a VF link moved out of the node's namespace (into a pod) is not listed.
	pod, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pod.Close(); _ = testutils.UnmountNS(pod) }()
	listed := func() bool {
		t.Helper()
		out, err := run(t, "ls", "--root", n.Root, "/sys/class/net")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(out, "enp94s0v5\n")
	}
	vf, err := h.LinkByName("enp94s0v5")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetNsFd(vf, int(pod.Fd())); err != nil {
		t.Fatal(err)
	}
	inPod := listed()
	// Back to the node, so that the sandbox removes it.
	ph, err := netlink.NewHandleAt(netns.NsHandle(pod.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if vf, err = ph.LinkByName("enp94s0v5"); err != nil {
		t.Fatal(err)
	}
	if err := ph.LinkSetNsFd(vf, int(ns)); err != nil {
		t.Fatal(err)
	}
	if inPod || !listed() {
		t.Errorf("/sys/class/net lists enp94s0v5 in a pod: %v, back on the node: %v (want false, true)", inPod, listed())
	}
}
