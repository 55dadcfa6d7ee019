#!/usr/bin/env bash
# A process in another mount namespace, running a binary that does not exist in scorch's view of
# the filesystem, is symbolized: ELF files are opened through /proc/PID/map_files (or root).
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

mkdir -p "$TMP/private"
unshare --mount --propagation private --fork --kill-child sh -c \
	"mount -t tmpfs scorch-test '$TMP/private' && cp '$WORKLOAD' '$TMP/private/nsworkload' &&
	 exec '$TMP/private/nsworkload' 1 6" >/dev/null & PIDS+=($!)
for _ in $(seq 50); do
	pid=$(pgrep -x nsworkload || true)
	[ -n "$pid" ] && break
	sleep 0.1
done
[ -n "$pid" ] || { fail "the namespaced workload did not start"; finish; }
PIDS=("$pid" "${PIDS[@]}") # ours too: started by this test through unshare
[ ! -e "$TMP/private/nsworkload" ] && ok "binary invisible outside its namespace" ||
	fail "binary visible from the host: not a test of namespaces"
"$SCORCH" record -q -p "$pid" -d 2 --format folded --no-comm-root -o "$TMP/ns.folded"
grep -q ';worker;hot_a' "$TMP/ns.folded" && ok "functions named inside another mount namespace" ||
	fail "not symbolized: $(head -3 "$TMP/ns.folded")"
finish
