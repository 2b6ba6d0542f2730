package ipam_test

import (
	"fmt"
	"testing"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/ipamtest"
	"github.com/vflab/vflab/ipam/memstore"
	"github.com/vflab/vflab/ipam/nodestore"
)

// TestPropertyRandomOps: 2000 seeded random ADD/DEL/GC operations per run against ipamtest's reference model.
func TestPropertyRandomOps(t *testing.T) {
	t.Parallel()
	for _, policy := range []ipam.Policy{ipam.RoundRobin, ipam.LowestFree} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", policy, seed), func(t *testing.T) {
				t.Parallel()
				ipamtest.Property(t, memstore.New(), policy, seed, 2000)
			})
		}
	}
}

// The same property on the disk store (fewer operations: each one fsyncs).
func TestPropertyRandomOpsNodeStore(t *testing.T) {
	t.Parallel()
	for _, policy := range []ipam.Policy{ipam.RoundRobin, ipam.LowestFree} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			ipamtest.Property(t, nodestore.New(t.TempDir(), nil), policy, 9, 300)
		})
	}
}
