package deviceplugin

import (
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strings"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/vflab/vflab/deviceplugin/config"
	"github.com/vflab/vflab/drivers/ib"
	"github.com/vflab/vflab/drivers/sriov"
)

// Paths of host character devices in Allocate responses (the drivers know where they live).
const (
	DevInfiniband = ib.DevDir
	DevVFIO       = sriov.DevVFIO
	DevRDMACM     = ib.RDMACM
	DevVhostNet   = sriov.DevVhostNet
	DevTun        = sriov.DevTun
)

// prepared is everything Allocate returns for one device, computed when the inventory is scanned so
// that Allocate itself touches no sysfs.
type prepared struct {
	dev      Device
	health   Health
	info     map[string]map[string]string // provider → key → value, the device's part of _INFO
	infoJSON []byte                       // info, marshalled
	specs    []*pluginapi.DeviceSpec
	devInfo  []byte // device-info file content
	topology *pluginapi.TopologyInfo
}

// prepare computes a device's Allocate pieces in the pool res, whose selector sel matched it.
func prepare(res *config.Resource, sel *config.Selector, d Device, snap *Snapshot) *prepared {
	p := &prepared{dev: d, health: HealthOf(&d), info: map[string]map[string]string{
		"generic": {"deviceID": d.PCIAddress},
	}}
	switch {
	case d.Driver == "vfio-pci":
		p.info["vfio"] = map[string]string{"mount": DevVFIO}
		p.specs = append(p.specs, spec(DevVFIO, DevVFIO))
		if d.IOMMUGroup != "" { // without one, upstream too offers only /dev/vfio/vfio
			// In the container the group is always /dev/vfio/<group>; on a no-IOMMU host its device
			// is /dev/vfio/noiommu-<group>.
			group := sriov.VFIOGroupDevice(d.IOMMUGroup, false)
			host := sriov.VFIOGroupDevice(d.IOMMUGroup, d.NoIOMMU)
			p.info["vfio"]["dev-mount"] = group
			p.specs = append(p.specs, spec(host, group))
		}
	case d.UIO != "":
		p.info["uio"] = map[string]string{"mount": "/dev/" + d.UIO}
		p.specs = append(p.specs, spec("/dev/"+d.UIO, "/dev/"+d.UIO))
	}
	rdma := sel != nil && sel.IsRdma && d.IsRDMA()
	if rdma {
		env := map[string]string{}
		var rs []string
		for _, group := range [][]string{d.UCM, d.Issm, d.Umad, d.Uverbs} {
			for _, name := range group {
				rs = append(rs, DevInfiniband+"/"+name)
			}
		}
		if snap.RDMACM {
			rs = append(rs, DevRDMACM)
		}
		for _, r := range rs {
			p.specs = append(p.specs, spec(r, r))
			for _, kind := range []string{"uverbs", "umad", "issm", "rdma_cm"} {
				if strings.Contains(path.Base(r), kind) {
					env[kind] = r // the last one wins, as upstream
				}
			}
		}
		env["rdma_dev"] = d.RDMADevices[0]
		p.info["rdma"] = env
	}
	if sel != nil && sel.NeedVhostNet {
		env := map[string]string{}
		if snap.VhostNet {
			env["net-mount"] = DevVhostNet
			p.specs = append(p.specs, spec(DevVhostNet, DevVhostNet))
		}
		if snap.Tun {
			env["tun-mount"] = DevTun
			p.specs = append(p.specs, spec(DevTun, DevTun))
		}
		p.info["vhost"] = env
	}
	if extra := additionalInfo(res.AdditionalInfo, d.PCIAddress); extra != nil {
		p.info["extra"] = extra
	}
	p.infoJSON, _ = json.Marshal(p.info)
	di := DeviceInfo{Type: "pci", Version: "1.1.0", Pci: &PCIDeviceInfo{PCIAddress: d.PCIAddress}}
	if d.IsRDMA() {
		di.Pci.RDMADevice = strings.Join(d.RDMADevices, ",")
	}
	p.devInfo, _ = json.Marshal(di)
	if !res.ExcludeTopology && d.NUMANode >= 0 {
		p.topology = &pluginapi.TopologyInfo{Nodes: []*pluginapi.NUMANode{{ID: int64(d.NUMANode)}}}
	}
	return p
}

// additionalInfo merges the "*" entry with the device's own (which wins).
func additionalInfo(ai map[string]map[string]string, bdf string) map[string]string {
	if len(ai["*"]) == 0 && len(ai[bdf]) == 0 {
		return nil
	}
	out := map[string]string{}
	maps.Copy(out, ai["*"])
	maps.Copy(out, ai[bdf])
	return out
}

func spec(host, container string) *pluginapi.DeviceSpec {
	return &pluginapi.DeviceSpec{HostPath: host, ContainerPath: container, Permissions: "rw"}
}

