package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/discovery"
	"github.com/vflab/vflab/deviceplugin/kubelettest"
)

// Resources of DevicePluginConfig.
const (
	ResourceEth = "nvidia.com/sim_eth"
	ResourceIB  = "nvidia.com/sim_ib"
)

// DevicePluginConfig is the sriov-network-device-plugin config.json of a simulated node: one pool of
// Ethernet VFs, one of InfiniBand (RDMA) VFs.
const DevicePluginConfig = `{"resourceList":[
  {"resourceName":"sim_eth","resourcePrefix":"nvidia.com","selectors":{"vendors":["15b3"],"linkTypes":["ether"]}},
  {"resourceName":"sim_ib","resourcePrefix":"nvidia.com","selectors":{"vendors":["15b3"],"linkTypes":["infiniband"],"isRdma":true}}]}`

// NodeRuntime is the kubelet side of one simulated node: a fake kubelet (real gRPC on unix sockets) and
// the device plugin serving the node's fake kernel, registered with it.
type NodeRuntime struct {
	Kubelet    *kubelettest.Kubelet
	Plugin     *deviceplugin.Plugin
	DevInfoDir string // device-info files the plugin writes on Allocate
}

// StartNodeRuntime starts the kubelet and the device plugin of the node whose filesystem (fake kernel)
// is fs, with sockets and files under dir (short: unix socket paths are limited to 108 bytes). Stop it
// with Stop.
func StartNodeRuntime(fs afero.Fs, dir string, logger *slog.Logger) (*NodeRuntime, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node runtime: %w", err)
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(DevicePluginConfig), 0o644); err != nil {
		return nil, fmt.Errorf("node runtime: %w", err)
	}
	r := &NodeRuntime{DevInfoDir: filepath.Join(dir, "devinfo")}
	dp, pr := filepath.Join(dir, "dp"), filepath.Join(dir, "pr.sock")
	r.Kubelet = kubelettest.New(kubelettest.Options{DevicePluginDir: dp, PodResourcesSocket: pr, Logger: logger})
	if err := r.Kubelet.Start(); err != nil {
		return nil, fmt.Errorf("node runtime: kubelet: %w", err)
	}
	p, err := deviceplugin.New(deviceplugin.Options{
		ConfigFile: cfg, DevicePluginDir: dp, PodResourcesSocket: pr, DevInfoDir: r.DevInfoDir,
		Inventory: discovery.New(fs), Logger: logger,
		PollInterval: 50 * time.Millisecond, KubeletInterval: 50 * time.Millisecond,
	})
	if err != nil {
		r.Kubelet.Stop()
		return nil, fmt.Errorf("node runtime: device plugin: %w", err)
	}
	if err := p.Start(); err != nil {
		r.Kubelet.Stop()
		return nil, fmt.Errorf("node runtime: device plugin: %w", err)
	}
	r.Plugin = p
	return r, nil
}

// WaitReady waits until the kubelet sees every resource with at least one allocatable device.
func (r *NodeRuntime) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ready := true
		for _, res := range []string{ResourceEth, ResourceIB} {
			if !r.Kubelet.Connected(res) || r.Kubelet.Counts(res).Allocatable == 0 {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("node runtime: resources not allocatable within " + timeout.String())
		}
		select {
		case <-r.Kubelet.Changed():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the device plugin, then the kubelet.
func (r *NodeRuntime) Stop() {
	if r.Plugin != nil {
		r.Plugin.Stop()
	}
	r.Kubelet.Stop()
}
