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
//	.vflab-usage          the allocator's state (ipam.Usage: a bitmap per 4096 addresses, the cursors) in a
//	                      checksummed binary file tagged with the snapshot generation and journal size it
//	                      matches; any mismatch, a torn file or a dirty mark rebuilds it from the index
//	.vflab-owners/<hash>  one file per (containerID, ifname): its addresses, checked against <ip> on read
//
// Cost: ADD and DEL by a fresh process (a CNI call) read the usage file (O(range/8) bytes at most, nothing
// per reservation), the owner's file and the files they change, so they cost the same at 1% and 99% full;
// the journal is folded into the snapshot once it outgrows it (a constant amortised cost). Load, List, GC
// and the rebuilds read every reservation.
//
// Crash safety: files are written to a temporary name, fsynced, then linked (reservations: exclusive, so
// a second holder is impossible) or renamed into place; a kill at any point leaves either the old or the
// new reservation set, and at worst a stale cache that the dirty marker or a checksum flags for rebuild.
// Concurrency: every operation holds the network's flock for the few milliseconds it runs.
package nodestore
