package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkAllocRate/etcd-txn/clients=1-2   	    1000	   500000 ns/op	      2000 allocs/s	   25000 B/op	     380 allocs/op
BenchmarkAllocRate/etcd-txn/clients=1-2   	    1000	   700000 ns/op	      1400 allocs/s	   25000 B/op	     380 allocs/op
BenchmarkAllocRate/etcd-txn/clients=1-2   	    1000	   600000 ns/op	      1600 allocs/s	   25000 B/op	     380 allocs/op
BenchmarkAllocRate/cluster/clients=1-2    	     300	  2000000 ns/op	       500 allocs/s	  300000 B/op	    1400 allocs/op
BenchmarkAllocRate/host-local/clients=1-2 	    3000	   250000 ns/op	      4000 allocs/s	    0.02 errors/op	    3000 B/op	      40 allocs/op
BenchmarkFill/cluster/fill=1%-2           	     500	  3000000 ns/op	  200000 B/op	    2000 allocs/op
BenchmarkFill/host-local/fill=1%-2        	     900	  1500000 ns/op	   35000 B/op	     290 allocs/op
BenchmarkOther-2                          	      10	       42 ns/op
PASS
`

func TestParseAndSummarise(t *testing.T) {
	t.Parallel()
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.get("BenchmarkAllocRate/etcd-txn/clients=1", "allocs/s"); got != 1600 {
		t.Errorf("median allocs/s = %v, want 1600", got)
	}
	if _, ok := r.get("BenchmarkFill/node/fill=1%", "ns/op"); ok {
		t.Error("a benchmark that did not run has no value")
	}
	var b strings.Builder
	writeMarkdown(&b, r)
	md := b.String()
	for _, want := range []string{
		"Medians of up to 3 runs",
		"| cluster | 1 | 500 | 2000 | 0.31× | 0.12× | 0 |", // 500/1600, 500/4000
		"| cluster | 1% | 3.00 | 200000 | 2000 | 2.00× |",
		"| BenchmarkOther | 1 | 42 ns/op |",
		"| host-local | 1 | 4000 | 250 | 2.50× | 1.00× | 2.0% |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}

func TestWritePNG(t *testing.T) {
	t.Parallel()
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ipam.png")
	if err := writePNG(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatal("not a PNG")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
