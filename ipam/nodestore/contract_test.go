package nodestore

import (
	"testing"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/ipamtest"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	ipamtest.StoreContract(t, func(t *testing.T) ipam.Store { return New(t.TempDir(), nil) })
}
