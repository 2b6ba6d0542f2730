package sim_test

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSim(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("sim scenario skipped with -short")
	case os.Geteuid() != 0:
		t.Skip("sim scenario needs root (network namespaces, TUN devices)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "sim")
}
