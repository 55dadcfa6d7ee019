#!/usr/bin/env bash
# No one message blocks the agent's uploads. 1. A process that names itself, its executable and
# its cgroup in bytes that are not UTF-8 (and a node name and --label value the same): a server
# that checks proto3 strings (grpcio, as grpc-go) accepts every interval, the names with U+FFFD;
# before, it refused every request with INTERNAL and the spool never moved, also across
# restarts. 2. A message the server always answers INTERNAL: dropped once the server has taken a
# newer one, counted in scorch_profiles_rejected_total, said in one line; every interval after
# it arrives. 3. A server answering INTERNAL to everything: nothing is dropped, all of it
# arrives once the server is well.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
source "$(dirname "${BASH_SOURCE[0]}")/parca_lib.sh"

# start_agent LOG [ARGS...]: the agent in the background, 1 s intervals, private spool, /metrics
start_agent() {
	local log=$1; shift
	HTTP_PORT=$(free_port)
	"$SCORCH" agent --remote-store-address "$ADDR" --remote-store-insecure --profiling-duration 1s \
		--spool-dir "$TMP/spool" --http-address "127.0.0.1:$HTTP_PORT" "$@" 2>"$log" &
	AGENT_PID=$!; PIDS+=("$AGENT_PID")
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; }
# the intervals that had samples (an interval closed at once by SIGTERM may have none: not sent)
intervals_of() {
	sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*intervals without samples \([0-9]*\).*/\1 \2/p' "$1" |
		awk '{ print $1 - $2 }'
}
lines_of() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# wait_lines FILE N SECONDS: until FILE has N lines, false after SECONDS
wait_lines() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(lines_of "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
metric() { curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# 1. names that are not UTF-8: the thread's comm and the executable's name (exec of a copy
# called so), its cgroup, the node name and a label value
BAD=$'evil\xff\xfe'
cp "$WORKLOAD" "$TMP/$BAD"
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
CG=$'scorch-\xc3-'$$
mkdir "$CG_ROOT/$CG"
cleanup_cgroup() { rmdir "$CG_ROOT/$CG" 2>/dev/null || true; }
"$TMP/$BAD" 1 60 >/dev/null & bad=$!; PIDS+=("$bad")
echo "$bad" >"$CG_ROOT/$CG/cgroup.procs"
comm=$(od -An -tx1 "/proc/$bad/comm" | tr -d ' \n')
[ "$comm" = 6576696cfffe0a ] && ok "a process named 'evil\\xff\\xfe' (comm $comm)" || fail "comm of the fixture: $comm"

start_server "$TMP/a.jsonl"
start_agent "$TMP/a.log" -p "$bad" --node $'node-\xff' --label $'team=perf\xe2\x82'
wait_lines "$TMP/a.jsonl" 4 30 || true
stop_agent && rc=0 || rc=$?
n=$(lines_of "$TMP/a.jsonl")
attempts=$(lines_of "$TMP/a.jsonl.attempts")
intervals=$(intervals_of "$TMP/a.log")
[ "$rc" -eq 0 ] && [ -n "$intervals" ] && [ "$n" -eq "$intervals" ] && [ "$attempts" -eq "$n" ] && [ "$n" -ge 4 ] &&
	ok "every interval accepted at the first attempt: $n of $intervals, $attempts attempts" ||
	fail "rc $rc, ${intervals:-?} intervals, $n accepted, $attempts attempts: $(cat "$TMP/a.log") $(tail -3 "$TMP/server.log")"
$PY -c "
import json, sys
R = '\ufffd'
series = [s for l in open('$TMP/a.jsonl') for s in json.loads(l)['series']]
assert series, 'no series'
for s in series:
    l = s['labels']
    assert l['comm'] == 'evil' + R + R, repr(l['comm'])
    assert l['executable'] == '$TMP/evil' + R + R, repr(l['executable'])
    assert l['cgroup'].endswith('/scorch-' + R + '-$$'), repr(l['cgroup'])
    assert l['node'] == 'node-' + R and l['team'] == 'perf' + R, l
assert any('hot_a' in s['functions'] for s in series), [s['functions'] for s in series]
print('%d series: comm %r, executable %r, cgroup %r' % (len(series), l['comm'], l['executable'],
      l['cgroup'][-12:]))
" >"$TMP/out" 2>&1 && ok "labels with U+FFFD: $(cat "$TMP/out")" || fail "labels: $(cat "$TMP/out")"
[ -z "$(ls "$TMP/spool")" ] && ok "spool empty" || fail "spool left: $(ls "$TMP/spool" | wc -l) files"
stop_server
kill "$bad" 2>/dev/null || true
wait "$bad" 2>/dev/null || true
cleanup_cgroup

"$WORKLOAD" 1 120 >/dev/null & wl=$!; PIDS+=("$wl")

# 2. the 2nd message refused with INTERNAL every time: after 3 refusals, the newest message is
# tried; the server takes it and refuses the 2nd once more: dropped, counted, one line; the
# rest arrives
rm -rf "$TMP/spool"
start_server "$TMP/b.jsonl" --refuse-nth 2
start_agent "$TMP/b.log" -p "$wl"
wait_for "$TMP/b.log" "refused a profile .* dropped" 60 || true
at_drop=$(lines_of "$TMP/b.jsonl")
# two intervals more, delivered as they come
wait_lines "$TMP/b.jsonl" $((at_drop + 2)) 30 || true
rejected=$(metric scorch_profiles_rejected_total)
stop_agent
intervals=$(intervals_of "$TMP/b.log")
refusals=$(lines_of "$TMP/b.jsonl.refused")
drops=$(grep -c "refused a profile .* dropped" "$TMP/b.log" || true)
[ "$drops" -eq 1 ] && [ "${rejected:-0}" -eq 1 ] && [ "$refusals" -ge 4 ] &&
	ok "the refused message dropped after $refusals refusals, scorch_profiles_rejected_total $rejected: $(grep -o 'remote store refused a profile.*' "$TMP/b.log")" ||
	fail "$drops drop lines, rejected '${rejected:-}', $refusals refusals: $(cat "$TMP/b.log")"
$PY -c "
import json
acc = [json.loads(l)['series'][0]['time_nanos'] for l in open('$TMP/b.jsonl')]
bad = {json.loads(l)['time_nanos'] for l in open('$TMP/b.jsonl.refused')}
assert len(bad) == 1, bad
bad = bad.pop()
assert bad not in acc, 'the refused one was accepted'
assert len(acc) == ${intervals:-0} - 1, '%d accepted of ${intervals:-0} intervals' % len(acc)
assert len(set(acc)) == len(acc), 'duplicates'
later = [t for t in acc if t > bad]
assert len(later) >= 3, 'only %d intervals after the refused one' % len(later)
print('%d accepted, %d of them after the refused one' % (len(acc), len(later)))
" >"$TMP/out" 2>&1 && ok "every other interval of ${intervals:-?} arrived once: $(cat "$TMP/out")" ||
	fail "after the refused message: $(cat "$TMP/out"); $(cat "$TMP/b.log")"
[ -z "$(ls "$TMP/spool")" ] && ok "spool empty" || fail "spool left: $(ls "$TMP/spool" | wc -l) files"
stop_server

# 3. a store refusing everything with INTERNAL (broken storage, a proxy answering 400): the
# agent tries newer messages too, and drops none; once the store is well, all arrive
rm -rf "$TMP/spool"
start_server "$TMP/c.jsonl" --refuse-all
start_agent "$TMP/c.log" -p "$wl"
# past three refusals of the oldest, one of the newest, and the oldest's again
wait_lines "$TMP/c.jsonl.refused" 5 60 || true
refusals=$(lines_of "$TMP/c.jsonl.refused")
tried=$($PY -c "import json; print(len({json.loads(l)['nth'] for l in open('$TMP/c.jsonl.refused')}))" 2>/dev/null || echo 0)
rejected=$(metric scorch_profiles_rejected_total)
stop_agent
intervals=$(intervals_of "$TMP/c.log")
spooled=$(ls "$TMP/spool" | wc -l)
[ "$tried" -ge 2 ] && [ "${rejected:-1}" -eq 0 ] && [ "$spooled" -eq "${intervals:-0}" ] &&
	! grep -qE "(refused|rejected) a profile" "$TMP/c.log" &&
	ok "everything refused: $refusals refusals of $tried distinct messages, none dropped, all $spooled intervals spooled" ||
	fail "everything refused: $refusals refusals of $tried messages, rejected '${rejected:-}', $spooled spooled of ${intervals:-?}: $(cat "$TMP/c.log")"
stop_server
start_server "$TMP/d.jsonl"
start_agent "$TMP/d.log" -p "$wl"
wait_lines "$TMP/d.jsonl" $((spooled + 1)) 30 || true
stop_agent
n=$(lines_of "$TMP/d.jsonl")
second=$(intervals_of "$TMP/d.log")
[ "$n" -eq $((spooled + second)) ] && ok "the store well again: the $spooled spooled and $second new intervals delivered" ||
	fail "after the store recovered: $n delivered, $spooled spooled + ${second:-?} new: $(cat "$TMP/d.log")"
stop_server
finish
