#!/usr/bin/env bash
# CPython programs profiled by their Python functions, file and line, mixed with native frames
# (Debian's python3.11): the workload of known shape through record and through the agent to
# the test gRPC server; --no-python; a 200 ms program; an interpreter copied into another mount
# namespace; programs that only look like Python (native stacks, one warning).
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
source "$(dirname "$0")/parca_lib.sh"
PY311=/usr/bin/python3.11
[ -x "$PY311" ] || { fail "$PY311 missing (python3.11 is in SCORCH_PACKAGES)"; finish; }
HERE=$(cd "$(dirname "$0")" && pwd)
PYWORK=$HERE/../fixtures/pywork.py
CHECK=$HERE/check_python.py
# scorch's warnings about an interpreter ("pid N: python 3.9: ...", "... _PyRuntime ..."), not
# every warning that names a file under /usr/lib/python3.11: a sample at the first instruction
# of a module's _init, which has no CFI, is warned about as in any other library
PYWARN='warning: (pid [0-9]+: python [0-9]+\.[0-9]+:|.*_PyRuntime)'

# 1. record: >= 95 % exact chains, the split within 5 points, lines as dis says (-F 999: a 5
# point bound on a few hundred samples would be two sigma of sampling noise)
"$SCORCH" record -v -F 999 -o "$TMP/py.pb.gz" -- "$PY311" "$PYWORK" 4 "$TMP/truth.json" \
	>"$TMP/py.out" 2>"$TMP/py.err" || fail "record exit $?: $(tail -3 "$TMP/py.err")"
check_program "$TMP/py.err"
if $PY "$CHECK" "$TMP/py.pb.gz" "$TMP/truth.json" >"$TMP/check.out"; then
	ok "record: the workload's Python chains, split and lines"
else
	fail "record: $(grep FAIL "$TMP/check.out" | head -3)"
fi
sed 's/^/    /' "$TMP/check.out"
walked=$(sed -n 's/.*python: .*stacks walked \([0-9]*\).*/\1/p' "$TMP/py.err")
[ "${walked:-0}" -gt 1000 ] && ok "-v counts $walked Python stacks walked" ||
	fail "-v: no Python stacks counted: $(grep python "$TMP/py.err")"
# (the command's generation before its exec may be counted too: its snapshot can come after)
grep -qE "processes \([12] Python\)" "$TMP/py.err" && ok "the summary counts the Python process" ||
	fail "summary: $(grep processes "$TMP/py.err")"
grep -E "$PYWARN" "$TMP/py.err" && fail "warnings: $(grep warning "$TMP/py.err")" ||
	ok "no warning about a supported interpreter"
# an independent reader: go tool pprof names the Python functions with their files
gopprof -traces "$TMP/py.pb.gz" >"$TMP/gop.out" 2>"$TMP/gop.err" || true
if grep -q "Ranker.key" "$TMP/gop.out"; then
	ok "go tool pprof reads the Python frames"
else
	fail "go tool pprof: $(head -3 "$TMP/gop.err")"
fi

# 2. --no-python: the interpreter's C alone
"$SCORCH" record -F 499 --no-python -o "$TMP/nopy.pb.gz" -- "$PY311" "$PYWORK" 2 \
	"$TMP/truth2.json" >/dev/null 2>"$TMP/nopy.err" || fail "record --no-python exit $?"
if $PY "$CHECK" --expect-native-only "$TMP/nopy.pb.gz" "$TMP/truth2.json" >"$TMP/c2.out"; then
	ok "--no-python: native frames only"
else
	fail "--no-python: $(grep FAIL "$TMP/c2.out" | head -2)"
fi

# 2b. flame graphs draw Python frames in a colour of their own; diffs compare them by name
"$SCORCH" flame "$TMP/py.pb.gz" -o "$TMP/py.svg" 2>"$TMP/flame.err" || fail "flame exit $?"
if $PY - "$TMP/py.svg" >"$TMP/colors.out" <<'PYCHK'; then
import re, sys
svg = open(sys.argv[1]).read()
frames = re.findall(r'<g><title>([^\n<]*)\n[^<]*</title><rect [^>]*fill="#([0-9a-f]{6})"', svg)
def violet(c):
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    return b > r > g
py = [c for n, c in frames if n in ("Ranker.key", "Ranker.rank", "recurse", "spin")]
native = [c for n, c in frames if n.startswith(("PyObject_", "_PyEval", "__clone3"))]
print(f"{len(py)} Python frames, {sum(map(violet, py))} violet; {len(native)} native, "
      f"{sum(map(violet, native))} violet")
