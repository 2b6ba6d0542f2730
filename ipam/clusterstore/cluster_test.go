package clusterstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vflab/vflab/ipam"
	"github.com/vflab/vflab/ipam/clusterstore"
	"github.com/vflab/vflab/ipam/etcdserver"
)

// ledger is what the allocators were told: every acknowledged ADD that has not been followed by an
// acknowledged DEL. It fails the spec the moment an address is acknowledged to two live owners.
type ledger struct {
	mu     sync.Mutex
	live   map[string]map[ipam.Owner]netip.Addr // network → owner → address
	holder map[string]map[netip.Addr]ipam.Owner
	adds   int
	dels   int
}

func newLedger(networks ...string) *ledger {
	l := &ledger{live: map[string]map[ipam.Owner]netip.Addr{}, holder: map[string]map[netip.Addr]ipam.Owner{}}
	for _, n := range networks {
		l.live[n] = map[ipam.Owner]netip.Addr{}
		l.holder[n] = map[netip.Addr]ipam.Owner{}
	}
	return l
}

func (l *ledger) added(network string, o ipam.Owner, a netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.holder[network][a]; ok && h != o {
		return fmt.Errorf("%s: address %s acknowledged to %s while %s still holds it", network, a, o, h)
	}
	l.live[network][o] = a
	l.holder[network][a] = o
	l.adds++
	return nil
}

// deleting is called before a DEL is sent: from then on the address may be reused at any moment.
func (l *ledger) deleting(network string, o ipam.Owner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.live[network][o]
	delete(l.live[network], o)
	delete(l.holder[network], a)
	l.dels++
}

