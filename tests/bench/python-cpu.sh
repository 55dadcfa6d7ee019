#!/usr/bin/env bash
# scorch's own CPU per sample for a Python program, with its interpreter frames walked and
# named (the default) and without (--no-python: the interpreter's C frames only), alternated
# in the same invocation (this machine is noisy): tests/fixtures/pywork.py under Debian's
# python3.11 (two threads, 20-ish frames deep), recorded at -F 999 for SECONDS.
# Not a test: figures for docs/benchmarks.md. Run as root after a build, from the top of the
# tree:   tests/bench/python-cpu.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-6} rounds=${2:-3}
scorch=build/scorch
[ -x "$scorch" ] || { echo "build first (ninja -C build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SCORCH_CACHE_DIR=$tmp/cache

# one MODE: prints "MODE samples cpu_ms us_per_sample"
one() {
	local mode=$1 extra=()
	[ "$mode" = no-python ] && extra=(--no-python)
	/usr/bin/time -f '%U %S' -o "$tmp/time" "$scorch" record -v -F 999 "${extra[@]}" \
		-o "$tmp/out.pb.gz" -- /usr/bin/python3.11 tests/fixtures/pywork.py "$secs" \
		"$tmp/truth.json" >/dev/null 2>"$tmp/err"
	# scorch's own CPU: the child's is not in it (time counts the waited-for command too,
	# so take the phases scorch reports for itself)
	awk -v m="$mode" '
		/samples, / && !n { n = $2 }
		/CPU time:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/ && $(i + 1) ~ /^ms/) t += $i }
		END { printf "%-10s %6d samples %8.1f ms %6.1f us/sample\n", m, n, t, n ? 1000 * t / n : 0 }' \
		"$tmp/err"
}

for ((r = 0; r < rounds; r++)); do
	one python
	one no-python
done
