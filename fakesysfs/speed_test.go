package fakesysfs

import (
	"errors"
	"syscall"
	"testing"

	"github.com/spf13/afero"
)

// TestSpeedDuplex: every netdev (Ethernet and IPoIB) has speed and duplex; with carrier they read the
// port's speed in Mb/s and "full", without it (a VF not yet up, or a live link down) EINVAL.
func TestSpeedDuplex(t *testing.T) {
	t.Parallel()
	for _, b := range backings {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			nd := &fakeNetdevs{hidden: map[string]bool{}, live: map[string]Netdev{}}
			k := b.make(t, preset(t, "laptop"))
			for file, want := range map[string]string{
				"/sys/class/net/ibp59s0/speed":     "200000\n", // ConnectX-6 IB: 200 Gb/sec (4X HDR)
				"/sys/class/net/ibp59s0/duplex":    "full\n",
				"/sys/class/net/enp94s0np0/speed":  "100000\n", // ConnectX-6 Dx: 100 Gb/sec (2X HDR)
				"/sys/class/net/enp94s0np0/duplex": "full\n",
			} {
				if got := read(t, k, file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
			for _, file := range []string{"/sys/class/net/enp94s0v0/speed", "/sys/class/net/enp94s0v0/duplex", "/sys/class/net/ibp59s0v0/speed"} {
				if _, err := afero.ReadFile(k, file); !errors.Is(err, syscall.EINVAL) {
					t.Errorf("read %s without carrier: %v, want EINVAL", file, err)
				}
			}
			// Through the live-link view: carrier comes from the real link.
			k = b.make(t, preset(t, "laptop"), WithNetdevs(nd))
			nd.live["enp94s0np0"] = Netdev{Name: "enp94s0np0", OperState: "down"}
			nd.live["enp94s0v0"] = Netdev{Name: "enp94s0v0", OperState: "up", Carrier: true}
			if got := read(t, k, "/sys/class/net/enp94s0v0/speed"); got != "100000\n" {
				t.Errorf("live VF with carrier: speed = %q", got)
			}
			for _, file := range []string{"/sys/class/net/enp94s0np0/speed", "/sys/class/net/enp94s0np0/duplex", "/sys/class/net/ibp59s0/speed"} {
				if _, err := afero.ReadFile(k, file); !errors.Is(err, syscall.EINVAL) {
					t.Errorf("read %s of a live link without carrier: %v, want EINVAL", file, err)
				}
			}
		})
	}
}

func TestRateMbps(t *testing.T) {
	t.Parallel()
	for rate, want := range map[string]int{
		"200 Gb/sec (4X HDR)": 200000, "2.5 Gb/sec (1X SDR)": 2500, "56 Gb/sec (4X FDR)": 56000,
		"25 Gb/sec (1X EDR)": 25000, "400 Gb/sec (4X NDR)": 400000, "": 0, "x Gb/sec": 0,
	} {
		if got := rateMbps(rate); got != want {
			t.Errorf("rateMbps(%q) = %d, want %d", rate, got, want)
		}
	}
}
