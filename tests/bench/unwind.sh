#!/usr/bin/env bash
# Benchmark of user-stack unwinding: scorch with its default unwinding against
# perf record -F 99 -a --call-graph dwarf + perf script, both profiling the whole machine while
# the frame-pointer-less unwinding workload (tests/fixtures/unwind_workload.c) keeps both CPUs
# busy. Prints for each: samples, CPU seconds of the whole pipeline, CPU per sample, peak RSS,
# and the share of the workload's samples whose chain is complete and correct (the check of
# tests/integration/unwind.sh); then the ratios. Then symbolization throughput (cold and warm) of
# a large binary. Not a test: the figures are for docs/benchmarks.md.
# FREQS (default 99) runs each round at several sampling rates, both tools at the same one: on
# 2 CPUs, 4999 Hz carries the samples of 100 CPUs at 99 Hz. With 999 among them, each other
# rate's CPU per sample is also given as a ratio to the 999 Hz figure of its round; "lost" is
# what each tool dropped (scorch: samples and copied stacks; perf: lost events).
# Run as root after a build: [FREQS="999 4999"] tests/bench/unwind.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
install_missing linux-perf time
secs=${1:-10}
rounds=${2:-3}
freqs=${FREQS:-99}
scorch=build/scorch
workload=build/tests/unwind-workload-nofp
check=tests/integration/check_chains.py
[ -x "$scorch" ] && [ -x "$workload" ] || { echo "build first (scripts/test or ninja -C build)"; exit 1; }
tmp=$(mktemp -d)
wl=()
cleanup() { for p in "${wl[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

start_workload() { "$workload" $((secs * 3)) >/dev/null & wl+=($!); sleep 0.5; }
stop_workload() { kill "${wl[-1]}" 2>/dev/null || true; wait "${wl[-1]}" 2>/dev/null || true; }
timed() {
	perf stat -x, -e task-clock -o "$tmp/stat" /usr/bin/time -f '%M' -o "$tmp/time" "$@"
	awk -F, '/task-clock/ { printf "%.3f ", $1 / 1000 }' "$tmp/stat"
	tail -1 "$tmp/time"
}
# share of correct chains in a folded file of the workload's samples
correct() { python3 "$check" "$1" 0 | sed -n 's/.*(\([0-9.]*\) %).*/\1/p'; }

# perf script output -> folded stacks of the workload (root first, kernel frames _[k])
perf_folded() {
	awk '
	/^[^ \t]/ { keep = ($1 ~ /^unwind-workload/); n = 0; next }
	/^$/ { if (keep && n) { s = fr[n]; for (i = n - 1; i >= 1; i--) s = s ";" fr[i]; c[s]++ } keep = 0; n = 0; next }
	keep {
		sym = $2; for (i = 3; i < NF; i++) sym = sym " " $i
		sub(/\+0x[0-9a-f]+$/, "", sym)
		if ($NF ~ /kernel\.kallsyms/) sym = sym "_[k]"
		fr[++n] = sym
	}
	END { for (s in c) print s, c[s] }' "$1"
}

export SCORCH_CACHE_DIR=$tmp/cache
# warm-up with the workload running: kernel-symbol cache, page cache of the files both tools read
start_workload
"$scorch" record -q -d 1 -o "$tmp/warmup.pb.gz"
stop_workload
# and with samples in the kernel for sure: the pure-CPU workload gives a few in a whole run,
# and its kernel symbols were read from /proc/kallsyms by the first round that had any (~50 ms)
"$scorch" record -q -o "$tmp/warmup.pb.gz" -- dd if=/dev/zero of=/dev/null bs=512 count=1000000 2>/dev/null
printf '%-6s %5s %-8s %8s %6s %9s %10s %9s %9s\n' round hz tool samples lost cpu_s us/sample rss_kb correct%
for r in $(seq 1 "$rounds"); do
	base_us=
	for f in $freqs; do
		start_workload
		read -r s_cpu s_rss < <(timed "$scorch" record -F "$f" -d "$secs" -o "$tmp/s.pb.gz" 2>"$tmp/s.err")
		stop_workload
		s_n=$(awk '/samples,/ { print $2; exit }' "$tmp/s.err")
		# samples lost, and copied stacks the sample ring had no room for
		s_lost=$(awk '/samples,/ { n = $4; if (match($0, /sample ring full [0-9]+/)) n += substr($0, RSTART + 17, RLENGTH - 17); print n; exit }' "$tmp/s.err")
		python3 tests/pprof_folded.py "$tmp/s.pb.gz" '^unwind-workload' >"$tmp/s.folded"
		s_ok=$(correct "$tmp/s.folded")

		start_workload
		read -r p1_cpu p1_rss < <(timed perf record -q -e cpu-clock -F "$f" -a --call-graph dwarf -o "$tmp/perf.data" -- sleep "$secs")
		stop_workload
		read -r p2_cpu p2_rss < <(timed sh -c "perf script -i '$tmp/perf.data' > '$tmp/perf.txt' 2>/dev/null")
		p_n=$(grep -c 'cpu-clock' "$tmp/perf.txt" || true)
		p_lost=$(perf report -i "$tmp/perf.data" --stats 2>/dev/null | awk '$1 == "LOST" { n += $3 } END { print n + 0 }')
		p_cpu=$(awk -v a="$p1_cpu" -v b="$p2_cpu" 'BEGIN { printf "%.3f", a + b }')
		p_rss=$(( p1_rss > p2_rss ? p1_rss : p2_rss ))
		perf_folded "$tmp/perf.txt" >"$tmp/p.folded"
		p_ok=$(correct "$tmp/p.folded")
		rm -f "$tmp/perf.data" "$tmp/perf.txt"

		s_us=$(awk -v c="$s_cpu" -v n="$s_n" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')
		p_us=$(awk -v c="$p_cpu" -v n="$p_n" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')
		[ "$f" = 999 ] && base_us=$s_us
		printf '%-6s %5s %-8s %8s %6s %9s %10s %9s %9s\n' "$r" "$f" scorch "$s_n" "$s_lost" "$s_cpu" "$s_us" "$s_rss" "$s_ok"
		printf '%-6s %5s %-8s %8s %6s %9s %10s %9s %9s  (record %s s, %s KB; script %s s, %s KB)\n' "$r" "$f" perf \
			"$p_n" "$p_lost" "$p_cpu" "$p_us" "$p_rss" "$p_ok" "$p1_cpu" "$p1_rss" "$p2_cpu" "$p2_rss"
		printf '%-6s %5s ratio scorch/perf: cpu per sample %s, peak rss %s' "$r" "$f" \
			"$(awk -v a="$s_us" -v b="$p_us" 'BEGIN { printf "%.3f", b ? a / b : 0 }')" \
			"$(awk -v a="$s_rss" -v b="$p_rss" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
		if [ -n "$base_us" ] && [ "$f" != 999 ]; then
			printf '; scorch cpu per sample / at 999 Hz %s' \
				"$(awk -v a="$s_us" -v b="$base_us" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
		fi
		echo
	done
done

# symbolization throughput of a large binary: symbol table only (libLLVM), and with DWARF
for f in /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1 "$scorch"; do
	[ -r "$f" ] && build/tests/bench_symbolize "$f" 20000
done
