#!/usr/bin/env bash
# scorch convert: a capture's pprof into folded stacks starts each stack with the process name
# (comm-PID with --per-pid, nothing with --no-comm-root), as perf's stackcollapse does, and so do
# record --format folded and the flame graph of a capture; folded
# back into a pprof and out again gives the same stacks and the same total, kernel (_[k]) and
# JIT (_[j]) frames kept; flame draws the folded file; go tool pprof reads the pprof made from
# folded stacks; a Go CPU profile folds into sample counts; a bad name or format is refused.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
PYTHON=/usr/bin/python3
"$SCORCH" record -q -o "$TMP/cap.pb.gz" -- "$WORKLOAD" 1 2 >"$TMP/out" 2>"$TMP/err" ||
	fail "record: $(cat "$TMP/err")"
wpid=$(sed -n 's/^pid \([0-9]*\)$/\1/p' "$TMP/out" | head -1)
"$SCORCH" convert "$TMP/cap.pb.gz" -o "$TMP/cap.folded" 2>"$TMP/err" || fail "convert to folded: $(cat "$TMP/err")"
total=$(awk '{ s += $NF } END { print s + 0 }' "$TMP/cap.folded")
own=$(awk '$0 ~ /^workload;/ { s += $NF } END { print s + 0 }' "$TMP/cap.folded")
hot=$(awk '$0 ~ /^workload;.*;hot_a( |;)/ { s += $NF } END { print s + 0 }' "$TMP/cap.folded")
[ "$own" -gt 50 ] && [ "$hot" -gt 10 ] && ok "folded: $own of $total samples start with the comm 'workload' ($hot in hot_a)" ||
	fail "comm root: $own of $total, hot_a $hot: $(head -3 "$TMP/cap.folded" | cut -c1-160)"
n=$("$SCORCH" report "$TMP/cap.pb.gz" --json --sample-index samples | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["total"])')
[ "$n" = "$total" ] && ok "folded total $total = the pprof's samples" || fail "folded total $total, pprof $n"

# report --tagfocus on a capture's string label: its samples, or none
ta=$("$SCORCH" report "$TMP/cap.pb.gz" --json --sample-index samples --tagfocus comm=^workload$ |
	"$PYTHON" -c 'import json,sys; print(sum(f["flat"] for f in json.load(sys.stdin)["functions"]))')
tn=$("$SCORCH" report "$TMP/cap.pb.gz" --json --tagfocus comm=nosuch | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["functions"]))')
tt=$("$SCORCH" report "$TMP/cap.pb.gz" --json --sample-index samples --tagfocus thread=1:4194304 |
	"$PYTHON" -c 'import json,sys; print(sum(f["flat"] for f in json.load(sys.stdin)["functions"]))')
[ "$ta" = "$own" ] && [ "$tn" = 0 ] && [ "$tt" = "$total" ] && ok "report --tagfocus comm=^workload$: $ta samples, comm=nosuch: none, thread=1:4194304: all $tt" ||
	fail "--tagfocus: $ta (want $own), nosuch $tn, thread range $tt (want $total)"
"$SCORCH" convert "$TMP/cap.pb.gz" -o "$TMP/pid.folded" --per-pid 2>"$TMP/err" || fail "--per-pid: $(cat "$TMP/err")"
if [ -n "$wpid" ]; then
	grep -q "^workload-$wpid;" "$TMP/pid.folded" && ok "--per-pid: workload-$wpid" ||
		fail "--per-pid: no workload-$wpid: $(head -2 "$TMP/pid.folded" | cut -c1-120)"
else
	grep -qE '^workload-[0-9]+;' "$TMP/pid.folded" && ok "--per-pid: workload-PID" || fail "--per-pid: no workload-PID"
fi
"$SCORCH" convert "$TMP/cap.pb.gz" -o "$TMP/bare.folded" --no-comm-root 2>"$TMP/err" &&
	! grep -q '^workload;' "$TMP/bare.folded" && [ "$(awk '{ s += $NF } END { print s + 0 }' "$TMP/bare.folded")" = "$total" ] &&
	ok "--no-comm-root: stacks start at their root, same total" || fail "--no-comm-root: $(head -2 "$TMP/bare.folded" | cut -c1-120)"

# record --format folded: the same comm root (and comm-PID with --per-pid) as convert writes
"$SCORCH" record -q --format folded -o "$TMP/rec.folded" -- "$WORKLOAD" 1 1 >/dev/null 2>"$TMP/err" ||
	fail "record --format folded: $(cat "$TMP/err")"
rt=$(awk '{ s += $NF } END { print s + 0 }' "$TMP/rec.folded")
ro=$(awk '$0 ~ /^workload;/ { s += $NF } END { print s + 0 }' "$TMP/rec.folded")
[ "$rt" -gt 0 ] && [ "$ro" = "$rt" ] && ok "record --format folded: all $rt samples start with 'workload'" ||
	fail "record folded: $ro of $rt start with the comm: $(head -2 "$TMP/rec.folded" | cut -c1-120)"
