package clusterstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vflab/vflab/ipam"
)

// importBatch bounds the reservations per Import transaction, so that its compares and writes stay under
// etcd's default limit of 128 operations per transaction.
const importBatch = 40

// Import records many reservations at once — migrating a host-local or whereabouts pool, or seeding a
// benchmark — in transactions of up to 40 reservations, each with the same conditions as Reserve (address
// and owner keys absent, bitmaps unchanged). All reservations of one owner must be adjacent in rs; they
// land in the same transaction. A batch that finds an address or owner taken fails Import with an
// *ipam.AddressInUseError; batches before it stay committed. Cursors are not moved.
func (s *Store) Import(ctx context.Context, network string, rs []ipam.Reservation) error {
	for start := 0; start < len(rs); {
		end := min(start+importBatch, len(rs))
		for end < len(rs) && end > start+1 && rs[end].Owner == rs[end-1].Owner {
			end-- // keep an owner's reservations together
		}
		if err := s.importBatch(ctx, network, rs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (s *Store) importBatch(ctx context.Context, network string, rs []ipam.Reservation) error {
	owners := map[ipam.Owner][]record{}
	var ownerOrder []ipam.Owner
	var blockKeys []string
	bits := map[string][]int{}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	seen := map[netip.Addr]bool{}
	for _, r := range rs {
		r.Addr = r.Addr.Unmap()
		if !r.Addr.IsValid() || seen[r.Addr] {
			return fmt.Errorf("cluster store: import into %s: address %v invalid or given twice", network, r.Addr)
		}
		seen[r.Addr] = true
		rec := toRecord(r)
		k := s.ipKey(network, r.Addr)
		v, _ := json.Marshal(rec)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		ops = append(ops, clientv3.OpPut(k, string(v)))
		if _, ok := owners[r.Owner]; !ok {
			ownerOrder = append(ownerOrder, r.Owner)
		}
		owners[r.Owner] = append(owners[r.Owner], rec)
		start, bit := blockOf(r.Addr)
		bk := s.blockKey(network, r.RangeSet, start)
		if _, ok := bits[bk]; !ok {
			blockKeys = append(blockKeys, bk)
		}
		bits[bk] = append(bits[bk], bit)
	}
	for _, o := range ownerOrder {
		k := s.ownerKey(network, o)
		v, _ := json.Marshal(owners[o])
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		ops = append(ops, clientv3.OpPut(k, string(v)))
	}
	ops = append(ops, clientv3.OpPut(s.networkKey(network), ""))
	for attempt := range maxTxnRetries {
		if err := backoff(ctx, attempt); err != nil {
			return fmt.Errorf("cluster store: import into %s: %w", network, err)
		}
		bcmps := append([]clientv3.Cmp(nil), cmps...)
		bops := append([]clientv3.Op(nil), ops...)
		var elseOps []clientv3.Op
		updated := map[string]bitmap{}
		for _, bk := range blockKeys {
			b := s.cached(bk)
			bcmps = append(bcmps, clientv3.Compare(clientv3.ModRevision(bk), "=", b.rev))
			nb := b.bits
			for _, bit := range bits[bk] {
				nb.set(bit)
			}
			updated[bk] = nb
			bops = append(bops, clientv3.OpPut(bk, string(nb[:])))
			elseOps = append(elseOps, clientv3.OpGet(bk))
		}
		resp, err := s.commit(ctx, "import into "+network, bcmps, bops, elseOps, updated)
		if err != nil {
			return err
		}
		if resp.Succeeded {
			return nil
		}
		changed := false
		for j, bk := range blockKeys {
			var b blockState
			if kvs := resp.Responses[j].GetResponseRange().Kvs; len(kvs) > 0 {
				b.rev = kvs[0].ModRevision
				copy(b.bits[:], kvs[0].Value)
			}
			if b.rev != s.cached(bk).rev {
				changed = true
			}
			s.remember(bk, b)
		}
		if !changed {
			// The bitmaps were current, so an address or owner key exists: find which.
			return s.importConflict(ctx, network, rs)
		}
	}
	return fmt.Errorf("cluster store: import into %s: %w under %d attempts", network, ErrContended, maxTxnRetries)
}

func (s *Store) importConflict(ctx context.Context, network string, rs []ipam.Reservation) error {
	for _, r := range rs {
		var resp *clientv3.GetResponse
		err := s.call(ctx, "import into "+network, func(ctx context.Context) error {
			var err error
			resp, err = s.cli.Get(ctx, s.ipKey(network, r.Addr.Unmap()))
			return err
		})
		if err != nil {
			return err
		}
		if len(resp.Kvs) > 0 {
			e := &ipam.AddressInUseError{Addr: r.Addr.Unmap()}
			var holder record
			if json.Unmarshal(resp.Kvs[0].Value, &holder) == nil {
				e.Owner = ipam.Owner{ContainerID: holder.ContainerID, IfName: holder.IfName}
			}
			return e
		}
		held, err := s.Owned(ctx, network, r.Owner)
		if err != nil {
			return err
		}
		if len(held) > 0 {
			return &ipam.AddressInUseError{Addr: held[0].Addr, Owner: r.Owner}
		}
	}
	return fmt.Errorf("cluster store: import into %s: transaction refused, but no address or owner is taken", network)
}
