#!/usr/bin/env bash
# Whole-machine capture: every process, kernel threads, no idle task; processes that exit before
# the capture ends are still symbolized.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

"$WORKLOAD" 1 6 >/dev/null & long=$!; PIDS+=("$long")
(
	sleep 0.5
	# short-lived processes: 300 ms of CPU each, all gone before the capture ends
	for i in 1 2 3; do "$WORKLOAD" 1 0.3 >/dev/null; done
) & PIDS+=($!)
"$SCORCH" record -d 3 --format folded -o "$TMP/s.folded" 2>"$TMP/err"
cat "$TMP/err"
grep -q ';hot_a' "$TMP/s.folded" && ok "workload functions named" || fail "no hot_a in a system-wide capture"
grep -q '_\[k\]' "$TMP/s.folded" && ok "kernel frames present" || fail "no kernel frames"
if grep -qE '(^|;)workload\+0x' "$TMP/s.folded"; then
	fail "unsymbolized workload frames: $(grep -E '(^|;)workload\+0x' "$TMP/s.folded" | head -3)"
else
	ok "no unsymbolized workload frames"
fi
grep -q "lost" "$TMP/err" && ok "summary printed" || fail "no summary"

"$SCORCH" record -q -d 2 -o "$TMP/s.pb.gz"
tags=$(gopprof -sample_index=samples -tags "$TMP/s.pb.gz")
grep -q ": $long\$" <<<"$tags" && ok "workload pid $long present" || fail "pid $long missing"
grep -qE 'swapper' <<<"$tags" && fail "idle task counted" || ok "idle task not counted"

# short-lived processes alone: their samples are symbolized although they exited
for i in 1 2 3; do "$WORKLOAD" 1 0.3 >/dev/null; sleep 0.2; done & PIDS+=($!)
"$SCORCH" record -q -d 2.5 --format folded -o "$TMP/short.folded"
n=$(folded_count "$TMP/short.folded" worker)
named=$(awk '/;worker;(hot_a|hot_b|in_kernel)/ { s += $NF } END { print s + 0 }' "$TMP/short.folded")
echo "short-lived: $named of $n worker samples reach a named hot function"
[ "$n" -gt 20 ] && within "$(pct "$named" "$n")" 100 10 && ok "short-lived processes symbolized" ||
	fail "short-lived processes: $named of $n named"
finish
