#!/usr/bin/env bash
# Before/after a deploy from the agent's intervals: splitwork changes its CPU split at a known
# moment (shifting() 25 -> 45 %, fading() 25 -> 5 %, steady() 50 % throughout) with noise
# between intervals larger than sampling's. The agent writes 1 s intervals of the whole
# machine into --output-dir; `diff --split-at` at the change, selecting the workload with
# --tagfocus, flags exactly shifting() and fading() and gates (exit 3); split at moments
# without a change (within each phase, 3 s on each side), Welch's test over the intervals
# flags nothing in most splits (its false-positive rate is printed, with the pooled z-test's
# on the same splits for comparison). The agent also sends the intervals to the test gRPC
# server (TLS, a bearer token), whose QueryService/Query merges them by selector and time: the
# Parca path of diff (a Query per step, the same TLS and token options) gives the same
# verdicts as the directory on the same window. Also: the
# refusals of --split-at, --window, mixed periods.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
source "$(dirname "${BASH_SOURCE[0]}")/parca_lib.sh"
OUT=$TMP/out
BEFORE=20 AFTER=20

# the server over TLS with a bearer token: the agent's options, and diff's, the same
make_test_certs
echo "query-token-$$" >"$TMP/token"
TLS_ARGS=(--remote-store-ca-file "$TMP/ca.pem" --remote-store-bearer-token-file "$TMP/token")
start_server "$TMP/server.jsonl" --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" \
	--token "query-token-$$"
"$SPLITWORK" "$BEFORE" "$AFTER" 0.3 7 >"$TMP/work.log" & wl=$!; PIDS+=("$wl")
"$SCORCH" agent --output-dir "$OUT" --output-max-files 1000 --profiling-duration 1s \
	--remote-store-address "$ADDR" "${TLS_ARGS[@]}" --spool-dir "$TMP/spool" \
	-p "$wl" 2>"$TMP/agent.log" & AGENT_PID=$!; PIDS+=("$AGENT_PID")
wait "$wl"
# the last interval written, then the agent stopped
n_before=$(ls "$OUT" 2>/dev/null | wc -l || true)
for _ in $(seq 50); do
	[ "$(ls "$OUT" 2>/dev/null | wc -l)" -gt "$n_before" ] && break
	sleep 0.1
done
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true
switch=$(sed -n 's/^switch at //p' "$TMP/work.log")
n=$(ls "$OUT" | wc -l)
[ -n "$switch" ] && [ "$n" -ge $((BEFORE + AFTER - 4)) ] && ok "$n intervals on disk, the switch at $switch" ||
	{ fail "intervals $n, switch '${switch:-?}': $(tail -3 "$TMP/agent.log")"; finish; }

# flagged FILE: the functions whose self or cumulative share changed significantly
flagged() { $PY -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(f["name"] for f in d["functions"]
                      if f["self"]["significant"] or f["cum"]["significant"])))' "$1"; }

# 1. at the change: exactly the two functions that changed, and the gate
rc=0
"$SCORCH" diff --split-at "@$switch" "$OUT" --tagfocus "pid=$wl" --json --top 1000 \
	--fail-on-regression 5 >"$TMP/at.json" 2>"$TMP/at.err" || rc=$?
got=$(flagged "$TMP/at.json")
test_name=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"])' "$TMP/at.json")
[ "$rc" -eq 3 ] && [ "$got" = "fading shifting" ] && [ "$test_name" = welch ] &&
	grep -q "regression: 'shifting' self share" "$TMP/at.err" &&
	ok "split at the change: flagged '$got' ($test_name), gate exit 3" ||
	fail "split at the change: exit $rc, test $test_name, flagged '$got': $(cat "$TMP/at.err")"
$PY - "$TMP/at.json" <<'EOF' && ok "changes and 95 % intervals: $(cat "$TMP/ci.txt")" || fail "changes: $(cat "$TMP/ci.txt")"
import json, sys
d = json.load(open(sys.argv[1]))
f = {x["name"]: x["self"] for x in d["functions"]}
with open(sys.argv[1].replace("at.json", "ci.txt"), "w") as o:
    o.write(", ".join("%s %+.1f [%+.1f, %+.1f]" % (n, f[n]["change"], *f[n]["ci"])
                      for n in ("shifting", "fading", "steady") if n in f))
# the workload's own change: about +20 and -19 points (fading's 5 % wanders above, not
# below 1 %), each interval around its estimate and clear of 0
for n, lo, hi in (("shifting", 10, 30), ("fading", -30, -10)):
    c, (a, b) = f[n]["change"], f[n]["ci"]
    assert lo < c < hi and a < c < b and (a > 0 or b < 0), (n, f[n])
