package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/memstore"
)

type harness struct {
	t   *testing.T
	p   *Plugin
	out *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	out := &bytes.Buffer{}
	return &harness{t: t, out: out, p: &Plugin{Stdout: out, Now: func() time.Time { return time.Unix(1700000000, 0) }}}
}

func cmdArgs(id, ifname, conf, cniArgs string) *skel.CmdArgs {
	return &skel.CmdArgs{ContainerID: id, IfName: ifname, Netns: "/var/run/netns/x", StdinData: []byte(conf), Args: cniArgs}
}

// add runs ADD and decodes the result.
func (h *harness) add(id, ifname, conf, cniArgs string) (*current.Result, error) {
	h.out.Reset()
	if err := h.p.Add(cmdArgs(id, ifname, conf, cniArgs)); err != nil {
		return nil, err
	}
	var r current.Result
	if err := json.Unmarshal(h.out.Bytes(), &r); err != nil {
		h.t.Fatalf("result %q: %v", h.out.String(), err)
	}
	return &r, nil
}

func ips(r *current.Result) string {
	var s []string
	for _, ip := range r.IPs {
		g := ""
		if ip.Gateway != nil {
			g = " gw " + ip.Gateway.String()
		}
		s = append(s, ip.Address.String()+g)
	}
	return strings.Join(s, ", ")
}

func code(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func nodeConf(t *testing.T, ipamFields string) string {
	return fmt.Sprintf(`{"cniVersion":"1.1.0","name":"net1","type":"macvlan","ipam":{"type":"vflab-ipam","dataDir":%q,%s}}`,
		t.TempDir(), ipamFields)
}

func TestAddCheckDelNodeStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	conf := nodeConf(t, `"ranges":[[{"subnet":"10.10.0.0/29"}],[{"subnet":"fd10::/120"}]],"routes":[{"dst":"0.0.0.0/0"}],
		"dns":{"nameservers":["10.10.0.1"]}`)
	r, err := h.add("c1", "net1", conf, "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_UID=u")
	if err != nil {
		t.Fatal(err)
	}
	if got := ips(r); got != "10.10.0.2/29 gw 10.10.0.1, fd10::2/120 gw fd10::1" {
		t.Fatalf("ADD = %s", got)
	}
	if len(r.Routes) != 1 || len(r.DNS.Nameservers) != 1 || r.CNIVersion != "1.1.0" {
		t.Fatalf("ADD result %+v", r)
	}
	again, err := h.add("c1", "net1", conf, "")
	if err != nil || ips(again) != ips(r) {
		t.Fatalf("re-ADD = %v, %v", ips(again), err)
	}
	prev, _ := json.Marshal(r)
	withPrev := strings.TrimSuffix(conf, "}") + `,"prevResult":` + string(prev) + `}`
	if err := h.p.Check(cmdArgs("c1", "net1", withPrev, "")); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	other := &current.Result{CNIVersion: "1.1.0", IPs: r.IPs[1:]}
	prev, _ = json.Marshal(other)
	if err := h.p.Check(cmdArgs("c1", "net1", strings.TrimSuffix(conf, "}")+`,"prevResult":`+string(prev)+`}`, "")); err == nil {
		t.Fatal("CHECK passed with an address missing from prevResult")
	}
	for range 2 {
		if err := h.p.Del(cmdArgs("c1", "net1", conf, "")); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	if err := h.p.Check(cmdArgs("c1", "net1", conf, "")); code(err) != types.ErrUnknownContainer {
		t.Fatalf("CHECK after DEL: %v", err)
	}
}

func TestErrorsCarryCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	conf := nodeConf(t, `"range":"10.20.0.0/30"`) // hosts .1 .2
	for _, id := range []string{"a", "b"} {
		if _, err := h.add(id, "eth0", conf, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.add("c", "eth0", conf, "")
	if code(err) != CodeExhausted || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("exhausted: %v (code %d)", err, code(err))
	}
	if err := h.p.Status(cmdArgs("", "", conf, "")); code(err) != types.ErrPluginNotAvailable {
		t.Fatalf("STATUS on a full network: %v", err)
	}
	_, err = h.add("d", "eth0", nodeConf(t, `"range":"10.20.0.0/30"`), "IP=10.20.0.9")
	if code(err) != CodeNotInRange {
		t.Fatalf("static outside the range: %v", err)
	}
	_, err = h.add("d", "eth0", conf, "IP=10.20.0.1")
	if code(err) != CodeAddressInUse {
		t.Fatalf("static in use: %v", err)
	}
	_, err = h.add("d", "eth0", nodeConf(t, `"ranges":[[{"subnet":"10.0.0.0/33"}]]`), "")
	if code(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), `ipam.ranges[0][0].subnet: "10.0.0.0/33" is not a CIDR`) {
		t.Fatalf("bad config: %v", err)
	}
	_, err = h.add("d", "eth0", nodeConf(t, `"range":"10.0.0.0/24","store":"cluster","etcd_endpoints":"http://127.0.0.1:1"`), "")
	if code(err) != types.ErrInvalidNetworkConfig {
		t.Fatalf("cluster store without an opener: %v", err)
	}
}

func TestStaticAndStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	conf := nodeConf(t, `"range":"10.30.0.0/24","ipRanges":[{"range":"fd30::/64"}]`)
	r, err := h.add("s", "eth0", strings.TrimSuffix(conf, "}")+`,"runtimeConfig":{"ips":["fd30::99/64"]}}`, "IP=10.30.0.77")
	if err != nil || ips(r) != "10.30.0.77/24, fd30::99/64" {
		t.Fatalf("static ADD = %v, %v", r, err)
	}
	if err := h.p.Status(cmdArgs("", "", conf, "")); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
}

func TestGC(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	conf := nodeConf(t, `"range":"10.40.0.0/24"`)
	for _, id := range []string{"keep", "drop1", "drop2"} {
		if _, err := h.add(id, "eth0", conf, ""); err != nil {
			t.Fatal(err)
		}
	}
	gc := strings.TrimSuffix(conf, "}") + `,"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]}`
	if err := h.p.GC(cmdArgs("", "", gc, "")); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Check(cmdArgs("keep", "eth0", conf, "")); err != nil {
		t.Fatalf("valid attachment lost: %v", err)
	}
	if err := h.p.Check(cmdArgs("drop1", "eth0", conf, "")); code(err) != types.ErrUnknownContainer {
		t.Fatalf("invalid attachment kept: %v", err)
	}
	// An empty list is meaningful: release everything.
	if err := h.p.GC(cmdArgs("", "", strings.TrimSuffix(conf, "}")+`,"cni.dev/valid-attachments":[]}`, "")); err != nil {
		t.Fatal(err)
	}
	if err := h.p.Check(cmdArgs("keep", "eth0", conf, "")); code(err) != types.ErrUnknownContainer {
		t.Fatalf("GC with an empty list kept %v", err)
	}
}

func TestClusterStoreSeam(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mem := memstore.New()
	var opened ClusterConfig
	h.p.OpenCluster = func(_ context.Context, cfg ClusterConfig) (ipam.Store, io.Closer, error) {
		opened = cfg
		return mem, io.NopCloser(nil), nil
	}
	h.p.Node = "node-a"
	conf := `{"cniVersion":"1.0.0","name":"n","ipam":{"type":"vflab-ipam","range":"10.50.0.0/24","network_name":"blue",
		"etcd_endpoints":"https://e1:2379,https://e2:2379","etcd_username":"u","etcd_password":"p"}}`
	r, err := h.add("c1", "eth0", conf, "")
	if err != nil || ips(r) != "10.50.0.1/24" {
		t.Fatalf("ADD via cluster store: %v %v", r, err)
	}
	if opened.Node != "node-a" || len(opened.Etcd.Endpoints) != 2 || opened.Etcd.Username != "u" || opened.Network.Name != "blue" {
		t.Fatalf("opened with %+v", opened)
	}
	if held, _ := mem.Owned(context.Background(), "blue", ipam.Owner{ContainerID: "c1", IfName: "eth0"}); len(held) != 1 {
		t.Fatalf("reservation not under network_name: %v", held)
	}
	// A failing store is reported by DEL, not swallowed.
	mem.Fail = func(op string) error {
		if op == "release" {
			return fmt.Errorf("etcd: %w", ErrUnreachable)
		}
		return nil
	}
	if err := h.p.Del(cmdArgs("c1", "eth0", conf, "")); code(err) != types.ErrTryAgainLater {
		t.Fatalf("DEL with an unreachable store: %v", err)
	}
	h.p.OpenCluster = func(ctx context.Context, _ ClusterConfig) (ipam.Store, io.Closer, error) {
		<-ctx.Done()
		return nil, nil, ctx.Err()
	}
	start := time.Now()
	_, err = h.add("c2", "eth0", strings.Replace(conf, `"range"`, `"timeout":"100ms","range"`, 1), "")
	if code(err) != types.ErrTryAgainLater || time.Since(start) > 2*time.Second {
		t.Fatalf("ADD against a store that never answers: %v after %s", err, time.Since(start))
	}
}

func TestOldVersionsAndResolvConf(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte("# c\nnameserver 1.1.1.1\nsearch a.b c.d\noptions ndots:2\ndomain x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{"cniVersion":"0.3.1","name":"old","ipam":{"type":"vflab-ipam","dataDir":%q,"subnet":"10.60.0.0/24","resolvConf":%q}}`, t.TempDir(), rc)
	h.out.Reset()
	if err := h.p.Add(cmdArgs("c", "eth0", conf, "")); err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(h.out.Bytes(), &r); err != nil || r["cniVersion"] != "0.3.1" {
		t.Fatalf("0.3.1 result %s: %v", h.out, err)
	}
	dns, _ := json.Marshal(r["dns"])
	if string(dns) != `{"domain":"x","nameservers":["1.1.1.1"],"options":["ndots:2"],"search":["a.b","c.d"]}` {
		t.Fatalf("DNS from resolvConf missing: %s", h.out)
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 10.0.0.1\nsearch a b\noptions ndots:5\ndomain d\n"))
	f.Add([]byte("\n#\n;x\nnameserver\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := parseResolvConf(b)
		for _, n := range d.Nameservers {
			if n == "" || strings.ContainsAny(n, " \t\n") {
				t.Fatalf("bad nameserver %q", n)
			}
		}
	})
}
