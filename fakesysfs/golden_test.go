package fakesysfs_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from the current rendering")

// goldenRoots are the parts of a kernel's tree a golden file records (not the kernel's private state).
var goldenRoots = []string{"/sys", "/dev"}

// TestGolden renders every preset in memory and compares a dump of the whole tree (path, mode, link
// target, content) with testdata/golden/<preset>.txt. Regenerate with: go test ./fakesysfs -run Golden -update
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range topology.Presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			node, err := topology.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			k, err := fakesysfs.New(node)
			if err != nil {
				t.Fatalf("New(%s) = %v", name, err)
			}
			got := dumpTree(t, k, goldenRoots...)
			// Rendering is deterministic: a second kernel from the same description dumps the same.
			k2, err := fakesysfs.New(node)
			if err != nil {
				t.Fatal(err)
			}
			if again := dumpTree(t, k2, goldenRoots...); again != got {
				t.Fatalf("two renderings of %s differ:\n%s", name, firstDiff(got, again))
			}
			path := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run: go test ./fakesysfs -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("rendering of %s differs from %s (if intended: go test ./fakesysfs -run Golden -update):\n%s", name, path, firstDiff(string(want), got))
			}
		})
	}
}

// TestGoldenOnDisk checks that the on-disk backing renders the same tree as the in-memory one, for every
// preset (Create renders in memory and copies the tree out; this pins that the copy loses nothing).
func TestGoldenOnDisk(t *testing.T) {
	t.Parallel()
	for _, name := range topology.Presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			node, err := topology.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			mem, err := fakesysfs.New(node)
			if err != nil {
				t.Fatal(err)
			}
			disk, err := fakesysfs.Create(filepath.Join(t.TempDir(), "root"), node)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := dumpTree(t, mem, goldenRoots...), dumpTree(t, disk, goldenRoots...); a != b {
				t.Errorf("in-memory and on-disk renderings differ:\n%s", firstDiff(a, b))
			}
			// The kernel Create returns works on the tree it wrote, as does any other opener.
			other, err := fakesysfs.Open(disk.Root())
			if err != nil {
				t.Fatal(err)
			}
			if err := afero.WriteFile(disk, "/sys/class/net/"+node.WithDefaults().NICs[0].Ports[0].Netdev+"/device/sriov_numvfs", []byte("0\n"), 0); err != nil {
				t.Fatal(err)
			}
			if b, err := afero.ReadFile(other, "/sys/class/net/"+node.WithDefaults().NICs[0].Ports[0].Netdev+"/device/sriov_numvfs"); err != nil || string(b) != "0\n" {
				t.Errorf("other opener reads sriov_numvfs %q, %v", b, err)
			}
		})
	}
}

// dumpTree is fakesysfs.Dump of each root: every entry, sorted, with mode, link target and content.
func dumpTree(t *testing.T, fsys afero.Fs, roots ...string) string {
	t.Helper()
	var b strings.Builder
	for _, root := range roots {
		d, err := fakesysfs.Dump(fsys, root)
		if err != nil {
			t.Fatalf("dump %s: %v", root, err)
		}
		b.WriteString(d)
	}
	return b.String()
}

// firstDiff shows the first differing line of two dumps with a little context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n-want %s\n+got  %s\n(%d lines wanted, %d got)", i+1, wl, gl, len(w), len(g))
		}
	}
	return "(no difference)"
}
