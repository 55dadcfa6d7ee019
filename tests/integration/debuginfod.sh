#!/usr/bin/env bash
# Debug files from a debuginfod server (Debian's elfutils debuginfod, run by the test on
# 127.0.0.1 over a directory holding one debug file): a program stripped of every symbol gets its
# frames named only when DEBUGINFOD_URLS points at the server. A server that refuses connections
# and one that accepts and never answers cost no more than --debuginfod-timeout.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
if ! command -v debuginfod >/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL: debuginfod (the server) is not installed"; exit 1; }
	echo "SKIP: no debuginfod server"; exit 77
fi
export DEBUGINFOD_CACHE_PATH=$TMP/client-cache
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir "$TMP/served"
cp "$DEBUGINFOD_SPIN_DEBUG" "$TMP/served/"
bid=$(readelf -n "$DEBUGINFOD_SPIN" | awk '/Build ID/ { print $3 }')
port=$(free_port)
debuginfod -p "$port" -F -d "$TMP/db.sqlite" "$TMP/served" >"$TMP/server.log" 2>&1 & PIDS+=($!)
# the server scans the directory in the background: wait until it serves the file
served=0
for _ in $(seq 100); do
	if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/buildid/$bid/debuginfo', timeout=2)" 2>/dev/null; then
		served=1; break
	fi
	sleep 0.2
done
[ "$served" = 1 ] && ok "server on port $port serves build-id $bid" || { fail "server never served $bid: $(tail -5 "$TMP/server.log")"; finish; }

# without a server: the stripped program has no names
env -u DEBUGINFOD_URLS "$SCORCH" record -q --format folded --no-comm-root -o "$TMP/none.folded" -- "$DEBUGINFOD_SPIN" 1
grep -q 'spin_inner' "$TMP/none.folded" && fail "named without debug info" || ok "stripped program unnamed without a server"

# with the server: named, and said so
DEBUGINFOD_URLS=http://127.0.0.1:$port "$SCORCH" record -v --format folded --no-comm-root -o "$TMP/d.folded" -- "$DEBUGINFOD_SPIN" 1 2>"$TMP/err"
named=$(awk '/;main;spin_outer;spin_inner [0-9]+$/ { s += $NF } END { print s + 0 }' "$TMP/d.folded")
total=$(folded_total "$TMP/d.folded")
[ "$named" -ge $((total * 9 / 10)) ] && [ "$total" -gt 50 ] && ok "named from debuginfod: $named of $total samples in main;spin_outer;spin_inner" ||
	fail "debuginfod: $named of $total named: $(cat "$TMP/d.folded" | head -3)"
grep -q "debuginfod: [1-9][0-9]* debug files fetched" "$TMP/err" && ok "summary: $(grep debuginfod: "$TMP/err")" || fail "no debuginfod line: $(cat "$TMP/err")"

# a port nobody listens on: the capture is written, the failure said once (each run below has
# an empty client cache: the file fetched above must not come from there)
port2=$(free_port)
start=$(date +%s%N)
DEBUGINFOD_CACHE_PATH=$TMP/cache2 DEBUGINFOD_URLS=http://127.0.0.1:$port2 "$SCORCH" record --debuginfod-timeout 3s --format folded --no-comm-root -o "$TMP/r.folded" -- "$DEBUGINFOD_SPIN" 0.5 2>"$TMP/err"
rc=$?
secs=$(( ($(date +%s%N) - start) / 1000000000 ))
[ "$rc" -eq 0 ] && [ -s "$TMP/r.folded" ] && [ "$secs" -le 5 ] && ok "refused connections: profile written in $secs s" || fail "refused: rc $rc, $secs s"
grep -q "debuginfod: .*queries failed" "$TMP/err" && ok "failure reported: $(grep 'queries failed' "$TMP/err")" || fail "no failure reported: $(cat "$TMP/err")"

# a server that accepts and never answers: the budget ends the wait
port3=$(free_port)
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port3)); s.listen(16)
conns = []
end = time.time() + 60
while time.time() < end:
    s.settimeout(1)
    try:
        conns.append(s.accept()[0])
    except OSError:
        pass
" & PIDS+=($!)
sleep 0.5
start=$(date +%s%N)
DEBUGINFOD_CACHE_PATH=$TMP/cache3 DEBUGINFOD_URLS=http://127.0.0.1:$port3 "$SCORCH" record -q --debuginfod-timeout 2s --format folded --no-comm-root -o "$TMP/s.folded" -- "$DEBUGINFOD_SPIN" 0.5
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" -eq 0 ] && [ -s "$TMP/s.folded" ] && [ "$ms" -le 5500 ] && ok "silent server: profile written after $ms ms (0.5 s capture + 2 s budget)" || fail "silent server: rc $rc after $ms ms"
finish
