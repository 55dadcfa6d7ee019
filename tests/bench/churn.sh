#!/usr/bin/env bash
# Benchmark of the agent, before/after, with many short-lived processes per interval: its CPU
# per sample while the two-thread unwinding workload (no frame pointers) keeps the CPUs busy
# alone ("few"), and while also RATE (default 50) processes a second start, each spinning
# 20-50 ms of its own CPU time and exiting ("many": tests/bench/spawn.py over
# tests/fixtures/workload, at most 16 at once). Same rate (99 Hz), same intervals
# (INTERVAL s, default 10), same duration. The workloads run in a cgroup of their own that the
# agent is given (--cgroup), so that what else runs on the machine is not sampled.
# The CPU is the run time of all the agent's threads (schedstat) from the end of its first
# interval to the end of the last one, divided by the samples of those intervals (from -v's
# "interval N: S samples, P processes" lines, which also give the processes per interval): the
# start-up and the first interval are left out. Each round runs OLD then NEW, the next NEW then
# OLD; the table gives the median over the rounds and the spread ((max - min) / median).
# Not a test: no figure is asserted. Run as root after a build:
#   tests/bench/churn.sh OLD_SCORCH NEW_SCORCH [SECONDS] [ROUNDS]
# SECONDS (default 30) is each agent run, a multiple of INTERVAL; the workloads are taken from
# BUILD_DIR (default: the directory of NEW_SCORCH), the same for both binaries.
set -euo pipefail
cmdline="$0 $*"
BENCH_CWD=$PWD
cd "$(dirname "$0")/../.."
source tests/bench/agent-lib.sh
[ $# -ge 2 ] || { echo "usage: $0 OLD_SCORCH NEW_SCORCH [SECONDS] [ROUNDS]" >&2; exit 2; }
old=$(abs_binary "$1")
new=$(abs_binary "$2")
secs=${3:-30}
rounds=${4:-2}
interval=${INTERVAL:-10}
rate=${RATE:-50}
build=${BUILD_DIR:-$(dirname "$new")}
[[ $build = /* ]] || build=$BENCH_CWD/$build
busy=$(abs_binary "$build/tests/unwind-workload-nofp")
spin=$(abs_binary "$build/tests/workload")
nint=$((secs / interval - 1))
[ "$nint" -ge 1 ] ||
	{ echo "SECONDS ($secs) must be at least 2 intervals ($interval s)" >&2; exit 2; }

bench_init
start_server
warm "$old" "$tmp/cache-old"
warm "$new" "$tmp/cache-new"

# run WHICH CASE ROUND: one agent run of binary WHICH (old, new) in CASE (few, many); appends
# "WHICH CASE ROUND cpu_ns samples processes_per_interval" to $tmp/results
run() {
	local which=$1 kase=$2 round=$3 bin cg log wl sp c0 c1 i s p samples=0 procs=0
	bin=${!which}
	log=$tmp/agent-$which-$kase-$round.log
	cgroup_new "$which-$kase-$round"
	in_cgroup "$cg" "$busy" $((secs + 30)) >/dev/null & wl=$!; pids+=("$wl")
	sp=
	if [ "$kase" = many ]; then
		in_cgroup "$cg" /usr/bin/python3 tests/bench/spawn.py --rate "$rate" \
			--seconds $((secs + 30)) \
			-- "$spin" 1 >"$tmp/spawn-$which-$round.out" & sp=$!; pids+=("$sp")
	fi
	export SCORCH_CACHE_DIR=$tmp/cache-$which
	agent_start "$bin" "$log" "$cg" --profiling-duration "${interval}s"
	wait_line "$log" "interval 1: " $((interval * 3 + 30)) "$agent" ||
		{ echo "$which agent: no first interval: $(cat "$log")" >&2; exit 1; }
	c0=$(cpu_ns "$agent")
	wait_line "$log" "interval $((nint + 1)): " $((interval * (nint + 2) + 30)) "$agent" ||
		{ echo "$which agent: no interval $((nint + 1)): $(cat "$log")" >&2; exit 1; }
	c1=$(cpu_ns "$agent")
	stop "$agent"
	[ -z "$sp" ] || stop "$sp"
	stop "$wl"
	cgroup_remove "$cg"
	grep -E "warning|error" "$log" >&2 || true
	for ((i = 2; i <= nint + 1; i++)); do
		s=$(interval_field "$log" "$i" 1)
		p=$(interval_field "$log" "$i" 2)
		samples=$((samples + s))
		procs=$((procs + p))
	done
	echo "$which $kase $round $((c1 - c0)) $samples $((procs / nint))" >>"$tmp/results"
	awk -v w="$which" -v k="$kase" -v r="$round" -v c=$((c1 - c0)) -v n="$samples" \
		-v p=$((procs / nint)) 'BEGIN {
		printf "round %d %s %-4s: %.3f s CPU, %d samples, %.1f us/sample, " \
		       "%d processes/interval\n",
		       r, w, k, c / 1e9, n, n ? c / 1e3 / n : 0, p }'
}

: >"$tmp/results"
for ((r = 1; r <= rounds; r++)); do
	order="old new"
	[ $((r % 2)) -eq 1 ] || order="new old"
	for w in $order; do
		cases="few many"
		[ $((r % 2)) -eq 1 ] || cases="many few"
		for k in $cases; do run "$w" "$k" "$r"; done
	done
done

# per-run figures: us/sample; per binary: median few, median many, median of the per-round ratio
col() { awk -v w="$1" -v k="$2" '$1 == w && $2 == k && $5 { print $4 / 1e3 / $5 }' "$tmp/results"; }
ratio_runs() {
	awk -v w="$1" '$1 == w && $5 { u[$3 " " $2] = $4 / 1e3 / $5; r[$3] = 1 }
		END { for (i in r) if (u[i " few"]) print u[i " many"] / u[i " few"] }' \
		"$tmp/results"
}
procs() { awk -v w="$1" -v k="$2" '$1 == w && $2 == k { print $6 }' "$tmp/results" | median; }
fmt='%-7s %16s %16s %14s %15s %15s\n'
echo
echo "$cmdline"
echo "($rounds rounds, $secs s per run, $interval s intervals," \
	"measured: intervals 2-$((nint + 1))," \
	"$rate processes/s asked for in 'many')"
# shellcheck disable=SC2059 # the format is the table's, in one place
printf "$fmt" binary "few us/sample" "many us/sample" "many/few" "procs/int few" "procs/int many"
for w in old new; do
	# shellcheck disable=SC2059
	printf "$fmt" "$w" "$(cell col $w few)" "$(cell col $w many)" "$(cell ratio_runs $w)" \
		"$(procs $w few)" "$(procs $w many)"
done
# shellcheck disable=SC2059
printf "$fmt" new/old "$(rat col few)" "$(rat col many)" "$(rat ratio_runs)"
echo "(in parentheses: the spread over the rounds, (max - min) / median)"
