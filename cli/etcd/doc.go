// Package etcd is `vflab etcd`: a single-member embedded etcd (ipam/etcdserver) for laptops and the
// simulator, the default backend of the cluster IPAM store. Real deployments point the store at an external
// etcd cluster instead.
package etcd
