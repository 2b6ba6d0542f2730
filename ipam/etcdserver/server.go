package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// DefaultReadyTimeout bounds how long Start waits for a member to join its cluster and serve clients.
const DefaultReadyTimeout = 30 * time.Second

// ErrNotReady is returned (wrapped) when a member does not become ready before its deadline.
var ErrNotReady = errors.New("etcd member not ready")

// TLSFiles names the PEM files of a member's client listener. An empty CertFile means plain HTTP.
type TLSFiles struct {
	CertFile      string // server certificate
	KeyFile       string // its private key
	TrustedCAFile string // CA that signs client certificates
	// ClientCertAuth makes the member reject clients without a certificate signed by TrustedCAFile.
	ClientCertAuth bool
}

func (t TLSFiles) enabled() bool { return t.CertFile != "" }

func (t TLSFiles) info() transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       t.CertFile,
		KeyFile:        t.KeyFile,
		TrustedCAFile:  t.TrustedCAFile,
		ClientCertAuth: t.ClientCertAuth,
	}
}

// Config describes one embedded member.
type Config struct {
	// Name of the member; "default" if empty.
	Name string
	// DataDir holds the member's WAL and database. Required. A restart with the same DataDir resumes.
	DataDir string
	// ListenClientURL is where clients connect, e.g. "http://127.0.0.1:2379". Empty: a free port on
	// 127.0.0.1 (https when ClientTLS is set).
	ListenClientURL string
	// ListenPeerURL is where other members connect. Empty: a free port on 127.0.0.1.
	ListenPeerURL string
	// ClientTLS secures the client listener.
	ClientTLS TLSFiles
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
	// LogLevel is the lowest level of etcd's records forwarded to Logger (nil: warn; etcd is chatty).
	LogLevel slog.Leveler
	// ReadyTimeout bounds Start's wait for readiness (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// TickMs and ElectionMs tune raft timing (etcd defaults 100 and 1000 when zero).
	TickMs, ElectionMs uint
	// UnsafeNoFsync disables fsync: faster, and loses data on a machine crash. For benchmarks and tests only.
	UnsafeNoFsync bool
}

// Server is a running embedded member. Its owner stops it with Close.
type Server struct {
	etcd      *embed.Etcd
	clientURL string
	peerURL   string
	stopping  *atomic.Bool // demotes etcd's shutdown noise (see newZapLogger)
	closeOnce sync.Once
}

// Start starts a single-member cluster (or resumes the one in cfg.DataDir) and waits until it serves clients.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := resolve(&cfg); err != nil {
		return nil, err
	}
	name := cfg.Name
	return start(ctx, cfg, name+"="+cfg.ListenPeerURL, embed.ClusterStateFlagNew)
}

// resolve fills in defaults and picks free loopback ports for unset URLs.
func resolve(cfg *Config) error {
	if cfg.DataDir == "" {
		return errors.New("etcd: data dir is required")
	}
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.LogLevel == nil {
		cfg.LogLevel = slog.LevelWarn
	}
	scheme := "http"
	if cfg.ClientTLS.enabled() {
		scheme = "https"
	}
	need := 0
	if cfg.ListenClientURL == "" {
		need++
	}
	if cfg.ListenPeerURL == "" {
		need++
	}
	ports, err := freePorts(need)
	if err != nil {
		return err
	}
	if cfg.ListenClientURL == "" {
		cfg.ListenClientURL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[0])
		ports = ports[1:]
	}
	if cfg.ListenPeerURL == "" {
		cfg.ListenPeerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	}
	return nil
}

// start runs one member with the given initial cluster ("name=peerURL,...") and state ("new"/"existing").
func start(ctx context.Context, cfg Config, initialCluster, state string) (*Server, error) {
	s, err := launch(cfg, initialCluster, state)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, cfg.ReadyTimeout); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// launch starts a member without waiting for it to be ready (a cluster member cannot be ready before a
// quorum of its peers runs).
func launch(cfg Config, initialCluster, state string) (*Server, error) {
	clientURL, err := url.Parse(cfg.ListenClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd: listen client URL %q: %w", cfg.ListenClientURL, err)
	}
	if clientURL.Scheme != "http" && clientURL.Scheme != "https" && clientURL.Scheme != "unix" && clientURL.Scheme != "unixs" {
		return nil, fmt.Errorf("etcd: listen client URL %q: scheme must be http, https, unix or unixs", cfg.ListenClientURL)
	}
	if (clientURL.Scheme == "https" || clientURL.Scheme == "unixs") != cfg.ClientTLS.enabled() {
		return nil, fmt.Errorf("etcd: listen client URL %q: https needs a server certificate and plain http must not have one", cfg.ListenClientURL)
	}
	peerURL, err := url.Parse(cfg.ListenPeerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd: listen peer URL %q: %w", cfg.ListenPeerURL, err)
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = initialCluster
	ec.InitialClusterToken = "vflab-" + initialCluster
	ec.ClusterState = state
	ec.ClientTLSInfo = cfg.ClientTLS.info()
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	if cfg.TickMs != 0 {
		ec.TickMs = cfg.TickMs
	}
	if cfg.ElectionMs != 0 {
		ec.ElectionMs = cfg.ElectionMs
	}
	ec.LogLevel = zapLevel(cfg.LogLevel.Level()).String()
	stopping := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(cfg.Logger, zapLevel(cfg.LogLevel.Level()), stopping))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("etcd: start member %q in %s: %w", cfg.Name, cfg.DataDir, err)
	}
	return &Server{etcd: e, clientURL: cfg.ListenClientURL, peerURL: cfg.ListenPeerURL, stopping: stopping}, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-s.etcd.Server.ReadyNotify():
		return nil
	case err := <-s.etcd.Err():
		return fmt.Errorf("etcd: member %q: %w", s.etcd.Config().Name, err)
	case <-timer.C:
		return fmt.Errorf("etcd: member %q after %s: %w", s.etcd.Config().Name, timeout, ErrNotReady)
	case <-ctx.Done():
		return fmt.Errorf("etcd: member %q: %w", s.etcd.Config().Name, ctx.Err())
	}
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.clientURL }

// Err delivers a fatal serving error, if one happens.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the member gracefully (a leader hands over leadership first) and waits until its listeners
// and goroutines are gone. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stopping.Store(true)
		s.etcd.Close()
	})
}

// Kill stops the member as a test's "crash": at once, without waiting for clients. It goes through the
// same order as Close — client gRPC servers first, then the server — because etcd offers no safe abrupt
// stop: HardStop while client requests are still being served closes the backend under them and panics
// inside etcd (bbolt Tx.Bucket on a closed transaction), taking the whole process down. So a killed
// leader still hands over leadership on its way down; a killed follower just stops. It is safe to call
// more than once, and after Close.
func (s *Server) Kill() { s.Close() }

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	default:
		return zapcore.DebugLevel
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free when returned; another process
// may still take one before etcd binds it, which Start reports as a listen error.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close() // only held to keep the ports distinct; nothing to lose
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcd: find a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
