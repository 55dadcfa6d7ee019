#!/usr/bin/env bash
# User stacks are right with and without frame pointers: the unwinding workload, built both
# ways, reaches its hot functions through 25 levels of recursion, a shared library, libc and the
# vDSO; with the default unwinding at least 99 % of its samples carry the whole chain from the
# thread's first frame, and the CPU shares match the workload's split. Frame pointers alone get
# the frame-pointer-less build wrong (that shows the check can fail). A short stack copy ends
# stacks in a counted [truncated] frame; deep recursion gives stacks of hundreds of frames.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
CHECK=$(dirname "${BASH_SOURCE[0]}")/check_chains.py
[ -n "${CHECK_CHAINS:-}" ] && CHECK=$CHECK_CHAINS

# record NAME WORKLOAD_ARGS... -- SCORCH_OPTIONS...
record() {
	local out=$TMP/$1.folded; shift
	local wl=() opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do wl+=("$1"); shift; done
	shift
	opts=("$@")
	"$SCORCH" record -v ${opts[@]+"${opts[@]}"} --format folded --no-comm-root -o "$out" -- "${wl[@]}" >/dev/null 2>"$TMP/err"
}

for v in fp nofp; do
	wl=$UNWIND_DIR/unwind-workload-$v
	record "$v-auto" "$wl" 4 --
	check_program "$TMP/err"
	if python3 "$CHECK" "$TMP/$v-auto.folded" 99 >"$TMP/check" 2>&1; then
		ok "$v build, default unwinding: $(head -1 "$TMP/check")"
	else
		fail "$v build, default unwinding: $(cat "$TMP/check") $(cat "$TMP/err")"
	fi
	grep -q "user stacks truncated" "$TMP/err" && fail "$v build: truncated stacks: $(head -1 "$TMP/err")"
done

# frame pointers alone cannot unwind code built without them: the same check fails
record nofp-fp "$UNWIND_DIR/unwind-workload-nofp" 2 -- --unwind fp
if python3 "$CHECK" "$TMP/nofp-fp.folded" 50 >"$TMP/check" 2>&1; then
	fail "--unwind fp on the frame-pointer-less build passed the check: $(head -1 "$TMP/check")"
else
	ok "--unwind fp on the frame-pointer-less build: $(head -1 "$TMP/check")"
fi

# auto: a process whose code all keeps frame pointers is walked in the kernel (after its first
# samples, which come before its snapshot); the chains are whole either way
record fp-static "$FP_STATIC" 2 --
read -r cfi fpw < <(sed -n 's/^scorch: user stacks: \([0-9]*\) unwound with CFI.* \([0-9]*\) with frame pointers in the kernel$/\1 \2/p' "$TMP/err")
total=$(folded_total "$TMP/fp-static.folded")
whole=$(awk '/^_start;fp_main;fp_middle;fp_leaf [0-9]+$/ { s += $NF } END { print s + 0 }' "$TMP/fp-static.folded")
[ -n "${fpw:-}" ] && [ "$fpw" -ge $((total * 9 / 10)) ] && [ "$whole" -ge $((total * 9 / 10)) ] &&
	ok "auto on an all-frame-pointer process: $fpw of $total samples walked in the kernel, $whole whole chains" ||
	fail "auto on fp-static: CFI ${cfi:-?}, frame pointers ${fpw:-?}, whole $whole of $total: $(head -3 "$TMP/err")"
# and the workload that maps libc is never walked with frame pointers
record fp-auto-libc "$UNWIND_DIR/unwind-workload-fp" 1 --
fpw=$(sed -n 's/^scorch: user stacks: .* \([0-9]*\) with frame pointers in the kernel$/\1/p' "$TMP/err")
[ "${fpw:-x}" = 0 ] && ok "auto on a process that maps libc: no frame-pointer walks" || fail "auto used frame pointers ${fpw:-?} times for a libc process"

# a stack of 400 frames, unwound whole
record deep "$UNWIND_DIR/unwind-workload-nofp" 2 400 -- --unwind dwarf
if python3 "$CHECK" "$TMP/deep.folded" 99 400 >"$TMP/check" 2>&1; then
	ok "400 levels of recursion: $(head -1 "$TMP/check")"
else
	fail "400 levels of recursion: $(cat "$TMP/check")"
fi

# a copy too short for the whole stack: stacks end in a [truncated] frame, each one counted
record short "$UNWIND_DIR/unwind-workload-nofp" 2 400 -- --unwind dwarf --stack-copy 2048
said=$(grep -o "stack copy exhausted [0-9]*" "$TMP/err" | awk '{ print $NF }')
seen=$(awk 'index($0, "[truncated: stack copy exhausted];") == 1 { s += $NF } END { print s + 0 }' "$TMP/short.folded")
total=$(folded_total "$TMP/short.folded")
[ -n "$said" ] && [ "$said" -eq "$seen" ] && [ "$seen" -ge $((total * 9 / 10)) ] &&
	ok "--stack-copy 2048: $seen of $total stacks end in [truncated: stack copy exhausted], as the summary says" ||
	fail "--stack-copy 2048: summary '${said:-nothing}', $seen of $total stacks truncated: $(head -1 "$TMP/err")"
# what is kept below the truncation is still right: the leaf end of each stack
wrong=$(awk 'index($0, "[truncated: stack copy exhausted];") == 1 && !/;descend;descend;/ { s += $NF } END { print s + 0 }' "$TMP/short.folded")
[ "$wrong" -eq 0 ] && ok "truncated stacks keep their innermost frames" || fail "$wrong truncated stacks without descend frames"
finish
