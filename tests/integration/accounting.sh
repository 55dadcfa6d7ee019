#!/usr/bin/env bash
# Every sample is accounted for: program runs = recorded + idle + filtered + dropped, the profile
# holds exactly the recorded samples, and each lost stack is a placeholder frame in the profile.
# SCORCH_MAP_ENTRIES=COUNTS,STACKS shrinks the maps so that losses happen.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

# check_run NAME: parses $TMP/err and $TMP/a.folded
check_run() {
	local name=$1 runs rec idle filt drop total
	read -r runs rec idle filt drop < <(sed -n 's/^scorch: program runs \([0-9]*\) = recorded \([0-9]*\) + idle \([0-9]*\) + filtered \([0-9]*\) + dropped (counts map full) \([0-9]*\)$/\1 \2 \3 \4 \5/p' "$TMP/err")
	[ -n "${runs:-}" ] || { fail "$name: no accounting line in: $(cat "$TMP/err")"; return; }
	[ "$runs" -eq $((rec + idle + filt + drop)) ] && ok "$name: $runs runs = $rec + $idle + $filt + $drop" ||
		fail "$name: $runs runs != $rec + $idle + $filt + $drop"
	total=$(folded_total "$TMP/a.folded")
	[ "$total" -eq "$rec" ] && ok "$name: profile holds the $rec recorded samples" ||
		fail "$name: profile holds $total samples, $rec recorded"
	grep -q "^scorch: $rec samples, $drop lost" "$TMP/err" && ok "$name: summary" || fail "$name: summary: $(head -1 "$TMP/err")"
	DROPPED=$drop
}

# no losses with the normal sizes
"$SCORCH" record -v -d 2 --format folded --no-comm-root -o "$TMP/a.folded" -- "$WORKLOAD" 2 1 >/dev/null 2>"$TMP/err"
check_run "normal maps"
check_program "$TMP/err"
[ "$DROPPED" -eq 0 ] && ! grep -q "stacks lost" "$TMP/err" && ok "normal maps: nothing lost" || fail "losses with normal maps: $(head -1 "$TMP/err")"

# a stack map of 4 entries: samples kept, stacks replaced by placeholders, each counted (user
# stacks only go to the stack map when they are unwound with frame pointers)
SCORCH_MAP_ENTRIES=4096,4 "$SCORCH" record -v --unwind fp -d 2 --format folded --no-comm-root -o "$TMP/a.folded" -- "$WORKLOAD" 2 1 >/dev/null 2>"$TMP/err"
check_run "stack map of 4"
for kind in kernel user; do
	said=$(grep -o "$kind stack map full [0-9]*" "$TMP/err" | awk '{ print $NF }')
	seen=$(awk -v k="[$kind stack lost: stack map full]" 'index($0, k) { s += $NF } END { print s + 0 }' "$TMP/a.folded")
	[ -n "$said" ] && [ "$said" -gt 0 ] && [ "$said" -eq "$seen" ] &&
		ok "stack map of 4: $said $kind stacks lost, $seen placeholder samples" ||
		fail "stack map of 4: summary says '${said:-nothing}' $kind stacks lost, profile has $seen"
done

# a sample ring too small for one copied stack: every sample is kept with its kernel stack and
# a placeholder for the user stack, and counted
SCORCH_SAMPLE_RING=4096 "$SCORCH" record -v --unwind dwarf -d 2 --format folded --no-comm-root -o "$TMP/a.folded" -- "$WORKLOAD" 2 1 >/dev/null 2>"$TMP/err"
check_run "sample ring of 4 KB"
said=$(grep -o "sample ring full [0-9]*" "$TMP/err" | awk '{ print $NF }')
seen=$(awk 'index($0, "[user stack lost: sample ring full]") { s += $NF } END { print s + 0 }' "$TMP/a.folded")
[ -n "$said" ] && [ "$said" -gt 0 ] && [ "$said" -eq "$seen" ] &&
	ok "sample ring of 4 KB: $said user stacks not copied, $seen placeholder samples" ||
	fail "sample ring of 4 KB: summary says '${said:-nothing}', profile has $seen"

# a counts map of 2 entries: samples dropped, and counted (with frame pointers every sample goes
# through the counts map)
SCORCH_MAP_ENTRIES=2,4096 "$SCORCH" record -v --unwind fp -d 2 --format folded --no-comm-root -o "$TMP/a.folded" -- "$WORKLOAD" 2 1 >/dev/null 2>"$TMP/err"
check_run "counts map of 2"
[ "$DROPPED" -gt 0 ] && grep -q "lost: counts map full $DROPPED" "$TMP/err" &&
	ok "counts map of 2: $DROPPED dropped samples reported" || fail "counts map of 2: no drops reported: $(head -1 "$TMP/err")"
finish
