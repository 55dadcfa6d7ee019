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
"$SCORCH" record -d 3 --format folded --no-comm-root -o "$TMP/s.folded" 2>"$TMP/err"
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

# short-lived processes alone: a loop starts 12 processes that burn 150 ms of CPU each and exit;
# their samples are symbolized (and unwound) although they are gone before the capture ends
(sleep 0.3; for i in $(seq 12); do "$WORKLOAD" 1 0.15 >/dev/null; done) & PIDS+=($!)
"$SCORCH" record -q -d 3.5 -o "$TMP/short.pb.gz"
# every sample of the workload processes (by comm), and those with the whole chain from the
# thread's first frame to a named hot function
read -r named n < <(gopprof -sample_index=samples -traces "$TMP/short.pb.gz" | python3 -c '
import re, sys
named = total = 0
for block in sys.stdin.read().split("-----------+")[1:]:
    if not re.search(r"^ +comm: +workload$", block, re.M):
        continue
    lines = [l for l in block.splitlines()[1:] if l.strip() and not re.match(r"^ *\w+: ", l)]
    m = re.match(r"^ *(\d+) +(.*)$", lines[0])
    count, frames = int(m.group(1)), [m.group(2).strip()] + [l.strip() for l in lines[1:]]
    total += count
    # leaf first: kernel frames, the hot function, then worker and the thread start
    if frames[-3:] == ["worker", "start_thread", "__clone3"] and len(frames) > 3 and \
            frames[-4] in ("hot_a", "hot_b", "in_kernel"):
        named += count
print(named, total)')
echo "short-lived: $named of $n samples of the workload processes have the whole chain to a named hot function"
[ "$n" -gt 100 ] && [ "$(awk -v a="$named" -v b="$n" 'BEGIN { print (a >= 0.9 * b) }')" = 1 ] &&
	ok "150 ms processes symbolized" || fail "150 ms processes: $named of $n named"
finish
