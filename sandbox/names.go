package sandbox

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"
)

// NamespacePrefix starts the name of every network namespace the sandbox creates.
const NamespacePrefix = "vflab-"

// aliasPrefix starts the IFLA_IFALIAS of every link the sandbox creates.
const aliasPrefix = "vflab:"

// NodeNamespace is the name of the host network namespace of node in cluster (under /run/netns).
func NodeNamespace(cluster, node string) string { return NamespacePrefix + cluster + "-" + node }

// FabricNamespace is the name of the namespace holding the bridge of an Ethernet fabric of cluster.
func FabricNamespace(cluster, fabric string) string {
	return NamespacePrefix + cluster + "-fab-" + fabric
}

// NamespacePath is where a named namespace is mounted.
func NamespacePath(name string) string { return filepath.Join("/run/netns", name) }

// Alias is the IFLA_IFALIAS of the link standing for the netdev of PCI function pci of node, cabled to
// fabric. It survives renames and namespace moves.
func Alias(cluster, node, pci, fabric string) string {
	return aliasPrefix + cluster + ":" + node + ":" + pci + ":" + fabric
}

// aliasOwner is the prefix of Alias that identifies the netdev of pci whatever its fabric.
func aliasOwner(cluster, node, pci string) string {
	return aliasPrefix + cluster + ":" + node + ":" + pci + ":"
}

// aliasFabric returns the fabric named by an alias made by Alias.
func aliasFabric(alias string) (string, bool) {
	if !strings.HasPrefix(alias, aliasPrefix) {
		return "", false
	}
	i := strings.LastIndexByte(alias, ':')
	return alias[i+1:], true
}

// peerName is the name of the fabric-side veth peer of the link with alias: unique per fabric namespace,
// at most 15 bytes.
func peerName(alias string) string {
	h := fnv.New32a()
	h.Write([]byte(alias))
	return fmt.Sprintf("vp%08x", h.Sum32())
}

// bridgeName is the name of the bridge in a fabric namespace.
const bridgeName = "fabric"

// validName reports whether s can be part of a namespace name and an alias.
func validName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("name %q: only letters, digits, '-', '_' and '.' are allowed", s)
		}
	}
	if len(NodeNamespace(s, s)) > 200 {
		return fmt.Errorf("name %q is too long", s)
	}
	return nil
}