assert not f.get("steady", {"significant": False})["significant"], f.get("steady")
EOF
# the table says which test, and marks the same; the process chosen by its executable
"$SCORCH" diff --split-at "@$switch" "$OUT" --tagfocus 'executable=/splitwork$' >"$TMP/at.txt" 2>&1 || true
grep -q "Welch's t-test over the profiles, Benjamini-Hochberg" "$TMP/at.txt" &&
	grep -qE '\*.*shifting$' "$TMP/at.txt" && ok "the table (--tagfocus executable=...): Welch's test named, shifting marked" ||
	fail "the table: $(cat "$TMP/at.txt")"

# the graph and the difference pprof of the merged sides
"$SCORCH" diff --split-at "@$switch" "$OUT" --tagfocus "pid=$wl" -o "$TMP/d.svg" \
	--pprof "$TMP/d.pb.gz" >/dev/null 2>"$TMP/g.err" || true
top=$(gopprof -top -nodecount=5 "$TMP/d.pb.gz" 2>&1 || true)
grep -q "shifting" "$TMP/d.svg" 2>/dev/null && grep -q "significant" "$TMP/d.svg" &&
	grep -qE "shifting" <<<"$top" && grep -qE "fading" <<<"$top" &&
	ok "differential graph and difference pprof of the merged intervals (go tool pprof reads it)" ||
	fail "graph or pprof: $(cat "$TMP/g.err") $top"

# 2. moments without a change: within each phase, 3 s on each side of the split
first=$($PY -c 'import sys; print(int(float(sys.argv[1])) - '"$BEFORE"')' "$switch")
splits=0 fp_welch=0 fp_z=0
for phase in 0 1; do
	for k in $(seq 4 $((BEFORE - 4))); do
		t=$((first + phase * BEFORE + k))
		for test in welch z; do
			"$SCORCH" diff --split-at "@$t" --window 3s "$OUT" --tagfocus "pid=$wl" --json \
				--top 1000 --test "$test" >"$TMP/n.json" 2>"$TMP/n.err" || true
			[ -s "$TMP/n.json" ] || { fail "split at @$t ($test): $(cat "$TMP/n.err")"; continue; }
			if [ -n "$(flagged "$TMP/n.json")" ]; then
				[ "$test" = welch ] && fp_welch=$((fp_welch + 1)) || fp_z=$((fp_z + 1))
			fi
		done
		splits=$((splits + 1))
	done
done
echo "unchanged data: $splits splits, Welch flagged something in $fp_welch, the pooled z-test in $fp_z"
# the nominal level is 5 %: at most 2 of 30 splits allows for chance, not for a wrong test
[ "$splits" -ge 20 ] && [ "$fp_welch" -le 2 ] &&
	ok "no change: Welch's test flags $fp_welch of $splits splits; the pooled z-test $fp_z" ||
	fail "no change: Welch's test flagged $fp_welch of $splits splits (z-test $fp_z)"

# 3. the same intervals from the server: a Query a second over 15 s on each side
slices_before=$(find /tmp -maxdepth 1 -name "scorch-diff.*" | wc -l)
rc=0
"$SCORCH" diff --remote-store-address "$ADDR" "${TLS_ARGS[@]}" \
	--query "parca_agent:samples:count:cpu:nanoseconds:delta{pid=\"$wl\"}" \
	--split-at "@$switch" --window 15s --step 1s --json --top 1000 --fail-on-regression 5 \
	>"$TMP/parca.json" 2>"$TMP/parca.err" || rc=$?
"$SCORCH" diff --split-at "@$switch" --window 15s "$OUT" --tagfocus "pid=$wl" --json --top 1000 \
	>"$TMP/dir.json" 2>/dev/null || true
from_parca=$(flagged "$TMP/parca.json" 2>/dev/null || true)
from_dir=$(flagged "$TMP/dir.json")
queries=$(wc -l <"$TMP/server.jsonl.queries" 2>/dev/null || echo 0)
profiles=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["base"]["profiles"], d["new"]["profiles"])' "$TMP/parca.json" 2>/dev/null || true)
[ "$rc" -eq 3 ] && [ "$from_parca" = "fading shifting" ] && [ "$from_parca" = "$from_dir" ] &&
	[ "$queries" -eq 30 ] &&
	ok "from the server (TLS, bearer token): $queries queries, profiles $profiles, flagged '$from_parca' as from the directory, gate exit 3" ||
	fail "from the server: exit $rc, $queries queries, profiles ${profiles:-?}, flagged '$from_parca' (directory: '$from_dir'): $(cat "$TMP/parca.err")"
