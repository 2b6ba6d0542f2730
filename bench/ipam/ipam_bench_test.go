package ipam_test

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
)

// rateRange is large enough that no rate benchmark fills a noticeable part of it.
var rateRange = netip.MustParsePrefix("10.0.0.0/12")

// fillRange is the range BenchmarkFill fills to 1%, 50% and 99%.
func fillRange() netip.Prefix {
	if testing.Short() {
		return netip.MustParsePrefix("10.64.0.0/22")
	}
	return netip.MustParsePrefix("10.64.0.0/16")
}

var clientCounts = []int{1, 8, 64}

// BenchmarkAllocRate: allocations per second (one ADD of a new attachment per op) at 1, 8 and 64
// concurrent allocators, each with its own client.
func BenchmarkAllocRate(b *testing.B) {
	systems := []func(testing.TB) system{
		func(tb testing.TB) system { return newEtcdTxnSystem(tb) },
		func(tb testing.TB) system { return newClusterSystem(tb, rateRange) },
		func(tb testing.TB) system { return newNodeSystem(tb, rateRange) },
		func(tb testing.TB) system { return newHostLocalSystem(tb, rateRange) },
	}
	for _, mk := range systems {
		for _, clients := range clientCounts {
			sys := mk(b)
			b.Run(fmt.Sprintf("%s/clients=%d", sys.name(), clients), func(b *testing.B) {
				runRate(b, sys, clients)
			})
		}
	}
}

func runRate(b *testing.B, sys system, clients int) {
	ctx := context.Background()
	b.ReportAllocs()
	next := func() string { return unique("r") } // never reused, or ADD would be idempotent
	// A failed ADD is counted (errors/op) rather than ending the benchmark, so that one system failing
	// under contention still leaves the others' figures, and the failure rate is itself a result.
	var failures atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if failures.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
	}
	if clients == 1 {
		c := sys.client(b, 0)
		defer c.close()
		for b.Loop() {
			if _, err := c.add(ctx, next()); err != nil {
				fail(err)
			}
		}
	} else {
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism(max(1, clients/procs))
		var n atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c := sys.client(b, int(n.Add(1)))
			defer c.close()
			for pb.Next() {
				if _, err := c.add(ctx, next()); err != nil {
					fail(err)
				}
			}
		})
	}
	b.ReportMetric(float64(b.N-int(failures.Load()))/b.Elapsed().Seconds(), "allocs/s")
	b.ReportMetric(float64(failures.Load())/float64(b.N), "errors/op")
	if f := failures.Load(); f > 0 {
		b.Logf("%d of %d ADDs failed; first: %v", f, b.N, firstErr.Load())
	}
}

// BenchmarkFill: the cost of one allocation plus its release with the range 1%, 50% and 99% full.
func BenchmarkFill(b *testing.B) {
	p := fillRange()
	systems := []func(testing.TB) system{
		func(tb testing.TB) system { return newClusterSystem(tb, p) },
		func(tb testing.TB) system { return newNodeSystem(tb, p) },
		func(tb testing.TB) system { return newHostLocalSystem(tb, p) },
	}
	for _, mk := range systems {
		sys := mk(b) // one network per system, filled step by step
		filled := 0
		for _, pct := range []int{1, 50, 99} {
			b.Run(fmt.Sprintf("%s/fill=%d%%", sys.name(), pct), func(b *testing.B) {
				target := usable(p) * pct / 100
				sys.prefill(b, filled, target)
				filled = target
				runPairs(b, sys)
			})
		}
	}
}

func runPairs(b *testing.B, sys system) {
	ctx := context.Background()
	c := sys.client(b, 0)
	defer c.close()
	// Warm up outside the timer (the node store builds its index from the prefilled files here).
	if _, err := c.add(ctx, "warm"); err != nil {
		b.Fatal(err)
	}
	if err := c.del(ctx, "warm"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("p%d", i)
		i++
		if _, err := c.add(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := c.del(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
