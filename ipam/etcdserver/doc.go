// Package etcdserver runs etcd inside the calling process (go.etcd.io/etcd/server/v3/embed): a single member
// for laptops and the simulator (`vflab etcd`), and an N-member cluster in one process for tests that kill
// and restart members. Members listen on loopback only, log through an injected slog.Logger (or not at all),
// and are stopped by their owner with Close.
//
// Production deployments point the cluster store (ipam/clusterstore) at an external etcd cluster instead;
// nothing in this package is needed there.
package etcdserver
