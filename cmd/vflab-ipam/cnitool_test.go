package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
)

// binDir holds vflab-ipam, the upstream macvlan plugin and cnitool, built once for the suite.
var binDir string

var _ = BeforeSuite(func() {
	binDir = GinkgoT().TempDir()
	for _, pkg := range []string{
		"github.com/vflab/vflab/cmd/vflab-ipam",
		"github.com/containernetworking/plugins/plugins/main/macvlan",
		"github.com/containernetworking/cni/cnitool",
	} {
		out, err := exec.Command("go", "build", "-o", binDir+"/", pkg).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build %s: %s", pkg, out)
	}
})

// newNS creates a network namespace owned by the spec.
func newNS() ns.NetNS {
	n, err := testutils.NewNS()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Expect(n.Close()).To(Succeed())
		Expect(testutils.UnmountNS(n)).To(Succeed())
	})
	return n
}

var _ = Describe("vflab-ipam as the IPAM of the upstream macvlan plugin, driven by cnitool", func() {
	var (
		hostNS, podNS ns.NetNS
		confDir       string
		dataDir       string
	)

	BeforeEach(func() {
		// The "node": a namespace of our own holding the macvlan master, never the root namespace.
		hostNS = newNS()
		podNS = newNS()
		Expect(hostNS.Do(func(ns.NetNS) error {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vfl-master"}, PeerName: "vfl-peer"}
			if err := netlink.LinkAdd(veth); err != nil {
				return err
			}
			for _, name := range []string{"vfl-master", "vfl-peer"} {
				l, err := netlink.LinkByName(name)
				if err != nil {
					return err
				}
				if err := netlink.LinkSetUp(l); err != nil {
					return err
				}
			}
			return nil
		})).To(Succeed())

		confDir = GinkgoT().TempDir()
		dataDir = GinkgoT().TempDir()
		conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"vflnet","plugins":[{"type":"macvlan","master":"vfl-master",
			"mode":"bridge","ipam":{"type":"vflab-ipam","dataDir":%q,
			"ranges":[[{"subnet":"10.77.0.0/24","rangeStart":"10.77.0.10"}],[{"subnet":"fd77::/64"}]],
			"routes":[{"dst":"10.78.0.0/16"}]}}]}`, dataDir)
		Expect(os.WriteFile(filepath.Join(confDir, "vflnet.conflist"), []byte(conf), 0o600)).To(Succeed())
	})

	// cnitool runs cnitool inside the node namespace (so macvlan finds its master) against the pod's.
	cnitool := func(verb string) (string, error) {
		var out []byte
		var err error
		Expect(hostNS.Do(func(ns.NetNS) error {
			cmd := exec.Command(filepath.Join(binDir, "cnitool"), verb, "vflnet", podNS.Path())
			cmd.Env = append(os.Environ(), "CNI_PATH="+binDir, "NETCONFPATH="+confDir, "CNI_IFNAME=net1",
				"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a;K8S_POD_UID=uid-a")
			out, err = cmd.CombinedOutput()
			return nil
		})).To(Succeed())
		return string(out), err
	}

	It("adds, checks and deletes an attachment, leaving nothing behind", func() {
		out, err := cnitool("add")
		Expect(err).NotTo(HaveOccurred(), out)
		var result struct {
			IPs []struct {
				Address string `json:"address"`
				Gateway string `json:"gateway"`
			} `json:"ips"`
		}
		Expect(json.Unmarshal([]byte(out), &result)).To(Succeed(), out)
		Expect(result.IPs).To(HaveLen(2))
		Expect(result.IPs[0].Address).To(Equal("10.77.0.10/24"))
		Expect(result.IPs[0].Gateway).To(Equal("10.77.0.1"))
		Expect(result.IPs[1].Address).To(Equal("fd77::2/64"))

		// The pod's interface carries the address; the route was installed.
		Expect(podNS.Do(func(ns.NetNS) error {
			l, err := netlink.LinkByName("net1")
			if err != nil {
				return err
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			if len(addrs) != 1 || addrs[0].IPNet.String() != "10.77.0.10/24" {
				return fmt.Errorf("net1 addresses %v", addrs)
			}
			routes, err := netlink.RouteList(l, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if r.Dst != nil && r.Dst.String() == "10.78.0.0/16" {
					return nil
				}
			}
			return fmt.Errorf("route 10.78.0.0/16 missing: %v", routes)
		})).To(Succeed())

		// host-local's layout: a file per address naming the attachment.
		b, err := os.ReadFile(filepath.Join(dataDir, "vflnet", "10.77.0.10"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(MatchRegexp(`^cnitool-[0-9a-f]+\r\nnet1$`))

		out, err = cnitool("check")
		Expect(err).NotTo(HaveOccurred(), out)

		out, err = cnitool("del")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(filepath.Join(dataDir, "vflnet", "10.77.0.10")).NotTo(BeAnExistingFile())
		Expect(filepath.Join(dataDir, "vflnet", "fd77::2")).NotTo(BeAnExistingFile())
		Expect(podNS.Do(func(ns.NetNS) error {
			_, err := netlink.LinkByName("net1")
			if err == nil {
				return fmt.Errorf("net1 still exists after DEL")
			}
			return nil
		})).To(Succeed())

		// DEL is idempotent.
		out, err = cnitool("del")
		Expect(err).NotTo(HaveOccurred(), out)
	})

	It("reports a full range as a CNI error with vflab-ipam's code", func() {
		conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"vflnet","plugins":[{"type":"macvlan","master":"vfl-master",
			"ipam":{"type":"vflab-ipam","dataDir":%q,"range":"10.79.0.0/30","exclude":["10.79.0.1-10.79.0.2"]}}]}`, dataDir)
		Expect(os.WriteFile(filepath.Join(confDir, "vflnet.conflist"), []byte(conf), 0o600)).To(Succeed())
		out, err := cnitool("add")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring(`network "vflnet" range set 0: no free address`))
		// macvlan v1.10.0 leaks its link when IPAM fails (cmdAdd shadows err, so its cleanup defer never
		// fires); the runtime's DEL — which vflab-ipam answers with success, there being no reservation —
		// removes it.
		out, err = cnitool("del")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(podNS.Do(func(ns.NetNS) error {
			if _, err := netlink.LinkByName("net1"); err == nil {
				return fmt.Errorf("net1 left after DEL")
			}
			return nil
		})).To(Succeed())

		// Called directly, the plugin answers with the CNI error object and its code on stdout.
		cmd := exec.Command(filepath.Join(binDir, "vflab-ipam"))
		cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID=direct", "CNI_NETNS="+podNS.Path(),
			"CNI_IFNAME=net1", "CNI_PATH="+binDir)
		cmd.Stdin = strings.NewReader(fmt.Sprintf(`{"cniVersion":"1.1.0","name":"vflnet","ipam":{"type":"vflab-ipam",
			"dataDir":%q,"range":"10.79.0.0/30","exclude":["10.79.0.1-10.79.0.2"]}}`, dataDir))
		stdout, err := cmd.Output()
		Expect(err).To(HaveOccurred())
		var cniErr struct {
			Code uint   `json:"code"`
			Msg  string `json:"msg"`
		}
		Expect(json.Unmarshal(stdout, &cniErr)).To(Succeed(), string(stdout))
		Expect(cniErr.Code).To(BeEquivalentTo(100))
		Expect(cniErr.Msg).To(ContainSubstring("no free address"))
	})
})
