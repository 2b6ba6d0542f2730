// Package deviceplugin is vflab's kubelet device plugin: it offers SR-IOV virtual functions (and their
// RDMA devices) as Kubernetes extended resources, one pool per resource of a sriov-network-device-plugin
// config.json, with the same Allocate response and device-info files as upstream.
//
// Unlike upstream it reports real health (VF or PF link, InfiniBand port, driver binding, PF presence),
// re-discovers devices and reloads its config without a restart, re-registers when the kubelet restarts,
// keeps devices held by running pods across its own restarts (it reads them back from the kubelet
// pod-resources API), and implements GetPreferredAllocation (NUMA-aware, pack or spread across PFs).
//
// Environment names: Allocate sets upstream's PCIDEVICE_<PREFIX>_<NAME> and PCIDEVICE_<PREFIX>_<NAME>_INFO
// unchanged ('.' and '/' become '_', upper-cased, '-' kept). A '-' makes them unreadable from a shell,
// so when the name has one the plugin also sets both under the name with '-' mapped to '_'
// (PCIDEVICE_INTEL_COM_SRIOV-NET and PCIDEVICE_INTEL_COM_SRIOV_NET carry the same value) — unless that
// alias is another pool's variable or alias, in which case only the upstream name is set (ShellAliases).
//
// Shutdown: a deliberate stop (Stop, SIGTERM in the command, a pool removed from the config) sends an
// empty device list on every open ListAndWatch stream before closing it, so kubelet stops placing pods
// on a node whose plugin is going away. A crash or a kubelet-side disconnect sends nothing: kubelet keeps
// the devices, unhealthy, and the restarted plugin offers them again under the same IDs.
//
// Device-info files: on start the plugin removes the files of devices no pod holds, as the kubelet's
// pod-resources API tells. While that API is unreachable it removes nothing (a file may belong to a
// running pod), asks again with a bounded backoff and reconciles once it answers.
//
// Exclusions are explicit: a VF no pod holds whose netdev carries the host's IPv4 default route (Options.
// Routes) stays in its pool as an unhealthy device whose reason says so, is logged and listed by
// Plugin.Excluded; upstream drops such devices silently. PFs are never offered, only their VFs.
//
// The plugin sees the machine only through an Inventory (discovery of PCI functions); everything Allocate
// needs is computed when the inventory is scanned, never on the Allocate path. The pure parts — selector
// matching, pool assignment, the Allocate response, preferred allocation, health — are plain functions
// with table tests; Plugin wires them to gRPC servers on unix sockets.
package deviceplugin