sys.exit(0 if py and native and all(map(violet, py)) and not any(map(violet, native)) else 1)
PYCHK
	ok "flame graph: $(cat "$TMP/colors.out")"
else
	fail "flame graph colours: $(cat "$TMP/colors.out")"
fi
"$SCORCH" diff "$TMP/nopy.pb.gz" "$TMP/py.pb.gz" >"$TMP/diff.out" 2>&1 || true
grep -qE '[+][0-9.]+.*Ranker\.key' "$TMP/diff.out" && ok "diff: Ranker.key appears in the after profile" ||
	fail "diff: $(head -12 "$TMP/diff.out")"

# 3. a program that runs for 200 ms
cat >"$TMP/short.py" <<'PY'
import time
def short_spin(end):
    x = 0
    while time.monotonic() < end:
        x += 1
    return x
short_spin(time.monotonic() + 0.2)
PY
"$SCORCH" record -F 999 --format folded --no-comm-root -o "$TMP/short.folded" -- "$PY311" "$TMP/short.py" \
	2>"$TMP/short.err" || fail "record of a short program exit $?"
total=$(folded_total "$TMP/short.folded")
hit=$(folded_count "$TMP/short.folded" short_spin)
if [ "$total" -ge 100 ] && [ "$((hit * 100))" -ge "$((total * 80))" ]; then
	ok "200 ms program: $hit of $total samples in short_spin"
else
	fail "200 ms program: $hit of $total samples in short_spin"
fi

# 3b. forked workers (as multiprocessing and gunicorn make them): each child found as a new
# process, its Python frames walked
cat >"$TMP/fork.py" <<'PY'
import os, sys, time
def child_work(end):
    x = 0
    while time.monotonic() < end:
        x += 1
    return x
def parent():
    kids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            child_work(time.monotonic() + 1.0)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
parent()
PY
"$SCORCH" record -F 999 --format folded --no-comm-root -o "$TMP/fork.folded" -- "$PY311" "$TMP/fork.py" \
	2>"$TMP/fork.err" || fail "record of forked workers exit $?"
total=$(folded_total "$TMP/fork.folded")
hit=$(grep -c ';<module>;parent;child_work' "$TMP/fork.folded" || true)
n=$(awk '/;<module>;parent;child_work/ { s += $NF } END { print s + 0 }' "$TMP/fork.folded")
if [ "$total" -ge 1000 ] && [ "$((n * 100))" -ge "$((total * 90))" ]; then
	ok "forked workers: $n of $total samples in <module>;parent;child_work"
else
	fail "forked workers: $n of $total samples in <module>;parent;child_work: $(head -c 400 "$TMP/fork.folded")"
fi

# 4. the interpreter copied into a mount namespace of its own (invisible from here)
mkdir -p "$TMP/private"
cp "$PYWORK" "$TMP/pywork-ns.py"
unshare --mount --propagation private --fork --kill-child sh -c \
	"mount -t tmpfs scorch-test '$TMP/private' && cp '$PY311' '$TMP/private/nspython' &&
	 exec '$TMP/private/nspython' '$TMP/pywork-ns.py' 30 '$TMP/truth-ns.json'" \
	>"$TMP/ns.out" 2>&1 & PIDS+=($!)
wait_for "$TMP/ns.out" '^ready ' 30 || fail "the namespaced interpreter did not start: $(cat "$TMP/ns.out")"
nspid=$(sed -n 's/^ready //p' "$TMP/ns.out")
if [ -n "$nspid" ]; then
	PIDS=("$nspid" "${PIDS[@]}")
	[ ! -e "$TMP/private/nspython" ] && ok "interpreter invisible outside its namespace" ||
		fail "interpreter visible from the host: not a test of namespaces"
	"$SCORCH" record -F 999 -d 2 -p "$nspid" --format folded --no-comm-root -o "$TMP/ns.folded" 2>"$TMP/nsrec.err" ||
		fail "record -p exit $?"
	n=$(folded_count "$TMP/ns.folded" "Ranker.key")
	[ "$n" -gt 0 ] && ok "Python frames inside another mount namespace ($n in Ranker.key)" ||
		fail "no Python frames in the namespace: $(head -c 300 "$TMP/ns.folded")"
	kill "$nspid" 2>/dev/null || true
