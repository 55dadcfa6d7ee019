#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check a profile of tests/fixtures/nodework.js (node --perf-basic-prof): the main thread's
stacks run complete from _start through the JS frames that the perf map names. The pprof is
read with tests/pprof_folded.py's decoder (no protobuf library).

Usage: check_node.py PROFILE PID [MIN_COMPLETE_PERCENT]

Only the samples of thread PID (node's main thread, which runs the JS) count. One "ok:" or
"FAIL:" line per check, exit 1 on any failure:
  samples    the main thread has samples, most of them (>= 80 %) in main_loop
  complete   >= MIN_COMPLETE_PERCENT (default 95) of the main thread's samples end at _start
             with no [truncated: ...] frame
  chains     in the complete samples, _start comes first, then node's C++ (node::Start), V8's
             C++ (v8::...) and main_loop, root first; alpha and the sort (beta, a
             Builtins_*Sort* frame or cmp) each take >= 10 % of main_loop's samples, and every
             cmp sits below a builtin (the sort's: named, or unnamed in a libnode without
             .symtab as Debian's) that sits below main_loop
"""
import gzip
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pprof_folded import fields, ints  # noqa: E402

# V8's perf-map names: "JS:*alpha /path/nodework.js:10:15" (V8 >= 10.x), "LazyCompile:*alpha
# ..." before; the marker says the tier (* optimized, ^ baseline, ~ interpreted, + maglev)
JS_NAME = re.compile(r"^(?:JS|LazyCompile|Function):[*~^+]?(\w+)(?: |$)")


def js_function(name):
    m = JS_NAME.match(name)
    return m.group(1) if m else None


def samples_of(path, tid=None):
    """(frames leaf first, count) of thread tid's samples; with tid None, (frames, count, tid)
    of every sample."""
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    strings, raw, locations, functions = [], [], {}, {}
    for num, v in fields(data):
        if num == 6:
            strings.append(v.decode("utf-8", "replace"))
        elif num == 2:
            raw.append(v)
        elif num == 4:
            loc_id, lines = 0, []
            for n, x in fields(v):
                if n == 1:
                    loc_id = x
                elif n == 4:
                    lines.append(dict(fields(x)).get(1, 0))
            locations[loc_id] = lines
        elif num == 5:
            f = dict(fields(v))
            functions[f.get(1, 0)] = f.get(2, 0)
    out = []
    for s in raw:
        locs, values, thread = [], [], None
        for n, x in fields(s):
            if n == 1:
                locs += ints(x)
            elif n == 2:
                values += ints(x)
            elif n == 3:
                label = dict(fields(x))
                if strings[label.get(1, 0)] == "thread_id":
                    thread = label.get(3, 0)
        if tid is not None and thread != tid:
            continue
        frames = []  # leaf first, inlined functions as frames of their own
        for lid in locs:
            # a frame without a name (a builtin of a libnode without .symtab) stays a frame
            frames += [strings[functions.get(f, 0)] or "??"
                       for f in locations.get(lid, [])] or ["[unnamed]"]
        count = values[0] if values else 0
        out.append((frames, count) if tid is not None else (frames, count, thread))
    return out


class Report:
    """One "ok:" or "FAIL:" line per check; failed once any check failed."""

    def __init__(self):
        self.failed = False

    def __call__(self, good, what):
        print(("ok: " if good else "FAIL: ") + what)
        self.failed |= not good


def check_complete(report, samples, roots, min_complete):
    """The share of samples ending at one of roots with no [truncated: ...] frame, checked,
    with the commonest other ends listed; the predicate is returned."""
    def is_complete(f):
        return bool(f) and f[-1] in roots and not any(x.startswith("[truncated") for x in f)

    total = sum(c for _, c in samples)
    done = sum(c for f, c in samples if is_complete(f))
    pct = 100.0 * done / total if total else 0
    report(pct >= min_complete,
           f"complete: {done} of {total} samples ({pct:.2f} %, minimum {min_complete:g} %)")
    ends = {}
    for f, c in samples:
        if not is_complete(f):
            end = next((x for x in f if x.startswith("[truncated")), "root " + (f[-1] if f else "?"))
            ends[end] = ends.get(end, 0) + c
    for end, c in sorted(ends.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    not complete: {c} x {end}")
    return is_complete


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    path, tid = sys.argv[1], int(sys.argv[2])
    min_complete = float(sys.argv[3]) if len(sys.argv) > 3 else 95.0
    samples = samples_of(path, tid)
    total = sum(c for _, c in samples)
    report = Report()
    in_loop = [(f, c) for f, c in samples if "main_loop" in map(js_function, f)]
    looped = sum(c for _, c in in_loop)
    report(total >= 100 and looped >= 0.8 * total,
           f"samples: {total} of the main thread, {looped} in main_loop")
    is_complete = check_complete(report, samples, ("_start",), min_complete)
    complete = [(f, c) for f, c in samples if is_complete(f)]
    wrong, alpha, sort, loop_done = [], 0, 0, 0
    for f, c in complete:
        js = [js_function(x) for x in f]
        if "main_loop" not in js:
            continue
        loop_done += c
        root = list(reversed(f))
        start = next((i for i, x in enumerate(root) if x.startswith("node::Start(")), -1)
        v8 = next((i for i, x in enumerate(root) if x.startswith("v8::")), -1)
        loop = len(f) - 1 - js.index("main_loop")  # the outermost main_loop, root first
        ok = 0 < start < v8 < loop
        if "alpha" in js:
            alpha += c
            ok = ok and js.index("alpha") < js.index("main_loop")
        if "cmp" in js:
            # the sort's builtin: named from node's .symtab, or an unnamed frame where libnode
            # has none (Debian's)
            i, j = js.index("cmp"), js.index("main_loop")
            ok = ok and any(x.startswith("Builtins_") or x == "[unnamed]" for x in f[i + 1:j])
        if "cmp" in js or "beta" in js or any("Sort" in x for x in f if x.startswith("Builtins_")):
            sort += c
        if not ok:
            wrong.append(";".join(reversed(f)))
    report(loop_done and not wrong and alpha >= 0.1 * loop_done and sort >= 0.1 * loop_done,
           f"chains: {loop_done} complete samples in main_loop, alpha {alpha}, the sort "
           f"{sort} (each >= 10 %), {len(wrong)} out of order")
    for w in wrong[:3]:
        print("    " + w)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
