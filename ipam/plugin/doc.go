// Package plugin is the vflab-ipam CNI IPAM plugin as a library (cmd/vflab-ipam is its thin main):
// ADD, DEL, CHECK, GC and STATUS of CNI spec 1.1 over the ipam core, with the node store on disk or the
// cluster store on etcd.
//
// Errors are CNI errors with codes: ErrInvalidNetworkConfig (7) naming the bad field, CodeExhausted (100)
// when a range set has no free address, CodeAddressInUse (101) and CodeNotInRange (102) for static
// requests, ErrTryAgainLater (11) when the store did not answer before the deadline, ErrUnknownContainer
// (3) when CHECK finds no reservation, ErrPluginNotAvailable (50) from STATUS. The plugin writes only its
// result to stdout; diagnostics go to the injected logger.
package plugin