"$SCORCH" diff --remote-store-address "$ADDR" "${TLS_ARGS[@]}" --query 'x{' \
	--split-at "@$switch" --window 2s --step 1s >/dev/null 2>"$TMP/e0" && fail "a bad query accepted" ||
	{ [ "$(wc -l <"$TMP/e0")" -eq 1 ] && grep -q "Query failed (INVALID_ARGUMENT" "$TMP/e0" && ok "the server's refusal in one line: $(cat "$TMP/e0")" || fail "bad query: $(cat "$TMP/e0")"; }
"$SCORCH" diff --remote-store-address "$ADDR" --query x --split-at "@$switch" >/dev/null 2>"$TMP/e5" && fail "--remote-store-address without --window accepted" ||
	{ grep -q "from a Parca server: --remote-store-address, --query, --split-at and --window together" "$TMP/e5" && ok "the Parca path's options checked" || fail "remote options: $(cat "$TMP/e5")"; }
# without the token: the server's refusal, one line
"$SCORCH" diff --remote-store-address "$ADDR" --remote-store-ca-file "$TMP/ca.pem" \
	--query "parca_agent:samples:count:cpu:nanoseconds:delta{pid=\"$wl\"}" \
	--split-at "@$switch" --window 2s --step 1s >/dev/null 2>"$TMP/e6" && fail "no token accepted" ||
	{ [ "$(wc -l <"$TMP/e6")" -eq 1 ] && grep -q "UNAUTHENTICATED" "$TMP/e6" && ok "TLS without the token: $(cat "$TMP/e6")" || fail "no token: $(cat "$TMP/e6")"; }
slices_after=$(find /tmp -maxdepth 1 -name "scorch-diff.*" | wc -l)
[ "$slices_after" -eq "$slices_before" ] && ok "the server's answers removed after the diff" ||
	fail "answers left behind: $(ls -d /tmp/scorch-diff.* 2>/dev/null | tr '\n' ' ')"
stop_server

# a FIFO and a link among a directory's profiles, or matched by a glob: left out, no wait
mkdir "$TMP/odd"
for f in $(ls "$OUT" | head -4); do cp "$OUT/$f" "$TMP/odd/"; done
mkfifo "$TMP/odd/zz.pb.gz"
ln -s /etc/passwd "$TMP/odd/zy.folded"
rc=0
timeout 60 "$SCORCH" diff --base "$TMP/odd/[s]*" --new "$TMP/odd" --top 1 >/dev/null 2>"$TMP/odd.err" || rc=$?
[ "$rc" -eq 0 ] && ok "a FIFO and a symlink among the profiles: left out, no wait" ||
	fail "FIFO/symlink among profiles: exit $rc: $(cat "$TMP/odd.err")"
timeout 20 "$SCORCH" diff "$TMP/odd/zz.pb.gz" "$OUT" >/dev/null 2>"$TMP/fifo.err" && fail "a FIFO read as a profile" ||
	{ grep -q "not a regular file" "$TMP/fifo.err" && ok "a FIFO named as a profile: $(cat "$TMP/fifo.err")" || fail "a FIFO named: $(cat "$TMP/fifo.err")"; }

# 4. refusals, one line each
"$SCORCH" diff --window 3s "$OUT" "$OUT" >/dev/null 2>"$TMP/e1" && fail "--window alone accepted" ||
	{ [ "$(wc -l <"$TMP/e1")" -eq 1 ] && grep -q "window goes with --split-at" "$TMP/e1" && ok "--window without --split-at: $(cat "$TMP/e1")" || fail "--window alone: $(cat "$TMP/e1")"; }
"$SCORCH" diff --split-at 14:05 "$OUT" >/dev/null 2>"$TMP/e2" && fail "a moment without a date accepted" ||
	{ grep -q "invalid --split-at '14:05'" "$TMP/e2" && ok "a moment without a date or zone refused" || fail "bad --split-at: $(cat "$TMP/e2")"; }
"$SCORCH" diff --split-at "@$((first - 1000))" "$OUT" >/dev/null 2>"$TMP/e3" && fail "nothing before the split accepted" ||
	{ grep -q "no profile before the split" "$TMP/e3" && ok "nothing before the split: $(cat "$TMP/e3")" || fail "empty BASE: $(cat "$TMP/e3")"; }
"$SCORCH" record -q -d 1 -F 49 -o "$TMP/other.pb.gz" -- "$WORKLOAD" 1 1 >/dev/null 2>&1
a=$(ls "$OUT" | head -1)
"$SCORCH" diff --base "$OUT/$a" --base "$TMP/other.pb.gz" --new "$OUT" >/dev/null 2>"$TMP/e4" && fail "different periods merged" ||
	{ [ "$(wc -l <"$TMP/e4")" -eq 1 ] && grep -q "profiles of different periods are not merged" "$TMP/e4" && ok "different periods refused: $(cat "$TMP/e4")" || fail "periods: $(cat "$TMP/e4")"; }
finish
