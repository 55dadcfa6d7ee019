#!/usr/bin/env bash
# Sample types as go tool pprof reads them, against real producers: a Go heap profile
# (runtime/pprof, four sample types) and a Go CPU profile. For every sample type, scorch
# report's total and every function's flat and cumulative value equal go tool pprof -top's on the
# same file (raw units both sides); the default type is pprof's (inuse_space for the heap).
# flame draws the chosen type in its unit; diff compares shares of values that are no counts
# without a test, refuses profiles whose types differ and a regression gate on bytes, each with
# one line and exit 1; an unknown type is refused with the list of the profile's.
source "${TESTLIB:?run the integration tests through meson test}"
command -v go >/dev/null || { echo "FAIL: go is missing (scripts/test installs it)"; exit 1; }
export GOCACHE=$TMP/gocache GOPATH=$TMP/gopath HOME=$TMP GOFLAGS=-mod=mod GO111MODULE=off
fixtures=$(dirname "$TESTLIB")/../fixtures
go build -o "$TMP/goheap" "$fixtures/goheap/main.go" 2>"$TMP/err" || fail "go build goheap: $(cat "$TMP/err")"
go build -o "$TMP/gocpu" "$fixtures/gocpu/main.go" 2>"$TMP/err" || fail "go build gocpu: $(cat "$TMP/err")"
"$TMP/goheap" "$TMP/heap.pprof" && "$TMP/goheap" "$TMP/heap2.pprof" && "$TMP/gocpu" "$TMP/cpu.pprof" 1 70 ||
	fail "the Go fixtures failed"

# compare TYPE UNIT_FLAG FILE [SCORCH_ARGS [PPROF_ARGS]]: scorch report --json against go tool
# pprof -top, raw values, with the same filters spelled each tool's way
compare() {
	local si=$1 unit=$2 file=$3 args=() sargs=() pargs=()
	[ -n "$si" ] && args=(--sample-index "$si")
	[ -n "${4:-}" ] && read -ra sargs <<<"$4"
	[ -n "${5:-}" ] && read -ra pargs <<<"$5"
	"$SCORCH" report --json --top 100000 "${args[@]}" ${sargs[@]+"${sargs[@]}"} "$file" >"$TMP/s.json" 2>"$TMP/err" ||
		{ fail "report ${si:-default} ${4:-}: $(cat "$TMP/err")"; return; }
	gopprof -top -nodefraction=0 -nodecount=100000 ${unit:+-unit=$unit} ${si:+-sample_index=$si} \
		${pargs[@]+"${pargs[@]}"} "$file" >"$TMP/p.top" 2>"$TMP/err" || { fail "pprof ${si:-default}: $(cat "$TMP/err")"; return; }
	"$PYTHON" - "$TMP/s.json" "$TMP/p.top" "${si:-default}${4:+ $4}" <<'PYEOF' && ok "$(cat "$TMP/cmp")" || fail "$(cat "$TMP/cmp")"
import json, re, sys
s = json.load(open(sys.argv[1]))
top = open(sys.argv[2]).read()
what = sys.argv[3]
out = open(sys.argv[1].replace('s.json', 'cmp'), 'w')
def num(v):
    return int(re.match(r'-?[0-9.]+', v).group(0).split('.')[0]) if v != '0' else 0
ptype = re.search(r'^Type: (\S+)', top, re.M).group(1)
ptotal = num(re.search(r'of (\S+) total', top).group(1))
rows, twice = {}, set()
for line in top.splitlines():
    m = re.match(r'\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.*)$', line)
    if m and m.group(1) != 'flat':
        # pprof names a function's inlined copies "f (inline)", a node of its own; scorch
        # counts a function once whether inlined or not, so those appearing both ways are
        # left out of the comparison
        name = m.group(3).replace(' (inline)', '')
        if name in rows:
            twice.add(name)
        rows[name] = (num(m.group(1)), num(m.group(2)))
ours = {f['name']: (f['flat'], f['cum']) for f in s['functions']}
bad = [n for n in (set(rows) | set(ours)) - twice if rows.get(n, (0, 0)) != ours.get(n, (0, 0))]
if s['sample_type'] != ptype or s['total'] != ptotal or bad or len(rows) < 2:
    out.write('%s: scorch %s total %s, pprof %s total %s; %d functions differ, e.g. %s' % (
        what, s['sample_type'], s['total'], ptype, ptotal, len(bad),
        [(n, ours.get(n), rows.get(n)) for n in sorted(bad)[:3]]))
    sys.exit(1)
out.write('%s: %s total %d and %d functions agree with go tool pprof' % (what, ptype, ptotal, len(rows)))
PYEOF
}
PYTHON=/usr/bin/python3
compare "" B "$TMP/heap.pprof"
compare alloc_space B "$TMP/heap.pprof"
compare alloc_objects "" "$TMP/heap.pprof"
compare inuse_objects "" "$TMP/heap.pprof"
compare 3 B "$TMP/heap.pprof"
compare "" ns "$TMP/cpu.pprof"
compare samples "" "$TMP/cpu.pprof"
# go tool pprof's filters and granularities give its numbers too
compare "" B "$TMP/heap.pprof" "--focus keepA" "-focus=keepA"
compare alloc_space B "$TMP/heap.pprof" "--ignore churnC" "-ignore=churnC"
compare "" B "$TMP/heap.pprof" "--hide main.keep$" "-hide=main.keep$"
compare alloc_objects "" "$TMP/heap.pprof" "--focus main.main --hide ^runtime" "-focus=main.main -hide=^runtime"
compare alloc_space B "$TMP/heap.pprof" "--tagfocus bytes=4096" "-tagfocus=bytes=4096B"
compare "" B "$TMP/heap.pprof" "--granularity lines" "-lines"
compare alloc_space B "$TMP/heap.pprof" "--granularity files" "-files"
compare "" ns "$TMP/cpu.pprof" "--focus burnB --granularity lines" "-focus=burnB -lines"
# --cum orders by the cumulative value: main.main (all of it) before main.keep
"$SCORCH" report --cum --top 3 --json "$TMP/heap.pprof" | "$PYTHON" -c '
import json, sys
f = json.load(sys.stdin)["functions"]
cums = [x["cum"] for x in f]
assert cums == sorted(cums, reverse=True) and f[0]["cum"] >= f[-1]["cum"], f
print(" ".join(x["name"] for x in f))' >"$TMP/cum" 2>&1 && ok "--cum: $(cat "$TMP/cum")" || fail "--cum: $(cat "$TMP/cum")"
"$SCORCH" report --focus '(' "$TMP/heap.pprof" >/dev/null 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && ok "a bad regular expression: $(cat "$TMP/err")" ||
	fail "--focus '(': rc $rc: $(cat "$TMP/err")"

