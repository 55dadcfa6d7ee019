#!/usr/bin/env bash
# On a terminal: a live status line (elapsed, samples) and the summary at the end; without one
# (a pipe) no status line.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

script -qec "'$SCORCH' record -d 2.5 -o '$TMP/t.pb.gz'" /dev/null >"$TMP/tty.out" </dev/null
grep -q 'recording, [12] s, [0-9]* samples' "$TMP/tty.out" && ok "status line on a TTY" ||
	fail "no status line: $(tr '\r' '\n' <"$TMP/tty.out" | head -5)"
grep -q 'written to' "$TMP/tty.out" && ok "summary on a TTY" || fail "no summary on a TTY"
"$SCORCH" record -d 1.5 -o "$TMP/p.pb.gz" 2>"$TMP/pipe.err"
grep -q 'recording,' "$TMP/pipe.err" && fail "status line written to a pipe" || ok "no status line on a pipe"
grep -q 'written to' "$TMP/pipe.err" && ok "summary on a pipe" || fail "no summary on a pipe"
finish
