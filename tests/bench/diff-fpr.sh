#!/usr/bin/env bash
# How often `scorch diff` flags a change where there is none, over the agent's intervals: the
# splitwork fixture (steady 50 %, shifting and fading 25 % each, wandering by up to JITTER
# points of steady's share every second: more than sampling noise) runs PHASE seconds, its
# split changes, PHASE seconds more; the agent writes 1 s intervals. Splits at every second
# within a phase with WINDOW seconds on each side (no change there) are compared with
# Welch's test over intervals and with the pooled z-test on the merged sides (--test z); a
# split counts as a false positive when anything is flagged. Also the split at the change,
# where shifting and fading must be flagged. RUNS runs with different seeds.
# Not a test: the rates are printed, nothing is asserted. Run as root after a build:
#   tests/bench/diff-fpr.sh [BUILD_DIR] [RUNS] [PHASE] [WINDOW] [JITTER]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
runs=${2:-3}
phase=${3:-30}
window=${4:-5}
jitter=${5:-0.3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PY=/usr/bin/python3
flagged() { $PY -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(f["name"] for f in d["functions"]
                      if f["self"]["significant"] or f["cum"]["significant"])))' "$1"; }

total=0 fp_welch=0 fp_z=0 hits=0
for run in $(seq "$runs"); do
	out=$tmp/out$run
	"$build/tests/splitwork" "$phase" "$phase" "$jitter" "$run" >"$tmp/work$run.log" & wl=$!
	"$build/scorch" agent --output-dir "$out" --output-max-files 100000 --profiling-duration 1s \
		-p "$wl" 2>"$tmp/agent$run.log" & ap=$!
	wait "$wl"
	n=$(ls "$out" | wc -l)
	for _ in $(seq 50); do [ "$(ls "$out" | wc -l)" -gt "$n" ] && break; sleep 0.1; done
	kill -TERM "$ap"; wait "$ap" || true
	switch=$(sed -n 's/^switch at //p' "$tmp/work$run.log")
	"$build/scorch" diff --split-at "@$switch" "$out" --tagfocus "pid=$wl" --json --top 1000 \
		>"$tmp/at.json"
	[ "$(flagged "$tmp/at.json")" = "fading shifting" ] && hits=$((hits + 1))
	first=$($PY -c 'import sys; print(int(float(sys.argv[1])) - int(sys.argv[2]))' "$switch" "$phase")
	for p in 0 1; do
		for k in $(seq $((window + 1)) $((phase - window - 1))); do
			t=$((first + p * phase + k))
			for test in welch z; do
				"$build/scorch" diff --split-at "@$t" --window "${window}s" "$out" \
					--tagfocus "pid=$wl" --json --top 1000 --test "$test" >"$tmp/n.json"
				if [ -n "$(flagged "$tmp/n.json")" ]; then
					if [ "$test" = welch ]; then fp_welch=$((fp_welch + 1)); else fp_z=$((fp_z + 1)); fi
				fi
			done
			total=$((total + 1))
		done
	done
done
echo "command: $0 $*"
echo "runs $runs, phases of $phase s, windows of $window s on each side, jitter $jitter"
echo "the change found (exactly shifting and fading): $hits of $runs runs"
$PY -c 'import sys
t, w, z = map(int, sys.argv[1:])
print("splits without a change: %d" % t)
print("  Welch over intervals (BH, 5 %% FDR): %d flagged, %.1f %%" % (w, 100.0 * w / t))
print("  pooled z-test (Bonferroni, 5 %%):    %d flagged, %.1f %%" % (z, 100.0 * z / t))' \
	"$total" "$fp_welch" "$fp_z"
