package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
	"github.com/vflab/vflab/ipam/ipamtest"
)

// The plugin against the real cluster store on an embedded etcd: the Store contract, the verbs, and
// a store that does not answer.
func TestClusterStore(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded etcd skipped with -short")
	}
	t.Parallel()
	ctx := context.Background()
	srv, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)

	t.Run("contract", func(t *testing.T) {
		ipamtest.StoreContract(t, func(t *testing.T) ipam.Store {
			st, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{srv.ClientURL()},
				Prefix: "/contract/" + strings.ReplaceAll(t.Name(), "/", "_") + "/"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		})
	})

	t.Run("property", func(t *testing.T) {
		st, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: []string{srv.ClientURL()}, Prefix: "/property/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		ipamtest.Property(t, st, ipam.LowestFree, 5, 2000)
	})

	t.Run("verbs", func(t *testing.T) {
		h := newHarness(t)
		h.p.OpenCluster = ClusterStore(nil)
		h.p.IsUnreachable = ClusterUnreachable
		h.p.Node = "node-1"
		conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"vflab-ipam","range":"10.90.0.0/29",
			"ipRanges":[{"range":"fd90::/64"}],"network_name":"cluster-verbs","etcd_endpoints":%q}}`, srv.ClientURL())
		r, err := h.add("c1", "eth0", conf, "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_UID=u")
		if err != nil {
			t.Fatal(err)
		}
		again, err := h.add("c1", "eth0", conf, "")
		if err != nil || ips(again) != ips(r) {
			t.Fatalf("re-ADD %v %v, want %v", ips(again), err, ips(r))
		}
		if err := h.p.Check(cmdArgs("c1", "eth0", conf, "")); err != nil {
			t.Fatal(err)
		}
		if err := h.p.Status(cmdArgs("", "", conf, "")); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := h.p.Del(cmdArgs("c1", "eth0", conf, "")); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.p.Check(cmdArgs("c1", "eth0", conf, "")); code(err) != types.ErrUnknownContainer {
			t.Fatalf("CHECK after DEL: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		h := newHarness(t)
		h.p.OpenCluster = ClusterStore(nil)
		h.p.IsUnreachable = ClusterUnreachable
		// A port nothing listens on.
		conf := `{"cniVersion":"1.1.0","name":"n","ipam":{"type":"vflab-ipam","range":"10.91.0.0/24","timeout":"1s",
			"etcd_endpoints":"http://127.0.0.1:9"}}`
		start := time.Now()
		_, err := h.add("c1", "eth0", conf, "")
		took := time.Since(start)
		if code(err) != types.ErrTryAgainLater || took > 3*time.Second {
			t.Fatalf("ADD with etcd down: %v (code %d) after %s, want code %d within the 1s deadline",
				err, code(err), took, types.ErrTryAgainLater)
		}
		t.Logf("ADD with etcd down failed after %s: %v", took.Round(time.Millisecond), err)
		if err := h.p.Status(cmdArgs("", "", conf, "")); code(err) != types.ErrPluginNotAvailable {
			t.Fatalf("STATUS with etcd down: %v", err)
		}
	})
}

// TestClusterTryAgain: both of the cluster store's "nothing written, try again later" errors map to
// CNI's ErrTryAgainLater; other store errors do not.
func TestClusterTryAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("add: %w", clusterstore.ErrUnreachable), true},
		{fmt.Errorf("add: %w", clusterstore.ErrContended), true},
		{errors.New("cluster store: decode: bad record"), false},
	} {
		if got := ClusterUnreachable(tc.err); got != tc.want {
			t.Errorf("ClusterUnreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
