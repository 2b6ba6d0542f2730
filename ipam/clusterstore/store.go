package clusterstore

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vflab/vflab/ipam"
)

// Defaults for Config.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultPrefix         = "/vflab/ipam/"
)

// maxTxnRetries bounds how often Reserve, Release and Import retry after a concurrent change of a block
// bitmap or an owner record (each retry uses the values the failed transaction returned, so it is one round
// trip). From the fourth attempt on, a short random pause (backoff) spreads out writers fighting over one
// block; the caller's context bounds the whole loop.
const maxTxnRetries = 256

// backoff pauses before retry attempt n (none for the first three), at most ~20 ms, or until ctx ends.
func backoff(ctx context.Context, n int) error {
	if n < 3 {
		return ctx.Err()
	}
	d := time.Duration(rand.Int64N(int64(min(n, 20)) * int64(time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Config says how to reach etcd and where the store's keys live.
type Config struct {
	// Endpoints are etcd client URLs, e.g. "https://10.0.0.1:2379". Required.
	Endpoints []string
	// CertFile and KeyFile are a TLS client certificate and key (PEM); CAFile the CA that signed the
	// servers' certificates. Any of them set (or an https endpoint) turns TLS on.
	CertFile, KeyFile, CAFile string
	// Username and Password authenticate with etcd's auth (may be combined with TLS).
	Username, Password string
	// DialTimeout bounds connecting (default 5 s); RequestTimeout bounds every store call (default 5 s).
	DialTimeout, RequestTimeout time.Duration
	// Prefix is prepended to every key (default "/vflab/ipam/").
	Prefix string
	// Node names the node this store runs on; it keys the round-robin cursors. Empty shares one cursor.
	Node string
	// Networks optionally tells the store the networks it will allocate in (as the plugin parsed them).
	// For those, a node's first cursor starts at a block picked by hashing the node's name instead of at
	// the head of the range, so nodes fill different blocks and rarely contend, and Load returns only the
	// window of blocks a round-robin allocation searches, so its cost does not grow with how full the
	// range is (see spread.go). Without it every Load returns every used address: correct, O(used).
	// The window suits one-shot callers (ipam.Add, as the CNI plugin runs it). A long-lived pool built
	// from one window (ipam.Allocator) does not see used addresses outside it and may lose many races
	// once it walks past the window: give such callers a store without Networks.
	Networks []ipam.Network
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// ErrContended matches the error of a Reserve, Release or Import that lost the race for a block bitmap
// maxTxnRetries times in a row (many writers on one block): nothing was written, and the caller may try
// again, as a kubelet retries a failed sandbox.
var ErrContended = errors.New("block bitmaps kept changing")

// ErrUnreachable matches every error caused by etcd not answering within the deadline.
var ErrUnreachable = errors.New("etcd unreachable")

// UnreachableError says etcd did not answer a call in time. It matches ErrUnreachable.
type UnreachableError struct {
	After     time.Duration // how long the call waited
	Endpoints []string
	Err       error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("etcd unreachable after %s (endpoints %s): %v", e.After, strings.Join(e.Endpoints, ","), e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Store is an ipam.Store on etcd. It is safe for concurrent use; its owner calls Close.
type Store struct {
	cli     *clientv3.Client
	cfg     Config
	log     *slog.Logger
	timeout time.Duration

	networks map[string]ipam.Network // canonical copies of Config.Networks

	mu    sync.Mutex
	cache map[string]blockState // block key → last value and ModRevision seen
}

var _ ipam.Store = (*Store)(nil)

// blockState is a block bitmap as last read or written, with its ModRevision (0: key absent).
type blockState struct {
	rev  int64
	bits bitmap
}

// New connects to etcd. Without a username it does not wait for a member to answer (the first call reports
// an unreachable cluster within its deadline); with one it authenticates first, within DialTimeout.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("cluster store: etcd endpoints: none given")
	}
	for _, ep := range cfg.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("cluster store: etcd endpoint %q: want a URL like https://host:2379", ep)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, fmt.Errorf("cluster store: etcd TLS: cert file %q and key file %q must be given together", cfg.CertFile, cfg.KeyFile)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	networks, err := canonicalNetworks(cfg.Networks)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var tlsCfg *tls.Config
	if cfg.CertFile != "" || cfg.CAFile != "" || hasHTTPS(cfg.Endpoints) {
		info := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.CAFile}
		c, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster store: etcd TLS (cert %q, key %q, ca %q): %w", cfg.CertFile, cfg.KeyFile, cfg.CAFile, err)
		}
		tlsCfg = c
	}
	start := time.Now()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         tlsCfg,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Logger:      zap.NewNop(),
		Context:     context.WithoutCancel(ctx),
	})
	if err != nil {
		if unreachable(err) {
			return nil, &UnreachableError{After: time.Since(start).Round(100 * time.Millisecond), Endpoints: cfg.Endpoints,
				Err: fmt.Errorf("connect: %w", err)}
		}
		return nil, fmt.Errorf("cluster store: connect to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &Store{cli: cli, cfg: cfg, log: logger, timeout: cfg.RequestTimeout, networks: networks, cache: map[string]blockState{}}, nil
}

func hasHTTPS(eps []string) bool {
	for _, ep := range eps {
		if strings.HasPrefix(ep, "https://") || strings.HasPrefix(ep, "unixs://") {
			return true
		}
	}
	return false
}

// Close releases the client connection.
func (s *Store) Close() error { return s.cli.Close() }

// Client exposes the etcd client (tests and audits).
func (s *Store) Client() *clientv3.Client { return s.cli }

// call runs op under the request deadline and maps a missed deadline to an *UnreachableError.
func (s *Store) call(ctx context.Context, what string, op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	err := op(ctx)
	if err == nil {
		return nil
	}
	if unreachable(err) {
		return &UnreachableError{After: time.Since(start).Round(100 * time.Millisecond), Endpoints: s.cfg.Endpoints,
			Err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("cluster store: %s: %w", what, err)
}

func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail), errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrLeaderChanged):
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) && (ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded) {
		return true // e.g. "etcdserver: server stopped" from a member shutting down
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	// A member stopping under a request answers with raft's own error, code Unknown.
	return strings.Contains(err.Error(), "raft: stopped")
}

// keys

func (s *Store) netPrefix(network string) string {
	return s.cfg.Prefix + "net/" + url.PathEscape(network) + "/"
}
func (s *Store) ipKey(network string, a netip.Addr) string {
	return s.netPrefix(network) + "ip/" + a.String()
}
func (s *Store) ownerKey(network string, o ipam.Owner) string {
	return s.netPrefix(network) + "owner/" + url.PathEscape(o.ContainerID) + "/" + url.PathEscape(o.IfName)
}
func (s *Store) blockPrefix(network string) string { return s.netPrefix(network) + "block/" }
func (s *Store) blockKey(network string, set int, start netip.Addr) string {
	return s.blockPrefix(network) + strconv.Itoa(set) + "/" + start.String()
}
func (s *Store) cursorPrefix(network string) string {
	node := s.cfg.Node
	if node == "" {
		node = "_"
	}
	return s.netPrefix(network) + "cursor/" + url.PathEscape(node) + "/"
}
func (s *Store) networkKey(network string) string {
	return s.cfg.Prefix + "networks/" + url.PathEscape(network)
}

// record is a reservation as stored in etcd.
type record struct {
	Addr         netip.Addr `json:"addr"`
	RangeSet     int        `json:"rangeSet"`
	ContainerID  string     `json:"containerID"`
	IfName       string     `json:"ifName"`
	PodNamespace string     `json:"podNamespace,omitempty"`
	PodName      string     `json:"podName,omitempty"`
	PodUID       string     `json:"podUID,omitempty"`
	Created      time.Time  `json:"created"`
}

func toRecord(r ipam.Reservation) record {
	return record{Addr: r.Addr, RangeSet: r.RangeSet, ContainerID: r.Owner.ContainerID, IfName: r.Owner.IfName,
		PodNamespace: r.Pod.Namespace, PodName: r.Pod.Name, PodUID: r.Pod.UID, Created: r.Created}
}

func (r record) reservation() ipam.Reservation {
	return ipam.Reservation{Addr: r.Addr, RangeSet: r.RangeSet,
		Owner:   ipam.Owner{ContainerID: r.ContainerID, IfName: r.IfName},
		Pod:     ipam.PodRef{Namespace: r.PodNamespace, Name: r.PodName, UID: r.PodUID},
		Created: r.Created}
}

func decodeRecords(key string, v []byte) ([]record, error) {
	var rs []record
	if err := json.Unmarshal(v, &rs); err != nil {
		return nil, fmt.Errorf("cluster store: decode %s: %w", key, err)
	}
	return rs, nil
}

// blocks: 256 addresses each, aligned on the last byte of the address.

const blockSize = 256

type bitmap [blockSize / 8]byte

func (b *bitmap) set(i int)      { b[i/8] |= 1 << (i % 8) }
func (b *bitmap) clear(i int)    { b[i/8] &^= 1 << (i % 8) }
func (b *bitmap) has(i int) bool { return b[i/8]&(1<<(i%8)) != 0 }
func (b *bitmap) empty() bool    { return *b == bitmap{} }
func (b *bitmap) count() int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

func blockOf(a netip.Addr) (start netip.Addr, bit int) {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		bit = int(b[3])
		b[3] = 0
		return netip.AddrFrom4(b), bit
	}
	b := a.As16()
	bit = int(b[15])
	b[15] = 0
	return netip.AddrFrom16(b), bit
}

func addrInBlock(start netip.Addr, bit int) netip.Addr {
	if start.Is4() {
		b := start.As4()
		b[3] = byte(bit)
		return netip.AddrFrom4(b)
	}
	b := start.As16()
	b[15] = byte(bit)
	return netip.AddrFrom16(b)
}

// commit runs one conditional transaction (Then when every cmp holds, else elseOps) under the store's
// deadline. When it succeeds, the block bitmaps it wrote (updated) are remembered at the new revision; an
// empty bitmap is one the transaction deleted, so it is remembered as absent.
func (s *Store) commit(ctx context.Context, what string, cmps []clientv3.Cmp, ops, elseOps []clientv3.Op, updated map[string]bitmap) (*clientv3.TxnResponse, error) {
	var resp *clientv3.TxnResponse
	err := s.call(ctx, what, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(elseOps...).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp.Succeeded {
		for bk, nb := range updated {
			if nb.empty() {
				s.remember(bk, blockState{})
			} else {
				s.remember(bk, blockState{rev: resp.Header.Revision, bits: nb})
			}
		}
	}
	return resp, nil
}

func (s *Store) cached(key string) blockState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache[key]
}

func (s *Store) remember(key string, st blockState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.rev == 0 {
		delete(s.cache, key)
		return
	}
	if old, ok := s.cache[key]; ok && old.rev > st.rev {
		return
	}
	s.cache[key] = st
}

// Load returns the used addresses of the network (from the block bitmaps: Addr and RangeSet only, which is
// all the allocator needs) and this node's round-robin cursors, read at one revision.
//
// For a network named in Config.Networks with the round-robin policy, it returns only the window of blocks
// the allocator will search: from the cursor's block forward until enough free addresses are covered (see
// window). That keeps the cost of an allocation flat however full the range is; an address outside the
// window that the allocator wrongly believes free is refused by Reserve and re-picked, so correctness
// never depends on it.
func (s *Store) Load(ctx context.Context, network string) (*ipam.State, error) {
	var resp *clientv3.TxnResponse
	err := s.call(ctx, "load "+network, func(ctx context.Context) error {
		var err error
		// Serializable: answered by the member the client talks to, without a quorum round. A stale
		// answer costs at most a retry (Reserve compares every block it touches).
		resp, err = s.cli.Txn(ctx).Then(
			clientv3.OpGet(s.blockPrefix(network), clientv3.WithPrefix(), clientv3.WithSerializable()),
			clientv3.OpGet(s.cursorPrefix(network), clientv3.WithPrefix(), clientv3.WithSerializable()),
		).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	st := &ipam.State{LastReserved: map[int]netip.Addr{}}
	cp := s.cursorPrefix(network)
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		set, err := strconv.Atoi(strings.TrimPrefix(string(kv.Key), cp))
		if err != nil {
			return nil, fmt.Errorf("cluster store: cursor key %s: %w", kv.Key, err)
		}
		a, err := netip.ParseAddr(string(kv.Value))
		if err != nil {
			return nil, fmt.Errorf("cluster store: cursor %s: %w", kv.Key, err)
		}
		st.LastReserved[set] = a
	}
	hint, hinted := s.networks[network]
	if hinted {
		for si, set := range hint.RangeSets {
			if _, ok := st.LastReserved[si]; ok {
				continue
			}
			if c, ok := seedCursor(s.cfg.Node, network, si, set); ok {
				st.LastReserved[si] = c
			}
		}
	}
	var blocks []block
	used := 0
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		key := string(kv.Key)
		set, start, err := s.parseBlockKey(network, key)
		if err != nil {
			return nil, err
		}
		if len(kv.Value) != len(bitmap{}) {
			return nil, fmt.Errorf("cluster store: block %s: %d bytes, want %d", key, len(kv.Value), len(bitmap{}))
		}
		b := block{set: set, start: start}
		copy(b.bits[:], kv.Value)
		s.remember(key, blockState{rev: kv.ModRevision, bits: b.bits})
		used += b.bits.count()
		blocks = append(blocks, b)
	}
	if hinted && hint.Policy != ipam.LowestFree {
		blocks = window(blocks, st.LastReserved, hint.RangeSets)
		used = 0
		for _, b := range blocks {
			used += b.bits.count()
		}
	}
	st.Reservations = make([]ipam.Reservation, 0, used)
	for _, b := range blocks {
		for i := range blockSize {
			if b.bits.has(i) {
				st.Reservations = append(st.Reservations, ipam.Reservation{Addr: addrInBlock(b.start, i), RangeSet: b.set})
			}
		}
	}
	return st, nil
}

func (s *Store) parseBlockKey(network, key string) (int, netip.Addr, error) {
	rest := strings.TrimPrefix(key, s.blockPrefix(network))
	setStr, addrStr, ok := strings.Cut(rest, "/")
	set, err1 := strconv.Atoi(setStr)
	start, err2 := netip.ParseAddr(addrStr)
	if !ok || err1 != nil || err2 != nil {
		return 0, netip.Addr{}, fmt.Errorf("cluster store: malformed block key %s", key)
	}
	return set, start, nil
}

// Reserve records rs in one transaction conditioned on every address key and the owner record being absent
// and the touched block bitmaps being unchanged since read. A concurrent change of a bitmap is retried
// with the values the failed transaction returned; a taken address fails with an *ipam.AddressInUseError
// naming its holder, and so does an owner that already holds reservations (naming one of them).
func (s *Store) Reserve(ctx context.Context, network string, rs []ipam.Reservation) error {
	if len(rs) == 0 {
		return nil
	}
	owner := rs[0].Owner
	seen := map[netip.Addr]bool{}
	for _, r := range rs {
		if !r.Addr.IsValid() {
			return fmt.Errorf("cluster store: reserve in %s: invalid address", network)
		}
		if r.Owner != owner {
			return fmt.Errorf("cluster store: reserve in %s: reservations of two owners (%s, %s) in one call", network, owner, r.Owner)
		}
		if seen[r.Addr.Unmap()] {
			return fmt.Errorf("cluster store: reserve in %s: address %s twice", network, r.Addr)
		}
		seen[r.Addr.Unmap()] = true
	}
	ownerKey := s.ownerKey(network, owner)
	ipKeys := make([]string, len(rs))
	newRecs := make([]record, len(rs))
	var blockKeys []string
	bits := map[string][]int{}
	for i, r := range rs {
		r.Addr = r.Addr.Unmap()
		ipKeys[i] = s.ipKey(network, r.Addr)
		newRecs[i] = toRecord(r)
		start, bit := blockOf(r.Addr)
		bk := s.blockKey(network, r.RangeSet, start)
		if _, ok := bits[bk]; !ok {
			blockKeys = append(blockKeys, bk)
		}
		bits[bk] = append(bits[bk], bit)
	}
	blocks := map[string]blockState{}
	for _, bk := range blockKeys {
		blocks[bk] = s.cached(bk)
	}
	for attempt := range maxTxnRetries {
		if attempt > 0 {
			s.log.Debug("cluster store: a block bitmap changed under reserve, retrying", "network", network, "owner", owner.String(), "attempt", attempt)
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("cluster store: reserve in %s for %s: %w", network, owner, err)
			}
		}
		cmps := make([]clientv3.Cmp, 0, len(ipKeys)+1+len(blockKeys))
		ops := make([]clientv3.Op, 0, 2*len(ipKeys)+len(blockKeys)+2)
		for i, k := range ipKeys {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
			v, _ := json.Marshal(newRecs[i])
			ops = append(ops, clientv3.OpPut(k, string(v)))
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(ownerKey), "=", 0))
		ov, _ := json.Marshal(newRecs)
		ops = append(ops, clientv3.OpPut(ownerKey, string(ov)))
		updated := map[string]bitmap{}
		for _, bk := range blockKeys {
			b := blocks[bk]
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(bk), "=", b.rev))
			nb := b.bits
			for _, bit := range bits[bk] {
				nb.set(bit)
			}
			updated[bk] = nb
			ops = append(ops, clientv3.OpPut(bk, string(nb[:])))
		}
		cp := s.cursorPrefix(network)
		for _, r := range rs {
			ops = append(ops, clientv3.OpPut(cp+strconv.Itoa(r.RangeSet), r.Addr.Unmap().String()))
		}
		ops = append(ops, clientv3.OpPut(s.networkKey(network), ""))
		elseOps := make([]clientv3.Op, 0, len(ipKeys)+1+len(blockKeys))
		for _, k := range ipKeys {
			elseOps = append(elseOps, clientv3.OpGet(k))
		}
		elseOps = append(elseOps, clientv3.OpGet(ownerKey))
		for _, bk := range blockKeys {
			elseOps = append(elseOps, clientv3.OpGet(bk))
		}

		resp, err := s.commit(ctx, "reserve in "+network, cmps, ops, elseOps, updated)
		if err != nil {
			return err
		}
		if resp.Succeeded {
			return nil
		}
		// Lost a race: find out whether an address is taken (final) or only a bitmap or the owner record
		// moved (retry with the fresh values).
		for i := range ipKeys {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 {
				continue
			}
			e := &ipam.AddressInUseError{Addr: rs[i].Addr.Unmap()}
			var holder record
			if json.Unmarshal(kvs[0].Value, &holder) == nil {
				e.Owner = ipam.Owner{ContainerID: holder.ContainerID, IfName: holder.IfName}
			}
			return e
		}
		if kvs := resp.Responses[len(ipKeys)].GetResponseRange().Kvs; len(kvs) > 0 {
			// A concurrent ADD of the same attachment reserved first: report its address as held by
			// this owner, so the caller returns what it holds.
			recs, err := decodeRecords(ownerKey, kvs[0].Value)
			if err != nil {
				return err
			}
			e := &ipam.AddressInUseError{Owner: owner}
			if len(recs) > 0 {
				e.Addr = recs[0].Addr
			}
			return e
		}
		for j, bk := range blockKeys {
			var b blockState
			if kvs := resp.Responses[len(ipKeys)+1+j].GetResponseRange().Kvs; len(kvs) > 0 {
				b.rev = kvs[0].ModRevision
				copy(b.bits[:], kvs[0].Value)
			}
			blocks[bk] = b
			s.remember(bk, b)
		}
	}
	return fmt.Errorf("cluster store: reserve in %s for %s: %w under %d attempts", network, owner, ErrContended, maxTxnRetries)
}

