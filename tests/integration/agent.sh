#!/usr/bin/env bash
# scorch agent against a real gRPC server (tests/integration/parca_server.py on grpcio):
# profiles arrive every interval with the right labels and decode; every sample the program
# recorded is in them; with the server away for a few intervals, or the agent restarted while it
# is away, every interval's profile still arrives, oldest first, none twice, also while the
# spool's disk is full; a wrong token is reported clearly and retried slowly.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
source "$(dirname "${BASH_SOURCE[0]}")/parca_lib.sh"

# start_agent LOG [ARGS...]: the agent in the background, 1 s intervals, private spool
# (cleartext unless TLS=1), returning once it profiles
start_agent() {
	local log=$1; shift
	local tls=(--remote-store-insecure)
	[ "${TLS:-0}" = 1 ] && tls=()
	"$SCORCH" agent --remote-store-address "$ADDR" ${tls[@]+"${tls[@]}"} --profiling-duration 1s \
		--spool-dir "$TMP/spool" --node test-node --label team=perf "$@" 2>"$log" &
	AGENT_PID=$!; PIDS+=("$AGENT_PID")
	# running once its program is loaded and attached (seconds for the compat build on a busy
	# machine): the waits below count intervals from there
	wait_for "$log" "scorch: info: profiling " 60 || true
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; }

