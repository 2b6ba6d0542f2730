package nodestore

import (
	"testing"

	"github.com/vflab/vflab/ipam"
)

// FuzzCache: whatever bytes the snapshot or journal hold, reading them either fails (and the store
// rebuilds from the reservation files) or yields a consistent index; never a panic.
func FuzzCache(f *testing.F) {
	x := newIndex()
	x.put(ipam.Reservation{Addr: mustAddr("10.0.0.2"), Owner: ipam.Owner{ContainerID: "c", IfName: "eth0"}, RangeSet: 0})
	snap := indexHeader + " 0123\n" + checksummed("+\t"+record(x.byAddr[mustAddr("10.0.0.2")])) + "\n" +
		checksummed("L\t0\t10.0.0.2") + "\n" + checksummed("end\t1") + "\n"
	f.Add([]byte(snap), true)
	f.Add([]byte(checksummed("-\t10.0.0.2")+"\n"), false)
	f.Add([]byte("garbage\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, snapshot bool) {
		x := newIndex()
		if err := applyLines(x, data, snapshot); err != nil {
			return
		}
		for a, r := range x.byAddr {
			if r.Addr != a {
				t.Fatalf("address index has %s under %s", r.Addr, a)
			}
		}
	})
}

// FuzzReservationFile: host-local's file content and vflab's metadata sidecar.
func FuzzReservationFile(f *testing.F) {
	f.Add([]byte("abc\r\neth0"), []byte(`{"containerID":"abc","ifName":"eth0","created":"2026-01-01T00:00:00Z","rangeSet":1}`))
	f.Add([]byte("legacy"), []byte("{}"))
	f.Add([]byte(""), []byte("nope"))
	f.Fuzz(func(t *testing.T, content, meta []byte) {
		if o, err := parseReservationContent(content); err == nil && o.ContainerID == "" {
			t.Fatalf("accepted %q with an empty container ID", content)
		}
		_, _ = parseMeta(meta)
	})
}
