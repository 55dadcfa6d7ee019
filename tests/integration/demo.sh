#!/usr/bin/env bash
# The demo that scripts/quickstart runs shows what it promises: the C program's functions and
# its shared library's with lines (both without frame pointers), the kernel under its io
# thread, the Python part's functions with lines, and the library's frames under the Python
# function that called it through ctypes.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
PY311=$(command -v python3.11) || { fail "python3.11 is missing (scripts/test installs it)"; finish; }
"$DEMO" 6 >/dev/null & d1=$!; PIDS+=("$d1")
"$PY311" "$DEMO_PY" "$DEMO_LIB" 6 >/dev/null & d2=$!; PIDS+=("$d2")
"$SCORCH" record -q -d 4 -p "$d1,$d2" -o "$TMP/demo.pb.gz" 2>"$TMP/err" || fail "record: $(cat "$TMP/err")"
"$SCORCH" convert "$TMP/demo.pb.gz" --no-comm-root -o "$TMP/demo.folded" 2>"$TMP/err" || fail "convert: $(cat "$TMP/err")"
"$SCORCH" report "$TMP/demo.pb.gz" --granularity lines --top 100000 --json >"$TMP/lines.json" 2>"$TMP/err" ||
	fail "report: $(cat "$TMP/err")"
/usr/bin/python3 - "$TMP/demo.folded" "$TMP/lines.json" <<'PYEOF' >"$TMP/out" 2>&1 && ok "$(cat "$TMP/out")" || fail "$(cat "$TMP/out")"
import json, sys
stacks = []
for line in open(sys.argv[1]):
    frames, n = line.rsplit(' ', 1)
    stacks.append((frames.split(';'), int(n)))
total = sum(n for _, n in stacks)
def share(pred):
    return sum(n for f, n in stacks if pred(f))
c_lib = share(lambda f: 'parse_record' in f and ('crc32_bitwise' in f or 'demo_sort' in f))
kern = share(lambda f: 'copy_block' in f and any(x.endswith('_[k]') for x in f))
py = share(lambda f: 'score' in f or 'tokenize' in f)
mixed = share(lambda f: 'checksum' in f and 'crc32_bitwise' in f and f.index('checksum') < f.index('crc32_bitwise'))
lines = {x['name'] for x in json.load(open(sys.argv[2]))['functions']}
have = lambda prefix, file: any(n.startswith(prefix + ' ') and file in n for n in lines)
problems = []
for what, n in (('C through the library', c_lib), ('kernel under io', kern), ('Python', py),
                ('library under Python', mixed)):
    if n < total * 0.02:
        problems.append('%s: %d of %d samples' % (what, n, total))
for fn, file in (('crc32_bitwise', 'libdemo.c:'), ('demo_sort', 'libdemo.c:'),
                 ('parse_record', 'demo.c:'), ('score', 'demo.py:')):
    if not have(fn, file):
        problems.append('no line of %s in %s' % (fn, file))
if problems:
    print('; '.join(problems))
    sys.exit(1)
print('%d samples: C and its library %d, kernel under io %d, Python %d, the library under '
      'Python %d; crc32_bitwise, demo_sort, parse_record and score with their lines'
      % (total, c_lib, kern, py, mixed))
PYEOF
finish
