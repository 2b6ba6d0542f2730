// Command vflab-deviceplugin is the kubelet device plugin: VFs as extended resources, configured by the
// sriov-network-device-plugin config.json and taking the same flags (-config-file, -resource-prefix),
// plus the directories a simulated node needs to share one machine with others. See package
// deviceplugin.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/vflab/vflab/deviceplugin"
	"github.com/vflab/vflab/deviceplugin/config"
	"github.com/vflab/vflab/deviceplugin/discovery"
	"github.com/vflab/vflab/host"
)

func main() {
	var o deviceplugin.Options
	flag.StringVar(&o.ConfigFile, "config-file", deviceplugin.DefaultConfigFile, "JSON device pool config file location")
	flag.StringVar(&o.ResourcePrefix, "resource-prefix", config.DefaultPrefix, "resource name prefix used for K8s extended resource")
	flag.StringVar(&o.DevicePluginDir, "device-plugin-dir", deviceplugin.DefaultDevicePluginDir, "kubelet's device-plugin directory (kubelet.sock)")
	flag.StringVar(&o.PluginsRegistryDir, "plugins-registry-dir", deviceplugin.DefaultPluginsRegistryDir, "kubelet's plugin-watcher directory; used when it exists")
	flag.StringVar(&o.PodResourcesSocket, "pod-resources-socket", deviceplugin.DefaultPodResourcesSocket, "kubelet's pod-resources API socket (devices held by pods)")
	flag.StringVar(&o.DevInfoDir, "devinfo-dir", deviceplugin.DefaultDevInfoDir, "directory of the device-info files")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Parse()

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "vflab-deviceplugin: -log-level:", err)
		os.Exit(2)
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	if err := run(o, sig); err != nil {
		fmt.Fprintln(os.Stderr, "vflab-deviceplugin:", err)
		os.Exit(1)
	}
}

// run serves until a signal arrives, then stops deliberately: every kubelet stream is sent an empty
// device list before the sockets close (see deviceplugin.Plugin.Stop).
func run(o deviceplugin.Options, sig <-chan os.Signal) error {
	m, err := host.Default()
	if err != nil {
		return err
	}
	defer func() { _ = m.Close() }()
	o.Inventory = discovery.New(m.FS)
	// VFs whose netdev carries this namespace's IPv4 default route are excluded (reported, not silent).
	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	o.Routes = discovery.NewRoutes(nl)
	p, err := deviceplugin.New(o)
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	o.Logger.Info("serving", "resources", p.Resources())
	s := <-sig
	o.Logger.Info("stopping", "signal", s.String())
	p.Stop()
	return nil
}
