#!/usr/bin/env bash
# The agent's health where it is deployed. systemd: with $NOTIFY_SOCKET (here a python3
# datagram socket, an abstract name and then a path) the agent says READY=1 once it samples,
# WATCHDOG=1 about every second while its loop drains, none while its main thread alone is
# stopped with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT, as http.sh), again once it runs, and
# STOPPING=1 at SIGTERM; a WATCHDOG_USEC shorter than /healthz's limit is raised to it. Exec
# probes: `scorch healthcheck` exits 0 against a running agent, 1 against a wedged one (saying
# why), 1 at once when nothing listens and 1 at its timeout when a listener never answers. The
# unit is Type=notify with WatchdogSec= and NotifyAccess=main; the DaemonSet's livenessProbe
# runs the healthcheck on the agent's own --http-address.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
PY=/usr/bin/python3
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# notify_server ADDRESS LOG: every datagram on ADDRESS ('@NAME' abstract, or a path) as a line
# "MONOTONIC_SECONDS MESSAGE" (newlines as '|')
notify_server() {
	$PY - "$1" "$2" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:] if sys.argv[1].startswith("@") else sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
out.write("listening\n")
while True:
    d = s.recv(4096)
    out.write("%.3f %s\n" % (time.monotonic(), d.decode(errors="replace").replace("\n", "|")))
