package linkops_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestLinkops(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "linkops")
}
