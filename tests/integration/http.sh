#!/usr/bin/env bash
# The agent's HTTP endpoint as something other processes can reach: `:PORT` listens on
# 127.0.0.1 only and another address is asked for (with a warning when it has no token);
# with --http-bearer-token-file every path but /healthz needs the token, which never reaches
# the log; idle connections neither starve /healthz nor stay open, and a profile being taken
# blocks nothing else; /healthz says 503 while the sampling loop is stuck (its one thread
# stopped with ptrace) and ok again once it runs.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
PY=/usr/bin/python3

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_agent LOG ARGS...: the agent in the background, 1 s intervals, files in $TMP/out; the
# workload alone is profiled, so that a busy machine does not slow its loop down
start_agent() {
	local log=$1; shift
	"$SCORCH" agent --output-dir "$TMP/out" --profiling-duration 1s -p "$wl" "$@" >"$log" 2>&1 &
	AGENT_PID=$!; PIDS+=("$AGENT_PID")
}
stop_agent() { kill -TERM "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; }
# wait_up URL: until URL answers anything (at most 20 s, while the agent lives)
wait_up() {
	for _ in $(seq 200); do
		kill -0 "$AGENT_PID" 2>/dev/null || return 1
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}
# code URL [CURL ARGS...]: the HTTP status of a GET (000 when nothing answered in 5 s)
code() { local u=$1; shift; curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$u" || true; }
# listening PORT: the local addresses listening on PORT (in the caller's network namespace)
listening() { ss -ltnH "sport = :$1" | awk '{ print $4 }' | sort -u | tr '\n' ' ' || true; }

"$WORKLOAD" 1 300 >/dev/null & wl=$!; PIDS+=("$wl")

# 1. `:PORT` is 127.0.0.1:PORT: another loopback address (127.0.0.2, which a socket on every
# address would accept) is refused, and no warning is logged
P=$(free_port)
start_agent "$TMP/a.log" --http-address ":$P"
if wait_up "http://127.0.0.1:$P/healthz"; then
	where=$(listening "$P")
	other=$(code "http://127.0.0.2:$P/healthz")
	[ "$where" = "127.0.0.1:$P " ] && [ "$other" = 000 ] &&
		ok "':$P' listens on 127.0.0.1 only (127.0.0.2 refused)" ||
		fail "':$P' listens on '$where', 127.0.0.2 answered $other"
	grep -q "without authentication" "$TMP/a.log" && fail "loopback warned: $(cat "$TMP/a.log")" ||
		ok "loopback: no warning"
else
	fail "':$P': the agent did not answer: $(cat "$TMP/a.log")"
fi
stop_agent

# 2. an explicit 0.0.0.0 (in a network namespace of our own, so nothing outside can connect)
# listens on every address and says, in one line, that profiles are served to anyone; with a
# token it does not
for t in none token; do
	args=(--http-address "0.0.0.0:$P")
	[ "$t" = token ] && { echo "ns-token-$$" >"$TMP/ns.token"; args+=(--http-bearer-token-file "$TMP/ns.token"); }
	unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$SCORCH" agent --output-dir "$TMP/out" \
		--profiling-duration 1s -p "$wl" "${args[@]}" >"$TMP/b-$t.log" 2>&1 &
	AGENT_PID=$!; PIDS+=("$AGENT_PID")
	for _ in $(seq 200); do grep -q "serving /metrics" "$TMP/b-$t.log" && break; kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
	where=$(nsenter -t "$AGENT_PID" -n ss -ltnH "sport = :$P" 2>/dev/null | awk '{ print $4 }' | tr '\n' ' ' || true)
	warned=$(grep -c "is not a loopback address.*served without authentication" "$TMP/b-$t.log" || true)
	if [ "$t" = none ]; then
		[ "$where" = "0.0.0.0:$P " ] && [ "$warned" -eq 1 ] &&
			ok "0.0.0.0 without a token: listens on every address, one warning: $(grep -o 'warning: .*' "$TMP/b-$t.log" | cut -c1-90)..." ||
			fail "0.0.0.0 without a token: listening '$where', $warned warnings: $(cat "$TMP/b-$t.log")"
	else
		[ "$where" = "0.0.0.0:$P " ] && [ "$warned" -eq 0 ] &&
			ok "0.0.0.0 with a token: no warning" ||
			fail "0.0.0.0 with a token: listening '$where', $warned warnings: $(cat "$TMP/b-$t.log")"
	fi
	stop_agent
done

# 3. a bearer token (from the command line, then from --config): every path but /healthz answers
# 401 with WWW-Authenticate: Bearer without it or with a wrong one (also of the same length),
# 200 with it; the token is in no line of the log
TOKEN=$($PY -c 'import secrets; print(secrets.token_urlsafe(32))')
WRONG=$($PY -c 'import sys; t = sys.argv[1]; print(t[:-1] + ("A" if t[-1] != "A" else "B"))' "$TOKEN")
printf '%s\n' "$TOKEN" >"$TMP/token"
printf 'http-address: 127.0.0.1:%s\nhttp-bearer-token-file: %s\n' "$P" "$TMP/token" >"$TMP/agent.yaml"
for from in cli config; do
	if [ "$from" = cli ]; then
		start_agent "$TMP/c-$from.log" --http-address "127.0.0.1:$P" --http-bearer-token-file "$TMP/token"
	else
		start_agent "$TMP/c-$from.log" --config "$TMP/agent.yaml"
	fi
	U=http://127.0.0.1:$P
	if ! wait_up "$U/healthz"; then fail "$from token: the agent did not answer: $(cat "$TMP/c-$from.log")"; stop_agent; continue; fi
	got=""
	for path in /metrics "/debug/pprof/profile?seconds=1" / /nonexistent; do
		got+="$path: $(code "$U$path") $(code "$U$path" -H 'Authorization: Bearer nope') $(code "$U$path" -H "Authorization: Bearer $WRONG") $(code "$U$path" -H "Authorization: Basic $TOKEN"); "
	done
	want="/metrics: 401 401 401 401; /debug/pprof/profile?seconds=1: 401 401 401 401; /: 401 401 401 401; /nonexistent: 401 401 401 401; "
	[ "$got" = "$want" ] && ok "$from token: 401 without it, with a wrong one, a same-length one, another scheme" ||
		fail "$from token: got '$got'"
	hdr=$(curl -s -D - -o /dev/null --max-time 5 "$U/metrics" | tr -d '\r' | grep -i '^WWW-Authenticate:' || true)
	[[ "$hdr" =~ ^[Ww][Ww][Ww]-[Aa]uthenticate:\ Bearer ]] && ok "$from token: '$hdr'" || fail "$from token: WWW-Authenticate '$hdr'"
	[ "$(curl -s --max-time 5 "$U/healthz")" = ok ] && ok "$from token: /healthz open" || fail "$from token: /healthz $(code "$U/healthz")"
	m=$(curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" "$U/metrics")
	grep -q '^scorch_samples_total [0-9]' <<<"$m" && grep -q '^scorch_http_unauthorized_total [1-9]' <<<"$m" &&
		ok "$from token: /metrics with it, $(awk '$1 == "scorch_http_unauthorized_total" { print $2 }' <<<"$m") refusals counted" ||
		fail "$from token: /metrics with the token: $(head -3 <<<"$m")"
	curl -s --max-time 10 -H "authorization: bearer $TOKEN" -o "$TMP/p.gz" -w '%{http_code}' "$U/debug/pprof/profile?seconds=1" >"$TMP/p.code" || true
	[ "$(cat "$TMP/p.code")" = 200 ] && gzip -t "$TMP/p.gz" 2>/dev/null &&
		ok "$from token: /debug/pprof/profile with it (scheme in any case): a gzip'ed profile" ||
		fail "$from token: profile with the token: $(cat "$TMP/p.code")"
	stop_agent
	grep -qF "$TOKEN" "$TMP/c-$from.log" && fail "$from token: the token is in the log" || ok "$from token: not in the log ($(wc -l <"$TMP/c-$from.log") lines)"
done

# 4. 100 idle connections held open, and a 3 s profile being taken: /healthz and /metrics
# answer at once; a profile longer than the idle timeout still arrives; the idle connections
# are closed by the agent within seconds
start_agent "$TMP/d.log" --http-address "127.0.0.1:$P"
if wait_up "http://127.0.0.1:$P/healthz"; then
	$PY - "$P" >"$TMP/idle.out" 2>&1 <<'EOF' || true
import http.client, selectors, socket, subprocess, sys, time
port = int(sys.argv[1])
def get(path, timeout):
    t = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, len(body), time.monotonic() - t
    except OSError as e:
        return type(e).__name__, 0, time.monotonic() - t
idle = []
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle.append(s)
opened = time.monotonic()
prof = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                         "http://127.0.0.1:%d/debug/pprof/profile?seconds=3" % port],
                        stdout=subprocess.PIPE, text=True)
time.sleep(0.5)  # the profile is under way (it takes 3 s)
st, n, dt = get("/healthz", 3)
print("healthz %s %.2f" % (st, dt))
st, n, dt = get("/metrics", 3)
print("metrics %s %d %.2f" % (st, n, dt))
print("profile_running %d" % (prof.poll() is None))
print("profile %s" % prof.communicate()[0])
# the idle connections: closed by the server (EOF or reset), counted until 15 s after opening
sel = selectors.DefaultSelector()
for s in idle:
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
closed, last = 0, 0.0
while closed < len(idle) and time.monotonic() - opened < 15:
    for key, _ in sel.select(timeout=0.5):
        try:
            data = key.fileobj.recv(16)
        except ConnectionResetError:
            data = b""
        if not data:
            sel.unregister(key.fileobj)
            closed += 1
            last = time.monotonic() - opened
print("closed %d %.1f" % (closed, last))
# longer than the 5 s idle timeout: a connection waiting for its profile is not idle
st, n, dt = get("/debug/pprof/profile?seconds=6", 20)
print("long_profile %s %d %.1f" % (st, n, dt))
EOF
	cat "$TMP/idle.out" | sed 's/^/  /'
	read -r _ hst hdt < <(grep '^healthz ' "$TMP/idle.out" || echo "- - -")
	read -r _ mst _ mdt < <(grep '^metrics ' "$TMP/idle.out" || echo "- - - -")
	[ "$hst" = 200 ] && ok "100 idle connections held: /healthz 200 in $hdt s" || fail "100 idle connections: /healthz $hst (${hdt}s): $(cat "$TMP/idle.out")"
	# an answer "at once": well before the 3 s profile (under way for 0.5 s) ends
	grep -q '^profile_running 1' "$TMP/idle.out" && [ "$mst" = 200 ] && within "$hdt" 0 2 && within "$mdt" 0 2 &&
		ok "a profile being taken: /healthz and /metrics answered meanwhile (in $hdt s and $mdt s)" ||
		fail "during a profile: /healthz in $hdt s, /metrics $mst in $mdt s: $(cat "$TMP/idle.out")"
	grep -q '^profile 200' "$TMP/idle.out" && ok "that profile arrived (200)" || fail "the 3 s profile: $(grep '^profile ' "$TMP/idle.out")"
	grep -q '^long_profile 200 [1-9]' "$TMP/idle.out" && ok "a 6 s profile (longer than the idle timeout) arrived" ||
		fail "the 6 s profile: $(grep '^long_profile' "$TMP/idle.out")"
	read -r _ nclosed tclosed < <(grep '^closed ' "$TMP/idle.out" || echo "- 0 -")
	[ "$nclosed" -eq 100 ] && ok "the agent closed all 100 idle connections (the last ${tclosed} s after they opened)" ||
		fail "idle connections: $nclosed of 100 closed by the agent in 15 s"
	[ "$(code "http://127.0.0.1:$P/healthz")" = 200 ] && ok "/healthz after" || fail "/healthz after: $(code "http://127.0.0.1:$P/healthz")"
else
	fail "idle: the agent did not answer: $(cat "$TMP/d.log")"
fi
stop_agent

# 5. the sampling loop stopped: its thread (the agent's main thread, tid = pid) alone stopped by
# ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT; the HTTP threads go on): /healthz 503 with a reason
# within the limit (3 intervals of 1 s, at least 5 s), and 200 once detached
start_agent "$TMP/e.log" --http-address "127.0.0.1:$P"
if wait_up "http://127.0.0.1:$P/healthz"; then
	before=$(code "http://127.0.0.1:$P/healthz")
	$PY - "$AGENT_PID" "$P" >"$TMP/wedge.out" 2>&1 <<'EOF' || true
import ctypes, os, sys, time, urllib.error, urllib.request
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 17, 0x4206, 0x4207, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid, port = int(sys.argv[1]), int(sys.argv[2])
def healthz():
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=3) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()
    except OSError as e:
        return type(e).__name__, ""
def poll(want, limit):
    t = time.monotonic()
    while time.monotonic() - t < limit:
        st, body = healthz()
        if st == want:
            return "%s %.1f %s" % (st, time.monotonic() - t, body)
        time.sleep(0.2)
    return "%s timeout %s" % (st, body)
if libc.ptrace(PTRACE_SEIZE, pid, None, None) or libc.ptrace(PTRACE_INTERRUPT, pid, None, None):
    print("ptrace failed: %s" % os.strerror(ctypes.get_errno()))
    sys.exit(1)
os.waitpid(pid, WALL)  # the main thread is stopped
print("stopped %s" % poll(503, 20))
def state():
    with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
        return f.read().rsplit(")", 1)[1].split()[0]
if libc.ptrace(PTRACE_DETACH, pid, None, None):
    print("detach failed: %s" % os.strerror(ctypes.get_errno()))
print("detached %s (main thread state %s)" % (poll(200, 20), state()))
EOF
	sed 's/^/  /' "$TMP/wedge.out"
	[ "$before" = 200 ] && ok "/healthz 200 while the loop runs" || fail "/healthz $before before the wedge"
	read -r _ wst wdt wbody < <(grep '^stopped ' "$TMP/wedge.out" || echo "- - - -")
	[ "$wst" = 503 ] && [[ "$wbody" == *"has not drained"* ]] &&
		ok "main thread stopped: /healthz 503 after $wdt s: '$wbody'" ||
		fail "main thread stopped: /healthz $wst $wdt $wbody: $(cat "$TMP/wedge.out")"
	read -r _ rst rdt _ < <(grep '^detached ' "$TMP/wedge.out" || echo "- - - -")
	[ "$rst" = 200 ] && ok "running again: /healthz 200 after $rdt s" ||
		fail "after detaching: /healthz $rst $rdt; main thread: $(tr '\n' ' ' <"/proc/$AGENT_PID/task/$AGENT_PID/stack" 2>/dev/null); log: $(cat "$TMP/e.log")"
else
	fail "wedge: the agent did not answer: $(cat "$TMP/e.log")"
fi
stop_agent
finish
