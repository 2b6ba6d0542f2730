package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "-", "benchmark output to read (- for stdin)")
	md := flag.String("md", "-", "markdown summary to write (- for stdout)")
	png := flag.String("png", "", "write the IPAM bar charts to this PNG (optional)")
	flag.Parse()
	if err := run(*in, *md, *png); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, md, png string) error {
	r := io.Reader(os.Stdin)
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close() //nolint:errcheck // read-only: a close error loses nothing
		r = f
	}
	res, err := parse(r)
	if err != nil {
		return err
	}
	var b strings.Builder
	writeMarkdown(&b, res)
	if md == "-" {
		_, err = os.Stdout.WriteString(b.String())
	} else {
		err = os.WriteFile(md, []byte(b.String()), 0o644)
	}
	if err != nil {
		return err
	}
	if png != "" {
		return writePNG(png, res)
	}
	return nil
}

// results: benchmark name (without the -GOMAXPROCS suffix) → unit → samples, in first-seen order.
type results struct {
	names   []string
	samples map[string]map[string][]float64
}

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

func parse(r io.Reader) (*results, error) {
	res := &results{samples: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name, fields := m[1], strings.Fields(m[4])
		if _, ok := res.samples[name]; !ok {
			res.names = append(res.names, name)
			res.samples[name] = map[string][]float64{}
		}
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			res.samples[name][fields[i+1]] = append(res.samples[name][fields[i+1]], v)
		}
	}
	return res, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// get returns the median of unit for a benchmark, and whether it exists.
func (r *results) get(name, unit string) (float64, bool) {
	v, ok := r.samples[name][unit]
	if !ok || len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

var (
	rateSystems = []string{"etcd-txn", "cluster", "node", "host-local"}
	rateClients = []string{"1", "8", "64"}
	fillSystems = []string{"cluster", "node", "host-local"}
	fillLevels  = []string{"1", "50", "99"}
)

func rateName(sys, clients string) string {
	return "BenchmarkAllocRate/" + sys + "/clients=" + clients
}

func fillName(sys, pct string) string { return "BenchmarkFill/" + sys + "/fill=" + pct + "%" }

func ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func writeMarkdown(w *strings.Builder, r *results) {
	runs := 0
	for _, u := range r.samples {
		for _, v := range u {
			runs = max(runs, len(v))
		}
	}
	fmt.Fprintf(w, "# Benchmark summary\n\nMedians of up to %d runs per benchmark.\n\n", runs)

	if _, ok := r.get(rateName("cluster", "1"), "allocs/s"); ok {
		fmt.Fprintln(w, "## IPAM: allocations per second (one ADD per op)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| system | clients | allocs/s | µs/op | vs etcd-txn floor | vs host-local | failed ADDs |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, sys := range rateSystems {
			for _, c := range rateClients {
				v, ok := r.get(rateName(sys, c), "allocs/s")
				if !ok {
					continue
				}
				ns, _ := r.get(rateName(sys, c), "ns/op")
				floor, okF := r.get(rateName("etcd-txn", c), "allocs/s")
				peer, okP := r.get(rateName("host-local", c), "allocs/s")
				failed := "0"
				if e, ok := r.get(rateName(sys, c), "errors/op"); ok && e > 0 {
					failed = fmt.Sprintf("%.1f%%", e*100)
				}
				fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %s | %s | %s |\n", sys, c, v, ns/1e3, ratio(v, floor, ok, okF), ratio(v, peer, ok, okP), failed)
			}
		}
		fmt.Fprintln(w)
	}
	if _, ok := r.get(fillName("cluster", "1"), "ns/op"); ok {
		fmt.Fprintln(w, "## IPAM: one allocation + its release, by how full the range is")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| system | fill | ms/op | B/op | allocs/op | vs host-local |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
		for _, sys := range fillSystems {
			for _, p := range fillLevels {
				v, ok := r.get(fillName(sys, p), "ns/op")
				if !ok {
					continue
				}
				b, _ := r.get(fillName(sys, p), "B/op")
				a, _ := r.get(fillName(sys, p), "allocs/op")
				peer, okP := r.get(fillName("host-local", p), "ns/op")
				fmt.Fprintf(w, "| %s | %s%% | %.2f | %.0f | %.0f | %s |\n", sys, p, v/1e6, b, a, ratio(v, peer, ok, okP))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "## Every benchmark (medians)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| benchmark | runs | metrics |")
	fmt.Fprintln(w, "|---|---:|---|")
	for _, name := range r.names {
		units := make([]string, 0, len(r.samples[name]))
		for u := range r.samples[name] {
			units = append(units, u)
		}
		sort.Strings(units)
		var parts []string
		n := 0
		for _, u := range units {
			n = max(n, len(r.samples[name][u]))
			parts = append(parts, fmt.Sprintf("%.4g %s", median(r.samples[name][u]), u))
		}
		fmt.Fprintf(w, "| %s | %d | %s |\n", name, n, strings.Join(parts, ", "))
	}
}
