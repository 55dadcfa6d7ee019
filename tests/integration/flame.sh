#!/usr/bin/env bash
# scorch flame, diff and report end to end: flame graphs of a capture, checked as XML and in
# headless Chromium (renders, loads nothing from the network, a click zooms a frame to full
# width, a search highlights matches and gives their share); diffs of recordings with two known
# CPU splits (the moved share significant in the right direction, the untouched function not,
# the same split never failing --fail-on-regression); the difference as a pprof for go tool
# pprof; a Go CPU profile written by runtime/pprof; a dense capture of deep recursive stacks
# (the most decoding memory per byte of file) read; malformed files refused with one line.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
for tool in chromium xmllint go; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/test installs it)"; exit 1; }
done
PY=/usr/bin/python3 # Debian's, with python3-pil

chrome() {
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--user-data-dir="$TMP/chrome" --no-first-run --disable-extensions --disable-sync \
		--disable-background-networking --disable-component-update --disable-default-apps \
		"$@" 2>>"$TMP/chrome.log"
}

# frame_attr DOM NAME ATTR: the attribute of the rect of the first frame whose title starts with NAME
frame_attr() {
	"$PY" - "$1" "$2" "$3" <<'PYEOF'
import re, sys
dom, name, attr = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
for g in re.finditer(r'<g( [^>]*)?><title>([^\n<]*)\n[^<]*</title><rect ([^>]*)>', dom):
    if g.group(2) == name:
        if attr == 'display':
            m = re.search(r'display="([^"]*)"', g.group(1) or '')
            print(m.group(1) if m else 'shown')
        else:
            print(re.search(attr + r'="([^"]*)"', g.group(3)).group(1))
        break
PYEOF
}

# ---- a flame graph of a capture ----
"$SCORCH" flame -q -o "$TMP/cap.svg" --title "workload <capture>" -- "$WORKLOAD" 1 2 \
	>/dev/null 2>"$TMP/err" || fail "flame of a capture failed: $(cat "$TMP/err")"
xmllint --noout "$TMP/cap.svg" 2>"$TMP/xml" && ok "capture: well-formed XML" ||
	fail "capture: xmllint: $(head -3 "$TMP/xml")"
for f in hot_a hot_b in_kernel; do
	grep -q "<title>$f$" "$TMP/cap.svg" && ok "capture: frame $f drawn" || fail "capture: no frame $f"
done
grep -q '>workload &lt;capture&gt;</text>' "$TMP/cap.svg" && ok "capture: title escaped" ||
	fail "capture: title not found"

# drawn from memory: the capture writes nothing but the SVG (no temporary profile, no directory)
SCORCH_CACHE_DIR= strace -f -qq -e trace=openat,creat,mkdir,mkdirat,rename,renameat,renameat2 \
	-o "$TMP/flame.strace" "$SCORCH" flame -q -d 1 -o "$TMP/mem.svg" 2>"$TMP/err" ||
	fail "flame -d 1 under strace failed: $(cat "$TMP/err")"
grep -E 'O_CREAT|creat\(|mkdir|rename' "$TMP/flame.strace" | grep -v "\"$TMP/\.\?mem\.svg" >"$TMP/created" || true
[ -s "$TMP/mem.svg" ] && [ ! -s "$TMP/created" ] && grep -q 'O_CREAT' "$TMP/flame.strace" &&
	ok "flame -d 1 creates no file but its SVG" ||
	fail "flame -d 1 created other files: $(head -5 "$TMP/created")"

# page_requests NETLOG: URLs the page asked for (the browser's own traffic, such as its clock
# and update checks, has no initiating origin and is left out)
page_requests() {
	"$PY" - "$1" <<'PYEOF'
import json, sys
log = json.load(open(sys.argv[1]))
types = {v: k for k, v in log['constants']['logEventTypes'].items()}
for e in log.get('events', []):
    p = e.get('params') or {}
    url = p.get('url') or ''
    if types.get(e['type']) == 'URL_REQUEST_START_JOB' and url and \
       p.get('initiator') != 'not an origin' and not url.startswith(('file:', 'data:')):
        print(url)
PYEOF
}

# rendered, with frames in several colors, and nothing asked of the network
chrome --screenshot="$TMP/cap.png" --window-size=1200,900 --log-net-log="$TMP/net.json" \
	"file://$TMP/cap.svg" >/dev/null
