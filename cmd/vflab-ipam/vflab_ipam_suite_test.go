package main_test

import (
	"os"
	"os/exec"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestVflabIPAM(t *testing.T) {
	switch {
	case os.Geteuid() != 0:
		t.Skip("vflab-ipam real-client tests need root (network namespaces)")
	case testing.Short():
		t.Skip("vflab-ipam real-client tests skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("vflab-ipam real-client tests need the go tool to build macvlan and cnitool")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "vflab-ipam", Label("netns"))
}