# py_check FILE CODE: run CODE with `reqs` (the accepted requests, in arrival order)
py_check() { $PY -c "import json, sys
reqs = [json.loads(l) for l in open('$1')]
$2"; }

# until_true SECONDS CMD...: CMD succeeds within SECONDS (polled every 0.2 s), else false
until_true() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
# lives until the test ends it: the checks below take 40 s, 80 s and more on a busy machine, and
# the debuginfo ones profile it by pid
"$WORKLOAD" 1 900 >/dev/null & wl=$!; PIDS+=("$wl")

# 1. every interval arrives, labelled, decodable, and holds every recorded sample
start_server "$TMP/a.jsonl"
start_agent "$TMP/a.log"
sleep 4.5
stop_agent; rc=$?
[ "$rc" -eq 0 ] && ok "agent stopped by SIGTERM, exit 0" || fail "agent exit $rc: $(cat "$TMP/a.log")"
check_program "$TMP/a.log"
intervals=$(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$TMP/a.log")
read -r runs rec idle filt drop < <(sed -n 's/.*program runs \([0-9]*\) = recorded \([0-9]*\) + idle \([0-9]*\) + filtered \([0-9]*\) + dropped \([0-9]*\);.*/\1 \2 \3 \4 \5/p' "$TMP/a.log")
n=$(wc -l <"$TMP/a.jsonl")
[ -n "$intervals" ] && [ "$n" -eq "$intervals" ] && [ "$n" -ge 4 ] && ok "$n intervals, $n requests" || fail "intervals ${intervals:-?}, requests $n: $(cat "$TMP/a.log")"
# h2c too: one connection for the run's calls (kept, not opened per interval)
peers=$(py_check "$TMP/a.jsonl" 'print(len({r["peer"] for r in reqs}))')
[ "$peers" = 1 ] && ok "h2c: the $n requests over one connection" || fail "h2c: $n requests over $peers connections"
got=$(py_check "$TMP/a.jsonl" 'print(sum(s["samples"] for r in reqs for s in r["series"]))')
[ -n "${rec:-}" ] && [ "$got" -eq "$rec" ] && [ "$runs" -eq $((rec + idle + filt + drop)) ] &&
	ok "profiles hold all $rec recorded samples; $runs program runs = $rec + $idle + $filt + $drop" ||
	fail "server got $got samples, agent recorded ${rec:-?} (runs ${runs:-?})"
py_check "$TMP/a.jsonl" "
wl = [s for r in reqs for s in r['series'] if s['labels'].get('pid') == '$wl']
assert len(wl) >= 3, 'workload series in %d requests' % len(wl)
for i, s in enumerate(wl):
    l = s['labels']
    assert l['__name__'] == 'parca_agent' and l['node'] == 'test-node' and l['team'] == 'perf', l
    assert l['comm'] == 'workload' and l['executable'] == '$(readlink -f "$WORKLOAD")', l
    # hot_a and hot_b take turns in slices of the workload's CPU time: an interval the busy
    # machine gave few samples may have only one of them
    f = s['functions']
    assert 'worker' in f and ('hot_a' in f or 'hot_b' in f), f
    # every full 1 s interval of a busy thread has its samples (~99 on an idle machine, fewer
    # when others compete for the CPUs; the last interval is partial)
    assert s['duration_nanos'] > 0 and (s['samples'] > 5 or i == len(wl) - 1), s
assert 'hot_a' in max(wl, key=lambda s: s['samples'])['functions'], wl
times = [r['series'][0]['time_nanos'] for r in reqs]
assert times == sorted(times) and len(set(times)) == len(times), times
" 2>"$TMP/err" && ok "labels, functions and time of every workload series" || fail "series: $(cat "$TMP/err")"
stop_server

# 1b. h2c, the server restarted between two calls: the kept connection is gone, the next call
# is made on a new one at once (curl 7.88's upgrade refused, then prior knowledge), none lost
start_server "$TMP/r1.jsonl"
start_agent "$TMP/r.log" --profiling-duration 4s
sent_more() { [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
until_true 60 sent_more "$TMP/r1.jsonl" 1 || true
stop_server
start_server "$TMP/r2.jsonl"
until_true 60 sent_more "$TMP/r2.jsonl" 2 || true
stop_agent
failed=$(sed -n 's/.*failed attempts \([0-9]*\),.*/\1/p' "$TMP/r.log")
[ "$(wc -l <"$TMP/r2.jsonl")" -ge 2 ] && [ "$failed" = 0 ] &&
	ok "h2c: the server restarted between calls, the next call went through at once (0 failed attempts)" ||
	fail "h2c after a server restart: $(wc -l <"$TMP/r2.jsonl") requests, ${failed:-?} failed attempts: $(tail -5 "$TMP/r.log")"
stop_server

# 2. the server away for three intervals: everything arrives after, oldest first, once
rm -rf "$TMP/spool"
start_server "$TMP/b.jsonl"
start_agent "$TMP/b.log"
sleep 2.2
stop_server
sleep 3
spooled=$(ls "$TMP/spool" | wc -l)
start_server "$TMP/b.jsonl"
sleep 4 # the sender's backoff is at most 4 s after three failures
stop_agent
intervals=$(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$TMP/b.log")
py_check "$TMP/b.jsonl" "
times = [r['series'][0]['time_nanos'] for r in reqs]
assert len(times) == $intervals, '%d requests for $intervals intervals' % len(times)
assert times == sorted(times), 'out of order'
assert len(set(times)) == len(times), 'duplicates'
" 2>"$TMP/err" && ok "server away: $spooled spooled meanwhile; all $intervals intervals arrived, in order, once" ||
	fail "server away: $(cat "$TMP/err") (log: $(cat "$TMP/b.log"))"
grep -q "remote store unavailable" "$TMP/b.log" && grep -q "reachable again" "$TMP/b.log" &&
	ok "outage logged: $(grep -c 'unavailable' "$TMP/b.log") line(s)" || fail "outage not logged: $(cat "$TMP/b.log")"
stop_server

# 2b. the spool's disk full (a 64 KB tmpfs, filled, in the agent's own mount namespace) while
# the server is away: profiles wait in memory and all arrive when it is back, in order, once;
# with space again, the next outage is spooled on disk
mkdir -p "$TMP/small"
FULL_PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs "$1" && mkdir "$1/spool" &&
	{ dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true; } && shift && exec "$@"' sh \
	"$TMP/small" "$SCORCH" agent --remote-store-address "$ADDR" --remote-store-insecure \
	--profiling-duration 1s --spool-dir "$TMP/small/spool" --node test-node \
	--http-address "127.0.0.1:$FULL_PORT" 2>"$TMP/full.log" &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
full_metrics() {
	metrics=$(curl -s "http://127.0.0.1:$FULL_PORT/metrics")
	in_mem=$(awk '$1 == "scorch_profiles_spooled_in_memory" { print $2 }' <<<"$metrics")
	refused=$(awk '$1 == "scorch_spool_write_failures_total" { print $2 }' <<<"$metrics")
	[ "${in_mem:-0}" -ge 2 ]
}
# two intervals refused by the disk (the compat program takes seconds to load on a busy
# machine: a condition, not a fixed wait)
until_true 60 full_metrics || true
held=$(grep -c "cannot write to the spool (No space left on device)" "$TMP/full.log" || true)
[ "${in_mem:-0}" -ge 2 ] && [ "${refused:-0}" -ge "$in_mem" ] &&
	ok "/metrics: $refused profiles refused by the disk, $in_mem waiting in memory" ||
	fail "/metrics while the disk is full: in memory '${in_mem:-}', refused '${refused:-}'"
start_server "$TMP/full.jsonl"
# the sender's backoff is at most 4 s after three failures
delivered_3() { delivered=$(cat "$TMP/full.jsonl" 2>/dev/null | wc -l); [ "$delivered" -ge 3 ]; }
until_true 60 delivered_3 || true
stop_server
# space again (the filler seen through the agent's root), and a second outage
rm -f "/proc/$AGENT_PID/root$TMP/small/filler"
spooled_again() {
	on_disk=$(ls "/proc/$AGENT_PID/root$TMP/small/spool" 2>/dev/null | wc -l)
	[ "$on_disk" -ge 1 ] && grep -q "the spool's disk takes profiles again" "$TMP/full.log"
}
until_true 60 spooled_again || true
start_server "$TMP/full.jsonl"
# until the spool is delivered (empty)
spool_empty() { [ -z "$(ls "/proc/$AGENT_PID/root$TMP/small/spool" 2>/dev/null)" ]; }
until_true 60 spool_empty || true
stop_agent
intervals=$(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$TMP/full.log")
[ "$held" -ge 1 ] && [ "$delivered" -ge 3 ] &&
	ok "disk full, server away: profiles held in memory, $delivered delivered when it came back" ||
	fail "disk full: $held warnings, $delivered delivered: $(cat "$TMP/full.log")"
[ "$on_disk" -ge 1 ] && grep -q "the spool's disk takes profiles again" "$TMP/full.log" &&
	ok "space again: the next outage spooled on disk ($on_disk files)" ||
	fail "space again: $on_disk files on disk: $(cat "$TMP/full.log")"
py_check "$TMP/full.jsonl" "
times = [r['series'][0]['time_nanos'] for r in reqs]
assert len(times) == ${intervals:-0}, '%d requests for ${intervals:-?} intervals' % len(times)
assert times == sorted(times) and len(set(times)) == len(times), times
" 2>"$TMP/err" && ok "disk full and server away: all $intervals intervals arrived, in order, once" ||
	fail "disk full: $(cat "$TMP/err") (log: $(cat "$TMP/full.log"))"
stop_server

# 3. the agent restarted while the server is away: the spool goes out after the restart
rm -rf "$TMP/spool"
start_agent "$TMP/c1.log"
sleep 3.2
stop_agent
first=$(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$TMP/c1.log")
left=$(ls "$TMP/spool" | wc -l)
[ "$left" -eq "$first" ] && ok "first run: $first intervals spooled" || fail "first run: $first intervals, $left spooled"
start_server "$TMP/c.jsonl"
start_agent "$TMP/c2.log"
sleep 2.2
stop_agent
second=$(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$TMP/c2.log")
py_check "$TMP/c.jsonl" "
times = [r['series'][0]['time_nanos'] for r in reqs]
assert len(times) == $first + $second, '%d requests for $first + $second intervals' % len(times)
assert times == sorted(times) and len(set(times)) == len(times), times
" 2>"$TMP/err" && ok "after the restart: the $first spooled intervals, then the $second new ones, in order" ||
	fail "restart: $(cat "$TMP/err")"
[ -z "$(ls "$TMP/spool")" ] && ok "spool empty at the end" || fail "spool left: $(ls "$TMP/spool")"
stop_server

# 4. a wrong token: a clear error, no tight retry loop, nothing lost
rm -rf "$TMP/spool"
echo good-token >"$TMP/good"
echo wrong-token >"$TMP/wrong"
start_server "$TMP/d.jsonl" --token good-token
start_agent "$TMP/d.log" --remote-store-bearer-token-file "$TMP/wrong"
sleep 4.2
stop_agent
attempts=$(wc -l <"$TMP/d.jsonl.attempts" 2>/dev/null || echo 0)
grep -q "refused the credentials (UNAUTHENTICATED" "$TMP/d.log" && ok "wrong token: $(grep -m1 refused "$TMP/d.log" | cut -c1-120)" || fail "no credentials error: $(cat "$TMP/d.log")"
[ "$attempts" -le 2 ] && ok "wrong token: $attempts attempts in 4 s (backed off)" || fail "wrong token: $attempts attempts in 4 s"
grep -q "wrong-token" "$TMP/d.log" && fail "the token appears in the log" || ok "token not in the log"
[ "$(ls "$TMP/spool" | wc -l)" -ge 4 ] && ok "wrong token: profiles kept in the spool" || fail "wrong token: spool has $(ls "$TMP/spool" | wc -l)"
stop_server
start_server "$TMP/e.jsonl" --token good-token
start_agent "$TMP/e.log" --remote-store-bearer-token-file "$TMP/good"
sleep 2.2
stop_agent
n=$(wc -l <"$TMP/e.jsonl")
[ "$n" -ge 6 ] && ok "right token: the $n spooled and new profiles delivered" || fail "right token: $n delivered: $(cat "$TMP/e.log")"
stop_server

# 5. TLS with a CA the test makes: verified with --remote-store-ca-file, refused without it
rm -rf "$TMP/spool"
make_test_certs
start_server "$TMP/f.jsonl" --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key"
TLS=1 start_agent "$TMP/f1.log"
sleep 2.2
stop_agent
grep -qi "certificate" "$TMP/f1.log" && [ ! -s "$TMP/f.jsonl" ] &&
	ok "TLS without the CA: refused ($(grep -m1 -io 'unavailable: [^)]*' "$TMP/f1.log"))" ||
	fail "TLS without the CA: $(cat "$TMP/f1.log"), $(wc -l <"$TMP/f.jsonl" 2>/dev/null) delivered"
TLS=1 start_agent "$TMP/f2.log" --remote-store-ca-file "$TMP/ca.pem"
sleep 2.2
stop_agent
n=$(wc -l <"$TMP/f.jsonl")
[ "$n" -ge 4 ] && ok "TLS with --remote-store-ca-file: $n profiles delivered (spooled ones included)" ||
	fail "TLS with the CA: $n delivered: $(cat "$TMP/f2.log")"
# one connection for all of them (TLS: kept from one interval to the next); one sample type a
# series, samples/count with the CPU period, as Parca Agent sends
py_check "$TMP/f.jsonl" "
peers = {r['peer'] for r in reqs}
types = {tuple(s['sample_types']) for r in reqs for s in r['series']}
periods = {(s['period_type'], s['period']) for r in reqs for s in r['series']}
assert len(reqs) >= 4 and len(peers) == 1, '%d requests over %d connections: %s' % (len(reqs), len(peers), peers)
assert types == {('samples/count',)}, types
assert periods == {('cpu/nanoseconds', 10**9 // 99)}, periods
print('%d requests over one connection (%s); every series samples/count, period %d ns of cpu' % (len(reqs), peers.pop(), 10**9 // 99))
" >"$TMP/chk" 2>&1 && ok "$(cat "$TMP/chk")" || fail "connection and sample types: $(tail -2 "$TMP/chk")"
stop_server
: >"$TMP/f3.jsonl"
start_server "$TMP/f3.jsonl" --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key"
TLS=1 start_agent "$TMP/f3.log" --remote-store-ca-file "$TMP/ca.pem" --all-sample-types
sleep 2.2
stop_agent
py_check "$TMP/f3.jsonl" "
types = {tuple(s['sample_types']) for r in reqs for s in r['series']}
assert reqs and types == {('samples/count', 'cpu/nanoseconds')}, types
print('--all-sample-types: samples/count and cpu/nanoseconds in %d requests' % len(reqs))
" >"$TMP/chk" 2>&1 && ok "$(cat "$TMP/chk")" || fail "--all-sample-types: $(tail -2 "$TMP/chk")"
stop_server

# 5b. mutual TLS: the server requires a client certificate signed by the test's CA
openssl req -newkey rsa:2048 -nodes -subj "/CN=scorch agent" -keyout "$TMP/cli.key" \
	-out "$TMP/cli.csr" 2>/dev/null
openssl x509 -req -in "$TMP/cli.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -out "$TMP/cli.pem" 2>/dev/null
rm -rf "$TMP/spool"
start_server "$TMP/m.jsonl" --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" --tls-client-ca "$TMP/ca.pem"
TLS=1 start_agent "$TMP/m1.log" --remote-store-ca-file "$TMP/ca.pem"
sleep 2.2
stop_agent
[ ! -s "$TMP/m.jsonl" ] && grep -q "UNAVAILABLE" "$TMP/m1.log" && ok "mTLS without a client certificate: refused" ||
	fail "mTLS without a certificate: $(wc -l <"$TMP/m.jsonl" 2>/dev/null) delivered: $(tail -2 "$TMP/m1.log")"
TLS=1 start_agent "$TMP/m2.log" --remote-store-ca-file "$TMP/ca.pem" \
	--remote-store-client-cert-file "$TMP/cli.pem" --remote-store-client-key-file "$TMP/cli.key"
sleep 2.2
stop_agent
n=$(wc -l <"$TMP/m.jsonl")
[ "$n" -ge 2 ] && ok "mTLS with --remote-store-client-cert-file/-key-file: $n profiles delivered" ||
	fail "mTLS with the certificate: $n delivered: $(tail -3 "$TMP/m2.log")"
stop_server

# 5c. Parca Agent's flag names, on the command line and from --config-path: external labels
# (KEY=VALUE;KEY=VALUE), the sampling frequency, JSON logs at debug level
cat >"$TMP/pa.yaml" <<'YAML'
metadata-external-labels: "cluster=c1;zone=z2"
profiling-cpu-sampling-frequency: 49
YAML
start_server "$TMP/pa.jsonl"
start_agent "$TMP/pa.log" --config-path "$TMP/pa.yaml" --log-format json --log-level debug \
	--metadata-external-labels 'env=test'
sleep 2.2
stop_agent
py_check "$TMP/pa.jsonl" "
ser = [s for r in reqs for s in r['series']]
assert ser, 'nothing arrived'
bad = [s['labels'] for s in ser if (s['labels'].get('cluster'), s['labels'].get('zone'), s['labels'].get('env')) != ('c1', 'z2', 'test')]
assert not bad, bad[:2]
periods = {s['period'] for s in ser}
assert periods == {10**9 // 49}, periods
print('%d series labelled cluster=c1, zone=z2, env=test; period %d ns (49 Hz)' % (len(ser), 10**9 // 49))
" >"$TMP/chk" 2>&1 && ok "Parca Agent's flags: $(cat "$TMP/chk")" || fail "Parca Agent's flags: $(tail -2 "$TMP/chk")"
$PY - "$TMP/pa.log" <<'PYEOF' >"$TMP/chk" 2>&1 && ok "--log-format json: $(cat "$TMP/chk")" || fail "JSON logs: $(cat "$TMP/chk")"
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
objs = [json.loads(l) for l in lines]
assert objs and all(set(o) == {'level', 'ts', 'caller', 'msg'} for o in objs), lines[:2]
levels = {o['level'] for o in objs}
assert 'info' in levels, levels
assert any('interval' in o['msg'] for o in objs), 'no interval logged at debug level'
print('%d lines, each one JSON object (levels %s)' % (len(objs), ', '.join(sorted(levels))))
PYEOF
stop_server
"$SCORCH" agent --version >"$TMP/v" 2>&1 && grep -qE '^scorch [0-9]+\.[0-9]+' "$TMP/v" && ok "agent --version: $(cat "$TMP/v")" ||
	fail "agent --version: $(cat "$TMP/v")"
"$SCORCH" agent --output-dir "$TMP/x" --log-level loud >/dev/null 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 2 ] && grep -q "invalid --log-level 'loud'" "$TMP/err" && ok "a bad --log-level refused" || fail "--log-level loud: rc $rc"

# IPv6: the HTTP endpoint on [::1], /healthy and /ready as /healthz
if [ -e /proc/net/if_inet6 ]; then
	HTTP_PORT=$($PY -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])')
	"$SCORCH" agent --http-address "[::1]:$HTTP_PORT" --output-dir "$TMP/out6" --profiling-duration 1s 2>"$TMP/v6.log" &
	AGENT_PID=$!; PIDS+=("$AGENT_PID")
	for _ in $(seq 100); do curl -sfg "http://[::1]:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
	h=$(curl -sg "http://[::1]:$HTTP_PORT/healthy"); r=$(curl -sg "http://[::1]:$HTTP_PORT/ready")
	"$SCORCH" healthcheck --http-address "[::1]:$HTTP_PORT" >"$TMP/hc" 2>&1 && hc=0 || hc=$?
	stop_agent
	[ "$h" = ok ] && [ "$r" = ok ] && [ "$hc" -eq 0 ] && ok "--http-address [::1]:$HTTP_PORT: /healthy, /ready and healthcheck answer" ||
		fail "IPv6: /healthy '$h', /ready '$r', healthcheck $hc: $(cat "$TMP/v6.log" "$TMP/hc")"
else
	ok "no IPv6 on this machine: the [::1] endpoint is checked by test_http where it exists"
fi

# 6. without a server: /healthz, /metrics (parsed as Prometheus text), /debug/pprof/profile
# (read by go tool pprof), and --output-dir rotated to the newest 3 files
HTTP_PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$SCORCH" agent --http-address "127.0.0.1:$HTTP_PORT" --output-dir "$TMP/out" --output-max-files 3 \
	--profiling-duration 1s 2>"$TMP/g.log" &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
[ "$(curl -s "http://127.0.0.1:$HTTP_PORT/healthz")" = ok ] && ok "/healthz" || fail "/healthz: $(cat "$TMP/g.log")"
sleep 1.5
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" >"$TMP/metrics"
$PY -c "
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open('$TMP/metrics').read())}
need = ['scorch_samples', 'scorch_program_runs', 'scorch_samples_lost', 'scorch_stacks_lost',
        'scorch_profiles_sent', 'scorch_profile_send_failures', 'scorch_profiles_spooled',
        'scorch_profiles_dropped', 'scorch_spool_bytes', 'scorch_tracked_processes',
        'scorch_spool_write_failures', 'scorch_profiles_spooled_in_memory',
        'process_cpu_seconds', 'process_resident_memory_bytes']
missing = [n for n in need if n not in fams]
assert not missing, missing
assert fams['scorch_samples'].samples[0].value > 50, fams['scorch_samples'].samples
assert 0 < fams['process_resident_memory_bytes'].samples[0].value < 100e6
" 2>"$TMP/err" && ok "/metrics parses as Prometheus text with every metric" || fail "/metrics: $(cat "$TMP/err") $(head -20 "$TMP/metrics")"
gopprof -top "http://127.0.0.1:$HTTP_PORT/debug/pprof/profile?seconds=2" >"$TMP/top" 2>&1
grep -q ' hot_a$' "$TMP/top" && grep -q 'Duration: 2' "$TMP/top" && ok "go tool pprof reads /debug/pprof/profile?seconds=2" ||
	fail "go tool pprof: $(head -20 "$TMP/top")"
sleep 1.5
stop_agent
files=$(ls "$TMP/out" | grep -c '^scorch-.*\.pb\.gz$')
[ "$files" -eq 3 ] && ok "--output-dir keeps the newest 3 of $(sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$TMP/g.log") intervals" ||
	fail "--output-dir has $files files: $(ls "$TMP/out")"
newest=$(ls "$TMP/out" | tail -1)
[ "$(stat -c %a "$TMP/out")" = 700 ] && [ "$(stat -c %a "$TMP/out/$newest")" = 600 ] &&
	ok "--output-dir created 0700, profiles 0600" ||
	fail "--output-dir mode $(stat -c %a "$TMP/out"), file $(stat -c %a "$TMP/out/$newest")"
mkdir -m 777 "$TMP/open-dir"
"$SCORCH" agent --output-dir "$TMP/open-dir" 2>"$TMP/open.log" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot use '$TMP/open-dir' for profiles" "$TMP/open.log" &&
	ok "a directory others can write refused for profiles" || fail "open --output-dir: rc $rc $(cat "$TMP/open.log")"
gopprof -top "$TMP/out/$newest" >/dev/null 2>&1 && ok "output files read by go tool pprof" || fail "$newest unreadable"

# 8. --debuginfo-upload (of the workload process alone: few files, so the paced uploads reach
# its executable in time): the executable reaches the DebuginfoService once, whole;
# a second agent run asks again and uploads nothing
rm -rf "$TMP/spool"
bid=$(readelf -n "$WORKLOAD" | awk '/Build ID/ { print $3 }')
# wait_finished LOG: until the server saw MarkUploadFinished for the workload (the uploads are
# paced a second apart, and libc or the loader may come first), at most 15 s
wait_finished() {
	for i in $(seq 75); do
		grep '"MarkUploadFinished"' "$1" 2>/dev/null | grep -q "\"$bid\"" &&
			{ echo "workload's upload finished after ~$((i / 5)) s"; return 0; }
		sleep 0.2
	done
}
start_server "$TMP/i.jsonl"
start_agent "$TMP/i1.log" --debuginfo-upload -p "$wl"
wait_finished "$TMP/i.jsonl.debuginfo"
stop_agent
start_agent "$TMP/i2.log" --debuginfo-upload -p "$wl"
sleep 2.2
stop_agent
stop_server
calls() { grep "\"$1\"" "$TMP/i.jsonl.debuginfo" | grep -c "\"$bid\"" || true; }
[ "$(calls ShouldInitiateUpload)" -eq 2 ] && [ "$(calls Upload)" -eq 1 ] && [ "$(calls MarkUploadFinished)" -eq 1 ] &&
	ok "debuginfo of the workload: asked once per run, uploaded once" ||
	fail "debuginfo calls for $bid: should $(calls ShouldInitiateUpload), upload $(calls Upload), finished $(calls MarkUploadFinished): $(cat "$TMP/i1.log")"
cmp -s "$TMP/stubs/debuginfo/$bid" "$(readlink -f "$WORKLOAD")" && ok "uploaded file identical to the executable" || fail "uploaded file differs or is missing"
# the same with the signed-URL strategy: an HTTP PUT to the URL the server gives
rm -rf "$TMP/stubs/debuginfo" "$TMP/spool"
kill -0 "$wl" 2>/dev/null || fail "the workload $wl has exited before the signed-URL check"
start_server "$TMP/j.jsonl" --signed-url
start_agent "$TMP/j.log" --debuginfo-upload -p "$wl"
wait_finished "$TMP/j.jsonl.debuginfo"
stop_agent
stop_server
puts=$(grep '"PUT"' "$TMP/j.jsonl.debuginfo" | grep -c "\"$bid\"" || true)
finished=$(grep '"MarkUploadFinished"' "$TMP/j.jsonl.debuginfo" | grep -c "\"$bid\"" || true)
[ "$puts" -eq 1 ] && [ "$finished" -eq 1 ] && cmp -s "$TMP/stubs/debuginfo/$bid" "$(readlink -f "$WORKLOAD")" &&
	ok "signed-URL strategy: one PUT of the identical file, then MarkUploadFinished" ||
	fail "signed URL: $puts PUTs, $finished finished: $(cat "$TMP/j.log")"

# 7. --cgroup: of two identical workloads, only the one moved into a new cgroup (v2) is profiled
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
CG=scorch-test-$$
mkdir "$CG_ROOT/$CG"
"$WORKLOAD" 1 4 >/dev/null & in_cg=$!; PIDS+=("$in_cg")
"$WORKLOAD" 1 4 >/dev/null & out_cg=$!; PIDS+=("$out_cg")
echo "$in_cg" >"$CG_ROOT/$CG/cgroup.procs"
"$SCORCH" agent --cgroup "$CG" --output-dir "$TMP/cgout" --profiling-duration 1s 2>"$TMP/h.log" &
AGENT_PID=$!; PIDS+=("$AGENT_PID")
sleep 2.5
stop_agent
wait "$in_cg" "$out_cg" 2>/dev/null
rmdir "$CG_ROOT/$CG"
pids=$(for f in "$TMP"/cgout/*.pb.gz; do gopprof -tags "$f" 2>/dev/null | sed -n '/^ pid:/,/^$/p'; done | awk '/%\):/ { print $NF }' | sort -u | tr '\n' ' ')
filtered=$(sed -n 's/.* filtered \([0-9]*\) .*/\1/p' "$TMP/h.log")
[ "$pids" = "$in_cg " ] && [ "${filtered:-0}" -gt 50 ] && ok "--cgroup: only pid $in_cg profiled, $filtered samples of others filtered" ||
	fail "--cgroup: pids '$pids' (want $in_cg), filtered ${filtered:-?}"
finish
