package clusterstore_test

import (
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func clientv3WithPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
