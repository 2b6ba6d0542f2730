package ib_test

import (
	"net"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// TestRoCEPortGUID: an Ethernet (RoCE) port reports the port GUID ibstat shows for it — the interface ID
// of GID 0, the EUI-64 of the netdev's MAC (U/L bit flipped, ff:fe in the middle) — not zero.
func TestRoCEPortGUID(t *testing.T) {
	t.Parallel()
	k := kernel(t, "laptop")
	pci := sriov.New(k, nil)
	d := ib.New(k, nil, pci)
	inv, err := pci.Discover()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, pf := range inv.PFs {
		if pf.LinkType != sriov.LinkEther {
			continue
		}
		fns := []sriov.Function{pf.Function}
		for _, vf := range pf.VFs {
			fns = append(fns, vf.Function)
		}
		for _, f := range fns {
			devs, err := d.Devices(f.Address)
			if err != nil || len(devs) != 1 || len(devs[0].Ports) != 1 {
				t.Fatalf("%s: devices %+v, %v", f.Address, devs, err)
			}
			names, err := afero.ReadDir(k, "/sys/bus/pci/devices/"+f.Address+"/net")
			if err != nil || len(names) != 1 {
				t.Fatalf("%s: netdevs %v, %v", f.Address, names, err)
			}
			b, err := afero.ReadFile(k, "/sys/class/net/"+names[0].Name()+"/address")
			if err != nil {
				t.Fatal(err)
			}
			mac, err := net.ParseMAC(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			want := ib.GUID(uint64(mac[0]^2)<<56 | uint64(mac[1])<<48 | uint64(mac[2])<<40 | 0xfffe<<24 |
				uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5]))
			if got := devs[0].Ports[0].PortGUID; got != want {
				t.Errorf("%s (%s, MAC %s): port GUID %s, want %s", devs[0].Name, f.Address, mac, got, want)
			}
			checked++
		}
	}
	if checked != 5 {
		t.Errorf("checked %d RoCE functions, want 5 (the laptop's Ethernet PF and its 4 VFs)", checked)
	}
}
