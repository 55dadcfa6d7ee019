#!/usr/bin/env bash
# Least privilege: scorch record and scorch agent, run as a uid without a passwd entry with
# exactly the capabilities of docs/deploy/scorch-agent.service (read from it, so that the unit
# and this test cannot drift) and kernel.perf_event_paranoid=2, name the kernel frames and the
# user frames of a workload of another uid that runs a deleted copy of its binary from a 0700
# directory (which takes CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH and CAP_CHECKPOINT_RESTORE), and
# JIT'ed BPF programs without CAP_SYS_ADMIN. Each capability of the unit is needed: without a
# required one, one error line names it and scorch exits 1; without a recommended one, its
# warning line says what is lost, and it is lost. Also with kernel.kptr_restrict=1.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
command -v setpriv >/dev/null || { fail "setpriv (util-linux) is missing"; finish; }

UNIT=${DEPLOY_DIR:?run the integration tests through meson test}/scorch-agent.service
read -r -a CAPS < <(sed -n 's/^AmbientCapabilities=//p' "$UNIT")
bounding=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
[ "${#CAPS[@]}" -gt 0 ] && ok "the unit grants ${CAPS[*]}" || fail "no AmbientCapabilities= in $UNIT"
[ "$bounding" = "${CAPS[*]}" ] && ok "CapabilityBoundingSet= is the same set" ||
	fail "CapabilityBoundingSet=$bounding is not AmbientCapabilities=${CAPS[*]}"
# as root (no User=) AmbientCapabilities= does nothing: root keeps every capability it bounds
user=$(sed -n 's/^User=//p' "$UNIT")
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] && ok "the unit runs as '$user'" ||
	fail "the unit has no User= other than root"

# the unit as systemd reads it (ExecStart= must exist for systemd-analyze: the built binary)
if command -v systemd-analyze >/dev/null; then
	mkdir "$TMP/unit"
	sed "s|^ExecStart=/usr/local/bin/scorch |ExecStart=$SCORCH |" "$UNIT" >"$TMP/unit/scorch-agent.service"
	rc=0
	systemd-analyze verify "$TMP/unit/scorch-agent.service" >"$TMP/verify" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && [ ! -s "$TMP/verify" ] && ok "systemd-analyze verify: clean" ||
		fail "systemd-analyze verify: rc=$rc $(cat "$TMP/verify")"
fi
# the DaemonSet grants the same set, drops the rest, and keeps the HTTP endpoint on loopback
python3 - "$DEPLOY_DIR/daemonset.yaml" "${CAPS[@]}" <<'PY' >"$TMP/ds" 2>&1 && ok "DaemonSet: $(cat "$TMP/ds")" || fail "DaemonSet: $(cat "$TMP/ds")"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
pod = ds["spec"]["template"]
c = pod["spec"]["containers"][0]
sc = c["securityContext"]
want = [x[len("CAP_"):] for x in sys.argv[2:]]
problems = []
if sc["capabilities"].get("add") != want:
    problems.append("capabilities.add %s, the unit has %s" % (sc["capabilities"].get("add"), want))
if sc["capabilities"].get("drop") != ["ALL"]:
    problems.append("does not drop ALL")
if sc.get("privileged") or sc.get("allowPrivilegeEscalation", True):
    problems.append("privileged or allowPrivilegeEscalation")
if not pod["spec"].get("hostPID"):
    problems.append("no hostPID")
if sc.get("appArmorProfile", {}).get("type") != "Unconfined" or \
        pod["metadata"]["annotations"].get("container.apparmor.security.beta.kubernetes.io/" + c["name"]) != "unconfined":
    problems.append("AppArmor not unconfined by field and annotation")
http = [a for a in c["args"] if a.startswith("--http-address")]
if http != ["--http-address=127.0.0.1:7071"]:
    problems.append("HTTP endpoint %s, not loopback" % http)
print("; ".join(problems) if problems else "capabilities %s, hostPID, AppArmor unconfined, HTTP on 127.0.0.1" % ",".join(want))
sys.exit(1 if problems else 0)
PY