"$PY" - "$TMP/cap.png" <<'PYEOF' && ok "chromium renders the graph ($(cat "$TMP/colors") frame colors)" || fail "chromium: $(cat "$TMP/colors")"
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert('RGB')
colors = {c for n, c in img.getcolors(1 << 20) if n >= 50}
# the frame palettes: reds to yellows (user), blues (kernel)
warm = [c for c in colors if c[0] >= 200 and c[2] <= 90]
cool = [c for c in colors if c[2] >= 200 and c[0] <= 130]
open(sys.argv[1].replace('cap.png', 'colors'), 'w').write('%d warm, %d blue' % (len(warm), len(cool)))
sys.exit(0 if len(warm) >= 3 and len(cool) >= 1 else 1)
PYEOF
page_requests "$TMP/net.json" >"$TMP/urls"
[ -s "$TMP/net.json" ] && [ ! -s "$TMP/urls" ] && ok "chromium: the graph asks nothing of the network" ||
	fail "the graph asked the network for: $(sort -u "$TMP/urls" | head -3)"
# the check itself sees a page that does load something
printf '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image href="http://127.0.0.1:9/x.png" width="9" height="9"/></svg>' >"$TMP/control.svg"
chrome --screenshot="$TMP/control.png" --log-net-log="$TMP/net2.json" "file://$TMP/control.svg" >/dev/null
grep -q "127.0.0.1:9/x.png" <(page_requests "$TMP/net2.json") && ok "the network check sees a page's request" ||
	fail "the network check missed the control page's request"

# a click on hot_b zooms it to the full width (1180 of 1200 px); hot_a leaves the view
chrome --dump-dom "file://$TMP/cap.svg" >"$TMP/dom0.xml"
chrome --dump-dom "file://$TMP/cap.svg?zoom=hot_b" >"$TMP/dom1.xml"
w0=$(frame_attr "$TMP/dom0.xml" hot_b width)
w1=$(frame_attr "$TMP/dom1.xml" hot_b width)
a1=$(frame_attr "$TMP/dom1.xml" hot_a display)
within "${w1:-0}" 1180 0.1 && ! within "${w0:-0}" 1180 1 && [ "$a1" = none ] &&
	ok "click zooms hot_b from $w0 to $w1 px, hot_a hidden" ||
	fail "zoom: hot_b $w0 -> $w1 px, hot_a display=$a1"

# Reset Zoom puts every frame back
chrome --dump-dom "file://$TMP/cap.svg?zoom=hot_b&unzoom" >"$TMP/dom3.xml"
w3=$(frame_attr "$TMP/dom3.xml" hot_b width)
a3=$(frame_attr "$TMP/dom3.xml" hot_a display)
[ "$w3" = "$w0" ] && [ "$a3" = shown ] && ok "Reset Zoom: hot_b back to $w3 px, hot_a shown" ||
	fail "reset: hot_b $w3 px (was $w0), hot_a display=$a3"

# a search highlights the matches and shows their share (hot_a + hot_b: 90 % of the workload)
chrome --dump-dom "file://$TMP/cap.svg?s=^hot_" >"$TMP/dom2.xml"
share=$(sed -n 's/.*data-matched="\([0-9.]*\)".*/\1/p' "$TMP/dom2.xml" | head -1)
fa=$(frame_attr "$TMP/dom2.xml" hot_a fill)
fk=$(frame_attr "$TMP/dom2.xml" in_kernel fill)
grep -q 'Matched: [0-9.]*%' "$TMP/dom2.xml" && within "${share:-0}" 90 12 && [ "$fa" = "#e040e0" ] &&
	[ "$fk" != "#e040e0" ] && ok "search ^hot_: $share % matched, hot_a highlighted, in_kernel not" ||
	fail "search: share '$share', hot_a fill $fa, in_kernel fill $fk"

# ---- diffs of two known splits ----
record() { "$SCORCH" record -q -o "$1" -- "$WORKLOAD" 2 2 "$2" >/dev/null 2>"$TMP/err" || fail "record: $(cat "$TMP/err")"; }
record "$TMP/base.pb.gz" 60 # hot_a 60 %, hot_b 30 %, in_kernel 10 %
record "$TMP/new.pb.gz" 20 # hot_a 20 %, hot_b 70 %
record "$TMP/same.pb.gz" 60

