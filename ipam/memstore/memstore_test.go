package memstore_test

import (
	"testing"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/ipamtest"
	"github.com/vflab/vflab/ipam/memstore"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	ipamtest.StoreContract(t, func(*testing.T) ipam.Store { return memstore.New() })
}
