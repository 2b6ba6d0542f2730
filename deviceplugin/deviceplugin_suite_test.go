package deviceplugin_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDevicePlugin(t *testing.T) {
	RegisterFailHandler(Fail)
	// Generous: `make test` runs every package at once on two cores. Specs that promise a latency
	// (re-registration within a second) pass their own timeout.
	SetDefaultEventuallyTimeout(10 * time.Second)
	RunSpecs(t, "Device plugin")
}

var _ = SynchronizedBeforeSuite(func() {}, func() {
	ignore := goleak.IgnoreCurrent()
	DeferCleanup(func() {
		// Every server, stream, loop and connection of every spec is gone.
		Expect(goleak.Find(ignore)).To(Succeed())
	})
})
