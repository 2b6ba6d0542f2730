package deviceplugin_test

import (
	"slices"
	"testing"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/config"
	"github.com/vflab/vflab/deviceplugin/inventorytest"
)

// fourRails: PFs 0000:1a:00.0 and 0000:1b:00.0 on NUMA 0 (4 VFs each), 0000:8a:00.0 and 0000:8b:00.0 on
// NUMA 1 (4 and 2 VFs). VF i of PF bb:00.0 is bb:00.(2+i).
func fourRails() []*deviceplugin.Device {
	var out []*deviceplugin.Device
	for _, r := range []inventorytest.RailSpec{
		{PFName: "a", PFAddress: "0000:1a:00.0", VFs: 4, NUMANode: 0, FirstRDMA: -1},
		{PFName: "b", PFAddress: "0000:1b:00.0", VFs: 4, NUMANode: 0, FirstRDMA: -1},
		{PFName: "c", PFAddress: "0000:8a:00.0", VFs: 4, NUMANode: 1, FirstRDMA: -1},
		{PFName: "d", PFAddress: "0000:8b:00.0", VFs: 2, NUMANode: 1, FirstRDMA: -1},
	} {
		for _, d := range inventorytest.Rail(r) {
			out = append(out, &d)
		}
	}
	return out
}

func without(devs []*deviceplugin.Device, ids ...string) []*deviceplugin.Device {
	return slices.DeleteFunc(slices.Clone(devs), func(d *deviceplugin.Device) bool { return slices.Contains(ids, d.PCIAddress) })
}

func TestPreferred(t *testing.T) {
	t.Parallel()
	all := fourRails()
	for _, tc := range []struct {
		name   string
		policy config.Policy
		avail  []*deviceplugin.Device
		must   []string
		size   int
		want   []string
	}{
		{"pack one fits the smallest PF that holds it", config.Pack, all, nil, 2,
			[]string{"0000:1a:00.2", "0000:1a:00.3"}},
		{"pack best fit on the home node", config.Pack, without(all, "0000:1a:00.2", "0000:1a:00.3"), nil, 2,
			[]string{"0000:1a:00.4", "0000:1a:00.5"}},
		{"pack spills to a second PF, fullest first", config.Pack, all, nil, 6,
			[]string{"0000:1a:00.2", "0000:1a:00.3", "0000:1a:00.4", "0000:1a:00.5", "0000:1b:00.2", "0000:1b:00.3"}},
		{"pack follows must-include PF and NUMA", config.Pack, all, []string{"0000:8b:00.2"}, 3,
			[]string{"0000:8b:00.2", "0000:8b:00.3", "0000:8a:00.2"}},
		{"spread one per PF on the home node first", config.Spread, all, nil, 3,
			[]string{"0000:1a:00.2", "0000:1b:00.2", "0000:1a:00.3"}},
		{"spread prefers rails not used by must-include", config.Spread, all, []string{"0000:1a:00.2"}, 2,
			[]string{"0000:1a:00.2", "0000:1b:00.2"}},
		{"spread crosses NUMA only when the home node is exhausted", config.Spread, all, nil, 10,
			[]string{"0000:1a:00.2", "0000:1b:00.2", "0000:1a:00.3", "0000:1b:00.3", "0000:1a:00.4", "0000:1b:00.4",
				"0000:1a:00.5", "0000:1b:00.5", "0000:8a:00.2", "0000:8b:00.2"}},
		{"home node is where most devices are free", config.Pack, without(all, "0000:1a:00.2", "0000:1a:00.3", "0000:1a:00.4", "0000:1b:00.2", "0000:1b:00.3"), nil, 1,
			[]string{"0000:8b:00.2"}},
		{"must-include alone", config.Pack, all, []string{"0000:8a:00.3", "0000:1a:00.2"}, 2,
			[]string{"0000:8a:00.3", "0000:1a:00.2"}},
		{"short when not enough", config.Pack, all[:2], nil, 3,
			[]string{"0000:1a:00.2", "0000:1a:00.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := deviceplugin.Preferred(tc.policy, tc.avail, tc.must, tc.size)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
			again := deviceplugin.Preferred(tc.policy, tc.avail, tc.must, tc.size)
			if !slices.Equal(got, again) {
				t.Errorf("not deterministic: %v then %v", got, again)
			}
		})
	}
}

func TestPreferredProperties(t *testing.T) {
	t.Parallel()
	all := fourRails()
	for _, pol := range []config.Policy{config.Pack, config.Spread} {
		for size := 1; size <= len(all); size++ {
			got := deviceplugin.Preferred(pol, all, nil, size)
			if len(got) != size {
				t.Fatalf("%s size %d: got %d devices", pol, size, len(got))
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s size %d: %s twice", pol, size, id)
				}
				seen[id] = true
			}
		}
	}
}
