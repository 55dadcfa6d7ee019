#!/usr/bin/env bash
# Where a process runs, as labels of its samples (record) and of its series (the agent): a
# workload in a cgroup laid out as the kubelet lays out a pod's container (cgroupfs driver)
# gets pod_uid and container_id, one in a NAME.service cgroup gets systemd_unit; report
# --tagfocus selects each by them.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
PY=/usr/bin/python3
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG_ROOT" ] || { fail "no cgroup2 mount"; finish; }
UID_=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
CID=$(printf '%064x' $$)
POD=$CG_ROOT/kubepods/burstable/pod$UID_/$CID
UNIT=$CG_ROOT/scorch-test-$$.service
mkdir -p "$POD" "$UNIT" || { fail "cannot make test cgroups"; finish; }
cleanup_cgroups() {
	rmdir "$POD" "$CG_ROOT/kubepods/burstable/pod$UID_" "$CG_ROOT/kubepods/burstable" "$CG_ROOT/kubepods" "$UNIT" 2>/dev/null || true
}
trap 'cleanup_cgroups; cleanup' EXIT

"$WORKLOAD" 1 30 >/dev/null & w1=$!; PIDS+=("$w1")
"$WORKLOAD" 1 30 >/dev/null & w2=$!; PIDS+=("$w2")
wait_exec "$w1" "$WORKLOAD" && wait_exec "$w2" "$WORKLOAD" || finish
echo "$w1" >"$POD/cgroup.procs" && echo "$w2" >"$UNIT/cgroup.procs" || fail "cannot move the workloads"
"$SCORCH" record -q -d 2 -p "$w1,$w2" -o "$TMP/l.pb.gz" 2>"$TMP/err" || fail "record: $(cat "$TMP/err")"
total() { "$SCORCH" report "$TMP/l.pb.gz" --json --sample-index samples "$@" | $PY -c 'import json,sys; print(sum(f["flat"] for f in json.load(sys.stdin)["functions"]))'; }
all=$(total)
pod=$(total --tagfocus "pod_uid=^$UID_\$")
cid=$(total --tagfocus "container_id=^$CID\$")
unit=$(total --tagfocus "systemd_unit=^scorch-test-$$.service\$")
p1=$(total --tagfocus "pid=$w1")
p2=$(total --tagfocus "pid=$w2")
exe=$(total --tagfocus "executable=^$(readlink -f "$WORKLOAD")\$")
[ "$all" -gt 50 ] && [ "$pod" = "$p1" ] && [ "$cid" = "$p1" ] && [ "$unit" = "$p2" ] && [ "$p1" -gt 0 ] && [ "$p2" -gt 0 ] &&
	ok "sample labels: pod_uid and container_id on the pod's workload ($p1 samples), systemd_unit on the unit's ($p2)" ||
	fail "sample labels: all $all, pod $pod, container $cid (pid $p1); unit $unit (pid $p2)"
[ "$exe" = $((p1 + p2)) ] && ok "sample label executable: both workloads' $exe samples" ||
	fail "executable label: $exe samples, the workloads $p1 + $p2"

# the agent's series: the same labels
source "$(dirname "${BASH_SOURCE[0]}")/parca_lib.sh"
start_server "$TMP/a.jsonl"
"$SCORCH" agent --remote-store-address "$ADDR" --remote-store-insecure --profiling-duration 1s \
	--spool-dir "$TMP/spool" -p "$w1,$w2" 2>"$TMP/a.log" & AGENT_PID=$!; PIDS+=("$AGENT_PID")
wait_for "$TMP/a.log" "scorch: info: profiling " 60 || true
for _ in $(seq 100); do [ "$(wc -l <"$TMP/a.jsonl" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.1; done
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true
$PY - "$TMP/a.jsonl" "$w1" "$w2" "$UID_" "$CID" "scorch-test-$$.service" <<'PYEOF' >"$TMP/out" 2>&1 && ok "$(cat "$TMP/out")" || fail "series labels: $(cat "$TMP/out")"
import json, sys
path, w1, w2, uid, cid, unit = sys.argv[1:]
ser = [s['labels'] for l in open(path) for s in json.loads(l)['series']]
a = [l for l in ser if l.get('pid') == w1]
b = [l for l in ser if l.get('pid') == w2]
assert a and b, 'series of both workloads: %d, %d' % (len(a), len(b))
assert all(l.get('pod_uid') == uid and l.get('container_id') == cid for l in a), a[0]
assert all(l.get('systemd_unit') == unit and 'pod_uid' not in l for l in b), b[0]
print('series labels: pod_uid, container_id (%d series) and systemd_unit (%d series)' % (len(a), len(b)))
PYEOF
stop_server
finish
