#!/usr/bin/env bash
# tests/bench/agent.sh for two scorch binaries in turn, before/after: each round runs it with
# SCORCH=OLD then SCORCH=NEW (the next round NEW then OLD), the workloads of one build directory
# for both (BUILD_DIR, default: the directory of NEW_SCORCH), and prints per binary the medians
# over the rounds of the agent's CPU per sample, its share of one core, peak and steady RSS,
# with the spread ((max - min) / median), then the ratios new/old. Not a test: no figure is
# asserted. Run as root after a build:
#   tests/bench/agent-ab.sh OLD_SCORCH NEW_SCORCH [SECONDS] [ROUNDS]   (default 60 s, 2 rounds)
# AGENT_ARGS, WITH_OUTPUT_DIR and ISOLATE (the workloads alone, in a cgroup given to the agent:
# much less noise on a shared machine) are passed on to agent.sh.
set -euo pipefail
cmdline="$0 $*"
BENCH_CWD=$PWD
cd "$(dirname "$0")/../.."
source tests/bench/agent-lib.sh
[ $# -ge 2 ] || { echo "usage: $0 OLD_SCORCH NEW_SCORCH [SECONDS] [ROUNDS]" >&2; exit 2; }
# shellcheck disable=SC2034 # used as ${!w}
old=$(abs_binary "$1")
new=$(abs_binary "$2")
secs=${3:-60}
rounds=${4:-2}
build=${BUILD_DIR:-$(dirname "$new")}
[[ $build = /* ]] || build=$BENCH_CWD/$build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

: >"$tmp/results"
for ((r = 1; r <= rounds; r++)); do
	order="old new"
	[ $((r % 2)) -eq 1 ] || order="new old"
	for w in $order; do
		out=$tmp/$w-$r.out
		SCORCH=${!w} BUILD_DIR=$build tests/bench/agent.sh "$secs" >"$out"
		echo "round $r $w: $(tr '\n' ' ' <"$out" | cut -c1-200)..."
		# which round cpu_s us_per_sample pct_core peak_kb steady_kb samples intervals
		awk -v w="$w" -v r="$r" '
			/^agent: / { samples = $4; intervals = $6 }
			/^CPU / { cpu = $2; us = $4; pct = $6 }
			/^RSS: / { peak = $3; steady = $(NF - 1) }
			END { print w, r, cpu, us, pct, peak, steady, samples, intervals }' \
			"$out" >>"$tmp/results"
	done
done

# col WHICH FIELD: the figures of WHICH's runs in column FIELD of the results
col() { awk -v w="$1" -v f="$2" '$1 == w { print $f }' "$tmp/results"; }
cell() { printf '%s (%s%%)' "$(col "$1" "$2" | median)" "$(col "$1" "$2" | spread)"; }
rat() {
	awk -v a="$(col new "$1" | median)" -v b="$(col old "$1" | median)" \
		'BEGIN { if (a != "nan" && b + 0) printf "%.2f", a / b; else printf "-" }'
}
what="the whole machine"
[ -z "${ISOLATE:-}" ] || what="only the workloads (ISOLATE=1)"
echo
echo "$cmdline"
echo "($rounds rounds of tests/bench/agent.sh $secs at 99 Hz, 10 s intervals, $what)"
fmt='%-7s %16s %16s %18s %18s %9s\n'
# shellcheck disable=SC2059 # the format is the table's, in one place
printf "$fmt" binary "us/sample" "% of one core" "peak RSS KB" "steady RSS KB" samples
for w in old new; do
	# shellcheck disable=SC2059
	printf "$fmt" "$w" "$(cell $w 4)" "$(cell $w 5)" "$(cell $w 6)" "$(cell $w 7)" \
		"$(col $w 8 | median)"
done
# shellcheck disable=SC2059
printf "$fmt" new/old "$(rat 4)" "$(rat 5)" "$(rat 6)" "$(rat 7)" "$(rat 8)"
echo "(in parentheses: the spread over the rounds, (max - min) / median)"
