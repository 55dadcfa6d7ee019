#!/usr/bin/env bash
# Node.js through V8's JIT code and its embedded builtins, which have no CFI (the builtins sit
# in node's own text): the stacks of a workload of known shape (tests/fixtures/nodework.js,
# run with --perf-basic-prof) run complete from _start through the JS frames its perf map
# names, by the frame pointers V8 keeps, with CFI again in node's C++ below.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
NODE=$(command -v node || command -v nodejs || true)
[ -n "$NODE" ] || { fail "node missing (nodejs is in SCORCH_PACKAGES)"; finish; }
HERE=$(cd "$(dirname "$0")" && pwd)
NODEWORK=$HERE/../fixtures/nodework.js

# its perf map is /tmp/perf-PID.map, the test's to remove
cleanup_map() { [ -z "${nodepid:-}" ] || rm -f "/tmp/perf-$nodepid.map"; }
trap 'cleanup_map; cleanup' EXIT

# in $TMP: with --perf-basic-prof V8 also writes isolate-*-v8.log where it runs
(cd "$TMP" && "$SCORCH" record -v -F 499 -o "$TMP/node.pb.gz" -- "$NODE" --perf-basic-prof \
	"$NODEWORK" 4 >"$TMP/node.out" 2>"$TMP/node.err") || fail "record exit $?: $(tail -3 "$TMP/node.err")"
nodepid=$(head -1 "$TMP/node.out")
check_program "$TMP/node.err"
if [[ "$nodepid" =~ ^[0-9]+$ ]] &&
	/usr/bin/python3 "$HERE/check_node.py" "$TMP/node.pb.gz" "$nodepid" 95 >"$TMP/check.out"; then
	ok "node $("$NODE" --version): complete stacks through the JS frames and V8's builtins"
else
	fail "node: $(grep FAIL "$TMP/check.out" | head -3)"
fi
sed 's/^/    /' "$TMP/check.out"
# where a frame pointer could not be followed either (a return address into JIT code newer
# than the snapshot), the stack ends there, said once for the file
n=$(grep -cE "warning: '[^']*node[^']*': no unwind info" "$TMP/node.err" || true)
[ "$n" -le 1 ] && ok "$n warning(s) about node's unwind info" ||
	fail "$n warnings about node's unwind info: $(grep warning "$TMP/node.err" | head -3)"
# -v: how node's frames were stepped, once for the file, and the stacks that needed it
line=$(grep -o "unwound frames by file: .*" "$TMP/node.err" || true)
grep -qE "node[^;]*: CFI [0-9]+, frame pointers [1-9]" <<<"$line" &&
	grep -qE "complete; [1-9][0-9]* also by frame pointers" "$TMP/node.err" &&
	ok "-v: ${line:0:160}" || fail "-v: no frame-pointer frames in node: ${line:-none}"
# an independent reader names the JS frames
gopprof -traces "$TMP/node.pb.gz" >"$TMP/gop.out" 2>"$TMP/gop.err" || true
if grep -qE "(JS|LazyCompile|Function):[*~^+]?main_loop" "$TMP/gop.out"; then
	ok "go tool pprof reads the JS frames"
else
	fail "go tool pprof: $(head -3 "$TMP/gop.err")"
fi
finish
