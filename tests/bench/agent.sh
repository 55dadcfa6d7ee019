#!/usr/bin/env bash
# Benchmark of the always-on agent: scorch agent at 99 Hz for SECONDS (default 60) with both CPUs
# busy (the two-thread unwinding workload, built without frame pointers) and short processes
# starting and exiting all along (one 0.2 s workload process every 0.5 s), pushing 10 s
# intervals to the test gRPC server (the issue's configuration; WITH_OUTPUT_DIR=1 also writes
# each interval to --output-dir, which builds every profile a second time). Prints the agent's CPU
# seconds per sample (the run time of all its threads, /proc/PID/task/*/schedstat, taken just
# before SIGTERM), its share of one core (and per busy CPU), peak and steady RSS (VmRSS read
# every second; steady = the median of the second half), and the intervals delivered.
# Not a test: the figures are for docs/benchmarks.md. Run as root after a build:
#   tests/bench/agent.sh [SECONDS]     (AGENT_ARGS="..." adds options to the agent)
# SCORCH=PATH runs another scorch binary (default build/scorch), BUILD_DIR=DIR takes the
# workloads from DIR/tests (default: the directory of SCORCH); relative paths are taken from
# where the script is started. tests/bench/agent-ab.sh runs it for two binaries in turn.
# ISOLATE=1 puts the workloads in a cgroup (v2) of their own and gives it to the agent
# (--cgroup): the figures then leave out whatever else runs on the machine.
# SOAK=1 adds what else a real machine runs: a Python process 20 frames deep all along
# (tests/bench/pyspin.py) and a node process (tests/fixtures/nodework.js, --perf-basic-prof,
# a ~90 MB binary whose files the agent loads and releases) started anew every 5 s.
set -euo pipefail
cwd=$PWD
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
secs=${1:-60}
scorch=build/scorch
[ -z "${SCORCH:-}" ] || { scorch=$SCORCH; [[ $scorch = /* ]] || scorch=$cwd/$scorch; }
build=$(dirname "$scorch")
[ -z "${BUILD_DIR:-}" ] || { build=$BUILD_DIR; [[ $build = /* ]] || build=$cwd/$build; }
busy=$build/tests/unwind-workload-nofp
short=$build/tests/workload
[ -x "$scorch" ] && [ -x "$busy" ] || { echo "build first (scripts/test or ninja -C build)"; exit 1; }
tmp=$(mktemp -d)
pids=()
cg=
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$cg" ]; then # once its last short process has exited (at most 30 s)
		for _ in $(seq 300); do
			grep -qx "populated 0" "$cgroot/$cg/cgroup.events" && break
			sleep 0.1
		done
		rmdir "$cgroot/$cg" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
if [ -n "${ISOLATE:-}" ]; then
	cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	[ -n "$cgroot" ] || { echo "ISOLATE: no cgroup2 mount"; exit 1; }
	mkdir "$cgroot/scorch-bench-agent-$$"
	cg=scorch-bench-agent-$$
fi
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/stubs"
/usr/bin/python3 tests/integration/parca_server.py --port "$port" --out "$tmp/recv.jsonl" \
	--proto-dir proto --work "$tmp/stubs" >"$tmp/server.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/server.log" && break; sleep 0.1; done

"$busy" $((secs + 10)) >/dev/null & pids+=($!)
( end=$((SECONDS + secs + 5)); while [ $SECONDS -lt $end ]; do "$short" 1 0.2 >/dev/null; sleep 0.3; done ) & pids+=($!)
nstarted=2
if [ -n "${SOAK:-}" ]; then
	/usr/bin/python3.11 tests/bench/pyspin.py $((secs + 10)) 20 >/dev/null & pids+=($!)
	# node writes its v8 log to the cwd ($tmp); its perf map, /tmp/perf-PID.map, goes when it exits
	( cd "$tmp" && end=$((SECONDS + secs + 5)); while [ $SECONDS -lt $end ]; do
		out=$(node --perf-basic-prof "$OLDPWD/tests/fixtures/nodework.js" 4)
		rm -f /tmp/perf-"${out%%$'\n'*}".map; sleep 1
	done ) & pids+=($!)
	nstarted=4
fi
# the ones just started (the loops' processes to come are their children: they start inside)
if [ -n "$cg" ]; then
	for p in "${pids[@]: -$nstarted}"; do echo "$p" >"$cgroot/$cg/cgroup.procs"; done
fi
sleep 1
export SCORCH_CACHE_DIR=$tmp/cache
"$scorch" record -q -d 1 -o "$tmp/warm.pb.gz" # kernel-symbol cache, as on a machine that runs it
"$scorch" agent --remote-store-address "127.0.0.1:$port" --remote-store-insecure \
	--spool-dir "$tmp/spool" ${WITH_OUTPUT_DIR:+--output-dir "$tmp/out"} --profiling-duration 10s \
	${cg:+--cgroup "$cg"} ${AGENT_ARGS:-} 2>"$tmp/agent.log" &
agent=$!; pids+=($agent)
: >"$tmp/rss"
for _ in $(seq "$secs"); do
	sleep 1
	awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status" >>"$tmp/rss"
done
# CPU of every thread in ns (schedstat), not the 10 ms ticks of /proc/PID/stat
cpu_ns=$(cat /proc/"$agent"/task/*/schedstat | awk '{ s += $1 } END { print s }')
threads=$(for t in /proc/"$agent"/task/*; do
	printf '%s %.3f s, ' "$(cat "$t/comm")" "$(awk '{ print $1 / 1e9 }' "$t/schedstat")"
done)
wakeups=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$agent/status")
# user and kernel time of the whole process, in clock ticks
read -r utime stime < <(awk '{ print $14, $15 }' "/proc/$agent/stat")
kill -TERM "$agent"; wait "$agent" || true
grep -E "warning|error" "$tmp/agent.log" >&2 || true
cpu=$(awk -v n="$cpu_ns" 'BEGIN { printf "%.3f", n / 1e9 }')
samples=$(sed -n 's/.*stopped (SIGTERM): [0-9]* intervals, \([0-9]*\) samples.*/\1/p' "$tmp/agent.log")
intervals=$(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$tmp/agent.log")
received=$(wc -l <"$tmp/recv.jsonl")
peak=$(sort -n "$tmp/rss" | tail -1)
steady=$(tail -n $((secs / 2)) "$tmp/rss" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
ncpu=$(nproc)
echo "agent: $secs s, $samples samples, $intervals intervals ($received received by the server)"
awk -v c="$cpu" -v n="$samples" -v t="$secs" -v k="$ncpu" 'BEGIN {
	printf "CPU %.3f s: %.1f us/sample, %.3f %% of one core, %.3f %% per busy CPU\n",
	       c, n ? 1e6 * c / n : 0, 100 * c / t, 100 * c / t / k }'
echo "threads: ${threads%, }; user $utime ticks, kernel $stime ticks (of $(getconf CLK_TCK)/s);" \
	"main thread woken $wakeups times"
echo "RSS: peak $peak KB, steady (median of the last $((secs / 2)) s) $steady KB"
echo "RSS every 10 s (KB): $(awk 'NR % 10 == 0' "$tmp/rss" | tr '\n' ' ')"
