#!/usr/bin/env bash
# SIGINT and SIGTERM end a capture cleanly with the output written; -d ends a command's capture.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

for sig in INT TERM; do
	"$SCORCH" record -q -o "$TMP/$sig.pb.gz" & pid=$!
	sleep 2
	kill -"$sig" "$pid"
	rc=0; wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] && ok "SIG$sig: exit 0" || fail "SIG$sig: exit $rc"
	raw=$(gopprof -raw "$TMP/$sig.pb.gz" 2>&1) && ok "SIG$sig: pprof file readable" || fail "SIG$sig: unreadable: $raw"
	ls -a "$TMP" | grep -q "^\.$sig.pb.gz\." && fail "SIG$sig: temporary file left" || ok "SIG$sig: no temporary file left"
done

start=$(date +%s)
"$SCORCH" record -q -d 1 -o "$TMP/cmd.pb.gz" -- "$WORKLOAD" 1 30 >/dev/null
took=$(( $(date +%s) - start ))
[ "$took" -le 5 ] && ok "-d ends a command's capture (${took}s)" || fail "capture took ${took}s"
pgrep -f "$WORKLOAD 1 30" >/dev/null && fail "command still running" || ok "command terminated"
gopprof -raw "$TMP/cmd.pb.gz" >/dev/null && ok "command capture written" || fail "command capture unreadable"
finish
