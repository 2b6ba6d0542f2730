package ib

import (
	"fmt"
	"hash/fnv"
)

// GUIDAllocator gives every VF of a cluster its own node and port GUID, deterministically: the same
// (node, PF, VF) always gets the same GUIDs, and two different triples never share one. A GUID is laid out
// as
//
//	byte 0     0x02 (locally administered, so never a vendor's EUI-64) | 0x01 for the port GUID
//	bytes 1-4  the node's 32-bit ID (Node)
//	byte 5     the PF's index on the node (0-255)
//	bytes 6-7  the VF index (0-65535)
//
// so GUIDs never collide as long as node IDs are distinct: give each node its index in the cluster, or
// NodeIDFromName when names are all there is (a 32-bit hash: distinct names collide with probability
// about n²/2³³ — prefer indexes in large clusters).
type GUIDAllocator struct {
	// Node identifies the node within the fabric.
	Node uint32
}

const (
	guidTagNode byte = 0x02
	guidTagPort byte = 0x03
)

// NodeIDFromName derives a node ID from a node name (FNV-1a).
func NodeIDFromName(name string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return h.Sum32()
}

// VFGUIDs returns the node and port GUID of VF vf of the node's PF number pf.
func (a GUIDAllocator) VFGUIDs(pf, vf int) (GUID, GUID, error) {
	if pf < 0 || pf > 0xff {
		return 0, 0, fmt.Errorf("guid allocator: pf index %d out of range 0-255", pf)
	}
	if vf < 0 || vf > 0xffff {
		return 0, 0, fmt.Errorf("guid allocator: vf index %d out of range 0-65535", vf)
	}
	base := uint64(a.Node)<<24 | uint64(pf)<<16 | uint64(vf)
	return GUID(uint64(guidTagNode)<<56 | base), GUID(uint64(guidTagPort)<<56 | base), nil
}

// VFOwner is what an allocated GUID encodes.
type VFOwner struct {
	Node uint32
	PF   int
	VF   int
	Port bool // a port GUID (false: a node GUID)
}

// OwnerOf decodes a GUID the allocator produced; ok is false for GUIDs from anywhere else.
func OwnerOf(g GUID) (VFOwner, bool) {
	tag := byte(g >> 56)
	if tag != guidTagNode && tag != guidTagPort {
		return VFOwner{}, false
	}
	return VFOwner{Node: uint32(g >> 24), PF: int(g>>16) & 0xff, VF: int(g) & 0xffff, Port: tag == guidTagPort}, true
}
