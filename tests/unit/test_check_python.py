#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-test of tests/integration/check_python.py: run the Python workload for real to get its
truth (chains, thread_time, lines), write synthetic pprof files from that truth with an encoder
of our own (field numbers of proto/profile.proto), and check that the checker passes the good
profile and fails each bad one for its own reason, and only that one.

Usage: test_check_python.py CHECK_PYTHON PYWORK PYTHON [SCORCH]
PYTHON runs the workload; SCORCH, when given, reads the good profile too (`scorch report`), so
the encoder here is checked against the project's own protobuf decoder.
"""
import contextlib
import copy
import gzip
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import threading

checker, pywork, python = sys.argv[1:4]
scorch = sys.argv[4] if len(sys.argv) > 4 else None
failures = 0
WORKLOAD_SECONDS = "1"
SAMPLES = 2000  # samples of the worker threads in a synthetic profile
OTHER_PID = 1  # a process whose samples are all wrong and must be ignored


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL: {msg}")


# --- a protobuf encoder, from proto/profile.proto's field numbers ---

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_int(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_packed(num, vals):
    return f_bytes(num, b"".join(varint(v) for v in vals))


class Pprof:
    """Profile (1 sample_type, 2 sample, 3 mapping, 4 location, 5 function, 6 string_table)."""

    def __init__(self):
        self.strings, self.sindex = [""], {"": 0}
        self.mappings, self.mapping_ids = [], {}
        self.functions, self.function_ids = [], {}
        self.locations, self.location_ids = [], {}
        self.samples = []
        self.addresses = {}

    def s(self, text):
        if text not in self.sindex:
            self.sindex[text] = len(self.strings)
            self.strings.append(text)
        return self.sindex[text]

    def mapping(self, filename):
        if filename not in self.mapping_ids:
            mid = len(self.mappings) + 1
            base = 0x10000000 * mid
            self.mappings.append(f_int(1, mid) + f_int(2, base) + f_int(3, base + 0x1000000)
                                 + f_int(5, self.s(filename)) + f_int(7, 1))
            self.mapping_ids[filename] = mid
        return self.mapping_ids[filename]

    def function(self, name, system_name, filename, start_line):
        key = (name, system_name, filename, start_line)
        if key not in self.function_ids:
            fid = len(self.functions) + 1
            self.functions.append(f_int(1, fid) + f_int(2, self.s(name))
                                  + f_int(3, self.s(system_name)) + f_int(4, self.s(filename))
                                  + f_int(5, start_line))
            self.function_ids[key] = fid
        return self.function_ids[key]

    def location(self, mapping, address, fid, line):
        key = (mapping, address, fid, line)
        if key not in self.location_ids:
            lid = len(self.locations) + 1
            msg = f_int(1, lid)
            if mapping:
                msg += f_int(2, mapping)
            if address:
                msg += f_int(3, address)
            msg += f_bytes(4, f_int(1, fid) + f_int(2, line))
            self.locations.append(msg)
            self.location_ids[key] = lid
        return self.location_ids[key]

    def frame(self, fr):
        """A location for a frame: ("py", qualname, name, file, firstlineno, line),
        ("native", name, mapping file), ("placeholder", name)."""
        if fr[0] == "py":
            _, q, name, filename, first, line = fr
            return self.location(0, 0, self.function(q, name, filename, first), line)
        if fr[0] == "placeholder":
            return self.location(0, 0, self.function(fr[1], fr[1], "", 0), 0)
        _, name, mapfile = fr
        mid = self.mapping(mapfile)
        addr = self.addresses.setdefault((mapfile, name),
                                         0x10000000 * mid + 0x100 * (len(self.addresses) + 1))
        return self.location(mid, addr, self.function(name, name, "", 0), 0)

    def sample(self, frames_root_first, count, pid, tid, comm="python3.11"):
        locs = [self.frame(f) for f in reversed(frames_root_first)]
        labels = [f_bytes(3, f_int(1, self.s("pid")) + f_int(3, pid)),
                  f_bytes(3, f_int(1, self.s("thread_id")) + f_int(3, tid)),
                  f_bytes(3, f_int(1, self.s("comm")) + f_int(2, self.s(comm)))]
        self.samples.append(f_packed(1, locs) + f_packed(2, [count, count * 10101010])
                            + b"".join(labels))

    def encode(self):
        self.s("samples"), self.s("count"), self.s("cpu"), self.s("nanoseconds")
        out = f_bytes(1, f_int(1, self.s("samples")) + f_int(2, self.s("count")))
        out += f_bytes(1, f_int(1, self.s("cpu")) + f_int(2, self.s("nanoseconds")))
        out += b"".join(f_bytes(2, m) for m in self.samples)
        out += b"".join(f_bytes(3, m) for m in self.mappings)
        out += b"".join(f_bytes(4, m) for m in self.locations)
        out += b"".join(f_bytes(5, m) for m in self.functions)
        out += f_int(12, 10101010)
        out += b"".join(f_bytes(6, s.encode()) for s in self.strings)
        return gzip.compress(out)


# --- synthetic stacks of the real workload ---

PY_EXE = "/usr/bin/python3.11"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
KERNEL = "[kernel.kallsyms]"


def functions_by_name(truth):
    out = {}
    for f in truth["functions"]:
        out.setdefault(f["qualname"], f)
    return out


def py_frame(truth, info, leaf_pick):
    """A Python frame of a chain; its line from dis's lines for the workload's functions."""
    fn = functions_by_name(truth).get(info["qualname"]) if info["file"] == truth["file"] else None
    if fn is None:
        line = info["firstlineno"] + 1
    elif leaf_pick is None:
        line = fn["lines"][len(fn["lines"]) // 2]
    else:
        line = fn["lines"][leaf_pick % len(fn["lines"])]
    return ["py", info["qualname"], info["name"], info["file"], info["firstlineno"], line]


def activity_stack(truth, act, leaf_pick, kernel_leaf):
    """Root first: the thread's native start, the Python frames with the C between them where
    CPython 3.11 has it (the thread's start, calling the target, sorted, a generator)."""
    frames = [["native", "clone3", LIBC], ["native", "start_thread", LIBC],
              ["native", "thread_run", PY_EXE], ["native", "_PyObject_Call", PY_EXE]]
    infos = act["frames"]
    for i, info in enumerate(infos):
        if i == act["entry_frames"] - 2:  # Thread.run calls the target through C
            frames.append(["native", "_PyFunction_Vectorcall", PY_EXE])
        if info["qualname"] == truth["sort"]["key"]:
            frames += [["native", "builtin_sorted", PY_EXE], ["native", "list_sort_impl", PY_EXE],
                       ["native", "method_vectorcall", PY_EXE]]
        if act["name"] == "generator" and i == len(infos) - 1:
            frames += [["native", "gen_iternext", PY_EXE], ["native", "gen_send_ex2", PY_EXE]]
        frames.append(py_frame(truth, info, leaf_pick if i == len(infos) - 1 else None))
    if kernel_leaf:
        frames += [["native", "asm_sysvec_apic_timer_interrupt", KERNEL],
                   ["native", "sysvec_apic_timer_interrupt", KERNEL]]
    return frames


def shares(truth):
    total = sum(a["thread_time"] for a in truth["activities"])
    return [a["thread_time"] / total for a in truth["activities"]]


def build(truth, mutate=None, weights=None, extra=None):
    """The good profile, or one whose workload stacks are changed by mutate(activity or None,
    frames) -> frames, or with the activities' samples in the proportions weights instead of
    their thread_time."""
    p = Pprof()
    mutate = mutate or (lambda act, frames: frames)
    pid = truth["pid"]
    for act, share in zip(truth["activities"], weights or shares(truth)):
        n = round(SAMPLES * share)
        leaf = functions_by_name(truth).get(act["chain"].split(";")[-1])
        variants = max(1, len(leaf["lines"]) if leaf else 1)
        for v in range(variants):
            count = n // variants + (1 if v < n % variants else 0)
            if not count:
                continue
            p.sample(mutate(act, activity_stack(truth, act, v, v % 3 == 0)), count, pid,
                     act["tid"])
    # tolerated: 1 % of samples in a thread's start (a prefix, no activity yet) and a few with
    # no Python frame at all
    boot = truth["activities"][0]
    start = activity_stack(truth, boot, None, False)[:4 + boot["entry_frames"] - 2]
    p.sample(mutate(None, start), SAMPLES // 100, pid, boot["tid"])
    p.sample([["native", "clone3", LIBC], ["native", "start_thread", LIBC]], 3, pid, boot["tid"])
    # the main thread waiting in join(), its frames with their real lines
    fns = functions_by_name(truth)
    main = [["native", "_start", PY_EXE], ["native", "Py_RunMain", PY_EXE]]
    for q in ("<module>", "main"):
        f = fns[q]
        main.append(["py", q, f["name"], truth["file"], f["firstlineno"], f["lines"][-1]])
    main += [["native", "lock_PyThread_acquire_lock", PY_EXE],
             ["native", "__futex_abstimed_wait_common", LIBC]]
    p.sample(mutate(None, main), 40, pid, pid)
    # another process: everything wrong, and ignored
    bad = copy.deepcopy(activity_stack(truth, boot, 0, False))
    bad.insert(6, ["native", "_PyEval_EvalFrameDefault", PY_EXE])
    for fr in bad:
        if fr[0] == "py":
            fr[4] += 1000
            fr[5] += 1000
    p.sample(bad, SAMPLES, OTHER_PID, boot["tid"])
    if extra:
        extra(p)
    return p.encode()


# --- running the checker ---

def run_checker(path, truth_path, *opts):
    r = subprocess.run([sys.executable, checker, path] + ([truth_path] if truth_path else [])
                       + list(opts), capture_output=True, text=True, timeout=120)
    verdicts = {}
    for line in r.stdout.splitlines():
        for word in ("ok", "FAIL"):
            if line.startswith(word + ": "):
                verdicts[line[len(word) + 2:].split(":")[0]] = word
    return r.returncode, verdicts, r.stdout + r.stderr


def expect(name, data, truth_path, failing, *opts, workdir):
    """The checker fails exactly the checks in failing (passes when it is empty)."""
    path = os.path.join(workdir, name.replace(" ", "_") + ".pb.gz")
    with open(path, "wb") as f:
        f.write(data)
    rc, verdicts, out = run_checker(path, truth_path, *opts)
    failed = {k for k, v in verdicts.items() if v == "FAIL"}
    want_rc = 1 if failing else 0
    if rc != want_rc or failed != set(failing) or not verdicts:
        fail(f"{name}: exit {rc} (want {want_rc}), failed {sorted(failed)} "
             f"(want {sorted(failing)})\n{out}")
    else:
        print(f"ok: {name}: exit {rc}, failed {sorted(failed) or 'nothing'}")
    return out


def check_truth(truth, stdout):
    """What the workload promises about itself."""
    if stdout != f"ready {truth['pid']}\ndone\n":
        fail(f"workload stdout is {stdout!r}, not 'ready {truth['pid']}' and 'done'")
    tids = {a["tid"] for a in truth["activities"]}
    if len(tids) != 2 or truth["pid"] in tids:
        fail(f"activities run on threads {sorted(tids)}: want two workers, not the main thread")
    for act, share in zip(truth["activities"], shares(truth)):
        chain = act["chain"].split(";")
        if share < 0.10:
            fail(f"activity '{act['name']}' has {100 * share:.1f} % of the CPU, under 10 %")
        if [f["qualname"] for f in act["frames"]] != chain:
            fail(f"activity '{act['name']}': frames and chain differ")
        if not 1 <= act["entry_frames"] <= len(chain):
            fail(f"activity '{act['name']}': entry_frames {act['entry_frames']} out of range")
        print(f"  truth: {act['name']} on {act['tid']}: {100 * share:.1f} % "
              f"({act['thread_time']:.3f} s): {act['chain']}")
    rec = [a for a in truth["activities"] if truth["recursion"]["function"] in a["chain"]]
    if len(rec) != 1 or rec[0]["chain"].split(";").count(truth["recursion"]["function"]) != \
            truth["recursion"]["depth"]:
        fail("the recursion's chain does not hold its depth")
    sort = [a for a in truth["activities"] if a["chain"].endswith(
        f"{truth['sort']['caller']};{truth['sort']['key']}")]
    if len(sort) != 1:
        fail("no activity ends in the sort caller and its key function")
    for f in truth["functions"]:
        if not f["lines"] or f["firstlineno"] < 1:
            fail(f"function {f['qualname']}: no lines or no first line")


def observe_workload(work):
    """The truth's chains seen a second way: the workload run in this process while a thread
    of ours reads the workers' frames with sys._current_frames(), as a sampler would."""
    spec = importlib.util.spec_from_file_location("pywork", pywork)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    truth_path = os.path.join(work, "observed.json")
    seen = {}  # (thread name, chain) -> times
    lines = {}  # (qualname, co_firstlineno, f_lineno) of the workload's frames -> times
    stop = threading.Event()

    def sampler():
        for _ in range(100000):
            if stop.wait(0.002):
                return
            idents = {t.ident: t.name for t in threading.enumerate()
                      if t.name in mod.WEIGHTS}
            for ident, frame in sys._current_frames().items():
                if ident not in idents:
                    continue
                chain = []
                while frame is not None and len(chain) < 1000:
                    code = frame.f_code
                    chain.append(mod.qualname(code))
                    if code.co_filename == mod.MODULE_CODE.co_filename:
                        k = (chain[-1], code.co_firstlineno, frame.f_lineno)
                        lines[k] = lines.get(k, 0) + 1
                    frame = frame.f_back
                key = (idents[ident], ";".join(reversed(chain)))
                seen[key] = seen.get(key, 0) + 1

    t = threading.Thread(target=sampler, name="sampler")
    t.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            rc = mod.main(["pywork.py", WORKLOAD_SECONDS, truth_path])
    finally:
        stop.set()
        t.join()
    if rc != 0:
        fail(f"pywork.main() in this process returned {rc}")
        return
    with open(truth_path) as f:
        truth = json.load(f)
    chains = {(a["thread"], a["chain"]) for a in truth["activities"]}
    total = sum(seen.values())
    match = sum(n for k, n in seen.items() if k in chains)
    share = 100.0 * match / total if total else 0.0
    # a thread yields the GIL, and so is looked at, only where the interpreter checks for it
    # (calls, loops' back edges): more often between chunks than its time there says, so the
    # bar is lower than a profiler's
    if share < 80:
        worst = sorted(((n, k) for k, n in seen.items() if k not in chains), reverse=True)[:3]
        fail(f"sys._current_frames() saw the truth's chains in {match} of {total} looks at the "
             f"workers ({share:.1f} %), want 80 %: {worst}")
    else:
        print(f"ok: sys._current_frames() sees the truth's chains in {match} of {total} looks "
              f"at the workers ({share:.1f} %)")
    for a in truth["activities"]:
        if not any(k == (a["thread"], a["chain"]) for k in seen):
            fail(f"sys._current_frames() never saw activity '{a['name']}': {a['chain']}")
    # the lines Python itself gives its frames are the truth's lines of their functions
    fns = {}
    for f in truth["functions"]:
        fns.setdefault(f["qualname"], []).append(f)
    bad = [(k, n) for k, n in lines.items()
           if not any(k[1] == f["firstlineno"]
                      and (k[2] in f["lines"] or (k[2] is None and f["lineless"]))
                      for f in fns.get(k[0], []))]
    if bad or not lines:
        fail(f"frames whose first line or f_lineno is not the truth's: {bad[:5]}")
    else:
        print(f"ok: {sum(lines.values())} frames of the workload seen by sys._current_frames() "
              f"have the truth's first line and one of its lines")


def main():
    with tempfile.TemporaryDirectory(prefix="check_python.") as work:
        truth_path = os.path.join(work, "truth.json")
        r = subprocess.run([python, pywork, WORKLOAD_SECONDS, truth_path], capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            fail(f"pywork.py exited {r.returncode}: {r.stderr.strip()}")
            return 1
        with open(truth_path) as f:
            truth = json.load(f)
        check_truth(truth, r.stdout)
        observe_workload(work)
        acts = {a["name"]: a for a in truth["activities"]}
        rec_fn = truth["recursion"]["function"]
        caller, key = truth["sort"]["caller"], truth["sort"]["key"]

        expect("good profile", build(truth), truth_path, [], workdir=work)
        if scorch:
            good_path = os.path.join(work, "good_profile.pb.gz")
            r = subprocess.run([scorch, "report", "--top", "1000", good_path], capture_output=True, text=True,
                               timeout=120)
            if r.returncode != 0 or truth["sort"]["key"] not in r.stdout:
                fail(f"scorch report of the good profile: exit {r.returncode}, "
                     f"{truth['sort']['key']} {'' if truth['sort']['key'] in r.stdout else 'not '}"
                     f"shown\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
            else:
                print("ok: scorch report reads the good profile")

        def depth(delta):
            def mutate(act, frames):
                if act is None or act["name"] != "recursion":
                    return frames
                i = next(i for i, f in enumerate(frames) if f[0] == "py" and f[1] == rec_fn)
                if delta > 0:
                    return frames[:i] + [list(frames[i])] * delta + frames[i:]
                return frames[:i] + frames[i - delta:]
            return mutate

        expect("recursion one frame deeper", build(truth, depth(1)), truth_path, ["chains"],
               workdir=work)
        expect("recursion one frame shallower", build(truth, depth(-1)), truth_path,
               ["chains"], workdir=work)

        def extra_leaf(act, frames):
            return frames + [frames[-1]] if act and act["name"] == "closure" else frames

        def no_kernel_extra_leaf(act, frames):
            frames = [f for f in frames if f[0] != "native" or f[2] != KERNEL]
            return extra_leaf(act, frames)

        expect("a frame too many below the leaf", build(truth, no_kernel_extra_leaf),
               truth_path, ["chains"], workdir=work)

        # the split: 8 points moved from the last activity to the first
        w = shares(truth)
        w[0], w[-1] = w[0] + 0.08, w[-1] - 0.08
        expect("split off by 8 points", build(truth, weights=w), truth_path, ["split"],
               workdir=work)
        w = shares(truth)
        w[0], w[-1] = w[0] + 0.03, w[-1] - 0.03
        expect("split off by 3 points", build(truth, weights=w), truth_path, [], workdir=work)
        expect("split off by 3 points, tolerance 2", build(truth, weights=w), truth_path,
               ["split"], "--split-tol", "2", workdir=work)

        fns = functions_by_name(truth)

        def line_of(qual, value):
            def mutate(act, frames):
                return [f[:5] + [value(f)] if f[0] == "py" and f[1] == qual else f
                        for f in frames]
            return mutate

        key_fn = fns[key]
        expect("a line outside the key function", build(
            truth, line_of(key, lambda f: max(key_fn["lines"]) + 1)), truth_path, ["lines"],
            workdir=work)
        # line 0 ("unknown") where every instruction has a line, and where some have none
        chained = [f for a in truth["activities"] for f in a["frames"]
                   if f["file"] == truth["file"]]
        with_lines = [f["qualname"] for f in chained if not fns[f["qualname"]]["lineless"]]
        lineless = [f["qualname"] for f in chained if fns[f["qualname"]]["lineless"]]
        expect(f"line 0 in {with_lines[-1]}", build(truth, line_of(with_lines[-1], lambda f: 0)),
               truth_path, ["lines"], workdir=work)
        if lineless:
            expect(f"line 0 in {lineless[0]}, which has instructions without a line",
                   build(truth, line_of(lineless[0], lambda f: 0)), truth_path, [],
                   workdir=work)
        else:
            fail("no function of the chains has instructions without a line")
        # a line of another function of the file (the recursion's) in the key function
        other = [n for n in fns[rec_fn]["lines"] if n not in key_fn["lines"]][0]
        expect("another function's line", build(truth, line_of(key, lambda f: other)),
               truth_path, ["lines"], workdir=work)

        def start_line(act, frames):
            return [f[:4] + [f[4] + 1, f[5]] if f[0] == "py" and f[1] == rec_fn else f
                    for f in frames]

        expect("a wrong first line", build(truth, start_line), truth_path, ["lines"],
               workdir=work)

        def eval_frame(act, frames):
            if act is None or act["name"] != "closure":
                return frames
            i = max(i for i, f in enumerate(frames) if f[0] == "py")
            return frames[:i] + [["native", "_PyEval_EvalFrameDefault", PY_EXE]] + frames[i:]

        expect("_PyEval_EvalFrameDefault left in", build(truth, eval_frame), truth_path,
               ["eval-frame"], workdir=work)

        def eval_frame_cold(act, frames):
            if act is None or act["name"] != "generator":
                return frames
            return frames + [["native", "_PyEval_EvalFrameDefault.cold", PY_EXE]]

        expect("_PyEval_EvalFrameDefault.cold left in", build(truth, eval_frame_cold),
               truth_path, ["eval-frame"], workdir=work)

        def no_native_between(act, frames):
            if act is None or act["name"] != "sort":
                return frames
            i = next(i for i, f in enumerate(frames) if f[0] == "py" and f[1] == caller)
            j = next(i for i, f in enumerate(frames) if f[0] == "py" and f[1] == key)
            return frames[:i + 1] + frames[j:]

        expect("nothing native between the sort and its key", build(truth, no_native_between),
               truth_path, ["sorted"], workdir=work)

        # the same thread id in another process is not the workload's
        def elsewhere(p):
            for _ in range(3):
                p.sample(activity_stack(truth, acts["recursion"], 0, False), SAMPLES,
                         OTHER_PID + 1, acts["recursion"]["tid"])

        expect("a busy other process", build(truth, extra=elsewhere), truth_path, [],
               workdir=work)

        # the agent's uploads: a directory of profiles read together
        updir = os.path.join(work, "uploads")
        os.mkdir(updir)
        half = [s / 2 for s in shares(truth)]
        for i in range(2):
            with open(os.path.join(updir, f"scorch-{i}.pb.gz"), "wb") as f:
                f.write(build(truth, weights=half))
        rc, verdicts, out = run_checker(updir, truth_path)
        if rc != 0 or "FAIL" in verdicts.values() or len(verdicts) < 6:
            fail(f"a directory of two profiles: exit {rc}\n{out}")
        else:
            print("ok: a directory of two profiles passes")

        # degrading to native stacks
        def native_only(act, frames):
            return [f for f in frames if f[0] == "native"]

        nat = build(truth, native_only)
        expect("native stacks, as native", nat, truth_path, [], "--expect-native-only",
               workdir=work)
        expect("native stacks, as native, by --pid", nat, None, [], "--expect-native-only",
               "--pid", str(truth["pid"]), workdir=work)
        expect("native stacks, as Python", nat, truth_path, ["chains", "split", "lines",
                                                             "sorted", "eval-frame"],
               workdir=work)
        expect("Python stacks, as native", build(truth), truth_path, ["no-python"],
               "--expect-native-only", workdir=work)

        def unreadable(act, frames):
            return native_only(act, frames) + [["placeholder", "[python frame unreadable]"]]

        expect("a Python placeholder, as native", build(truth, unreadable), truth_path,
               ["no-python"], "--expect-native-only", workdir=work)

        def user_lost(p):
            for i in range(SAMPLES):
                p.sample([["placeholder", "[user stack lost: read fault]"]], 1, truth["pid"],
                         truth["pid"])

        expect("mostly lost stacks, as native", build(truth, native_only, extra=user_lost),
               truth_path, ["native"], "--expect-native-only", workdir=work)

        # a file cut short, and one that is no profile at all
        good = gzip.decompress(build(truth))
        expect("a profile cut in half", gzip.compress(good[:len(good) // 2]), truth_path,
               ["decode"], workdir=work)
        # the string table comes last: this cuts its last string, which a reader that trusts
        # lengths would take for a shorter one
        expect("a profile short of two bytes", gzip.compress(good[:-2]), truth_path,
               ["decode"], workdir=work)
        expect("not a profile", b"\x1f\x8bnot gzip", truth_path, ["decode"], workdir=work)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
