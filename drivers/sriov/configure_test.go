package sriov_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"
	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/drivers/internal/drivertest"
	"github.com/vflab/vflab/drivers/internal/vfstub"
	"github.com/vflab/vflab/drivers/sriov"
	"github.com/vflab/vflab/drivers/vftrace"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name.golden (or rewrites it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	drivertest.Golden(t, name, got, *update)
}

func ptr[T any](v T) *T { return &v }

func TestConfigureRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pf   string
		s    sriov.VFSettings
	}{
		{"configure-full", "enp59s0f0np0", sriov.VFSettings{
			MAC:  net.HardwareAddr{0x02, 0, 0, 0, 0, 0x11},
			VLAN: &sriov.VLAN{ID: 100, QoS: 3}, Spoofchk: ptr(false), Trust: ptr(true),
			LinkState: ptr(netlink.VF_LINK_STATE_ENABLE), Rate: &sriov.Rate{Min: 1000, Max: 10000},
		}},
		{"configure-vlan-only", "enp59s0f0np0", sriov.VFSettings{VLAN: &sriov.VLAN{ID: 7, Proto: sriov.VLANProto802_1AD}}},
		{"configure-ib-state", "ibp59s0f0", sriov.VFSettings{LinkState: ptr(netlink.VF_LINK_STATE_DISABLE)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub := vfstub.New()
			stub.SetPF(tc.pf, 8)
			if strings.HasPrefix(tc.pf, "ib") {
				stub.SetEncap(tc.pf, "infiniband")
			}
			// VF 3 starts with non-default state that restore must bring back exactly.
			pre := sriov.New(afero.NewMemMapFs(), stub)
			if _, err := pre.ConfigureVF(tc.pf, 3, sriov.VFSettings{MAC: net.HardwareAddr{0x0c, 0x42, 0xa1, 0, 0, 3}, Rate: &sriov.Rate{Max: 500}}); err != nil {
				t.Fatal(err)
			}
			before, _ := stub.VF(tc.pf, 3)
			var trace bytes.Buffer
			d := sriov.New(afero.NewMemMapFs(), vftrace.New(stub, &trace, false))
			snap, err := d.ConfigureVF(tc.pf, 3, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := d.VFState(tc.pf, 3)
			if tc.s.VLAN != nil && (after.Vlan != tc.s.VLAN.ID || after.Qos != tc.s.VLAN.QoS) {
				t.Errorf("vlan not applied: %+v", after)
			}
			if tc.s.MAC != nil && after.MAC != tc.s.MAC.String() {
				t.Errorf("mac not applied: %+v", after)
			}
			trace.WriteString("-- restore\n")
			if err := d.RestoreVF(snap); err != nil {
				t.Fatal(err)
			}
			got, _ := stub.VF(tc.pf, 3)
			if sriovState(got) != sriovState(before) {
				t.Errorf("restore: VF state %+v, want %+v", got, before)
			}
			golden(t, tc.name, trace.Bytes())
		})
	}
}

// sriovState prints what `ip link show` lists for a VF (a zero VLAN protocol reads as 802.1Q).
func sriovState(vi netlink.VfInfo) string {
	vi.VlanProto = max(vi.VlanProto, sriov.VLANProto802_1Q)
	return fmt.Sprintf("mac %s vlan %d qos %d proto %#x spoofchk %t trust %d state %d rate %d-%d",
		vi.Mac, vi.Vlan, vi.Qos, vi.VlanProto, vi.Spoofchk, vi.Trust, vi.LinkState, vi.MinTxRate, vi.MaxTxRate)
}

