//go:build !hardware

package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/kubelettest"
	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// TestSIGTERM runs the command on a fake kernel (the laptop preset) against the fake kubelet: after
// SIGTERM kubelet has received an empty device list for every resource, not merely lost the stream.
func TestSIGTERM(t *testing.T) {
	dir, err := os.MkdirTemp("", "dpcmd") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	node, err := topology.Preset("laptop")
	if err != nil {
		t.Fatal(err)
	}
	kernelDir := filepath.Join(dir, "kernel")
	if _, err := fakesysfs.Create(kernelDir, node); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VFLAB_ROOT", kernelDir)
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"resourceList":[
	  {"resourceName":"ib","resourcePrefix":"nvidia.com","selectors":{"linkTypes":["infiniband"],"isRdma":true}},
	  {"resourceName":"eth","resourcePrefix":"nvidia.com","selectors":{"linkTypes":["ether"]}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	dp, pr := filepath.Join(dir, "dp"), filepath.Join(dir, "pr.sock")
	k := kubelettest.New(kubelettest.Options{DevicePluginDir: dp, PodResourcesSocket: pr})
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)

	sig := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(deviceplugin.Options{ConfigFile: cfg, DevicePluginDir: dp, PodResourcesSocket: pr,
			DevInfoDir: filepath.Join(dir, "devinfo"), Logger: slog.New(slog.DiscardHandler),
			PollInterval: 20 * time.Millisecond, KubeletInterval: 20 * time.Millisecond}, sig)
	}()
	want := map[string]int{"nvidia.com/ib": 4, "nvidia.com/eth": 4}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if k.Counts("nvidia.com/ib").Allocatable == want["nvidia.com/ib"] && k.Counts("nvidia.com/eth").Allocatable == want["nvidia.com/eth"] {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubelet never saw the devices: ib %+v, eth %+v", k.Counts("nvidia.com/ib"), k.Counts("nvidia.com/eth"))
		}
	}
	sig <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	// kubelet's stream readers may take the last message a moment after the plugin returned.
	for res := range want {
		deadline := time.Now().Add(5 * time.Second)
		for k.Counts(res) != (kubelettest.Counts{}) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := k.Counts(res); got != (kubelettest.Counts{}) {
			t.Errorf("%s after SIGTERM: %+v, want an empty device list (all zero)", res, got)
		}
	}
}
