#!/usr/bin/env bash
# Benchmark of unwinding through code without CFI: scorch's CPU per sample on the Node.js
# workload (tests/fixtures/nodework.js under node --perf-basic-prof: JIT code and V8's builtins,
# followed by frame pointers) against the C workload without frame pointers
# (tests/fixtures/unwind_workload.c, CFI all the way; two threads at 249 Hz, the same sample
# count), and perf record -g (frame pointers, as
# perf follows JIT code) + perf script on the same Node process. Each tool profiles one process
# by pid (-p), so its CPU is its own; prints samples, CPU seconds, CPU per sample and the share
# of the main thread's stacks that are complete (down to _start), then the ratios.
# Not a test: the figures are for docs/benchmarks.md.
# Run as root after a build: tests/bench/node.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
install_missing linux-perf nodejs
secs=${1:-10}
rounds=${2:-3}
scorch=build/scorch
cwork=build/tests/unwind-workload-nofp
nodework=$PWD/tests/fixtures/nodework.js
node=$(command -v node || command -v nodejs)
[ -x "$scorch" ] && [ -x "$cwork" ] || { echo "build first (scripts/test or ninja -C build)"; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; rm -f "/tmp/perf-$p.map"; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# timed CMD...: "cpu_seconds" of CMD itself (perf stat task-clock)
timed() {
	perf stat -x, -e task-clock -o "$tmp/stat" "$@" >/dev/null 2>&1 || true
	awk -F, '/task-clock/ { printf "%.3f\n", $1 / 1000 }' "$tmp/stat"
}
# start_node: the workload for the whole round; $wl is its pid
start_node() {
	# in $tmp: with --perf-basic-prof V8 also writes isolate-*-v8.log where it runs
	(cd "$tmp" && exec "$node" --perf-basic-prof "$nodework" $((secs * 3 + 10)) >"$tmp/node.out") &
	wl=$!; pids+=("$wl")
	for _ in $(seq 100); do [ -s "$tmp/node.out" ] && break; sleep 0.1; done
	sleep 1 # past start-up: main_loop runs
}
start_c() { "$cwork" $((secs * 3 + 10)) >/dev/null & wl=$!; pids+=("$wl"); sleep 0.5; }
stop() { kill "$wl" 2>/dev/null || true; wait "$wl" 2>/dev/null || true; }
us() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }'; }
# share of complete stacks of thread $2 in perf script output $1: the outermost frame _start,
# or __libc_start_call_main (Debian's libc keeps no frame pointers, so perf's walk by them
# cannot get further: it counts as complete for perf)
perf_complete() {
	awk -v tid="$2" '
	/^[^ \t]/ { keep = 0; for (i = 1; i <= NF; i++) if ($i ~ "^" tid "/" tid "$" || $i == tid) keep = 1
		    last = ""; next }
	/^$/ { if (keep && last != "") { n++; if (last == "_start" || last == "__libc_start_call_main") ok++ }
	       keep = 0; last = ""; next }
	keep { last = $2; sub(/\+0x[0-9a-f]+$/, "", last) }
	END { printf "%.1f", n ? 100 * ok / n : 0 }' "$1"
}

export SCORCH_CACHE_DIR=$tmp/cache
"$scorch" record -q -d 1 -o "$tmp/warm.pb.gz" >/dev/null 2>&1 || true
fmt='%-6s %-14s %8s %8s %10s %10s\n'
# shellcheck disable=SC2059 # one format for the table
printf "$fmt" round run samples cpu_s us/sample complete%
for r in $(seq 1 "$rounds"); do
	start_node
	cpu=$(timed "$scorch" record -F 499 -p "$wl" -d "$secs" -o "$tmp/n.pb.gz")
	n=$(python3 tests/integration/check_node.py "$tmp/n.pb.gz" "$wl" 0 |
		sed -n 's/.*complete: \([0-9]*\) of \([0-9]*\) samples (\([0-9.]*\) %.*/\2 \3/p')
	read -r n_samples n_ok <<<"${n:-0 0}"
	n_us=$(us "$cpu" "$n_samples")
	# shellcheck disable=SC2059
	printf "$fmt" "$r" "scorch node" "$n_samples" "$cpu" "$n_us" "$n_ok"
	p1=$(timed perf record -q -e cpu-clock -F 499 -g -p "$wl" -o "$tmp/perf.data" -- sleep "$secs")
	p2=$(timed sh -c "perf script -i '$tmp/perf.data' > '$tmp/perf.txt' 2>/dev/null")
	stop
	p_n=$(grep -c 'cpu-clock' "$tmp/perf.txt" || true)
	p_cpu=$(awk -v a="$p1" -v b="$p2" 'BEGIN { printf "%.3f", a + b }')
	p_us=$(us "$p_cpu" "$p_n")
	# shellcheck disable=SC2059
	printf "$fmt" "$r" "perf -g node" "$p_n" "$p_cpu" "$p_us" "$(perf_complete "$tmp/perf.txt" "$wl")"

	start_c
	# two threads at half the rate: the node run's sample count
	c_cpu=$(timed "$scorch" record -F 249 -p "$wl" -d "$secs" -o "$tmp/c.pb.gz")
	stop
	c_n=$(python3 tests/pprof_folded.py "$tmp/c.pb.gz" | awk '{ s += $NF } END { print s + 0 }')
	c_us=$(us "$c_cpu" "$c_n")
	# shellcheck disable=SC2059
	printf "$fmt" "$r" "scorch C" "$c_n" "$c_cpu" "$c_us" "-"
	echo "$r ratios: scorch node/C per sample $(awk -v a="$n_us" -v b="$c_us" 'BEGIN { printf "%.2f", b ? a / b : 0 }')," \
		"scorch/perf on node per sample $(awk -v a="$n_us" -v b="$p_us" 'BEGIN { printf "%.3f", b ? a / b : 0 }')"
done
