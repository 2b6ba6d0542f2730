package etcdserver_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestEtcdServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "etcdserver")
}
