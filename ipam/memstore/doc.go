// Package memstore is an in-memory ipam.Store: a stateful fake for tests of the allocator, the stores'
// callers and the CNI plugin, with the same atomicity contract as the real stores and injectable failures.
package memstore
