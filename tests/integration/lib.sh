# Helpers for the integration tests (sourced). They need root and BPF: outside CI a test
# without them is skipped (exit 77), in CI (CI=true) it fails.
set -euo pipefail

TMP=$(mktemp -d /tmp/scorch-test.XXXXXX)
# kernel symbols are cached per test, never in the machine's /var/cache/scorch
export SCORCH_CACHE_DIR=$TMP/cache
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
finish() {
	if [ "$FAILS" -ne 0 ]; then echo "$FAILS failed"; exit 1; fi
	echo "all checks passed"
}

require_bpf() {
	local why=""
	[ "$(id -u)" -eq 0 ] || why="not root"
	[ -z "$why" ] && [ ! -r /sys/kernel/btf/vmlinux ] && why="no kernel BTF"
	if [ -n "$why" ]; then
		if [ "${CI:-}" = true ]; then echo "FAIL: needs root and BPF ($why)"; exit 1; fi
		echo "SKIP: needs root and BPF ($why)"; exit 77
	fi
}

# go tool pprof, offline and without touching $HOME
gopprof() { HOME=$TMP PPROF_TMPDIR=$TMP PPROF_BINARY_PATH=/nonexistent go tool pprof -symbolize=none "$@"; }

# Samples of a folded file whose stack contains frame $2 (a whole frame name).
folded_count() {
	awk -v f="$2" '{ n = $NF; $NF = ""; sub(/ $/, ""); k = split($0, fr, ";");
		for (i = 1; i <= k; i++) if (fr[i] == f) { s += n; break } } END { print s + 0 }' "$1"
}
folded_total() { awk '{ s += $NF } END { print s + 0 }' "$1"; }

# pct PART WHOLE -> percentage with one decimal
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }
# check_program LOG: the run that wrote LOG (record -v, or the agent) ran the BPF program that
# SCORCH_BPF_PROGRAM asks for (the -compat runs of the tests), or the current one
check_program() {
	local want=${SCORCH_BPF_PROGRAM:-current}
	[ "$want" = auto ] && want=current
	if grep -qE "BPF program: $want" "$1" ||
		{ [ "$want" = current ] && ! grep -q "BPF program: " "$1"; }; then
		ok "BPF program: $want"
	else
		fail "not the $want BPF program: $(grep "BPF program" "$1" || echo none named)"
	fi
}
# wait_exec PID PATH: wait (up to 30 s) until PID runs PATH; a process started with & is a
# fork of the shell until its exec, and a capture that starts before it sees the shell too
wait_exec() {
	local want i
	want=$(readlink -f "$2")
	for i in $(seq 600); do
		[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.05
	done
	fail "pid $1 did not exec $want in 30 s"
	return 1
}
# within VALUE EXPECTED TOLERANCE -> true when |value - expected| <= tolerance
within() { awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= t) }'; }