# the sysctls this test sets are put back at exit, whatever happens
ORIG_PARANOID=$(sysctl -n kernel.perf_event_paranoid)
ORIG_KPTR=$(sysctl -n kernel.kptr_restrict)
restore() {
	local p
	sysctl -qw kernel.perf_event_paranoid="$ORIG_PARANOID" kernel.kptr_restrict="$ORIG_KPTR" || true
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${CG_DIR:-}" ]; then rmdir "$CG_DIR" 2>/dev/null || true; fi
	cleanup
}
trap restore EXIT
sysctl -qw kernel.perf_event_paranoid=2
# the machine's kptr_restrict, unless it hides kernel addresses from everyone (root too)
RUN_KPTR=$ORIG_KPTR
if [ "$ORIG_KPTR" -ge 2 ]; then
	echo "kernel.kptr_restrict=$ORIG_KPTR hides kernel addresses from everyone: testing with 1"
	RUN_KPTR=1
	sysctl -qw kernel.kptr_restrict=1
fi

# two uids without passwd or group entries: scorch's, and the workload's
free_uid() {
	local u
	for u in $(seq "$1" $(($1 + 999))); do
		getent passwd "$u" >/dev/null || getent group "$u" >/dev/null ||
			pgrep -u "$u" >/dev/null || { echo "$u"; return; }
	done
	return 1
}
SUID=$(free_uid $((61000 + $$ % 2000 * 2))) || { fail "no free uid"; finish; }
WUID=$(free_uid $((SUID + 1))) || { fail "no free uid"; finish; }
chmod 711 "$TMP"
S=$TMP/scorch W=$TMP/workload
mkdir -m 0700 "$S" "$S/cache" "$W"
chown -R "$SUID:$SUID" "$S"
chown "$WUID:$WUID" "$W"
CACHE=$S/cache

# setpriv's list for a set of capabilities: -all,+bpf,+perfmon...
caplist() {
	local l=-all c
	for c in "$@"; do c=${c#CAP_}; l+=",+${c,,}"; done
	echo "$l"
}
# as_scorch [-b] CAP... -- COMMAND...: COMMAND as scorch's uid with exactly those capabilities,
# bounded in time (a capture must never hang the test); -b: in the background, unbounded (the
# caller stops it), its pid in $BG
as_scorch() {
	local caps=() l bg=
	[ "$1" = -b ] && { bg=1; shift; }
	while [ "$1" != -- ]; do caps+=("$1"); shift; done
	shift
	l=$(caplist "${caps[@]}")
	set -- setpriv --reuid="$SUID" --regid="$SUID" --clear-groups --inh-caps="$l" \
		--ambient-caps="$l" --bounding-set="$l" env SCORCH_CACHE_DIR="$CACHE" "$@"
	if [ -n "$bg" ]; then
		"$@" & BG=$!
	else
		timeout -s KILL 120 "$@"
	fi
}
# without CAP: the unit's set less one
without() {
	local c
	for c in "${CAPS[@]}"; do [ "$c" != "$1" ] && echo "$c"; done
}
as_scorch "${CAPS[@]}" -- test -x "$SCORCH" || { fail "'$SCORCH' cannot be run by uid $SUID"; finish; }

# the workload: another uid, a copy of the binary in its own 0700 directory, deleted once it runs
cp "$WORKLOAD" "$W/scorch-priv-wl"
chown "$WUID:$WUID" "$W/scorch-priv-wl"
chmod 0700 "$W/scorch-priv-wl"
setpriv --reuid="$WUID" --regid="$WUID" --clear-groups "$W/scorch-priv-wl" 1 600 >/dev/null &
WPID=$!; PIDS+=("$WPID")
for _ in $(seq 100); do
	[[ "$(readlink "/proc/$WPID/exe" 2>/dev/null)" == */scorch-priv-wl ]] && break
	sleep 0.05
done
rm "$W/scorch-priv-wl"
grep -q 'scorch-priv-wl (deleted)' "/proc/$WPID/maps" && ok "workload pid $WPID (uid $WUID) runs a deleted binary" ||
	fail "workload pid $WPID not started: $(cat "/proc/$WPID/maps" 2>&1 | head -2)"

# kernel_frames FOLDED -> "NAMED UNNAMED": samples of kernel frames, named or bare addresses
kernel_frames() {
	awk '{ n = $NF; $NF = ""; sub(/ $/, ""); k = split($0, fr, ";");
		for (i = 1; i <= k; i++) if (fr[i] ~ /_\[k\]$/) { if (fr[i] ~ /0x[0-9a-f]+_\[k\]$/) u += n; else m += n } }
		END { print m + 0, u + 0 }' "$1"
}
# workload_named FOLDED -> samples whose stack has the workload's worker frame
workload_named() { folded_count "$1" worker; }
# cap_lines ERR -> the lines about capabilities
cap_lines() { grep -E '^scorch: (warning: no CAP_|missing CAP_)' "$1" || true; }

