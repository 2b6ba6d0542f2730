// Package ipamtest holds what every ipam.Store must pass, as tests any store's package runs against its own
// implementation (memstore, nodestore, clusterstore):
//
//   - StoreContract: atomic all-or-nothing Reserve, AddressInUseError naming the holder, idempotent
//     Release, owner lookups, cursors, network listing, exactly one winner when goroutines race for an
//     address.
//   - Property: seeded random ADD/DEL/GC sequences through the ipam core against a reference model.
package ipamtest
