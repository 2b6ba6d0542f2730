// Package ipamtest holds the contract every ipam.Store must meet, as a test any store's package runs
// against its own implementation (memstore, nodestore, clusterstore): atomic all-or-nothing Reserve,
// AddressInUseError naming the holder, idempotent Release, owner lookups, cursors, network listing, and
// exactly one winner when goroutines race for one address.
package ipamtest