EOF
	NOTIFY_PID=$!; PIDS+=("$NOTIFY_PID")
	for _ in $(seq 100); do grep -q listening "$2" 2>/dev/null && return 0; sleep 0.1; done
	fail "the notify socket did not start"; finish
}
# wait_line FILE PATTERN SECONDS
wait_line() {
	local i
	for i in $(seq $(($3 * 10))); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
count() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

"$WORKLOAD" 1 300 >/dev/null & wl=$!; PIDS+=("$wl")

# 1. an abstract socket, a watchdog period of 2 s with 1 s intervals (/healthz's limit: 5 s)
P=$(free_port)
notify_server "@scorch-health-$$" "$TMP/n1.log"
NOTIFY_SOCKET="@scorch-health-$$" WATCHDOG_USEC=2000000 "$SCORCH" agent --output-dir "$TMP/out" \
	--profiling-duration 1s -p "$wl" --http-address "127.0.0.1:$P" 2>"$TMP/a1.log" &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
if wait_line "$TMP/n1.log" "READY=1" 30 && wait_line "$TMP/n1.log" "WATCHDOG=1" 10; then
	ok "READY=1: $(grep -m1 -o 'READY=1.*' "$TMP/n1.log")"
	grep -q "^[0-9.]* WATCHDOG_USEC=5000000$" "$TMP/n1.log" && grep -q "watchdog period raised from 2.0 s to 5.0 s" "$TMP/a1.log" &&
		ok "WATCHDOG_USEC=2000000 raised to /healthz's 5 s limit, said once" ||
		fail "watchdog period: $(cat "$TMP/n1.log") $(cat "$TMP/a1.log")"
	ready_line=$(grep -n "READY=1" "$TMP/n1.log" | cut -d: -f1)
	first_wd=$(grep -n "WATCHDOG=1" "$TMP/n1.log" | head -1 | cut -d: -f1)
	[ "$ready_line" -lt "$first_wd" ] && grep -q "profiling some processes" "$TMP/a1.log" &&
		ok "READY=1 before the first WATCHDOG=1, once sampling runs" || fail "order: $(cat "$TMP/n1.log")"
	"$SCORCH" healthcheck --http-address "127.0.0.1:$P" >"$TMP/h.out" 2>"$TMP/h.err" && rc=0 || rc=$?
	[ "$rc" -eq 0 ] && [ "$(wc -l <"$TMP/h.out")" -eq 1 ] && [ ! -s "$TMP/h.err" ] &&
		ok "healthcheck of a running agent: exit 0, '$(cat "$TMP/h.out")'" ||
		fail "healthcheck of a running agent: exit $rc: $(cat "$TMP/h.out" "$TMP/h.err")"
	# the main thread stopped until /healthz says 503 (and healthcheck 1), then resumed
	$PY - "$AGENT_PID" "$SCORCH" "127.0.0.1:$P" >"$TMP/wedge.out" 2>&1 <<'EOF' || true
import ctypes, os, subprocess, sys, time
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 17, 0x4206, 0x4207, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid, scorch, addr = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def check():
    r = subprocess.run([scorch, "healthcheck", "--http-address", addr], capture_output=True,
                       text=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).strip()
if libc.ptrace(PTRACE_SEIZE, pid, None, None) or libc.ptrace(PTRACE_INTERRUPT, pid, None, None):
    print("ptrace failed: %s" % os.strerror(ctypes.get_errno()))
    sys.exit(1)
os.waitpid(pid, WALL)
print("stopped %.3f" % time.monotonic())
t = time.monotonic()
rc, line = check()
while rc == 0 and time.monotonic() - t < 30:
    time.sleep(0.3)
    rc, line = check()
print("wedged %d %.1f %s" % (rc, time.monotonic() - t, line))
libc.ptrace(PTRACE_DETACH, pid, None, None)
print("resumed %.3f" % time.monotonic())
t = time.monotonic()
rc, line = check()
while rc != 0 and time.monotonic() - t < 30:
    time.sleep(0.3)
    rc, line = check()
print("healthy %d %.1f %s" % (rc, time.monotonic() - t, line))
EOF
	sed 's/^/  /' "$TMP/wedge.out"
	read -r _ t_stop < <(grep '^stopped ' "$TMP/wedge.out" || echo "- 0")
	read -r _ t_resume < <(grep '^resumed ' "$TMP/wedge.out" || echo "- 0")
	read -r _ wrc wsecs wline < <(grep '^wedged ' "$TMP/wedge.out" || echo "- - - -")
	read -r _ hrc _ < <(grep '^healthy ' "$TMP/wedge.out" || echo "- - -")
	[ "$wrc" = 1 ] && [[ "$wline" == *"answered 503: the sampling loop has not drained"* ]] &&
		ok "healthcheck of a wedged agent: exit 1 after $wsecs s: '$wline'" ||
		fail "healthcheck of a wedged agent: $(cat "$TMP/wedge.out")"
	[ "$hrc" = 0 ] && ok "healthcheck 0 again once it runs" || fail "after resuming: $(grep '^healthy' "$TMP/wedge.out")"
	# no WATCHDOG=1 from a second after the stop to the resume (about 5 s), then again
	wait_line "$TMP/n1.log" "WATCHDOG=1" 1 || true
	sleep 3
	read -r during after < <(awk -v s="$t_stop" -v r="$t_resume" '$2 == "WATCHDOG=1" {
		if ($1 > s + 1.2 && $1 < r) d++; if ($1 > r) a++ } END { print d + 0, a + 0 }' "$TMP/n1.log")
	gap=$(awk -v s="$t_stop" -v r="$t_resume" 'BEGIN { printf "%.1f", r - s }')
	[ "$during" -eq 0 ] && [ "$after" -ge 1 ] && awk -v g="$gap" 'BEGIN { exit !(g >= 4) }' &&
		ok "no WATCHDOG=1 while the loop was stopped ($gap s), $after after it resumed" ||
		fail "WATCHDOG=1 during the stop: $during, after: $after (stopped $gap s): $(cat "$TMP/n1.log")"
	before=$(count "$TMP/n1.log" "WATCHDOG=1")
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" && rc=0 || rc=$?
	last=$(tail -1 "$TMP/n1.log" | cut -d' ' -f2-)
	[ "$rc" -eq 0 ] && [ "$last" = "STOPPING=1" ] && [ "$before" -ge 3 ] &&
		ok "SIGTERM: STOPPING=1 last, exit 0 ($before WATCHDOG=1 in all)" ||
		fail "SIGTERM: exit $rc, last message '$last': $(cat "$TMP/a1.log")"
else
	fail "no READY=1 or WATCHDOG=1: $(cat "$TMP/n1.log") $(cat "$TMP/a1.log")"
fi
kill "$NOTIFY_PID" 2>/dev/null || true

# 2. a path socket, WATCHDOG_PID naming the agent (as systemd sets it) and a period longer than
# the limit (kept); then WATCHDOG_PID of another process: the watchdog is not the agent's
notify_server "$TMP/notify.sock" "$TMP/n2.log"
NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=60000000 sh -c 'WATCHDOG_PID=$$ exec "$@"' sh \
	"$SCORCH" agent --output-dir "$TMP/out" --profiling-duration 1s -p "$wl" 2>"$TMP/a2.log" &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
wait_line "$TMP/n2.log" "WATCHDOG=1" 30 || true
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true
[ "$(count "$TMP/n2.log" "READY=1")" -eq 1 ] && [ "$(count "$TMP/n2.log" "WATCHDOG=1")" -ge 1 ] &&
	[ "$(count "$TMP/n2.log" "WATCHDOG_USEC")" -eq 0 ] && [ "$(count "$TMP/n2.log" "STOPPING=1")" -eq 1 ] &&
	ok "a path socket: READY, WATCHDOG, STOPPING; a period of 60 s left as it is" ||
	fail "path socket: $(cat "$TMP/n2.log") $(cat "$TMP/a2.log")"
NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1000000 WATCHDOG_PID=1 "$SCORCH" agent \
	--output-dir "$TMP/out" --profiling-duration 1s -p "$wl" 2>"$TMP/a3.log" &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
wait_line "$TMP/n2.log" "WATCHDOG=1.*" 30 || true
sleep 1.5
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true
[ "$(count "$TMP/n2.log" "WATCHDOG_USEC")" -eq 0 ] && ! grep -q "watchdog period" "$TMP/a3.log" &&
	ok "WATCHDOG_PID of another process: its period is not the agent's to change" ||
	fail "WATCHDOG_PID=1: $(cat "$TMP/n2.log") $(cat "$TMP/a3.log")"
kill "$NOTIFY_PID" 2>/dev/null || true

# 3. healthcheck with nothing listening: 1 at once; a listener that never answers: 1 at the
# timeout; usage errors: 2
P=$(free_port)
t0=$(date +%s.%N)
"$SCORCH" healthcheck --http-address "127.0.0.1:$P" 2>"$TMP/h.err" && rc=0 || rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$rc" -eq 1 ] && within "$took" 0 1 && grep -q "cannot connect: Connection refused" "$TMP/h.err" &&
	ok "healthcheck, nothing listening: exit 1 in $took s: $(cat "$TMP/h.err")" ||
	fail "healthcheck, nothing listening: exit $rc in $took s: $(cat "$TMP/h.err")"
$PY -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
time.sleep(120)' >"$TMP/silent.port" &
PIDS+=($!)
wait_line "$TMP/silent.port" "[0-9]" 10 || true
t0=$(date +%s.%N)
"$SCORCH" healthcheck --http-address "127.0.0.1:$(cat "$TMP/silent.port")" --timeout 1s 2>"$TMP/h.err" && rc=0 || rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$rc" -eq 1 ] && within "$took" 1.5 0.6 && grep -q "no answer within 1.0 s" "$TMP/h.err" &&
	ok "healthcheck, a listener that never answers: exit 1 in $took s: $(cat "$TMP/h.err")" ||
	fail "healthcheck, a silent listener: exit $rc in $took s: $(cat "$TMP/h.err")"
rc=0; "$SCORCH" healthcheck 2>/dev/null || rc=$?
rc2=0; "$SCORCH" healthcheck --http-address nowhere 2>/dev/null || rc2=$?
[ "$rc" -eq 2 ] && [ "$rc2" -eq 2 ] && ok "healthcheck usage errors: exit 2" || fail "usage errors: $rc, $rc2"

# 4. what is deployed: the unit and the DaemonSet
UNIT=${DEPLOY_DIR:?run the integration tests through meson test}/scorch-agent.service
[ "$(sed -n 's/^Type=//p' "$UNIT")" = notify ] && [ "$(sed -n 's/^NotifyAccess=//p' "$UNIT")" = main ] &&
	[ "$(sed -n 's/^WatchdogSec=//p' "$UNIT")" = 30s ] && [ "$(sed -n 's/^Restart=//p' "$UNIT")" = on-failure ] &&
	ok "the unit: Type=notify, NotifyAccess=main, WatchdogSec=30s, Restart=on-failure" ||
	fail "the unit: $(grep -E '^(Type|NotifyAccess|WatchdogSec|Restart)=' "$UNIT" | tr '\n' ' ')"
$PY - "$DEPLOY_DIR/daemonset.yaml" <<'EOF' >"$TMP/ds" 2>&1 && ok "DaemonSet: $(cat "$TMP/ds")" || fail "DaemonSet: $(cat "$TMP/ds")"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
c = next(d for d in docs if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
http = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--http-address=")]
probe = c.get("livenessProbe", {})
cmd = probe.get("exec", {}).get("command", [])
assert cmd[:2] == ["/usr/local/bin/scorch", "healthcheck"], cmd
assert "--http-address=" + http[0] in cmd, (cmd, http)
assert probe["timeoutSeconds"] >= 3 and probe["periodSeconds"] * probe["failureThreshold"] >= 30, probe
print("livenessProbe runs %s" % " ".join(cmd))
EOF
finish
