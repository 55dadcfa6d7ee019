#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the Python frames of a profile of tests/fixtures/pywork.py against the truth the
workload wrote about itself. The pprof is read with tests/pprof_folded.py's decoder (no
protobuf library).

Usage: check_python.py PROFILE TRUTH.json [--min-chain 95] [--split-tol 5]
       check_python.py PROFILE [TRUTH.json] --expect-native-only [--pid PID] [--min-chain 95]

PROFILE is a pprof file (gzipped or not) or a directory whose *.pb.gz and *.pb files are read
together (the agent's uploads). Only the samples whose pid label is the workload's count.
A Python frame is a location without mapping or address whose function's file is the
workload's, ends in .py or starts with "<frozen"; a placeholder ("[python frame unreadable]")
is one without mapping or address and without a file.

The checks, one "ok:" or "FAIL:" line each with its numbers (exit 1 on any failure):
  samples     the workload has samples, some on its worker threads
  chains      >= min-chain % of the worker threads' samples carry, root first, exactly the
              Python chain of one of their thread's activities (the recursion at its depth)
  split       each activity's share of the samples is within split-tol points of its share
              of thread_time
  lines       every Python frame of the workload's file has its function's name, first line
              (co_firstlineno) and a line that dis.findlinestarts() gives for the function
              (or line 0, "unknown", in a function with instructions that have no line)
  sorted      between the frame that calls sorted() and the key function it calls back there
              is a native frame (the C of sorted), in every sample that has both
  eval-frame  no _PyEval_EvalFrameDefault remains in a sample that has Python frames
  (those two allow --max-odd %, default 0.5: samples caught in the interpreter's prologue)
With --expect-native-only (an interpreter scorch does not support): samples exist, >= min-chain
% of them carry a native frame (one with a mapping), and none has a Python frame or a Python
placeholder.
"""
import argparse
import gzip
import json
import os
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pprof_folded import fields, ints  # noqa: E402

EVAL_FRAME = "_PyEval_EvalFrameDefault"
MAX_PROFILES = 10000  # files read from a directory
MAX_SHOWN = 5  # examples printed under a failed check


class ProfileError(Exception):
    pass


class Frame:
    __slots__ = ("kind", "name", "system_name", "filename", "start_line", "line", "mapping")

    def __init__(self, kind, name, system_name="", filename="", start_line=0, line=0,
                 mapping=0):
        self.kind = kind  # "python", "native" or "placeholder"
        self.name = name
        self.system_name = system_name
        self.filename = filename
        self.start_line = start_line
        self.line = line
        self.mapping = mapping


class Sample:
    __slots__ = ("frames", "count", "pid", "tid")

    def __init__(self, frames, count, pid, tid):
        self.frames = frames  # leaf first, as in the profile
        self.count = count
        self.pid = pid
        self.tid = tid

    def chain(self):
        """The Python frames and Python placeholders, root first."""
        return [f.name for f in reversed(self.frames)
                if f.kind == "python" or is_python_placeholder(f)]


def is_python_file(filename, workload_file):
    return (filename == workload_file or filename.endswith(".py")
            or filename.startswith("<frozen"))


def is_python_placeholder(frame):
    return frame.kind == "placeholder" and "python" in frame.name.lower()


def string(strings, i):
    if not 0 <= i < len(strings):
        raise ProfileError(f"string index {i} out of range ({len(strings)} strings)")
    return strings[i]


def decode(data, workload_file):
    """The samples of one pprof, their frames resolved."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ProfileError(f"bad gzip: {e}") from e
    strings, raw_samples, sample_types = [], [], []
    locations, functions = {}, {}
    try:
        for num, v in fields(data):
            if num == 6:
                strings.append(v.decode("utf-8", "replace"))
            elif num == 1:
                sample_types.append(dict(fields(v)).get(1, 0))
            elif num == 2:
                raw_samples.append(v)
            elif num == 4:
                loc = {"id": 0, "mapping": 0, "address": 0, "lines": []}
                for n, x in fields(v):
                    if n == 1:
                        loc["id"] = x
                    elif n == 2:
                        loc["mapping"] = x
                    elif n == 3:
                        loc["address"] = x
                    elif n == 4:
                        line = dict(fields(x))
                        loc["lines"].append((line.get(1, 0), line.get(2, 0)))
                locations[loc["id"]] = loc
            elif num == 5:
                functions[dict(fields(v)).get(1, 0)] = dict(fields(v))
    except (IndexError, ValueError) as e:
        raise ProfileError(f"malformed protobuf: {e}") from e

    value_index = 0
    for i, t in enumerate(sample_types):
        if string(strings, t) == "samples":
            value_index = i

    def function(fid):
        f = functions.get(fid)
        if f is None:
            raise ProfileError(f"function {fid} missing")
        return (string(strings, f.get(2, 0)), string(strings, f.get(3, 0)),
                string(strings, f.get(4, 0)), f.get(5, 0))

    def frames_of(lid):
        loc = locations.get(lid)
        if loc is None:
            raise ProfileError(f"location {lid} missing")
        out = []
        native = loc["mapping"] != 0 or loc["address"] != 0
        for fid, line in loc["lines"]:
            name, system_name, filename, start_line = function(fid)
            if native:
                kind = "native"
            elif is_python_file(filename, workload_file):
                kind = "python"
            else:
                kind = "placeholder"
            out.append(Frame(kind, name, system_name, filename, start_line, line,
                             loc["mapping"]))
        if not out:
            out.append(Frame("native" if native else "placeholder", "??",
                             mapping=loc["mapping"]))
        return out

    samples = []
    try:
        for raw in raw_samples:
            locs, values, pid, tid = [], [], None, None
            for n, x in fields(raw):
                if n == 1:
                    locs += ints(x)
                elif n == 2:
                    values += ints(x)
                elif n == 3:
                    label = dict(fields(x))
                    key = string(strings, label.get(1, 0))
                    if key == "pid":
                        pid = label.get(3, 0)
                    elif key == "thread_id":
                        tid = label.get(3, 0)
            frames = []
            for lid in locs:
                frames += frames_of(lid)
            count = values[value_index] if value_index < len(values) else 0
            samples.append(Sample(frames, count, pid, tid))
    except (IndexError, ValueError) as e:
        raise ProfileError(f"malformed sample: {e}") from e
    return samples


def read_profiles(path, workload_file):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith((".pb.gz", ".pb")))
        if len(names) > MAX_PROFILES:
            raise ProfileError(f"'{path}' holds {len(names)} profiles, more than "
                               f"{MAX_PROFILES}")
        paths = [os.path.join(path, n) for n in names]
        if not paths:
            raise ProfileError(f"no *.pb.gz or *.pb file in '{path}'")
    else:
        paths = [path]
    samples = []
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        try:
            samples += decode(data, workload_file)
        except ProfileError as e:
            raise ProfileError(f"'{p}': {e}") from e
    return samples


class Report:
    def __init__(self):
        self.failed = False

    def check(self, name, good, text, details=()):
        print(f"{'ok' if good else 'FAIL'}: {name}: {text}")
        if not good:
            self.failed = True
            for d in list(details)[:MAX_SHOWN]:
                print(f"  {d}")


def pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


def check_chains(report, truth, workers, min_chain):
    want = {}  # tid -> the chains of its activities
    for a in truth["activities"]:
        want.setdefault(a["tid"], []).append(a["chain"].split(";"))
    total = correct = 0
    wrong = {}
    for s in workers:
        chain = s.chain()
        total += s.count
        if chain in want[s.tid]:
            correct += s.count
        else:
            key = ";".join(chain) or "(no Python frame)"
            wrong[key] = wrong.get(key, 0) + s.count
    share = pct(correct, total)
    report.check("chains", total > 0 and share >= min_chain,
                 f"{correct} of {total} samples of the worker threads ({share:.2f} %) carry an "
                 f"expected Python chain (minimum {min_chain:g} %)",
                 [f"wrong ({n}): {c[-300:]}" for c, n in
                  sorted(wrong.items(), key=lambda kv: -kv[1])])


def check_split(report, truth, workers, tol):
    acts = truth["activities"]
    counts = dict.fromkeys(range(len(acts)), 0)
    for s in workers:
        chain = s.chain()
        for i, a in enumerate(acts):
            prefix = a["chain"].split(";")[:a["entry_frames"]]
            if s.tid == a["tid"] and chain[:len(prefix)] == prefix:
                counts[i] += s.count
                break
    attributed = sum(counts.values())
    cpu = sum(a["thread_time"] for a in acts)
    parts, off = [], []
    for i, a in enumerate(acts):
        got, expected = pct(counts[i], attributed), pct(a["thread_time"], cpu)
        parts.append(f"{a['name']} {got:.1f} % (thread_time {expected:.1f} %)")
        if abs(got - expected) > tol:
            off.append(f"{a['name']}: {counts[i]} samples, {got:.1f} % against "
                       f"{expected:.1f} % of thread_time")
    good = attributed > 0 and cpu > 0 and not off
    report.check("split", good, f"{', '.join(parts)}; {attributed} samples, tolerance "
                 f"{tol:g} points", off or ["no sample attributed to an activity"])


def check_lines(report, truth, samples):
    by_name = {}
    for f in truth["functions"]:
        by_name.setdefault(f["qualname"], []).append(f)
    checked = bad = 0
    details = {}
    for s in samples:
        for fr in s.frames:
            if fr.kind != "python" or fr.filename != truth["file"]:
                continue
            checked += s.count
            known = by_name.get(fr.name, [])
            if any(fr.system_name == k["name"] and fr.start_line == k["firstlineno"]
                   and (fr.line in k["lines"] or (fr.line == 0 and k.get("lineless")))
                   for k in known):
                continue
            bad += s.count
            if known:
                why = "; ".join(f"truth name {k['name']}, first line {k['firstlineno']}, "
                                f"lines {k['lines']}" for k in known)
            else:
                why = "no function of that name in the file"
            d = (f"{fr.name} (name {fr.system_name}) start_line {fr.start_line} line "
                 f"{fr.line}: {why}")
            details[d] = details.get(d, 0) + s.count
    name = os.path.basename(truth["file"])
    report.check("lines", checked > 0 and bad == 0,
                 f"{checked - bad} of {checked} Python frames of {name} have their function's "
                 "name, first line and a line from dis.findlinestarts()",
                 [f"({n}) {d}" for d, n in sorted(details.items(), key=lambda kv: -kv[1])]
                 or ["no Python frame of the workload's file"])


def odd_ok(bad, total, max_odd):
    """At most max_odd % of total may be odd: a sample in the interpreter's prologue, after
    tstate->cframe points to the new C frame and before its current_frame is set, reads a
    frame pointer the C stack held before (CPython 3.11 ceval.c), a window no outside reader
    can close."""
    return bad * 100 <= total * max_odd


def check_sorted(report, truth, samples, max_odd):
    caller, key = truth["sort"]["caller"], truth["sort"]["key"]
    between = missing = 0
    shown = []
    for s in samples:
        py = [i for i, f in enumerate(s.frames) if f.kind == "python"]
        # leaf first: the key function sits just before its caller among the Python frames
        for a, b in zip(py, py[1:]):
            if s.frames[a].name != key or s.frames[b].name != caller:
                continue
            if any(f.mapping != 0 for f in s.frames[a + 1:b]):
                between += s.count
            else:
                missing += s.count
                shown.append(";".join(f.name for f in reversed(s.frames))[-300:])
    report.check("sorted", between > 0 and odd_ok(missing, between + missing, max_odd),
                 f"{between} of {between + missing} samples in {key} called from {caller} "
                 "have a native frame between the two",
                 shown or [f"no sample with {key} called from {caller}"])


def is_eval_frame(frame):
    return frame.kind == "native" and (frame.name == EVAL_FRAME
                                       or frame.name.startswith(EVAL_FRAME + "."))


def check_eval_frame(report, samples, max_odd):
    with_python = left = 0
    shown = []
    for s in samples:
        if not any(f.kind == "python" for f in s.frames):
            continue
        with_python += s.count
        if any(is_eval_frame(f) for f in s.frames):
            left += s.count
            shown.append(";".join(f.name for f in reversed(s.frames))[-300:])
    report.check("eval-frame", with_python > 0 and odd_ok(left, with_python, max_odd),
                 f"{left} of {with_python} samples with Python frames still have "
                 f"{EVAL_FRAME}", shown or ["no sample with Python frames"])


def check_native_only(report, samples, min_chain):
    total = sum(s.count for s in samples)
    report.check("samples", total > 0, f"{total} samples of the process")
    native = sum(s.count for s in samples if any(f.mapping != 0 for f in s.frames))
    share = pct(native, total)
    report.check("native", total > 0 and share >= min_chain,
                 f"{native} of {total} samples ({share:.2f} %) carry a native frame "
                 f"(minimum {min_chain:g} %)")
    python = 0
    shown = []
    for s in samples:
        if any(f.kind == "python" or is_python_placeholder(f) for f in s.frames):
            python += s.count
            shown.append(";".join(f.name for f in reversed(s.frames))[-300:])
    report.check("no-python", python == 0,
                 f"{python} samples carry Python frames or Python placeholders", shown)


def main(argv):
    ap = argparse.ArgumentParser(description="Check the Python frames of a pywork.py profile.")
    ap.add_argument("profile", help="pprof file, or a directory of them")
    ap.add_argument("truth", nargs="?", help="the truth JSON pywork.py wrote")
    ap.add_argument("--min-chain", type=float, default=95.0, metavar="PERCENT")
    ap.add_argument("--split-tol", type=float, default=5.0, metavar="POINTS")
    ap.add_argument("--max-odd", type=float, default=0.5, metavar="PERCENT",
                    help="samples allowed to break the sorted and eval-frame checks")
    ap.add_argument("--expect-native-only", action="store_true")
    ap.add_argument("--pid", type=int, help="with --expect-native-only and no truth: the "
                    "process whose samples count (default: every sample)")
    args = ap.parse_args(argv[1:])
    if not args.truth and not args.expect_native_only:
        ap.error("TRUTH.json is needed unless --expect-native-only")
    if not 0 <= args.min_chain <= 100 or not 0 <= args.split_tol <= 100:
        ap.error("--min-chain and --split-tol are percentages, 0-100")

    truth = None
    if args.truth:
        try:
            with open(args.truth) as f:
                truth = json.load(f)
            for k in ("pid", "file", "activities", "functions", "sort"):
                truth[k]
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"FAIL: truth: cannot use '{args.truth}': {e!r}")
            return 1
    report = Report()
    try:
        samples = read_profiles(args.profile, truth["file"] if truth else None)
    except (OSError, ProfileError) as e:
        print(f"FAIL: decode: {e}")
        return 1

    pid = truth["pid"] if truth else args.pid
    if pid is not None:
        samples = [s for s in samples if s.pid == pid]
    if args.expect_native_only:
        check_native_only(report, samples, args.min_chain)
        return 1 if report.failed else 0

    tids = {a["tid"] for a in truth["activities"]}
    workers = [s for s in samples if s.tid in tids]
    total, on_workers = sum(s.count for s in samples), sum(s.count for s in workers)
    report.check("samples", on_workers > 0,
                 f"{total} samples of pid {pid}, {on_workers} on its worker threads "
                 f"{sorted(tids)}")
    check_chains(report, truth, workers, args.min_chain)
    check_split(report, truth, workers, args.split_tol)
    check_lines(report, truth, samples)
    check_sorted(report, truth, samples, args.max_odd)
    check_eval_frame(report, samples, args.max_odd)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
