package discovery_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDiscovery(t *testing.T) {
	RegisterFailHandler(Fail)
	// Generous: `make test` runs every package at once on two cores. Specs that promise a latency
	// (re-registration within a second) pass their own timeout.
	SetDefaultEventuallyTimeout(10 * time.Second)
	RunSpecs(t, "Device plugin on the fake kernel")
}
