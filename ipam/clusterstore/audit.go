package clusterstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Audit reads every key of the network at one revision and returns each way the keys disagree with one
// another (empty when consistent): an address key without its owner record or with another owner, an owner
// record naming an address whose key is missing or held by someone else, a bitmap bit without an address key
// or the reverse, an empty bitmap left behind. Reserve and Release keep all of them in step, so any finding
// means a bug or a hand edit. It costs one read of the whole network: an audit, not a hot-path call.
func (s *Store) Audit(ctx context.Context, network string) ([]string, error) {
	prefix := s.netPrefix(network)
	var resp *clientv3.GetResponse
	err := s.call(ctx, "audit "+network, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, prefix, clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return nil, err
	}
	ips := map[netip.Addr]record{}
	owners := map[string][]record{}
	bits := map[netip.Addr]int{} // address → range set, from the bitmaps
	var problems []string
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		rest := strings.TrimPrefix(key, prefix)
		switch {
		case strings.HasPrefix(rest, "ip/"):
			var r record
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				problems = append(problems, fmt.Sprintf("%s: undecodable: %v", key, err))
				continue
			}
			if a, err := netip.ParseAddr(strings.TrimPrefix(rest, "ip/")); err != nil || a != r.Addr {
				problems = append(problems, fmt.Sprintf("%s: holds address %s", key, r.Addr))
			}
			ips[r.Addr] = r
		case strings.HasPrefix(rest, "owner/"):
			recs, err := decodeRecords(key, kv.Value)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			owners[key] = recs
		case strings.HasPrefix(rest, "block/"):
			set, start, err := s.parseBlockKey(network, key)
			if err != nil || len(kv.Value) != len(bitmap{}) {
				problems = append(problems, fmt.Sprintf("%s: malformed block", key))
				continue
			}
			var b bitmap
			copy(b[:], kv.Value)
			if b.empty() {
				problems = append(problems, fmt.Sprintf("%s: empty block left behind", key))
			}
			for i := range blockSize {
				if b.has(i) {
					bits[addrInBlock(start, i)] = set
				}
			}
		}
	}
	held := map[netip.Addr]bool{}
	for key, recs := range owners {
		for _, r := range recs {
			ip, ok := ips[r.Addr]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: names %s, whose address key is missing", key, r.Addr))
			case ip.ContainerID != r.ContainerID || ip.IfName != r.IfName:
				problems = append(problems, fmt.Sprintf("%s: names %s, held by %s/%s", key, r.Addr, ip.ContainerID, ip.IfName))
			case held[r.Addr]:
				problems = append(problems, fmt.Sprintf("%s: names %s, named by another owner record too", key, r.Addr))
			}
			held[r.Addr] = true
		}
	}
	for a, r := range ips {
		if !held[a] {
			problems = append(problems, fmt.Sprintf("address %s (owner %s/%s) has no owner record naming it", a, r.ContainerID, r.IfName))
		}
		if set, ok := bits[a]; !ok || set != r.RangeSet {
			problems = append(problems, fmt.Sprintf("address %s: bitmap bit missing for range set %d", a, r.RangeSet))
		}
	}
	for a := range bits {
		if _, ok := ips[a]; !ok {
			problems = append(problems, fmt.Sprintf("address %s: bitmap bit set without an address key", a))
		}
	}
	slices.Sort(problems)
	return problems, nil
}
