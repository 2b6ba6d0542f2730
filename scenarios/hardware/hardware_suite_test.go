//go:build hardware

package hardware_test

import (
	"flag"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var labPF = flag.String("vflab.lab-pf", "", "BDF of the one PF the suite may change (VF count, GUIDs, VF config, netns); empty: read-only")

func TestHardware(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "hardware lab")
}

// namedPF is the PF the engineer allowed the suite to change, from the flag or VFLAB_LAB_PF.
func namedPF() string {
	if *labPF != "" {
		return *labPF
	}
	return os.Getenv("VFLAB_LAB_PF")
}
