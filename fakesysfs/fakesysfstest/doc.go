// Package fakesysfstest gives tests a fake kernel rendered from a topology preset in one call, in
// memory or on disk under the test's temporary directory, failing the test if it cannot. Like
// fakesysfs itself it is imported only by tests.
package fakesysfstest