# 1. scorch record, the whole machine, with the unit's set
rc=0
as_scorch "${CAPS[@]}" -- "$SCORCH" record -d 2 --format folded --no-comm-root -o "$S/all.folded" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 0 ] && ok "record with the unit's set" || fail "record with the unit's set: rc=$rc $(cat "$TMP/err")"
[ -z "$(cap_lines "$TMP/err")" ] && ok "no capability is reported missing" || fail "$(cap_lines "$TMP/err")"
read -r kn ku < <(kernel_frames "$S/all.folded")
[ "$kn" -gt 0 ] && [ "$ku" -le $((kn / 50)) ] && ok "kernel frames named ($kn samples, $ku bare addresses)" ||
	fail "kernel frames: $kn named, $ku bare addresses"
wn=$(workload_named "$S/all.folded")
wu=$(grep -c 'scorch-priv-wl+0x' "$S/all.folded" || true)
[ "$wn" -gt 0 ] && [ "$wu" -eq 0 ] && ok "workload frames named ($wn samples through worker)" ||
	fail "workload: $wn samples named, $wu stacks with bare addresses of its binary"

# record_pid CAP... -> $TMP/err, $S/p.folded: the workload alone, 1.5 s
record_pid() {
	rm -f "$S/p.folded"
	RC=0
	as_scorch "$@" -- "$SCORCH" record -p "$WPID" -d 1.5 --format folded --no-comm-root -o "$S/p.folded" 2>"$TMP/err" || RC=$?
}
# 2. the workload alone: everything of it named
record_pid "${CAPS[@]}"
total=$(folded_total "$S/p.folded")
wn=$(workload_named "$S/p.folded")
read -r kn ku < <(kernel_frames "$S/p.folded")
[ "$RC" -eq 0 ] && [ "$total" -gt 50 ] && [ "$wn" -ge $((total * 9 / 10)) ] && [ "$kn" -gt 0 ] && [ "$ku" -eq 0 ] &&
	ok "-p $WPID: $wn of $total samples through worker, kernel frames named" ||
	fail "-p $WPID: rc=$RC, $wn of $total samples through worker, kernel $kn named $ku bare: $(head -3 "$S/p.folded")"

