// Package drivertest holds the fixtures the drivers' tests share: a PCI function removed from a fake
// kernel behind the drivers' back (hot unplug), and golden-file comparison. It does not import the fake
// kernel itself (fakesysfs), which only tests may import.
package drivertest
