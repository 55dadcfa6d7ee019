#!/usr/bin/env bash
# scorch record -p: only the given processes (all their threads), counted against their CPU time.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

"$WORKLOAD" 2 20 >/dev/null & target=$!; PIDS+=("$target")
"$WORKLOAD" 1 20 >/dev/null & other=$!; PIDS+=("$other")
sleep 0.5
t0=$(cpu_ticks "$target"); w0=$(date +%s.%N)
"$SCORCH" record -p "$target" -d 3 -o "$TMP/p.pb.gz" 2>"$TMP/err"
t1=$(cpu_ticks "$target"); w1=$(date +%s.%N)
cat "$TMP/err"
hz=$(getconf CLK_TCK)
# the target's CPU rate over the whole window, times the capture's own duration (the window
# also holds scorch's start and end, when nothing is sampled)
dur=$(gopprof -raw "$TMP/p.pb.gz" | awk '/^Duration:/ { sub("s", "", $2); print $2 }')
expected=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
	-v dur="${dur:-3}" 'BEGIN { printf "%d", d / hz / w * dur * 99 }')

tags=$(gopprof -sample_index=samples -tags "$TMP/p.pb.gz")
echo "$tags" | sed -n '/pid:/,/^$/p'
# "pid count" for each pid label value
pids=$(sed -n '/^ *pid: Total/,/^$/p' <<<"$tags" | awk -F': ' 'NR > 1 && NF == 2 { split($1, a, " "); print $2, a[1] + 0 }')
total=$(awk '{ s += $2 } END { print s + 0 }' <<<"$pids")
[ "$(awk '{ print $1 }' <<<"$pids")" = "$target" ] && ok "every sample has pid $target" ||
	fail "samples of other processes than $target: $pids"
grep -q "^$other " <<<"$pids" && fail "process $other was recorded" || ok "process $other not recorded"
within "$total" "$expected" "$(awk -v e="$expected" 'BEGIN { print e * 0.12 + 3 }')" &&
	ok "sample count $total ~ $expected (target CPU time x 99 Hz)" ||
	fail "sample count $total, expected $expected"
# both threads of the target are profiled
nthreads=$(sed -n '/thread_id: Total/,/^$/p' <<<"$tags" | grep -c '%)' || true)
[ "$nthreads" -ge 2 ] && ok "$nthreads threads recorded" || fail "only $nthreads thread recorded"

# the known split, recorded with -p
"$SCORCH" record -q -p "$target" -d 3 --format folded --no-comm-root -o "$TMP/p.folded"
total=$(folded_total "$TMP/p.folded")
a=$(folded_count "$TMP/p.folded" hot_a)
b=$(folded_count "$TMP/p.folded" hot_b)
k=$(folded_count "$TMP/p.folded" in_kernel)
echo "-p: samples=$total hot_a=$(pct "$a" "$total")% hot_b=$(pct "$b" "$total")% in_kernel=$(pct "$k" "$total")%"
within "$(pct "$a" "$total")" 60 7 && within "$(pct "$b" "$total")" 30 6 && within "$(pct "$k" "$total")" 10 5 &&
	ok "-p: shares 60/30/10" || fail "-p: shares off"

# two pids
"$SCORCH" record -q -p "$target,$other" -d 1 -o "$TMP/p2.pb.gz"
tags=$(gopprof -sample_index=samples -tags "$TMP/p2.pb.gz")
grep -q ": $target\$" <<<"$tags" && grep -q ": $other\$" <<<"$tags" && ok "-p with two pids records both" ||
	fail "-p $target,$other: $tags"

# without -d, the capture ends once every profiled process has exited
"$WORKLOAD" 1 1 >/dev/null & short=$!; PIDS+=("$short")
start=$(date +%s)
timeout 30 "$SCORCH" record -p "$short" -o "$TMP/end.pb.gz" 2>"$TMP/end.err"
took=$(( $(date +%s) - start ))
grep -q "all profiled processes exited" "$TMP/end.err" && [ "$took" -le 5 ] && [ -s "$TMP/end.pb.gz" ] &&
	ok "capture ended with its processes (${took}s)" || fail "capture did not end with its processes: $(cat "$TMP/end.err")"
finish
