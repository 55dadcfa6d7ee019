#!/usr/bin/env bash
# Benchmark: scorch record against perf record -g + perf script, profiling the same busy
# workload (both CPUs) for the same seconds. Prints CPU seconds per sample of each whole pipeline
# (capture + symbolized output), peak RSS and the ratios. scorch runs with --unwind fp, the same
# frame-pointer unwinding as perf -g (tests/bench/unwind.sh compares the default unwinding with
# perf --call-graph dwarf). Not a test: the figures are for docs/benchmarks.md.
# Run as root after a build: tests/bench/bench.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
install_missing linux-perf time
secs=${1:-10}
rounds=${2:-3}
scorch=build/scorch
workload=build/tests/workload
[ -x "$scorch" ] && [ -x "$workload" ] || { echo "build first (scripts/test or ninja -C build)"; exit 1; }
tmp=$(mktemp -d)
wl=()
cleanup() { for p in "${wl[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled="$old_stats"; cleanup' EXIT

start_workload() { "$workload" 2 $((secs * 3)) >/dev/null & wl+=($!); sleep 0.5; }
stop_workload() { kill "${wl[-1]}" 2>/dev/null || true; wait "${wl[-1]}" 2>/dev/null || true; }
# CPU seconds of a command and its children (perf stat task-clock, ms precision) and its peak
# RSS in KB (GNU time)
timed() {
	perf stat -x, -e task-clock -o "$tmp/stat" /usr/bin/time -f '%M' -o "$tmp/time" "$@"
	awk -F, '/task-clock/ { printf "%.3f ", $1 / 1000 }' "$tmp/stat"
	tail -1 "$tmp/time"
}

# kernel symbols are cached per boot: the first capture reads /proc/kallsyms (cold), the
# others the cache (warm); a private cache makes the cold run happen here
export SCORCH_CACHE_DIR=$tmp/cache
start_workload
read -r c_cpu c_rss < <(timed "$scorch" record --unwind fp -d "$secs" -o "$tmp/c.pb.gz" 2>"$tmp/c.err")
stop_workload
c_n=$(awk '/samples,/ { print $2; exit }' "$tmp/c.err")
printf 'cold   scorch   %8s %10s %12s %10s  (empty kernel-symbol cache)\n' "$c_n" "$c_cpu" \
	"$(awk -v c="$c_cpu" -v n="$c_n" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')" "$c_rss"

printf '%-6s %-8s %8s %10s %12s %10s\n' round tool samples cpu_s us/sample rss_kb
for r in $(seq 1 "$rounds"); do
	# scorch: capture, symbolize and write pprof in one process
	sysctl -qw kernel.bpf_stats_enabled=1
	start_workload
	( sleep $((secs - 1)); bpftool prog show name on_sample -j >"$tmp/prog.json" 2>/dev/null || true ) &
	read -r s_cpu s_rss < <(timed "$scorch" record --unwind fp -d "$secs" -o "$tmp/s.pb.gz" 2>"$tmp/s.err")
	wait
	stop_workload
	s_n=$(awk '/samples,/ { print $2; exit }' "$tmp/s.err")
	bpf_ns=$(sed -n 's/.*"run_time_ns":\([0-9]*\).*"run_cnt":\([0-9]*\).*/\1 \2/p' "$tmp/prog.json" | awk '$2 { printf "%.0f", $1 / $2 }')
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"

	# perf: record with frame-pointer call graphs, then symbolize with perf script
	start_workload
	read -r p1_cpu p1_rss < <(timed perf record -q -e cpu-clock -F 99 -a -g -o "$tmp/perf.data" -- sleep "$secs")
	stop_workload
	read -r p2_cpu p2_rss < <(timed sh -c "perf script -i '$tmp/perf.data' > '$tmp/perf.txt' 2>/dev/null")
	p_n=$(grep -c 'cpu-clock' "$tmp/perf.txt" || true)
	p_cpu=$(awk -v a="$p1_cpu" -v b="$p2_cpu" 'BEGIN { printf "%.3f", a + b }')
	p_rss=$(( p1_rss > p2_rss ? p1_rss : p2_rss ))

	s_us=$(awk -v c="$s_cpu" -v n="$s_n" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')
	p_us=$(awk -v c="$p_cpu" -v n="$p_n" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')
	printf '%-6s %-8s %8s %10s %12s %10s\n' "$r" scorch "$s_n" "$s_cpu" "$s_us" "$s_rss"
	printf '%-6s %-8s %8s %10s %12s %10s\n' "$r" perf "$p_n" "$p_cpu" "$p_us" "$p_rss"
	printf '%-6s ratio scorch/perf: cpu per sample %s, peak rss %s; bpf program %s ns/run\n' "$r" \
		"$(awk -v a="$s_us" -v b="$p_us" 'BEGIN { printf "%.3f", b ? a / b : 0 }')" \
		"$(awk -v a="$s_rss" -v b="$p_rss" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" "${bpf_ns:-?}"
done

# fixed start-up cost (BTF for CO-RE, kallsyms, program load) against the marginal cost per
# sample: the agent pays the first once, the second for every sample
start_workload
read -r f_cpu f_rss < <(timed "$scorch" record --unwind fp -d 1 -o "$tmp/f.pb.gz" 2>"$tmp/f.err")
read -r l_cpu l_rss < <(timed "$scorch" record --unwind fp -d $((secs * 2)) -o "$tmp/l.pb.gz" 2>"$tmp/l.err")
stop_workload
f_n=$(awk '/samples,/ { print $2; exit }' "$tmp/f.err")
l_n=$(awk '/samples,/ { print $2; exit }' "$tmp/l.err")
echo "scorch -d 1: $f_n samples, $f_cpu s CPU; -d $((secs * 2)): $l_n samples, $l_cpu s CPU, peak RSS $l_rss KB"
awk -v a="$f_cpu" -v b="$l_cpu" -v m="$f_n" -v n="$l_n" 'BEGIN { per = (b - a) / (n - m);
	printf "scorch marginal cost %.1f us/sample, fixed cost %.3f s per run\n", 1e6 * per, a - per * m }'