# diff_col OUT FUNC FIELD: the self (1) or cum (2) change column of a function, with its mark
diff_col() {
	awk -v f="$2" -v c="$3" '$NF == f { print (c == 1 ? $3 : $6) }' "$1"
}
"$SCORCH" diff "$TMP/base.pb.gz" "$TMP/new.pb.gz" --top 50 -o "$TMP/diff.svg" \
	--pprof "$TMP/diff.pb.gz" >"$TMP/diff.txt" 2>"$TMP/err" && rc=0 || rc=$?
[ $rc -eq 0 ] && ok "diff runs" || fail "diff exited $rc: $(cat "$TMP/err")"
b=$(diff_col "$TMP/diff.txt" hot_b 1)
a=$(diff_col "$TMP/diff.txt" hot_a 1)
k=$(diff_col "$TMP/diff.txt" in_kernel 2)
[[ "$b" == +*\* ]] && within "${b//[+*]/}" 40 10 && ok "hot_b grew significantly ($b points)" ||
	fail "hot_b: '$b' (expected about +40*): $(cat "$TMP/diff.txt")"
[[ "$a" == -*\* ]] && ok "hot_a shrank significantly ($a points)" || fail "hot_a: '$a'"
[[ -n "$k" && "$k" != *\* ]] && ok "in_kernel (untouched): $k points, not significant" ||
	fail "in_kernel: '$k' ($(grep in_kernel "$TMP/diff.txt"))"

"$SCORCH" diff "$TMP/base.pb.gz" "$TMP/new.pb.gz" --fail-on-regression 5 >/dev/null 2>"$TMP/err" &&
	rc=0 || rc=$?
[ $rc -eq 3 ] && grep -q "regression: 'hot_b'" "$TMP/err" && ok "--fail-on-regression 5: exit 3 for hot_b" ||
	fail "--fail-on-regression: exit $rc: $(cat "$TMP/err")"
"$SCORCH" diff "$TMP/base.pb.gz" "$TMP/same.pb.gz" --fail-on-regression 2 >"$TMP/same.txt" \
	2>"$TMP/err" && rc=0 || rc=$?
[ $rc -eq 0 ] && ok "the same split twice: --fail-on-regression 2 passes" ||
	fail "same split: exit $rc: $(cat "$TMP/err" "$TMP/same.txt")"
s=$(diff_col "$TMP/same.txt" hot_b 1)
[[ "$s" != *\* ]] && ok "the same split twice: hot_b not significant (${s:-0} points)" || fail "same split: hot_b $s"

# the difference as a pprof: go tool pprof reads it, hot_b up, hot_a down
gopprof -top "$TMP/diff.pb.gz" >"$TMP/diff.top" 2>"$TMP/err" || fail "go tool pprof on the diff: $(cat "$TMP/err")"
bt=$(awk '$NF == "hot_b" { print $1; exit }' "$TMP/diff.top")
at=$(awk '$NF == "hot_a" { print $1; exit }' "$TMP/diff.top")
[ "${bt:-0}" -gt 0 ] 2>/dev/null && [ "${at:-0}" -lt 0 ] 2>/dev/null &&
	ok "go tool pprof reads the diff: hot_b $bt, hot_a $at samples" ||
	fail "diff pprof: hot_b '$bt', hot_a '$at': $(head -12 "$TMP/diff.top")"

# the differential graph: well-formed, rendered with reds (grew) and blues (shrank)
xmllint --noout "$TMP/diff.svg" && ok "diff graph: well-formed XML" || fail "diff graph: xmllint"
chrome --screenshot="$TMP/diff.png" --window-size=1200,900 "file://$TMP/diff.svg" >/dev/null
"$PY" - "$TMP/diff.png" <<'PYEOF' && ok "diff graph renders red and blue frames" || fail "diff graph colors"
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert('RGB')
px = [c for n, c in img.getcolors(1 << 20) if n >= 50]
red = any(r == 255 and g < 200 and b < 200 for r, g, b in px)
blue = any(b == 255 and r < 200 and g < 200 for r, g, b in px)
sys.exit(0 if red and blue else 1)
PYEOF

# ---- a Go CPU profile (runtime/pprof) renders, diffs and reports ----
export GOCACHE=$TMP/gocache GOPATH=$TMP/gopath HOME=$TMP GOFLAGS=-mod=mod GO111MODULE=off
go build -o "$TMP/gocpu" "$(dirname "$TESTLIB")/../fixtures/gocpu/main.go" 2>"$TMP/err" ||
	fail "go build: $(cat "$TMP/err")"
