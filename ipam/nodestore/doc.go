// Package nodestore is the node-local ipam.Store: reservations on disk under a data directory, in
// host-local's layout so an existing host-local data directory keeps working (and host-local can still
// read what it writes).
//
// Layout under <dataDir>/<network>/ (dataDir defaults to /var/lib/cni/networks):
//
//	<ip>                  one file per reserved address, "<containerID>\r\n<ifname>" (host-local's format):
//	                      the truth
//	last_reserved_ip.<N>  round-robin cursor of range set N (host-local's)
//	lock                  flock serialising processes on this network (host-local's, so both interoperate)
//	.vflab-meta/<ip>      pod namespace/name/UID, creation time and range set of a reservation (valid only
//	                      while it names the same owner as <ip>)
//	.vflab-index          snapshot of every reservation: a derived cache, so no request walks the directory
//	.vflab-journal        append-only changes since the snapshot, one checksummed line each
//	.vflab-dirty          present while a change is in flight; if found, the cache is rebuilt from the files
//
// Crash safety: files are written to a temporary name, fsynced, then linked (reservations: exclusive, so
// a second holder is impossible) or renamed into place; a kill at any point leaves either the old or the
// new reservation set, and at worst a stale cache that the dirty marker or a checksum flags for rebuild.
// Concurrency: every operation holds the network's flock for the few milliseconds it runs.
package nodestore