fi

# 5. only looks like Python: native stacks, one warning
for fake in fakepy:"python 3.11: _PyRuntime holds no valid interpreter state" \
	fakepy39:"python 3.9: interpreter frames not supported"; do
	bin=$UNWIND_DIR/${fake%%:*} want=${fake#*:}
	"$SCORCH" record -F 499 -o "$TMP/fake.pb.gz" -- "$bin" 1.5 >/dev/null 2>"$TMP/fake.err" ||
		fail "record ${fake%%:*} exit $?"
	n=$(grep -cE "$PYWARN" "$TMP/fake.err" || true)
	if [ "$n" -eq 1 ] && grep -q "$want" "$TMP/fake.err"; then
		ok "${fake%%:*}: one warning ($want)"
	else
		fail "${fake%%:*}: $n warnings about Python: $(grep warning "$TMP/fake.err")"
	fi
	gopprof -traces "$TMP/fake.pb.gz" >"$TMP/gop.out" 2>&1 || true
	if $PY "$CHECK" --expect-native-only "$TMP/fake.pb.gz" >"$TMP/c3.out" &&
		grep -q fake_spin "$TMP/gop.out"; then
		ok "${fake%%:*}: native stacks (fake_spin)"
	else
		fail "${fake%%:*}: $(grep FAIL "$TMP/c3.out" | head -2)"
	fi
done

# 6. the agent to the test gRPC server: the same checks over the profiles it uploaded, and
# over a profile taken from its /debug/pprof/profile while the workload runs
mkdir -p "$TMP/saved"
: >"$TMP/a.jsonl"
start_server "$TMP/a.jsonl" --save-dir "$TMP/saved"
HTTP_PORT=$(free_port)
"$SCORCH" agent --remote-store-address "$ADDR" --remote-store-insecure --profiling-duration 1s \
	-F 999 --spool-dir "$TMP/spool" --node test-node --http-address "127.0.0.1:$HTTP_PORT" \
	2>"$TMP/agent.log" & AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_for "$TMP/agent.log" "capturing|profiling|started" 30 ||
	fail "agent did not start: $(head -3 "$TMP/agent.log")"
"$PY311" "$PYWORK" 5 "$TMP/truth-agent.json" >"$TMP/pa.out" & PYW_PID=$!
PIDS+=("$PYW_PID")
# a 2 s capture inside the workload's 5 s, once its workers run
wait_for "$TMP/pa.out" "^ready" 30 || fail "pywork did not start: $(cat "$TMP/pa.out")"
code=$(curl -s --max-time 30 -o "$TMP/http.pb.gz" -w '%{http_code}' \
	"http://127.0.0.1:$HTTP_PORT/debug/pprof/profile?seconds=2" || true)
wait "$PYW_PID" || fail "pywork exit $?"
if [ "$code" = 200 ] &&
	$PY "$CHECK" "$TMP/http.pb.gz" "$TMP/truth-agent.json" >"$TMP/c5.out"; then
	ok "agent: /debug/pprof/profile has the workload's Python chains, split and lines"
else
	fail "agent: /debug/pprof/profile: HTTP $code, $(grep FAIL "$TMP/c5.out" 2>/dev/null | head -3)"
fi
sed 's/^/    /' "$TMP/c5.out" 2>/dev/null || true
# every sample of the workload is in an interval that ends after it exits: two more intervals
n0=$(wc -l <"$TMP/a.jsonl" 2>/dev/null || echo 0)
for _ in $(seq 100); do
	[ "$(wc -l <"$TMP/a.jsonl")" -ge $((n0 + 2)) ] && break
	sleep 0.2
done
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true
if $PY "$CHECK" "$TMP/saved" "$TMP/truth-agent.json" >"$TMP/c4.out"; then
	ok "agent: the workload's Python chains, split and lines in its uploads"
else
	fail "agent: $(grep FAIL "$TMP/c4.out" | head -3)"
fi
sed 's/^/    /' "$TMP/c4.out"
stop_server
finish
