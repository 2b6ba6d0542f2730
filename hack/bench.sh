#!/usr/bin/env bash
# make bench: run the benchmarks in bench/ (testing.B) COUNT times on this machine, keep the raw output in
# bench/results/, and write the medians (with ratios to floors and peers) to bench/results/summary.md and
# the IPAM charts to bench/results/ipam.png.
#   COUNT=5 BENCH=. BENCHTIME=1s PKGS=./bench/... hack/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
COUNT=${COUNT:-5}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
PKGS=${PKGS:-./bench/...}
out=bench/results
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw="$out/raw-$stamp.txt"
{
	echo "# $(date -u '+%F %T') UTC, kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $($GO version)"
	echo "# $GO test -run '^\$' -bench '$BENCH' -benchmem -benchtime $BENCHTIME -count $COUNT $PKGS"
} >"$raw"
set +e
$GO test -run '^$' -bench "$BENCH" -benchmem -benchtime "$BENCHTIME" -count "$COUNT" -timeout 90m $PKGS | tee -a "$raw"
status=${PIPESTATUS[0]}
set -e
cp "$raw" "$out/latest.txt"
# Summarise whatever ran, even if a benchmark failed; the exit status still reports the failure.
$GO run ./bench/report -in "$raw" -md "$out/summary.md" -png "$out/ipam.png"
echo "raw: $raw"
echo "summary: $out/summary.md, chart: $out/ipam.png"
exit "$status"