# an unknown type: one line naming the profile's types, exit 1
"$SCORCH" report --sample-index nosuch "$TMP/heap.pprof" >/dev/null 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "no sample type 'nosuch'.*alloc_space/bytes" "$TMP/err" &&
	ok "unknown sample type refused: $(cat "$TMP/err")" || fail "unknown type: rc $rc: $(cat "$TMP/err")"

# report in units: bytes as MB
"$SCORCH" report --sample-index alloc_space --top 3 "$TMP/heap.pprof" >"$TMP/r.txt" 2>&1
grep -q "^Type: alloc_space, total 12.0[0-9]MB" "$TMP/r.txt" && grep -q "8.00MB .*main.churnC$" "$TMP/r.txt" &&
	ok "report shows bytes as MB" || fail "report units: $(cat "$TMP/r.txt")"

# flame draws the chosen type in its unit; by default pprof's (inuse_space)
"$SCORCH" flame "$TMP/heap.pprof" --sample-index alloc_space -o "$TMP/a.svg" 2>"$TMP/err" ||
	fail "flame --sample-index: $(cat "$TMP/err")"
grep -q '<text id="subtitle"[^>]*>12.0[0-9]MB of alloc_space</text>' "$TMP/a.svg" &&
	grep -qE '^8.00MB, 66.2[0-9]%' "$TMP/a.svg" && ok "flame: alloc_space in MB (title and tooltips)" ||
	fail "flame alloc_space: $(grep -o '<text id="subtitle"[^<]*' "$TMP/a.svg")"
"$SCORCH" flame "$TMP/heap.pprof" -o "$TMP/i.svg" 2>"$TMP/err" && grep -q 'MB of inuse_space</text>' "$TMP/i.svg" &&
	ok "flame: inuse_space by default" || fail "flame default: $(grep -o '<text id="subtitle"[^<]*' "$TMP/i.svg")"
"$SCORCH" flame "$TMP/cpu.pprof" -o "$TMP/c.svg" 2>"$TMP/err" && grep -qE '<text id="subtitle"[^>]*>[0-9]+ samples</text>' "$TMP/c.svg" &&
	ok "flame: a CPU profile in samples" || fail "flame cpu: $(grep -o '<text id="subtitle"[^<]*' "$TMP/c.svg")"

# diff: the types must agree; bytes compared by share, untested; no gate on them
"$SCORCH" diff "$TMP/cpu.pprof" "$TMP/heap.pprof" >/dev/null 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "sample type is cpu/nanoseconds, NEW's inuse_space/bytes" "$TMP/err" &&
	ok "diff refuses cpu against inuse_space: $(cat "$TMP/err")" || fail "diff types: rc $rc: $(cat "$TMP/err")"
"$SCORCH" diff "$TMP/heap.pprof" "$TMP/heap2.pprof" --sample-index alloc_space -o "$TMP/d.svg" >"$TMP/d.txt" 2>"$TMP/err" &&
	grep -q "MB of alloc_space" "$TMP/d.txt" && grep -q "no significance test" "$TMP/d.txt" &&
	! grep -qE '[0-9]\*( |$)' "$TMP/d.txt" &&
	grep -q "not tested" "$TMP/d.svg" && ok "diff of bytes: shares, no test" ||
	fail "diff bytes: $(cat "$TMP/d.txt" "$TMP/err")"
"$SCORCH" diff "$TMP/heap.pprof" "$TMP/heap2.pprof" --fail-on-regression 1 >/dev/null 2>"$TMP/err" && rc=0 || rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "needs sample counts" "$TMP/err" &&
	ok "no regression gate on bytes: $(cat "$TMP/err")" || fail "gate on bytes: rc $rc: $(cat "$TMP/err")"
finish