"$TMP/gocpu" "$TMP/go70.pprof" 2 70 && "$TMP/gocpu" "$TMP/go30.pprof" 2 30 || fail "gocpu failed"
"$SCORCH" flame "$TMP/go70.pprof" -o "$TMP/go.svg" 2>"$TMP/err" && xmllint --noout "$TMP/go.svg" &&
	grep -q "<title>main.burnA$" "$TMP/go.svg" && ok "Go profile: flame graph with main.burnA" ||
	fail "Go flame: $(cat "$TMP/err")"
"$SCORCH" report "$TMP/go70.pprof" --top 5 >"$TMP/go.report" 2>"$TMP/err" &&
	grep -q "main.spin$" "$TMP/go.report" && ok "Go profile: report" || fail "Go report: $(cat "$TMP/err" "$TMP/go.report")"
"$SCORCH" diff "$TMP/go70.pprof" "$TMP/go30.pprof" --top 10 >"$TMP/go.diff" 2>"$TMP/err" || true
gb=$(diff_col "$TMP/go.diff" main.burnB 2)
ga=$(diff_col "$TMP/go.diff" main.burnA 2)
[[ "$gb" == +*\* && "$ga" == -*\* ]] && ok "Go profiles: burnB $gb, burnA $ga points (cum)" ||
	fail "Go diff: burnB '$gb' burnA '$ga': $(cat "$TMP/go.diff" "$TMP/err")"

# ---- the costliest real shape per byte (deep recursive stacks sampled densely) is not refused ----
"$SCORCH" record -q -F 9999 -d 3 --unwind dwarf -o "$TMP/dense.pb.gz" -- \
	"$UNWIND_DIR/unwind-workload-nofp" 5 >/dev/null 2>"$TMP/err" || fail "dense capture: $(cat "$TMP/err")"
for cmd in report flame; do
	out=$TMP/dense.$cmd
	if [ "$cmd" = report ]; then
		"$SCORCH" report "$TMP/dense.pb.gz" >"$out" 2>"$TMP/err" && rc=0 || rc=$?
	else
		"$SCORCH" flame "$TMP/dense.pb.gz" -o "$out" 2>"$TMP/err" && rc=0 || rc=$?
	fi
	[ $rc -eq 0 ] && grep -q lib_leaf "$out" &&
		ok "$cmd of a dense capture ($(stat -c %s "$TMP/dense.pb.gz") bytes): read" ||
		fail "$cmd of a dense capture: exit $rc: $(cat "$TMP/err")"
done

# ---- malformed input: one clear line, exit 1 ----
printf '\x1f\x8b\x08\x00garbage' >"$TMP/bad-gzip"
head -c 2000 /dev/urandom | tr -d '\n\r\t -~' | head -c 1000 >"$TMP/bad-protobuf"
printf '\x08\x01\x08' >"$TMP/truncated"
# sample_type samples/count and its strings, then a sample of location 99 / a function named
# by string 9 (of 3)
types='\x0a\x04\x08\x01\x10\x02\x32\x00\x32\x07samples\x32\x05count'
printf "$types"'\x12\x06\x0a\x01\x63\x12\x01\x01' >"$TMP/bad-location-id"
printf "$types"'\x2a\x04\x08\x01\x10\x09' >"$TMP/bad-string-index"
printf 'main;a 3\nthis is not a profile\n' >"$TMP/bad-folded"
: >"$TMP/empty"
for f in bad-gzip bad-protobuf truncated bad-location-id bad-string-index bad-folded empty; do
	for cmd in report flame; do
		if [ "$cmd" = report ]; then
			timeout 20 "$SCORCH" report "$TMP/$f" >/dev/null 2>"$TMP/err" && rc=0 || rc=$?
		else
			timeout 20 "$SCORCH" flame "$TMP/$f" -o "$TMP/out.svg" >/dev/null 2>"$TMP/err" &&
				rc=0 || rc=$?
		fi
		case $f in
		bad-location-id) want="location id" ;;
		bad-string-index) want="string index" ;;
		*) want="" ;;
		esac
		[ $rc -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q "$want" "$TMP/err" && ok "$cmd $f: exit 1, $(cat "$TMP/err")" ||
			fail "$cmd $f: exit $rc: $(cat "$TMP/err")"
	done
done
finish