// EnvName is the upstream environment variable of a pool: PCIDEVICE_<PREFIX>_<NAME> with '.' and '/'
// mapped to '_' and upper-cased ('-' is kept, as upstream does).
func EnvName(prefix, name string) string {
	r := strings.NewReplacer(".", "_", "/", "_")
	return "PCIDEVICE_" + strings.ToUpper(r.Replace(prefix)+"_"+r.Replace(name))
}

// ShellEnvName is the shell-readable form of an environment variable name: '-' mapped to '_'. Upstream
// keeps '-' in PCIDEVICE_<PREFIX>_<NAME>, which `sh` cannot expand ($PCIDEVICE_X_SRIOV-NET reads
// $PCIDEVICE_X_SRIOV followed by "-NET").
func ShellEnvName(name string) string { return strings.ReplaceAll(name, "-", "_") }

// ShellAliases decides, for a config's pools (by full resource name), the shell-readable alias each pool
// sets next to its upstream variable: ShellEnvName of EnvName when that differs (the name has a '-')
// and no other pool's upstream variable or alias takes the same name — a pod holding both pools would
// otherwise get one value for two resources. Pools without an alias map to "".
func ShellAliases(rs []config.Resource) map[string]string {
	owners := map[string]int{}
	for _, r := range rs {
		env := EnvName(r.Prefix, r.Name)
		owners[env]++
		if alias := ShellEnvName(env); alias != env {
			owners[alias]++
		}
	}
	out := make(map[string]string, len(rs))
	for _, r := range rs {
		env := EnvName(r.Prefix, r.Name)
		alias := ShellEnvName(env)
		if alias == env || owners[alias] > 1 {
			alias = ""
		}
		out[r.FullName()] = alias
	}
	return out
}

// DevInfoFile is the device-info file name of a device in a pool, as network-attachment-definition-client
// names it: "<prefix>-<name>-<deviceID>-device.json" with '/' mapped to '-'.
func DevInfoFile(resource, deviceID string) string {
	return strings.ReplaceAll(resource, "/", "-") + "-" + strings.ReplaceAll(deviceID, "/", "-") + "-device.json"
}

// containerResponse builds the response for one container from prepared devices: IDs and specs in
// request order, _INFO byte for byte as upstream's json.Marshal of a map writes it (IDs sorted). With a
// shell alias (see ShellAliases) both variables are also set under it.
func containerResponse(envName, alias string, devs []*prepared) *pluginapi.ContainerAllocateResponse {
	ids := make([]string, len(devs))
	var specs []*pluginapi.DeviceSpec
	seen := map[string]bool{}
	for i, p := range devs {
		ids[i] = p.dev.PCIAddress
		for _, s := range p.specs {
			if !seen[s.HostPath] {
				seen[s.HostPath] = true
				specs = append(specs, s)
			}
		}
	}
	sorted := slices.Clone(devs)
	slices.SortFunc(sorted, func(a, b *prepared) int { return strings.Compare(a.dev.PCIAddress, b.dev.PCIAddress) })
	var info strings.Builder
	info.WriteByte('{')
	for i, p := range sorted {
		if i > 0 && p.dev.PCIAddress == sorted[i-1].dev.PCIAddress {
			continue
		}
		if i > 0 {
			info.WriteByte(',')
		}
		k, _ := json.Marshal(p.dev.PCIAddress)
		info.Write(k)
		info.WriteByte(':')
		info.Write(p.infoJSON)
	}
	info.WriteByte('}')
	envs := map[string]string{envName: strings.Join(ids, ","), envName + "_INFO": info.String()}
	if alias != "" {
		envs[alias], envs[alias+"_INFO"] = envs[envName], envs[envName+"_INFO"]
	}
	return &pluginapi.ContainerAllocateResponse{Envs: envs, Devices: specs}
}

// sortedIDs returns the keys of m in order.
func sortedIDs[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// DeviceInfo is a device-info file (Network Plumbing WG device-info spec v1.1.0), the same JSON as
// network-attachment-definition-client's v1.DeviceInfo (whose package pulls in the Kubernetes API
// machinery, which the plugin does not need).
type DeviceInfo struct {
	Type    string         `json:"type,omitempty"`
	Version string         `json:"version,omitempty"`
	Pci     *PCIDeviceInfo `json:"pci,omitempty"`
}

// PCIDeviceInfo is the "pci" member of a device-info file.
type PCIDeviceInfo struct {
	PCIAddress        string `json:"pci-address,omitempty"`
	VhostNet          string `json:"vhost-net,omitempty"`
	RDMADevice        string `json:"rdma-device,omitempty"`
	PFPCIAddress      string `json:"pf-pci-address,omitempty"`
	RepresentorDevice string `json:"representor-device,omitempty"`
}
