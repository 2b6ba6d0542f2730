package etcdserver_test

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vflab/vflab/ipam/etcdserver"
)

func client(endpoints ...string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cli.Close)
	return cli
}

func put(ctx context.Context, cli *clientv3.Client, k, v string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, k, v)
	return err
}

func get(ctx context.Context, cli *clientv3.Client, k string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, k)
	Expect(err).NotTo(HaveOccurred())
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

var _ = Describe("a single member", func() {
	It("serves on a free loopback port, keeps data across a restart and frees its port on Close", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		s, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: dir, UnsafeNoFsync: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		u, err := url.Parse(s.ClientURL())
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Scheme).To(Equal("http"))
		Expect(u.Hostname()).To(Equal("127.0.0.1"))

		Expect(put(ctx, client(s.ClientURL()), "k", "v1")).To(Succeed())
		s.Close()
		s.Close() // twice is fine

		l, err := net.Listen("tcp", u.Host)
		Expect(err).NotTo(HaveOccurred(), "the client port is released")
		Expect(l.Close()).To(Succeed())

		s2, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: dir, ListenClientURL: s.ClientURL(), UnsafeNoFsync: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s2.Close)
		Expect(get(ctx, client(s2.ClientURL()), "k")).To(Equal("v1"))
	})

	It("forwards etcd's warnings to the injected logger", func(ctx SpecContext) {
		var buf syncBuffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: GinkgoT().TempDir(), Logger: logger, LogLevel: slog.LevelInfo, UnsafeNoFsync: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(buf.String()).To(ContainSubstring("level=INFO"))
		s.Close()
		Expect(buf.String()).NotTo(ContainSubstring("closing etcd server"), "shutdown records are demoted to debug")
	})

	It("does not report its own shutdown as errors", func(ctx SpecContext) {
		var buf syncBuffer
		logger := slog.New(slog.NewTextHandler(&buf, nil))
		s, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: GinkgoT().TempDir(), Logger: logger, UnsafeNoFsync: true})
		Expect(err).NotTo(HaveOccurred())
		s.Close()
		Expect(buf.String()).NotTo(ContainSubstring("level=ERROR"))
	})

	It("rejects bad configuration with an error naming it", func(ctx SpecContext) {
		_, err := etcdserver.Start(ctx, etcdserver.Config{})
		Expect(err).To(MatchError(ContainSubstring("data dir is required")))
		_, err = etcdserver.Start(ctx, etcdserver.Config{DataDir: GinkgoT().TempDir(), ListenClientURL: "https://127.0.0.1:0"})
		Expect(err).To(MatchError(ContainSubstring("https needs a server certificate")))
		_, err = etcdserver.Start(ctx, etcdserver.Config{DataDir: GinkgoT().TempDir(), ListenClientURL: "ftp://127.0.0.1:1"})
		Expect(err).To(MatchError(ContainSubstring("scheme must be")))
	})

	It("reports a port that is already taken", func(ctx SpecContext) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(l.Close)
		_, err = etcdserver.Start(ctx, etcdserver.Config{DataDir: GinkgoT().TempDir(), ListenClientURL: "http://" + l.Addr().String()})
		Expect(err).To(MatchError(ContainSubstring("address already in use")))
	})
})

var _ = Describe("a three-member cluster in one process", func() {
	It("keeps serving with one member down and lets it rejoin", func(ctx SpecContext) {
		if testing.Short() {
			Skip("three-member cluster: skipped under -short")
		}
		c, err := etcdserver.StartCluster(ctx, etcdserver.ClusterConfig{Dir: GinkgoT().TempDir(), TickMs: 50, ElectionMs: 500, UnsafeNoFsync: true})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)
		Expect(c.Endpoints()).To(HaveLen(3))
		for _, ep := range c.Endpoints() {
			Expect(ep).To(HavePrefix("http://127.0.0.1:"))
		}
		cli := client(c.Endpoints()...)
		Expect(put(ctx, cli, "a", "1")).To(Succeed())

		c.Kill(0)
		Expect(put(ctx, cli, "b", "2")).To(Succeed())
		Expect(c.Restart(ctx, 0)).To(Succeed())

		only0 := client(c.Endpoints()[0])
		Eventually(func() string { return get(ctx, only0, "b") }).WithTimeout(10 * time.Second).Should(Equal("2"))

		c.Kill(1)
		c.Kill(2)
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err = only0.Put(qctx, "c", "3")
		Expect(err).To(HaveOccurred(), "no quorum, no write")
		Expect(strings.Join(c.Endpoints(), ",")).To(ContainSubstring(","))
	})
})