"$SCORCH" record -q --format folded --per-pid -o "$TMP/recp.folded" -- "$WORKLOAD" 1 1 >/dev/null 2>"$TMP/err" &&
	grep -qE '^workload-[0-9]+;' "$TMP/recp.folded" && ok "record --per-pid: workload-PID first" ||
	fail "record --per-pid: $(head -2 "$TMP/recp.folded" | cut -c1-120) $(cat "$TMP/err")"

# folded -> pprof -> folded: the same lines
"$SCORCH" convert "$TMP/cap.folded" -o "$TMP/back.pb.gz" 2>"$TMP/err" && "$SCORCH" convert "$TMP/back.pb.gz" -o "$TMP/again.folded" 2>>"$TMP/err" ||
	fail "round trip: $(cat "$TMP/err")"
cmp -s <(sort "$TMP/cap.folded") <(sort "$TMP/again.folded") &&
	ok "folded -> pprof -> folded: the same $(wc -l <"$TMP/cap.folded") stacks, total $total" ||
	fail "round trip differs: $(diff <(sort "$TMP/cap.folded") <(sort "$TMP/again.folded") | head -4 | cut -c1-160)"
grep -q '_\[k\]' "$TMP/again.folded" && ok "kernel frames keep _[k]" || fail "no _[k] frame after the round trip"
printf 'main;jitted_[j];leaf 3\nmain;sys_[k] 2\n' >"$TMP/j.folded"
"$SCORCH" convert "$TMP/j.folded" -o "$TMP/j.pb.gz" && "$SCORCH" convert "$TMP/j.pb.gz" --format folded -o - >"$TMP/j2.folded" 2>"$TMP/err"
cmp -s <(sort "$TMP/j.folded") <(sort "$TMP/j2.folded") && ok "JIT and kernel marks round trip" ||
	fail "marks: $(cat "$TMP/j2.folded" "$TMP/err")"

# readers: flame takes the folded file, go tool pprof the pprof made from folded stacks
"$SCORCH" flame "$TMP/cap.folded" -o "$TMP/f.svg" 2>"$TMP/err" && grep -q "<title>workload$" "$TMP/f.svg" &&
	grep -q "<title>hot_a$" "$TMP/f.svg" && ok "flame draws the folded file, the comm as the first frame" ||
	fail "flame of folded: $(cat "$TMP/err")"
# flame of the capture: the process under the root, or not, or one per pid
"$SCORCH" flame "$TMP/cap.pb.gz" -o "$TMP/c1.svg" 2>"$TMP/err" && "$SCORCH" flame "$TMP/cap.pb.gz" --no-comm-root -o "$TMP/c2.svg" 2>>"$TMP/err" &&
	"$SCORCH" flame "$TMP/cap.pb.gz" --per-pid -o "$TMP/c3.svg" 2>>"$TMP/err" || fail "flame: $(cat "$TMP/err")"
grep -q "<title>workload$" "$TMP/c1.svg" && ! grep -q "<title>workload$" "$TMP/c2.svg" &&
	grep -qE "<title>workload-[0-9]+$" "$TMP/c3.svg" &&
	ok "flame of a capture: 'workload' under the root (--no-comm-root: not; --per-pid: workload-PID)" ||
	fail "flame comm root: $(grep -c '<title>workload' "$TMP/c1.svg" "$TMP/c2.svg" "$TMP/c3.svg")"
gopprof -top -nodecount=200 "$TMP/back.pb.gz" >"$TMP/top" 2>"$TMP/err" && grep -q " hot_a$" "$TMP/top" &&
	ok "go tool pprof reads the converted pprof" || fail "pprof: $(cat "$TMP/err" | head -3)"

# a Go CPU profile folds into sample counts, not nanoseconds
export GOCACHE=$TMP/gocache GOPATH=$TMP/gopath HOME=$TMP GOFLAGS=-mod=mod GO111MODULE=off
go build -o "$TMP/gocpu" "$(dirname "$TESTLIB")/../fixtures/gocpu/main.go" 2>"$TMP/err" && "$TMP/gocpu" "$TMP/go.pprof" 1 70 ||
	fail "gocpu: $(cat "$TMP/err")"
"$SCORCH" convert "$TMP/go.pprof" -o "$TMP/go.folded" 2>"$TMP/err" || fail "Go profile: $(cat "$TMP/err")"
gs=$(gopprof -raw "$TMP/go.pprof" 2>/dev/null | awk '/^Samples:/ { on = 1; next } on && /^ *[0-9]+ +[0-9]+:/ { s += $1 } END { print s + 0 }')
gf=$(awk '{ s += $NF } END { print s + 0 }' "$TMP/go.folded")
[ "$gf" -gt 0 ] && [ "$gf" = "$gs" ] && grep -q 'main.burnA' "$TMP/go.folded" &&
	ok "Go CPU profile: $gf samples folded (go tool pprof -raw: $gs)" || fail "Go folded: $gf against $gs"

# refusals: one line, exit 2 (usage)
"$SCORCH" convert "$TMP/cap.pb.gz" -o "$TMP/x.svg" 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && ok "no format in the name: $(cat "$TMP/err")" || fail "no format: rc $rc"
"$SCORCH" convert "$TMP/cap.pb.gz" -o "$TMP/x" --format svg 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 2 ] && ok "unknown --format refused" || fail "--format svg: rc $rc"
finish
