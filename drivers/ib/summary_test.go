package ib_test

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// TestSummaryAgreesWithDevices: on every function of the presets, Summary says what the full read says
// of the first device's port 1 and of the function's char devices.
func TestSummaryAgreesWithDevices(t *testing.T) {
	t.Parallel()
	for _, preset := range []string{"laptop", "gpu-8rail", "dual-cx6"} {
		t.Run(preset, func(t *testing.T) {
			t.Parallel()
			k := kernel(t, preset)
			pci := sriov.New(k, nil)
			d := ib.New(k, nil, pci)
			inv, err := pci.Discover()
			if err != nil {
				t.Fatal(err)
			}
			guidSet := map[bool]int{}
			for _, pf := range inv.PFs {
				fns := []sriov.Function{pf.Function}
				for _, vf := range pf.VFs {
					fns = append(fns, vf.Function)
				}
				for _, fn := range fns {
					devs, err := d.Devices(fn.Address)
					if err != nil {
						t.Fatal(err)
					}
					s, err := d.Summary(fn.Address)
					if err != nil {
						t.Fatalf("%s: %v", fn.Address, err)
					}
					var names, uverbs, umad, issm []string
					for _, dev := range devs {
						names = append(names, dev.Name)
						for _, c := range dev.CharDevices {
							switch c.Kind {
							case "uverbs":
								uverbs = append(uverbs, c.Name)
							case "umad":
								umad = append(umad, c.Name)
							case "issm":
								issm = append(issm, c.Name)
							}
						}
					}
					for _, l := range [][]string{uverbs, umad, issm} {
						slices.Sort(l)
					}
					if !slices.Equal(s.Devices, names) || !slices.Equal(s.Uverbs, uverbs) || !slices.Equal(s.Umad, umad) || !slices.Equal(s.Issm, issm) {
						t.Errorf("%s: summary %+v, devices %v, char devices %v %v %v", fn.Address, s, names, uverbs, umad, issm)
					}
					if len(devs) == 0 {
						continue
					}
					p := devs[0].Ports[0]
					pkey0 := p.PKeys[0]
					if pkey0 == "" {
						pkey0 = "0x0000"
					}
					set := p.PortGUID != 0 && p.PortGUID != ^ib.GUID(0)
					if s.PortState != p.State || s.PKey0 != pkey0 || s.PortGUIDSet != set {
						t.Errorf("%s: summary %+v, port %+v", fn.Address, s, p)
					}
					guidSet[s.PortGUIDSet]++
				}
			}
			if guidSet[true] == 0 {
				t.Errorf("no function with a port GUID: %v", guidSet)
			}
		})
	}
}

// TestSummaryTree: a hand-made function: a port whose GID 0 interface ID is all ones has no GUID set, one
// with a GUID has, char devices come from the function's own dirs (abi_version and strays left out); a
// function without RDMA and a missing one summarize as nothing; an unreadable file is an error naming
// it, with the rest read.
func TestSummaryTree(t *testing.T) {
	t.Parallel()
	const pci = "sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.2"
	files := map[string]string{
		pci + "/infiniband/mlx5_3/ports/1/state":                  "1: DOWN\n",
		pci + "/infiniband/mlx5_3/ports/1/pkeys/0":                "0xffff\n",
		pci + "/infiniband/mlx5_3/ports/1/gids/0":                 "fe80:0000:0000:0000:ffff:ffff:ffff:ffff\n",
		pci + "/infiniband_verbs/uverbs3/ibdev":                   "mlx5_3\n",
		pci + "/infiniband_mad/umad3/ibdev":                       "mlx5_3\n",
		pci + "/infiniband_mad/issm3/ibdev":                       "mlx5_3\n",
		pci + "/infiniband_mad/abi_version":                       "5\n",
		"sys/devices/pci0000:00/0000:00:02.0/0000:3b:00.3/vendor": "0x15b3\n",
	}
	links := map[string]string{
		"sys/bus/pci/devices/0000:3b:00.2": "../../../devices/pci0000:00/0000:00:02.0/0000:3b:00.2",
		"sys/bus/pci/devices/0000:3b:00.3": "../../../devices/pci0000:00/0000:00:02.0/0000:3b:00.3",
	}
	fs := disk(t, files, links)
	d := ib.New(fs, nil, nil)
	s, err := d.Summary("0000:3b:00.2")
	want := ib.Summary{Devices: []string{"mlx5_3"}, PortState: "1: DOWN", PKey0: "0xffff",
		Uverbs: []string{"uverbs3"}, Umad: []string{"umad3"}, Issm: []string{"issm3"}}
	if err != nil || !equalSummary(s, want) {
		t.Errorf("all-ones GUID: %+v, %v; want %+v", s, err, want)
	}
	for _, bdf := range []string{"0000:3b:00.3", "0000:3b:00.4"} {
		if s, err := d.Summary(bdf); err != nil || !equalSummary(s, ib.Summary{}) {
			t.Errorf("%s: %+v, %v; want nothing", bdf, s, err)
		}
	}

	files[pci+"/infiniband/mlx5_3/ports/1/gids/0"] = "fe80:0000:0000:0000:0c42:a103:0016:054d\n"
	d = ib.New(disk(t, files, links), nil, nil)
	want.PortGUIDSet = true
	if s, err := d.Summary("0000:3b:00.2"); err != nil || !equalSummary(s, want) {
		t.Errorf("GUID set: %+v, %v; want %+v", s, err, want)
	}

	bad := "/sys/bus/pci/devices/0000:3b:00.2/infiniband/mlx5_3/ports/1/pkeys/0"
	d = ib.New(eioFS{Fs: disk(t, files, links), bad: bad}, nil, nil)
	s, err = d.Summary("0000:3b:00.2")
	want.PKey0 = ""
	if !errors.Is(err, syscall.EIO) || !equalSummary(s, want) {
		t.Errorf("pkey unreadable: %+v, %v; want %+v and EIO", s, err, want)
	}
}

func equalSummary(a, b ib.Summary) bool {
	return slices.Equal(a.Devices, b.Devices) && a.PortState == b.PortState && a.PKey0 == b.PKey0 &&
		a.PortGUIDSet == b.PortGUIDSet && slices.Equal(a.Uverbs, b.Uverbs) && slices.Equal(a.Umad, b.Umad) &&
		slices.Equal(a.Issm, b.Issm)
}

// eioFS fails reads of one file with EIO.
type eioFS struct {
	afero.Fs
	bad string
}

func (f eioFS) Open(name string) (afero.File, error) { return f.OpenFile(name, os.O_RDONLY, 0) }

func (f eioFS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if name == f.bad {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EIO}
	}
	return f.Fs.OpenFile(name, flag, perm)
}