// Owned returns the owner's reservations (one read of its owner record).
func (s *Store) Owned(ctx context.Context, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	recs, _, err := s.owned(ctx, network, owner)
	if err != nil {
		return nil, err
	}
	return reservations(recs), nil
}

func (s *Store) owned(ctx context.Context, network string, owner ipam.Owner) ([]record, int64, error) {
	key := s.ownerKey(network, owner)
	var resp *clientv3.GetResponse
	err := s.call(ctx, "look up "+owner.String()+" in "+network, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, key)
		return err
	})
	if err != nil || len(resp.Kvs) == 0 {
		return nil, 0, err
	}
	recs, err := decodeRecords(key, resp.Kvs[0].Value)
	return recs, resp.Kvs[0].ModRevision, err
}

func reservations(recs []record) []ipam.Reservation {
	out := make([]ipam.Reservation, len(recs))
	for i, r := range recs {
		out[i] = r.reservation()
	}
	return out
}

// Release removes the owner's reservations, their address keys and their bits, in one transaction
// conditioned on the owner record and the touched bitmaps being unchanged since read.
func (s *Store) Release(ctx context.Context, network string, owner ipam.Owner) ([]ipam.Reservation, error) {
	ownerKey := s.ownerKey(network, owner)
	recs, ownerRev, err := s.owned(ctx, network, owner)
	if err != nil {
		return nil, err
	}
	blocks := map[string]blockState{}
	for attempt := range maxTxnRetries {
		if ownerRev == 0 {
			return nil, nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("cluster store: release %s in %s: %w", owner, network, err)
		}
		var blockKeys []string
		bits := map[string][]int{}
		ops := []clientv3.Op{clientv3.OpDelete(ownerKey)}
		for _, r := range recs {
			ops = append(ops, clientv3.OpDelete(s.ipKey(network, r.Addr)))
			start, bit := blockOf(r.Addr)
			bk := s.blockKey(network, r.RangeSet, start)
			if _, ok := bits[bk]; !ok {
				blockKeys = append(blockKeys, bk)
				if _, ok := blocks[bk]; !ok {
					blocks[bk] = s.cached(bk)
				}
			}
			bits[bk] = append(bits[bk], bit)
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(ownerKey), "=", ownerRev)}
		elseOps := []clientv3.Op{clientv3.OpGet(ownerKey)}
		updated := map[string]bitmap{}
		for _, bk := range blockKeys {
			b := blocks[bk]
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(bk), "=", b.rev))
			elseOps = append(elseOps, clientv3.OpGet(bk))
			nb := b.bits
			for _, bit := range bits[bk] {
				nb.clear(bit)
			}
			updated[bk] = nb
			if nb.empty() {
				ops = append(ops, clientv3.OpDelete(bk))
			} else {
				ops = append(ops, clientv3.OpPut(bk, string(nb[:])))
			}
		}
		resp, err := s.commit(ctx, "release "+owner.String()+" in "+network, cmps, ops, elseOps, updated)
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			return reservations(recs), nil
		}
		ownerRev, recs = 0, nil
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			if recs, err = decodeRecords(ownerKey, kvs[0].Value); err != nil {
				return nil, err
			}
			ownerRev = kvs[0].ModRevision
		}
		for j, bk := range blockKeys {
			var b blockState
			if kvs := resp.Responses[1+j].GetResponseRange().Kvs; len(kvs) > 0 {
				b.rev = kvs[0].ModRevision
				copy(b.bits[:], kvs[0].Value)
			}
			blocks[bk] = b
			s.remember(bk, b)
		}
	}
	return nil, fmt.Errorf("cluster store: release %s in %s: %w under %d attempts", owner, network, ErrContended, maxTxnRetries)
}

// List returns every reservation of the network (one range read over its address keys).
func (s *Store) List(ctx context.Context, network string) ([]ipam.Reservation, error) {
	prefix := s.netPrefix(network) + "ip/"
	var resp *clientv3.GetResponse
	err := s.call(ctx, "list "+network, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, prefix, clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]ipam.Reservation, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("cluster store: decode %s: %w", kv.Key, err)
		}
		out = append(out, r.reservation())
	}
	return out, nil
}

// Networks names every network that has held reservations (a network whose reservations were all
// released may still be listed; its List is then empty).
func (s *Store) Networks(ctx context.Context) ([]string, error) {
	prefix := s.cfg.Prefix + "networks/"
	var resp *clientv3.GetResponse
	err := s.call(ctx, "list networks", func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n, err := url.PathUnescape(strings.TrimPrefix(string(kv.Key), prefix))
		if err != nil {
			return nil, fmt.Errorf("cluster store: network key %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	return out, nil
}
