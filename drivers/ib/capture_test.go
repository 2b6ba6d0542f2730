package ib_test

import (
	"testing"

	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/host/rootfs"
	"github.com/vflab/vflab/host/rootfs/capturetest"
)

// TestConnectX3Capture reads the real ConnectX-3 InfiniBand host (hwloc): mlx4_0 on 0000:82:00.0, port 1
// ACTIVE at 56 Gb/sec FDR, LID 0x3a4, GUIDs, the default P_Key, uverbs0/umad0/issm0.
func TestConnectX3Capture(t *testing.T) {
	t.Parallel()
	d := ib.New(capturetest.Open(t, rootfs.CaptureConnectX3IB), nil, nil)
	devs, err := d.Devices("0000:82:00.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 {
		t.Fatalf("devices = %+v, want mlx4_0", devs)
	}
	dev := devs[0]
	if dev.Name != "mlx4_0" || dev.NodeGUID != 0x0002c90300f9bfa0 || dev.SysImageGUID != 0x0002c90300f9bfa3 ||
		dev.FirmwareVersion != "2.11.500" || dev.HCAType != "MT4099" || dev.NodeType != "1: CA" || dev.NodeDesc != "c412-603 HCA-1" {
		t.Errorf("device = %+v", dev)
	}
	if len(dev.Ports) != 1 {
		t.Fatalf("ports = %+v", dev.Ports)
	}
	p := dev.Ports[0]
	if p.Number != 1 || !p.Active() || p.State != "4: ACTIVE" || p.PhysState != "5: LinkUp" || p.Rate != "56 Gb/sec (4X FDR)" ||
		p.LinkLayer != "InfiniBand" || p.LID != 0x3a4 || p.SMLID != 0x1 || p.PortGUID != 0x0002c90300f9bfa1 {
		t.Errorf("port = %+v", p)
	}
	if p.GIDs[0] != "fe80:0000:0000:0000:0002:c903:00f9:bfa1" || p.PKeys[0] != "0xffff" {
		t.Errorf("gid0 %q pkey0 %q", p.GIDs[0], p.PKeys[0])
	}
	kinds := map[string]ib.CharDevice{}
	for _, c := range dev.CharDevices {
		kinds[c.Name] = c
	}
	if kinds["uverbs0"].Path != "/dev/infiniband/uverbs0" || kinds["uverbs0"].Dev != "231:192" ||
		kinds["umad0"].Port != 1 || kinds["issm0"].Kind != "issm" || len(kinds) != 3 {
		t.Errorf("char devices = %+v", dev.CharDevices)
	}
	byName, err := d.Device("mlx4_0")
	if err != nil || byName.PCIAddress != "0000:82:00.0" {
		t.Errorf("Device(mlx4_0) = %+v, %v", byName.PCIAddress, err)
	}
	// The port GUID is also the tail of ib0's IPoIB address.
	a := ib.IPoIBAddress{Flags: ib.IPoIBConnected, QPN: 0x48, SubnetPrefix: ib.LinkLocalPrefix, Port: p.PortGUID}
	if hw, _ := a.HardwareAddr(); hw.String() != "80:00:00:48:fe:80:00:00:00:00:00:00:00:02:c9:03:00:f9:bf:a1" {
		t.Errorf("ipoib address from port guid = %s", hw)
	}
}
