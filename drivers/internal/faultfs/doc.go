// Package faultfs wraps a machine's afero.Fs for the drivers' tests to inject what a fake kernel does
// not do on its own: a write failing with a chosen errno, or links the kernel is slow to create.
package faultfs
