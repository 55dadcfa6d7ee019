#!/usr/bin/env bash
# The BPF sampling program's own cost per run on the running kernel (kernel.bpf_stats_enabled:
# run_time_ns / run_cnt, read with bpftool while scorch records), for each build of the program
# the kernel can run (current: bpf_loop() and bpf_task_pt_regs(); compat: 5.10 and later) and
# each way of taking user stacks (fp: the frame-pointer workload walked in the kernel; dwarf:
# the workload without frame pointers, its stack copied for user space), and for Python
# (py: two python3.11 processes 20 Python frames deep, their interpreter frames walked too;
# py-off: the same with --no-python, the native stack copy alone). Both CPUs busy.
# Not a test: the figures are for docs/benchmarks.md (in a TCG guest of tests/kernels, for
# comparing kernels with each other only). Run as root after a build, from the top of the tree:
#   tests/bench/bpf-cost.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
scorch=${SCORCH_BIN:-build/scorch}
[ -x "$scorch" ] || { echo "build first (ninja -C build)" >&2; exit 1; }
tmp=$(mktemp -d)
wl=
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	[ -z "$wl" ] || { kill "$wl" 2>/dev/null || true; wait "$wl" 2>/dev/null || true; }
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	rm -rf "$tmp"
}
trap cleanup EXIT
export SCORCH_CACHE_DIR=$tmp/cache

# one PROGRAM UNWIND: records SECS with that program, prints its line
one() {
	local prog=$1 unwind=$2 kind=fp name i rc=0 json wl2= extra=()
	[ "$unwind" = dwarf ] && kind=nofp
	name=on_sample
	[ "$prog" = compat ] && name=compat_sample
	case $unwind in
	py | py-off)
		/usr/bin/python3.11 tests/bench/pyspin.py $((secs + 30)) & wl=$!
		/usr/bin/python3.11 tests/bench/pyspin.py $((secs + 30)) & wl2=$!
		[ "$unwind" = py-off ] && extra=(--no-python)
		extra+=(--unwind dwarf ${PY_STACK_COPY:+--stack-copy "$PY_STACK_COPY"}) ;;
	*)
		build/tests/unwind-workload-$kind $((secs + 30)) >/dev/null & wl=$!
		extra=(--unwind "$unwind") ;;
	esac
	sysctl -qw kernel.bpf_stats_enabled=1
	SCORCH_BPF_PROGRAM=$prog "$scorch" record -q ${BENCH_FREQ:+-F "$BENCH_FREQ"} "${extra[@]}" -d "$secs" \
		-o "$tmp/out.pb.gz" 2>"$tmp/err" & local rec=$!
	# the program's figures just before the capture ends (bounded wait for it to load)
	for ((i = 0; i < secs * 10 + 100; i++)); do
		json=$(bpftool prog show name "$name" -j 2>/dev/null || true)
		[[ $json = *run_cnt* ]] && break
		sleep 0.1
	done
	sleep $((secs > 2 ? secs - 2 : 0))
	json=$(bpftool prog show name "$name" -j 2>/dev/null || true)
	wait "$rec" || rc=$?
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	kill "$wl" 2>/dev/null || true; wait "$wl" 2>/dev/null || true; wl=
	[ -z "$wl2" ] || { kill "$wl2" 2>/dev/null || true; wait "$wl2" 2>/dev/null || true; }
	if [ "$rc" -ne 0 ]; then
		printf '%-24s %-8s %-6s refused: %s\n' "$(uname -r)" "$prog" "$unwind" "$(head -1 "$tmp/err")"
		return
	fi
	sed -n 's/.*"run_time_ns":\([0-9]*\).*"run_cnt":\([0-9]*\).*/\1 \2/p' <<<"$json" |
		awk -v k="$(uname -r)" -v p="$prog" -v u="$unwind" '$2 {
			printf "%-24s %-8s %-6s %8d runs %8.0f ns/run\n", k, p, u, $2, $1 / $2 }'
}

printf '%-24s %-8s %-6s %13s %15s\n' kernel program unwind runs cost
for prog in current compat; do
	for unwind in ${UNWINDS:-fp dwarf py-off py}; do one "$prog" "$unwind"; done
done