# 3. each capability of the unit less: refused, or warned about and lost
# (without the kernel-symbol cache, as on the first run of a boot: a cache written by a run with
# CAP_SYSLOG names kernel frames for the same uid without it, when the kernel has no modules)
for cap in "${CAPS[@]}"; do
	mapfile -t less < <(without "$cap")
	CACHE='' record_pid "${less[@]}"
	lines=$(cap_lines "$TMP/err")
	case $cap in
	CAP_BPF | CAP_PERFMON)
		[ "$RC" -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "^scorch: missing $cap (" "$TMP/err" &&
			[ ! -e "$S/p.folded" ] && ok "without $cap: $(cat "$TMP/err")" ||
			fail "without $cap: rc=$RC, want one error line naming it: $(cat "$TMP/err")"
		continue ;;
	esac
	if [ "$RC" -ne 0 ] || [ "$(wc -l <<<"$lines")" -ne 1 ] || ! grep -q "^scorch: warning: no $cap: " <<<"$lines"; then
		fail "without $cap: rc=$RC, want its warning line alone, got: ${lines:-nothing} $(head -2 "$TMP/err")"
		continue
	fi
	wn=$(workload_named "$S/p.folded")
	read -r kn ku < <(kernel_frames "$S/p.folded")
	case $cap in
	CAP_SYSLOG) lost=$([ "$kn" -eq 0 ] && [ "$ku" -gt 0 ] && echo y) ;;
	CAP_SYS_PTRACE | CAP_DAC_READ_SEARCH | CAP_CHECKPOINT_RESTORE) lost=$([ "$wn" -eq 0 ] && echo y) ;;
	*) lost=unknown ;;
	esac
	case $lost in
	y) ok "without $cap: '$lines', and lost (workload named $wn, kernel $kn named $ku bare)" ;;
	unknown) fail "without $cap: this test does not know what it loses" ;;
	*) fail "without $cap: warned, but nothing lost (workload named $wn, kernel $kn named $ku bare)" ;;
	esac
done

# 4. kernel.kptr_restrict=1: CAP_SYSLOG alone shows the addresses
if sysctl -qw kernel.kptr_restrict=1; then
	CACHE='' record_pid "${CAPS[@]}"
	read -r kn ku < <(kernel_frames "$S/p.folded")
	[ "$RC" -eq 0 ] && [ "$kn" -gt 0 ] && [ "$ku" -eq 0 ] && [ -z "$(cap_lines "$TMP/err")" ] &&
		ok "kptr_restrict=1: kernel frames named" || fail "kptr_restrict=1: rc=$RC, kernel $kn named $ku bare $(cat "$TMP/err")"
	mapfile -t less < <(without CAP_SYSLOG)
	CACHE='' record_pid "${less[@]}"
	grep -q '^scorch: warning: no CAP_SYSLOG: kernel frames will be unnamed (kernel.kptr_restrict=1 hides' "$TMP/err" &&
		ok "kptr_restrict=1 without CAP_SYSLOG: warned" || fail "kptr_restrict=1 without CAP_SYSLOG: $(cat "$TMP/err")"
	sysctl -qw kernel.kptr_restrict="$RUN_KPTR"
else
	echo "cannot set kernel.kptr_restrict=1: not tested"
fi

# 5. a JIT'ed BPF program named without CAP_SYS_ADMIN (no program ids): the cache is warm from
# the runs above, so the name comes from /proc/kallsyms read for the addresses outside it
"$BPF_SPIN" 60 >"$TMP/bpf.out" 2>&1 & BPID=$!; PIDS+=("$BPID")
for _ in $(seq 100); do grep -q loaded "$TMP/bpf.out" && break; sleep 0.05; done
as_scorch "${CAPS[@]}" -- "$SCORCH" record -v -p "$BPID" -d 1.5 --format folded --no-comm-root -o "$S/bpf.folded" 2>"$TMP/err" || true
kill "$BPID"
check_program "$TMP/err"
named=$(grep -cE '(^|;)bpf_prog_[0-9a-f]{16}_scorch_spin_\[k\]' "$S/bpf.folded" || true)
grep -q '^scorch: kernel symbols from the cache, then /proc/kallsyms' "$TMP/err" && [ "$named" -gt 0 ] &&
	ok "BPF program named in $named stacks without CAP_SYS_ADMIN" ||
	fail "BPF program not named ($named stacks): $(grep 'kernel symbols' "$TMP/err"); $(head -2 "$S/bpf.folded")"