// retry runs op until it succeeds or fails with something other than an unreachable etcd or a lost race
// for a block (a kubelet retries a failed sandbox the same way), for at most a minute.
func retry(ctx context.Context, errs *atomic.Int64, op func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := op()
		again := errors.Is(err, clusterstore.ErrUnreachable) || errors.Is(err, clusterstore.ErrContended)
		if err == nil || !again || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		errs.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = Describe("a three-member etcd cluster under 16 concurrent allocators", Ordered, func() {
	var (
		cluster *etcdserver.Cluster
		openAt  func(ctx context.Context, node string, timeout time.Duration) *clusterstore.Store
	)

	BeforeAll(func(ctx SpecContext) {
		if testing.Short() {
			Skip("three-member etcd cluster: skipped under -short")
		}
		var err error
		cluster, err = etcdserver.StartCluster(ctx, etcdserver.ClusterConfig{Dir: GinkgoT().TempDir(), TickMs: 50, ElectionMs: 500})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		openAt = func(ctx context.Context, node string, timeout time.Duration) *clusterstore.Store {
			s, err := clusterstore.New(ctx, clusterstore.Config{Endpoints: cluster.Endpoints(), Node: node, RequestTimeout: timeout, DialTimeout: timeout,
				Networks: []ipam.Network{*network("chaos24", "10.20.0.0/24"), *network("chaos16", "10.30.0.0/16")}})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(s.Close)
			return s
		}
	})

	It("never gives an address twice and loses no acknowledged reservation while members are killed and restarted", func(ctx SpecContext) {
		nets := []*ipam.Network{network("chaos24", "10.20.0.0/24"), network("chaos16", "10.30.0.0/16")}
		led := newLedger("chaos24", "chaos16")
		var unreachable, exhausted atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for node := range 16 {
			s := openAt(ctx, fmt.Sprintf("node-%02d", node), 2*time.Second)
			wg.Go(func() {
				defer GinkgoRecover()
				rng := rand.New(rand.NewPCG(uint64(node), 1))
				var mine [2][]ipam.Owner
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					ni := seq % 2
					n := nets[ni]
					if len(mine[ni]) > 0 && rng.IntN(4) == 0 {
						k := rng.IntN(len(mine[ni]))
						o := mine[ni][k]
						mine[ni] = append(mine[ni][:k], mine[ni][k+1:]...)
						led.deleting(n.Name, o)
						Expect(retry(ctx, &unreachable, func() error { _, err := ipam.Del(ctx, s, n.Name, o); return err })).To(Succeed())
						continue
					}
					o := ipam.Owner{ContainerID: fmt.Sprintf("n%02d-%06d", node, seq), IfName: "net1"}
					var got []ipam.Allocation
					err := retry(ctx, &unreachable, func() error {
						var err error
						got, err = ipam.Add(ctx, s, n, request(o))
						return err
					})
					if errors.Is(err, ipam.ErrExhausted) {
						exhausted.Add(1)
						continue
					}
					Expect(err).NotTo(HaveOccurred())
					Expect(led.added(n.Name, o, got[0].Addr)).To(Succeed())
					mine[ni] = append(mine[ni], o)
				}
			})
		}

		// Chaos: kill the leader, bring it back, then kill and restart a follower.
		time.Sleep(1500 * time.Millisecond)
		leader := cluster.Leader()
		Expect(leader).To(BeNumerically(">=", 0))
		cluster.Kill(leader)
		time.Sleep(2 * time.Second)
		Expect(cluster.Restart(ctx, leader)).To(Succeed())
		time.Sleep(1500 * time.Millisecond)
		follower := (cluster.Leader() + 1) % 3
		cluster.Kill(follower)
		time.Sleep(1500 * time.Millisecond)
		Expect(cluster.Restart(ctx, follower)).To(Succeed())
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()

		// The store holds exactly the acknowledged, not deleted reservations.
		check := openAt(ctx, "auditor", 5*time.Second)
		for _, n := range nets {
			all, err := check.List(ctx, n.Name)
			Expect(err).NotTo(HaveOccurred())
			inStore := map[ipam.Owner]netip.Addr{}
			for _, r := range all {
				Expect(inStore).NotTo(HaveKey(r.Owner))
				inStore[r.Owner] = r.Addr
			}
			Expect(inStore).To(Equal(led.live[n.Name]), "network %s", n.Name)
			expectConsistent(ctx, check, n.Name)
		}
		AddReportEntry("chaos", fmt.Sprintf("acknowledged ADDs %d, DELs %d, retried unreachable calls %d, exhausted ADDs %d, live /24 %d, live /16 %d",
			led.adds, led.dels, unreachable.Load(), exhausted.Load(), len(led.live["chaos24"]), len(led.live["chaos16"])))
		// Throughput depends on the machine (a loaded 2-core VM under -race manages a few dozen ADDs): only
		// require that every allocator got through.
		Expect(led.adds).To(BeNumerically(">=", 16), "the allocators did real work")
	})

	It("fails ADD within its deadline when quorum is lost, and leaves nothing half-written", func(ctx SpecContext) {
		n := network("quorum", "10.40.0.0/24")
		s := openAt(ctx, "node-q", 2*time.Second)
		_, err := ipam.Add(ctx, s, n, request(owner(1)))
		Expect(err).NotTo(HaveOccurred())

		leader := cluster.Leader()
		Expect(leader).To(BeNumerically(">=", 0))
		other := (leader + 1) % 3
		cluster.Kill(leader)
		cluster.Kill(other)

		start := time.Now()
		_, err = ipam.Add(ctx, s, n, request(owner(2)))
		Expect(time.Since(start)).To(BeNumerically("<", 4*time.Second), "within the 2 s deadline, plus slack")
		Expect(err).To(MatchError(clusterstore.ErrUnreachable))
		Expect(err.Error()).To(MatchRegexp(`etcd unreachable after 2(\.\d)?s`))

		// The reservation transaction itself, with quorum gone.
		start = time.Now()
		err = s.Reserve(ctx, "quorum", []ipam.Reservation{{Addr: netip.MustParseAddr("10.40.0.200"), Owner: owner(3)}})
		Expect(time.Since(start)).To(BeNumerically("<", 4*time.Second))
		Expect(err).To(MatchError(clusterstore.ErrUnreachable))

		Expect(cluster.Restart(ctx, leader)).To(Succeed())
		Expect(cluster.Restart(ctx, other)).To(Succeed())

		check := openAt(ctx, "auditor", 5*time.Second)
		Eventually(func() error { _, err := check.List(ctx, "quorum"); return err }).WithTimeout(10 * time.Second).Should(Succeed())
		expectConsistent(ctx, check, "quorum")
		for _, o := range []ipam.Owner{owner(2), owner(3)} {
			held, err := check.Owned(ctx, "quorum", o)
			Expect(err).NotTo(HaveOccurred())
			Expect(len(held)).To(BeNumerically("<=", 1), "all or nothing for %s", o)
		}
		// The runtime retries the failed ADD: it now succeeds, once.
		a, err := ipam.Add(ctx, check, n, request(owner(2)))
		Expect(err).NotTo(HaveOccurred())
		again, err := ipam.Add(ctx, check, n, request(owner(2)))
		Expect(err).NotTo(HaveOccurred())
		Expect(again[0].Addr).To(Equal(a[0].Addr))
		expectConsistent(ctx, check, "quorum")
	})
})
