// Package config reads the configuration file of the SR-IOV network device plugin
// (k8snetworkplumbingwg/sriov-network-device-plugin, /etc/pcidp/config.json) unchanged: a resourceList of
// pools, each with a resource name and prefix, a device type and selectors given as one object or as an
// ordered list. It validates everything before anything starts, with errors that name the offending field,
// and adds one optional vflab field per pool, allocationPolicy ("pack" or "spread"), that upstream ignores.
package config