# 6. scorch agent with the unit's set: a few intervals, then SIGTERM
# agent_run NAME ARGS...: until 3 files are written (at most 60 s), then SIGTERM; $RC, $OUT
agent_run() {
	local name=$1 apid
	shift
	OUT=$S/$name
	as_scorch -b "${CAPS[@]}" -- "$SCORCH" agent --output-dir "$OUT" --profiling-duration 1s "$@" \
		2>"$TMP/$name.log"
	apid=$BG; PIDS+=("$apid")
	for _ in $(seq 300); do
		[ "$(ls "$OUT" 2>/dev/null | wc -l)" -ge 3 ] && break
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.2
	done
	kill -TERM "$apid" 2>/dev/null
	RC=0
	wait "$apid" || RC=$?
}
# pid_summary PID FILES... -> "SAMPLES WORKER KERNEL_BARE PIDS": of the samples of PID, those
# through worker and the bare kernel frames; and every pid seen
pid_summary() {
	local pid=$1
	shift
	for f in "$@"; do gopprof -sample_index=samples -traces "$f" 2>/dev/null; done | python3 -c '
import re, sys
pid = sys.argv[1]
n = worker = bare = 0
pids = set()
for block in sys.stdin.read().split("-----------+")[1:]:
    m = re.search(r"^ +pid: +(\d+)$", block, re.M)
    if not m:
        continue
    pids.add(m.group(1))
    if m.group(1) != pid:
        continue
    lines = [l for l in block.splitlines()[1:] if l.strip() and not re.match(r"^ *\w+: ", l)]
    c = re.match(r"^ *(\d+) +(.*)$", lines[0])
    frames = [c.group(2).strip()] + [l.strip() for l in lines[1:]]
    count = int(c.group(1))
    n += count
    if "worker" in frames:
        worker += count
    bare += count * frames.count("[kernel.kallsyms]")
print(n, worker, bare, ",".join(sorted(pids)))' "$pid"
}
agent_run out
[ "$RC" -eq 0 ] && ok "agent with the unit's set stopped cleanly" || fail "agent: rc=$RC $(cat "$TMP/out.log")"
[ -z "$(cap_lines "$TMP/out.log")" ] && ok "agent: no capability reported missing" || fail "agent: $(cap_lines "$TMP/out.log")"
read -r n worker bare _ < <(pid_summary "$WPID" "$OUT"/*.pb.gz)
[ "$n" -gt 50 ] && [ "$worker" -ge $((n * 9 / 10)) ] && [ "$bare" -eq 0 ] &&
	ok "agent: $worker of $n samples of the workload through worker, no bare kernel frames" ||
	fail "agent: $worker of $n samples of the workload through worker, $bare bare kernel frames"

# 7. the agent's cgroup filter needs nothing more
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -n "$CG_ROOT" ] && CG_DIR=$CG_ROOT/scorch-priv-$$ && mkdir "$CG_DIR"; then
	sh -c "echo \$\$ >'$CG_DIR/cgroup.procs' && exec setpriv --reuid=$WUID --regid=$WUID --clear-groups '$WORKLOAD' 1 30" \
		>/dev/null & CPID=$!; PIDS+=("$CPID")
	for _ in $(seq 100); do grep -qx "$CPID" "$CG_DIR/cgroup.procs" && break; sleep 0.05; done
	agent_run cgout --cgroup "scorch-priv-$$"
	read -r n _ _ pids < <(pid_summary "$CPID" "$OUT"/*.pb.gz)
	[ "$RC" -eq 0 ] && [ "$n" -gt 0 ] && [ "$pids" = "$CPID" ] && ok "agent --cgroup: only pid $CPID profiled" ||
		fail "agent --cgroup: rc=$RC, pids '$pids' (want $CPID) $(tail -2 "$TMP/cgout.log")"
	kill "$CPID"
	wait "$CPID" 2>/dev/null || true
fi

# 8. root, with every capability: nothing new said
"$SCORCH" record -p "$WPID" -d 0.5 --format folded --no-comm-root -o "$TMP/root.folded" 2>"$TMP/err"
[ -z "$(cap_lines "$TMP/err")" ] && ok "root: no capability lines" || fail "root: $(cap_lines "$TMP/err")"
finish
