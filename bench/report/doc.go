// Command report summarises `go test -bench` output (several -count runs) for `make bench`: the median
// of every metric per benchmark, the IPAM tables with ratios to the floor (a bare etcd transaction) and to
// the peer (host-local), and, with -png, bar charts of the IPAM figures.
//
//	go run ./bench/report -in bench/results/raw.txt -md bench/results/summary.md -png bench/results/ipam.png
package main
