#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check a profile of tests/fixtures/JavaWork.java (java -XX:+PreserveFramePointer, its perf
map written by jcmd PID Compiler.perfmap): the stacks of the thread that runs mainLoop are
complete from the thread's start through the JVM's C++ into the Java frames the perf map names.
The pprof is read with check_node.py's decoder (tests/pprof_folded.py's fields).

Usage: check_java.py PROFILE [MIN_COMPLETE_PERCENT]

The thread counted is the one with the most samples in JavaWork's methods (Java's main runs on
a thread of its own, not the process's first). One "ok:" or "FAIL:" line per check, exit 1 on
any failure:
  samples    that thread has samples, most of them (>= 80 %) in JavaWork's methods
  complete   >= MIN_COMPLETE_PERCENT (default 95) of them end at the thread's start (clone3)
             with no [truncated: ...] frame
  chains     in the complete ones, root first: start_thread, JavaMain, JavaCalls::call_helper,
             then the Java frames; JavaWork.alpha and the sort (JavaWork.beta or
             java.util.Arrays.sort) each take >= 10 %
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_node import Report, check_complete, samples_of  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    min_complete = float(sys.argv[2]) if len(sys.argv) > 2 else 95.0
    every = samples_of(sys.argv[1])
    own = {}
    for f, c, t in every:
        if any("JavaWork." in x for x in f):
            own[t] = own.get(t, 0) + c
    tid = max(own, key=own.get) if own else None
    samples = [(f, c) for f, c, t in every if t == tid]
    total = sum(c for _, c in samples)
    report = Report()
    mine = own.get(tid, 0)
    report(total >= 100 and mine >= 0.8 * total,
           f"samples: {total} of thread {tid}, {mine} in JavaWork's methods")
    is_complete = check_complete(report, samples, ("__clone3", "clone3", "clone"), min_complete)
    wrong, alpha, sort, java = [], 0, 0, 0
    for f, c in samples:
        if not is_complete(f) or not any("JavaWork." in x for x in f):
            continue
        java += c
        root = list(reversed(f))
        at = [next((i for i, x in enumerate(root) if x.startswith(p)), -1)
              for p in ("start_thread", "JavaMain", "JavaCalls::call_helper")]
        first_java = next((i for i, x in enumerate(root) if "JavaWork." in x), -1)
        if not (0 <= at[0] < at[1] < at[2] < first_java):
            wrong.append(";".join(root))
        if any("JavaWork.alpha" in x for x in f):
            alpha += c
        if any("JavaWork.beta" in x or "java.util.Arrays.sort" in x for x in f):
            sort += c
    report(java and not wrong and alpha >= 0.1 * java and sort >= 0.1 * java,
           f"chains: {java} complete samples in JavaWork, alpha {alpha}, the sort {sort} "
           f"(each >= 10 %), {len(wrong)} out of order")
    for w in wrong[:3]:
        print("    " + w)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
