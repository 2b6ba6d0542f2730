// Package deviceplugin benchmarks the device plugin's hot path over its real unix socket — Allocate and
// GetPreferredAllocation for pools of 8, 128 and 1,024 VFs — against an empty gRPC call on the same
// socket (the floor), and discovery of 8 PFs x 128 VFs on the fake kernel.
//
//	go test -run '^$' -bench . ./bench/deviceplugin/
package deviceplugin
