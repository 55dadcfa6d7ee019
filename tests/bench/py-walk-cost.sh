#!/usr/bin/env bash
# What walking Python frames costs the BPF program, timed inside it: a build of the program with
# -Dbpf_timing=true (made here in build-timing/) adds up per CPU the nanoseconds of py_walk() and
# of whole runs, for the runs that walked a Python stack and the others. Two python3.11
# processes (tests/bench/pyspin.py) DEPTH Python frames deep keep both CPUs busy; scorch
# records at 999 Hz, once with Python frames and once with --no-python, for each build of the
# program (current, compat). Timing from inside one run has none of the run-to-run noise of
# bpf_stats (tests/bench/bpf-cost.sh); each reading costs ~40 ns, included in the figures.
# Not a test: the figures are for docs/benchmarks.md. Run as root from the top of the tree:
#   tests/bench/py-walk-cost.sh [SECONDS] [DEPTHS...]
# BUILDS="before=DIR after=DIR" compares meson build directories (each configured with
# -Dbpf_timing=true, of any checkout) row by row in the same invocation; ROUNDS=N repeats
# each pair of rows N times; PROGRAMS="current" or MODES="py-off" run only those.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-6}
shift || true
depths=${*:-1 10 20 40}
builds=${BUILDS:-this=build-timing}
if [ -z "${BUILDS:-}" ] && [ ! -d build-timing ]; then
	meson setup build-timing -Dbpf_timing=true >/dev/null
fi
for b in $builds; do
	meson configure "${b#*=}" -Dbpf_timing=true >/dev/null
	ninja -C "${b#*=}" scorch >/dev/null
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
export SCORCH_CACHE_DIR=$tmp/cache

# one BUILD PROGRAM DEPTH MODE: prints a line of the timing map's sums
one() {
	local name=${1%%=*} bt=${1#*=} prog=$2 depth=$3 mode=$4 rec i extra=()
	[ "$mode" = py-off ] && extra=(--no-python)
	pids=()
	/usr/bin/python3.11 tests/bench/pyspin.py $((secs + 30)) "$depth" & pids+=($!)
	/usr/bin/python3.11 tests/bench/pyspin.py $((secs + 30)) "$depth" & pids+=($!)
	SCORCH_BPF_PROGRAM=$prog "$bt/scorch" record -q -F 999 --unwind dwarf "${extra[@]}" \
		-d "$secs" -o "$tmp/out.pb.gz" 2>"$tmp/err" & rec=$!
	# the sums just before the capture ends (bounded wait for the map to appear)
	for ((i = 0; i < secs * 10 + 100; i++)); do
		bpftool map dump name timing -j >"$tmp/t.json" 2>/dev/null && break
		sleep 0.1
	done
	sleep $((secs > 2 ? secs - 2 : 0))
	bpftool map dump name timing -j >"$tmp/t.json"
	wait "$rec" || { echo "record failed: $(head -1 "$tmp/err")" >&2; exit 1; }
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	pids=()
	python3 - "$tmp/t.json" "$name" "$prog" "$depth" "$mode" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
tot = {}
for e in m[0]["formatted"]["values"]:
    for k, v in e["value"].items():
        tot[k] = tot.get(k, 0) + v
us = lambda ns, n: f"{ns / n / 1000:6.2f}" if n else "     -"
print(f"{sys.argv[2]:8} {sys.argv[3]:8} {sys.argv[4]:>5} {sys.argv[5]:6} {tot['walks']:7} {us(tot['walk_ns'], tot['walks'])}"
      f" {tot['py_runs']:8} {us(tot['py_ns'], tot['py_runs'])} {tot['other_runs']:8} {us(tot['other_ns'], tot['other_runs'])}")
PY
}

echo "kernel $(uname -r), $secs s per row at 999 Hz, figures in us per run"
printf '%-8s %-8s %5s %-6s %7s %6s %8s %6s %8s %6s\n' build program depth mode walks walk \
	runs-py run runs-no run
for prog in ${PROGRAMS:-current compat}; do
	for depth in $depths; do
		for ((r = 0; r < ${ROUNDS:-1}; r++)); do
			for b in $builds; do
				for mode in ${MODES:-py py-off}; do one "$b" "$prog" "$depth" "$mode"; done
			done
		done
	done
done
