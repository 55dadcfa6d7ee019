#!/usr/bin/env bash
# scorch agent against servers that misbehave (tests/integration/parca_server.py's misbehaviours,
# and a listener that never answers): the server chooses nothing on this machine (a signed URL
# to file://, ftp:// or, over TLS, http:// is refused, nothing written or connected to; redirects
# are few and http(s) only); SIGTERM ends the agent within 5 s whatever the network does (an
# upload or a PUT that never ends, a server that never answers), what was not delivered stays
# spooled; SCORCH_GRPC_DEBUG never shows the bearer token nor an authorization value; a response
# over the per-call bound is refused.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
source "$(dirname "${BASH_SOURCE[0]}")/parca_lib.sh"
# wait_lines FILE N SECONDS: until FILE has at least N lines
wait_lines() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# alive PID: running, not a zombie
alive() {
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}


# silent_listener PORTFILE LOG: accepts TCP connections on a free port (written to PORTFILE),
# logs one line for each to LOG, reads what comes and never answers; gone after 120 s
silent_listener() {
	$PY -c '
import os, socket, sys, threading, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def drain(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
s.settimeout(1)
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    with open(sys.argv[2], "a") as f:
        f.write("connection\n")
    threading.Thread(target=drain, args=(c,), daemon=True).start()
' "$1" "$2" &
	PIDS+=("$!")
	wait_for "$1" . 20 || { fail "listener did not start"; finish; }
}

# start_agent LOG [ARGS...]: the agent on the workload alone, 1 s intervals, its own spool
# ($SPOOL), cleartext to $ADDR unless TLS=1
start_agent() {
	local log=$1; shift
	local tls=(--remote-store-insecure)
	[ "${TLS:-0}" = 1 ] && tls=()
	"$SCORCH" agent --remote-store-address "$ADDR" ${tls[@]+"${tls[@]}"} --profiling-duration 1s \
		--spool-dir "$SPOOL" -p "$wl" "$@" 2>"$log" &
	AGENT_PID=$!; PIDS+=("$AGENT_PID")
}
# stop_timed: SIGTERM, then up to 20 s for the exit (SIGKILL beyond); STOP_MS and AGENT_RC
stop_timed() {
	local t0 i
	t0=$(date +%s%N)
	kill -TERM "$AGENT_PID"
	for i in $(seq 400); do alive "$AGENT_PID" || break; sleep 0.05; done
	STOP_MS=$((($(date +%s%N) - t0) / 1000000))
	alive "$AGENT_PID" && kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" && AGENT_RC=0 || AGENT_RC=$?
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID" && AGENT_RC=0 || AGENT_RC=$?; }
# intervals LOG: the intervals the agent closed, from its last line
intervals() { sed -n 's/.*stopped (SIGTERM): \([0-9]*\) intervals.*/\1/p' "$1"; }
spooled() { ls "$SPOOL" 2>/dev/null | wc -l; }
delivered() { cat "$1" 2>/dev/null | wc -l; }

"$WORKLOAD" 1 900 >/dev/null & wl=$!; PIDS+=("$wl")

# 1. signed URLs to file:// and ftp:// (the workload's two files, one URL each): nothing is
# written or connected to, one warning line names each, profiles keep going
SPOOL=$TMP/spool1
silent_listener "$TMP/ftp.port" "$TMP/ftp.log"
FTP=$(cat "$TMP/ftp.port")
start_server "$TMP/a.jsonl" --signed-url-template "file://$TMP/pwned-{id}" \
	--signed-url-template "ftp://127.0.0.1:$FTP/{id}"
start_agent "$TMP/a.log" --debuginfo-upload
wait_for "$TMP/a.log" "refused the URL 'ftp://127.0.0.1:$FTP'" 30 || true
before=$(delivered "$TMP/a.jsonl")
wait_lines "$TMP/a.jsonl" $((before + 2)) 15 || true
sleep 1 # time for what the old agent did: write the file, connect
after=$(delivered "$TMP/a.jsonl")
alive "$AGENT_PID" && up=yes || up=no
stop_agent
pwned=$(ls "$TMP" | grep -c '^pwned' || true)
[ "$pwned" -eq 0 ] && ok "file:// signed URL: no file written" ||
	fail "file:// signed URL: $pwned files written under $TMP: $(ls "$TMP" | grep pwned | tr '\n' ' ')"
[ ! -s "$TMP/ftp.log" ] && ok "ftp:// signed URL: nothing connected to the listener" ||
	fail "ftp:// signed URL: $(wc -l <"$TMP/ftp.log") connections to the ftp listener"
n_file=$(grep -c "warning: .*refused the URL 'file://'" "$TMP/a.log" || true)
n_ftp=$(grep -c "warning: .*refused the URL 'ftp://127.0.0.1:$FTP'" "$TMP/a.log" || true)
[ "$n_file" -eq 1 ] && [ "$n_ftp" -eq 1 ] && [ "$up" = yes ] && [ "$after" -ge $((before + 2)) ] &&
	ok "one warning line for each ($(grep -m1 -o "refused the URL 'file://'.*" "$TMP/a.log")), and the agent kept sending: $before profiles at the refusal, $after a little later" ||
	fail "refusals logged $n_file (file) and $n_ftp (ftp) times, alive $up, $before then $after profiles: $(cat "$TMP/a.log")"
stop_server

# 2. over TLS, a signed URL to http:// is refused: the PUT server sees nothing
SPOOL=$TMP/spool2
make_test_certs
start_server "$TMP/b.jsonl" --tls-cert "$TMP/srv.pem" --tls-key "$TMP/srv.key" --signed-url
TLS=1 start_agent "$TMP/b.log" --remote-store-ca-file "$TMP/ca.pem" --debuginfo-upload
wait_for "$TMP/b.log" "refused the URL 'http://127.0.0.1:[0-9]*'" 30 || true
sleep 1
stop_agent
stop_server
puts=$(grep -c '"PUT' "$TMP/b.jsonl.debuginfo" 2>/dev/null || true)
[ "$puts" -eq 0 ] && grep -q "refused the URL 'http://127.0.0.1:[0-9]*': only https is allowed (http only with --remote-store-insecure)" "$TMP/b.log" &&
	[ "$(delivered "$TMP/b.jsonl")" -ge 1 ] &&
	ok "TLS: http:// signed URL refused, no PUT: $(grep -m1 -o "refused the URL 'http:.*" "$TMP/b.log")" ||
	fail "TLS and an http:// signed URL: $puts PUTs: $(cat "$TMP/b.log")"

# 3. redirects: a PUT redirected twice arrives; five times, it stops after 3 (no 4th request);
# to file://, it is refused and nothing is written
SPOOL=$TMP/spool3
rm -rf "$TMP/stubs/debuginfo"
bid=$(readelf -n "$WORKLOAD" | awk '/Build ID/ { print $3 }')
start_server "$TMP/c.jsonl" --signed-url --put-redirects 2,5
start_agent "$TMP/c.log" --debuginfo-upload
wait_for "$TMP/c.jsonl.debuginfo" '"MarkUploadFinished"' 30 || true
wait_for "$TMP/c.log" "redirects (hit maximum|followed)" 15 || true
stop_agent
stop_server
stored=$(grep '"PUT"' "$TMP/c.jsonl.debuginfo" | grep -c '/hop2/' || true)
cmp -s "$TMP/stubs/debuginfo/$bid" "$(readlink -f "$WORKLOAD")" && [ "$stored" -ge 1 ] &&
	ok "PUT redirected twice: $stored files delivered at /hop2, the workload's identical" ||
	fail "PUT redirected twice: $stored delivered: $(cat "$TMP/c.log")"
# (libcurl 7.88 says "Number of redirects hit maximum amount", 8.x "Maximum (3) redirects followed")
! grep -q '"path": "/hop4/' "$TMP/c.jsonl.debuginfo" && grep -q '"path": "/hop3/' "$TMP/c.jsonl.debuginfo" &&
	grep -qE "signed URL: .*(redirects hit maximum|Maximum \(3\) redirects)" "$TMP/c.log" &&
	ok "PUT redirected 5 times: stopped after 3: $(grep -m1 -oE 'signed URL: .*(redirects hit maximum|Maximum \(3\) redirects).*' "$TMP/c.log")" ||
	fail "PUT redirected 5 times: $(grep -c '/hop' "$TMP/c.jsonl.debuginfo") redirects: $(cat "$TMP/c.log")"
SPOOL=$TMP/spool3b
start_server "$TMP/c2.jsonl" --signed-url --put-redirect-url "file://$TMP/redirected-{id}"
start_agent "$TMP/c2.log" --debuginfo-upload
wait_for "$TMP/c2.log" "redirect to a protocol other than http,https, refused" 30 || true
sleep 1
stop_agent
stop_server
[ -z "$(ls "$TMP" | grep '^redirected')" ] && grep -q "redirect to a protocol other than http,https, refused" "$TMP/c2.log" &&
	ok "PUT redirected to file://: refused ($(grep -m1 -o '127.0.0.1:[0-9]*: a redirect.*' "$TMP/c2.log")), nothing written" ||
	fail "PUT redirected to file://: $(ls "$TMP" | grep redirected | tr '\n' ' '): $(cat "$TMP/c2.log")"

# 4. an upload that never ends (PUT, then the gRPC Upload stream): SIGTERM ends the agent
# within 5 s, the interval closed at exit delivered or spooled
for mode in put upload; do
	SPOOL=$TMP/spool4-$mode
	rm -rf "$TMP/stubs/debuginfo" # the workload's executable first, not one the server has
	if [ $mode = put ]; then
		start_server "$TMP/d-$mode.jsonl" --signed-url --stall-put
		what=PUT-stalled
	else
		start_server "$TMP/d-$mode.jsonl" --stall-upload
		what=Upload-stalled
	fi
	start_agent "$TMP/d-$mode.log" --debuginfo-upload
	wait_for "$TMP/d-$mode.jsonl.debuginfo" "\"$what\"" 30 || fail "$mode: the upload never reached the server"
	sleep 1.5
	stop_timed
	n=$(intervals "$TMP/d-$mode.log")
	got=$(delivered "$TMP/d-$mode.jsonl")
	left=$(spooled)
	[ "$STOP_MS" -lt 5000 ] && [ "$AGENT_RC" -eq 0 ] &&
		ok "$mode stuck: SIGTERM ended the agent in $STOP_MS ms: $(grep -m1 -o 'debuginfo upload of .* abandoned.*' "$TMP/d-$mode.log")" ||
		fail "$mode stuck: SIGTERM took $STOP_MS ms (exit $AGENT_RC): $(cat "$TMP/d-$mode.log")"
	[ -n "$n" ] && [ $((got + left)) -eq "$n" ] &&
		ok "$mode stuck: all $n intervals delivered ($got) or spooled ($left)" ||
		fail "$mode stuck: ${n:-?} intervals, $got delivered, $left spooled"
	stop_server
done

# 5. a remote store that accepts connections and never answers: SIGTERM ends the agent within
# 5 s, every interval stays in the spool (and the log says the call was cancelled)
SPOOL=$TMP/spool5
silent_listener "$TMP/silent.port" "$TMP/silent.log"
ADDR=127.0.0.1:$(cat "$TMP/silent.port")
start_agent "$TMP/e.log"
wait_for "$TMP/silent.log" connection 20 || true
sleep 1.5
stop_timed
n=$(intervals "$TMP/e.log")
[ "$STOP_MS" -lt 5000 ] && [ "$AGENT_RC" -eq 0 ] &&
	ok "silent server: SIGTERM ended the agent in $STOP_MS ms" ||
	fail "silent server: SIGTERM took $STOP_MS ms (exit $AGENT_RC): $(cat "$TMP/e.log")"
[ -n "$n" ] && [ "$(spooled)" -eq "$n" ] && grep -q "exit grace is cancelled" "$TMP/e.log" &&
	ok "silent server: all $n intervals stay spooled; $(grep -m1 -o 'the call to .*cancelled' "$TMP/e.log")" ||
	fail "silent server: ${n:-?} intervals, $(spooled) spooled: $(cat "$TMP/e.log")"
ADDR=127.0.0.1:$PORT

# 6. SCORCH_GRPC_DEBUG with a bearer token and a signed URL with user info (Basic
# authorization over HTTP/1): libcurl's lines are there, the secrets are not
SPOOL=$TMP/spool6
rm -rf "$TMP/stubs/debuginfo"
token=tok-$RANDOM$RANDOM-secret
echo "$token" >"$TMP/token"
basic=$(printf 'scorchuser:put-password' | base64)
start_server "$TMP/f.jsonl" --token "$token" \
	--signed-url-template "http://scorchuser:put-password@127.0.0.1:{put}/upload/{id}"
SCORCH_GRPC_DEBUG=1 start_agent "$TMP/f.log" --remote-store-bearer-token-file "$TMP/token" --debuginfo-upload
wait_for "$TMP/f.jsonl.debuginfo" '"MarkUploadFinished"' 30 || true
wait_lines "$TMP/f.jsonl" 2 15 || true
stop_agent
stop_server
grep -q "\"authorization\": \"Basic $basic\"" "$TMP/f.jsonl.debuginfo" && [ "$(delivered "$TMP/f.jsonl")" -ge 2 ] ||
	fail "the debug run did not do what it tests: $(cat "$TMP/f.jsonl.debuginfo")"
! grep -qF -e "$token" -e "$basic" -e put-password "$TMP/f.log" &&
	ok "SCORCH_GRPC_DEBUG: neither the token nor the Basic credentials in $(wc -l <"$TMP/f.log") lines of output" ||
	fail "SCORCH_GRPC_DEBUG: a secret in the output: $(grep -F -e "$token" -e "$basic" -e put-password "$TMP/f.log" | head -3)"
grep -q "grpc: . .*authorization: <redacted>" "$TMP/f.log" && grep -q "grpc: > Authorization: <redacted>" "$TMP/f.log" &&
	ok "SCORCH_GRPC_DEBUG: authorization shown redacted (HTTP/2: '$(grep -m1 -o '.[^ ]*authorization: <redacted>' "$TMP/f.log")', HTTP/1: 'Authorization: <redacted>')" ||
	fail "SCORCH_GRPC_DEBUG: no redacted authorization line: $(grep -i authorization "$TMP/f.log" | head -3)"

# 7. a WriteRaw response of 1 MiB (the bound is 64 KiB): refused with a clear error, the
# profiles stay spooled
SPOOL=$TMP/spool7
start_server "$TMP/g.jsonl" --big-response 1048576
start_agent "$TMP/g.log"
wait_for "$TMP/g.log" "remote store unavailable" 20 || true
stop_agent
stop_server
n=$(intervals "$TMP/g.log")
grep -q "RESOURCE_EXHAUSTED: response larger than 65536 bytes, refused" "$TMP/g.log" && [ -n "$n" ] && [ "$(spooled)" -eq "$n" ] &&
	ok "1 MiB response refused: $(grep -m1 -o 'RESOURCE_EXHAUSTED: [^)]*' "$TMP/g.log"); all $n intervals spooled" ||
	fail "1 MiB response: $(spooled) spooled of ${n:-?}: $(cat "$TMP/g.log")"
finish
