#!/usr/bin/env bash
# Benchmark of the agent, before/after, taking a profile over HTTP during an interval: the agent
# with --unwind dwarf (stacks copied by BPF and unwound in user space) and --http-address
# 127.0.0.1:PORT samples the two-thread unwinding workload built without frame pointers (alone,
# in a cgroup of its own given with --cgroup) in intervals of SECONDS (default 10). After a first
# interval left out, intervals alternate between a "base" window (nothing else happens) and a
# "capture" window, at whose start `curl /debug/pprof/profile?seconds=SECONDS-3` runs; it must
# end within the window (else the pair is counted as spilled and left out) and bring a non-empty
# gzip'ed pprof (else the script fails). CPU per sample of a window: the run time of all the
# agent's threads (schedstat) between the "interval N" lines that bound it (-v), divided by the
# samples of that interval. PAIRS (default 2) base/capture pairs per agent run; each round runs
# OLD then NEW, the next NEW then OLD; the table gives medians over the runs and the spread
# ((max - min) / median). Not a test: no figure is asserted. Run as root after a build:
#   tests/bench/http-capture.sh OLD_SCORCH NEW_SCORCH [SECONDS] [ROUNDS]
# The workload is taken from BUILD_DIR (default: the directory of NEW_SCORCH) for both binaries;
# CAPTURE_SECONDS sets the length of the captures instead.
set -euo pipefail
cmdline="$0 $*"
BENCH_CWD=$PWD
cd "$(dirname "$0")/../.."
source tests/bench/agent-lib.sh
[ $# -ge 2 ] || { echo "usage: $0 OLD_SCORCH NEW_SCORCH [SECONDS] [ROUNDS]" >&2; exit 2; }
old=$(abs_binary "$1")
new=$(abs_binary "$2")
secs=${3:-10}
rounds=${4:-1}
pairs=${PAIRS:-2}
[ "$secs" -ge 4 ] || { echo "SECONDS ($secs) must be at least 4" >&2; exit 2; }
cap=${CAPTURE_SECONDS:-$((secs - 3))} # longer than SECONDS - 1 spills (to try that path)
build=${BUILD_DIR:-$(dirname "$new")}
[[ $build = /* ]] || build=$BENCH_CWD/$build
busy=$(abs_binary "$build/tests/unwind-workload-nofp")

bench_init
start_server
warm "$old" "$tmp/cache-old"
warm "$new" "$tmp/cache-new"

# check_pprof FILE: a non-empty gzip whose content starts as a pprof Profile does (field 1,
# sample_type, length-delimited: byte 0x0a)
check_pprof() {
	[ -s "$1" ] && gzip -t "$1" 2>/dev/null &&
		[ "$(gzip -dc "$1" | head -c 1 | od -An -tx1 | tr -d ' ')" = 0a ]
}

# run WHICH ROUND: one agent run of binary WHICH (old, new); appends
# "WHICH ROUND KIND cpu_ns samples" per window to $tmp/results
run() {
	local which=$1 round=$2 bin log wl hport i k c0 c1 kind cu url code n bytes out
	bin=${!which}
	log=$tmp/agent-$which-$round.log
	cgroup_new "$which-$round"
	in_cgroup "$cg" "$busy" $((secs * (2 * pairs + 3) + 60)) >/dev/null & wl=$!; pids+=("$wl")
	hport=$(free_port)
	url="http://127.0.0.1:$hport/debug/pprof/profile?seconds=$cap"
	export SCORCH_CACHE_DIR=$tmp/cache-$which
	agent_start "$bin" "$log" "$cg" --profiling-duration "${secs}s" --unwind dwarf \
		--http-address "127.0.0.1:$hport"
	wait_line "$log" "interval 1: " $((secs * 3 + 30)) "$agent" ||
		{ echo "$which agent: no first interval: $(cat "$log")" >&2; exit 1; }
	c0=$(cpu_ns "$agent")
	for ((i = 1; i <= 2 * pairs; i++)); do
		k=$((i + 1)) # the interval this window is
		kind=base
		[ $((i % 2)) -eq 1 ] || kind=capture
		cu=
		if [ "$kind" = capture ]; then
			out=$tmp/cap-$which-$round-$i
			curl -s -o "$out.gz" -w '%{http_code}' --max-time $((cap + 60)) "$url" \
				>"$out.code" 2>/dev/null & cu=$!; pids+=("$cu")
		fi
		wait_line "$log" "interval $k: " $((secs * 3 + 30)) "$agent" ||
			{ echo "$which agent: no interval $k: $(cat "$log")" >&2; exit 1; }
		c1=$(cpu_ns "$agent")
		n=$(interval_field "$log" "$k" 1)
		if [ -n "$cu" ]; then
			if kill -0 "$cu" 2>/dev/null; then
				kind=spilled # still running at the end of the window
			fi
			wait "$cu" || true
			code=$(cat "$out.code")
			if [ "$code" != 200 ] || ! check_pprof "$out.gz"; then
				echo "$which agent: $url answered '$code', not a gzip'ed pprof" >&2
				exit 1
			fi
		fi
		echo "$which $round $kind $((c1 - c0)) $n" >>"$tmp/results"
		bytes=0
		[ -z "$cu" ] || bytes=$(stat -c %s "$out.gz")
		awk -v w="$which" -v r="$round" -v k="$kind" -v c=$((c1 - c0)) -v n="$n" \
			-v b="$bytes" 'BEGIN {
			printf "round %d %s %-7s: %.3f s CPU, %d samples, %.1f us/sample%s\n",
			       r, w, k, c / 1e9, n, n ? c / 1e3 / n : 0,
			       k == "base" ? "" : sprintf(", profile of %d bytes", b) }'
		c0=$c1
		# a spilled capture also ran into the next window: leave that one out too
		if [ "$kind" = spilled ] && [ "$i" -lt $((2 * pairs)) ]; then
			i=$((i + 1)); k=$((i + 1))
			wait_line "$log" "interval $k: " $((secs * 3 + 30)) "$agent" ||
				{ echo "$which agent: no interval $k: $(cat "$log")" >&2; exit 1; }
			c0=$(cpu_ns "$agent")
			n=$(interval_field "$log" "$k" 1)
			echo "$which $round after-spill $((c0 - c1)) $n" >>"$tmp/results"
		fi
	done
	stop "$agent"
	stop "$wl"
	cgroup_remove "$cg"
	grep -E "warning|error" "$log" >&2 || true
}

: >"$tmp/results"
for ((r = 1; r <= rounds; r++)); do
	order="old new"
	[ $((r % 2)) -eq 1 ] || order="new old"
	for w in $order; do run "$w" "$r"; done
done

# us/sample of each run for KIND (its windows summed), and per run capture / base
per_run() {
	awk -v w="$1" -v k="$2" '$1 == w && $3 == k { c[$2] += $4; n[$2] += $5 }
		END { for (r in c) if (n[r]) print c[r] / 1e3 / n[r] }' "$tmp/results"
}
ratio_runs() {
	awk -v w="$1" '$1 == w { c[$2 " " $3] += $4; n[$2 " " $3] += $5; r[$2] = 1 }
		END { for (i in r) if (n[i " base"] && n[i " capture"] && c[i " base"])
			print c[i " capture"] / n[i " capture"] / (c[i " base"] / n[i " base"]) }' \
		"$tmp/results"
}
count() { awk -v w="$1" -v k="$2" '$1 == w && $3 == k' "$tmp/results" | wc -l; }
samples() { awk -v w="$1" -v k="$2" '$1 == w && $3 == k { print $5 }' "$tmp/results" | median; }
fmt='%-7s %16s %18s %14s %15s %19s\n'
echo
echo "$cmdline"
echo "($rounds rounds, $pairs base/capture pairs per run, $secs s windows (intervals)," \
	"captures of $cap s, --unwind dwarf)"
# shellcheck disable=SC2059 # the format is the table's, in one place
printf "$fmt" binary "base us/sample" "capture us/sample" "capture/base" "samples/window" \
	"captures (spilled)"
for w in old new; do
	# shellcheck disable=SC2059
	printf "$fmt" "$w" "$(cell per_run $w base)" "$(cell per_run $w capture)" \
		"$(cell ratio_runs $w)" "$(samples $w base)" \
		"$(count $w capture) ($(count $w spilled))"
done
# shellcheck disable=SC2059
printf "$fmt" new/old "$(rat per_run base)" "$(rat per_run capture)" "$(rat ratio_runs)"
echo "(in parentheses: the spread over the runs, (max - min) / median)"