func TestConfigureErrors(t *testing.T) {
	t.Parallel()
	stub := vfstub.New()
	stub.SetPF("enp59s0f0np0", 2)
	d := sriov.New(afero.NewMemMapFs(), stub)

	// Bad input changes nothing and names the field.
	for _, s := range []sriov.VFSettings{
		{VLAN: &sriov.VLAN{ID: 4095}},
		{VLAN: &sriov.VLAN{ID: 1, QoS: 8}},
		{VLAN: &sriov.VLAN{ID: 1, Proto: 0x1234}},
		{MAC: net.HardwareAddr{1, 2, 3}},
		{Rate: &sriov.Rate{Min: 10, Max: 5}},
		{LinkState: ptr(uint32(7))},
	} {
		if _, err := d.ConfigureVF("enp59s0f0np0", 0, s); err == nil || !strings.Contains(err.Error(), "vf settings") {
			t.Errorf("ConfigureVF(%+v) = %v; want a settings error", s, err)
		}
	}
	if _, err := d.ConfigureVF("enp59s0f0np0", 2, sriov.VFSettings{Trust: ptr(true)}); !errors.Is(err, sriov.ErrVFNotFound) {
		t.Errorf("VF 2 of 2: %v; want ErrVFNotFound", err)
	}
	if _, err := d.ConfigureVF("gone0", 0, sriov.VFSettings{Trust: ptr(true)}); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("missing PF: %v; want ErrDeviceGone", err)
	}
	if _, err := sriov.New(afero.NewMemMapFs(), nil).ConfigureVF("enp59s0f0np0", 0, sriov.VFSettings{}); err == nil {
		t.Error("read-only driver configured a VF")
	}

	// A failing step rolls back the steps before it.
	var trace bytes.Buffer
	stub.Fail("LinkSetVfTrust", syscall.EOPNOTSUPP)
	d = sriov.New(afero.NewMemMapFs(), vftrace.New(stub, &trace, false))
	_, err := d.ConfigureVF("enp59s0f0np0", 1, sriov.VFSettings{VLAN: &sriov.VLAN{ID: 5}, Spoofchk: ptr(false), Trust: ptr(true)})
	if !errors.Is(err, syscall.EOPNOTSUPP) || !strings.Contains(err.Error(), "set trust") {
		t.Errorf("failing trust: %v", err)
	}
	if vi, _ := stub.VF("enp59s0f0np0", 1); vi.Vlan != 0 || !vi.Spoofchk {
		t.Errorf("not rolled back: %+v", vi)
	}
	golden(t, "configure-rollback", trace.Bytes())
	stub.Fail("LinkSetVfTrust", nil)

	// The VF vanishes between configure and restore (VFs disabled): ErrVFNotFound; the PF vanishes: ErrDeviceGone.
	snap, err := d.ConfigureVF("enp59s0f0np0", 1, sriov.VFSettings{Trust: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	stub.SetPF("enp59s0f0np0", 0)
	if err := d.RestoreVF(snap); !errors.Is(err, sriov.ErrVFNotFound) {
		t.Errorf("restore after VFs disabled: %v; want ErrVFNotFound", err)
	}
	stub.RemovePF("enp59s0f0np0")
	if err := d.RestoreVF(snap); !errors.Is(err, sriov.ErrDeviceGone) {
		t.Errorf("restore after PF removed: %v; want ErrDeviceGone", err)
	}
}

// TestSnapshotJSON: a snapshot survives being stored (the CNI plugin keeps it in its attachment record)
// and restores from the stored copy.
func TestSnapshotJSON(t *testing.T) {
	t.Parallel()
	stub := vfstub.New()
	stub.SetPF("enp59s0f0np0", 4)
	d := sriov.New(afero.NewMemMapFs(), stub)
	before, _ := stub.VF("enp59s0f0np0", 2)
	snap, err := d.ConfigureVF("enp59s0f0np0", 2, sriov.VFSettings{
		MAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}, VLAN: &sriov.VLAN{ID: 9, QoS: 1}, Trust: ptr(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var stored sriov.Snapshot
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if err := d.RestoreVF(&stored); err != nil {
		t.Fatal(err)
	}
	if got, _ := stub.VF("enp59s0f0np0", 2); sriovState(got) != sriovState(before) {
		t.Errorf("restored from JSON: %s, want %s", sriovState(got), sriovState(before))
	}
	if !strings.Contains(string(b), `"changed":["vlan","mac","trust"]`) {
		t.Errorf("snapshot JSON: %s", b)
	}
}
