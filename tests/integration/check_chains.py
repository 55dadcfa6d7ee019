#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the stacks of the unwinding workload (tests/fixtures/unwind_workload.c) in a folded
profile: every sample must carry the complete chain from its thread's first frame to the leaf.

Usage: check_chains.py FOLDED MIN_CORRECT_PERCENT [DEPTH]
With DEPTH other than the default the split is printed, not checked (short deep runs), and so
it is with CHAINS_SPLIT=0 in the environment (an emulated CPU, where the clock is a device).
Prints the share of correct chains and the CPU share of each task; exits 1 when the share of
correct chains or a task's share (within 6 points of the known split) is off.
"""
import os
import re
import sys

DEPTH = [24]  # the workload's recursion depth, set from the command line
SPLIT = {"exe_spin": 40, "lib_work": 30, "clock_work": 20, "sort_work": 10}
# the workload's own functions: none of them may appear where libc's belong
OWN = {"main", "run", "worker_main", "descend", "exe_spin", "lib_work", "clock_work",
       "sort_work", "cmp_ints", "lib_spin", "lib_rec", "lib_leaf", "now_ns"}
ROOTS = [
    # main thread: ld.so's entry hands over to _start in the executable
    ["_start", "__libc_start_main*", "__libc_start_call_main", "main", "run"],
    ["_start", "__libc_start_main*", "main", "run"],
    # the other thread: clone3 starts it in libc's start_thread
    ["__clone3", "start_thread", "worker_main", "run"],
    ["clone3", "start_thread", "worker_main", "run"],
]


def name_is(frame, pattern):
    if pattern.endswith("*"):
        return frame.startswith(pattern[:-1])
    return frame == pattern


def is_clock(frame):
    """libc's clock_gettime wrapper and the vDSO's implementation, under any of their names."""
    return "clock_gettime" in frame or frame in ("do_hres", "do_coarse", "vread_tsc")


def tail_ok(task, rest):
    """The frames below descend(0): the task and what it calls."""
    if not rest or rest[0] != task:
        return False
    below = rest[1:]
    # every task reads the clock between its chunks of work
    clock = below[1:] if below[:1] == ["now_ns"] else below
    if (not clock or all(is_clock(f) for f in clock)) and len(clock) <= 4 and below:
        return True
    if task == "exe_spin" or task == "clock_work":
        return not below
    if task == "lib_work":
        if not below:
            return True
        want = ["lib_spin"] + ["lib_rec"] * 6 + ["lib_leaf"]
        return below == want[:len(below)]
    if task == "sort_work":
        # libc's qsort and its helpers (names depend on its symbols), then maybe the callback
        if below and below[-1] == "cmp_ints":
            below = below[:-1]
        return all(f not in OWN for f in below) and "cmp_ints" not in below
    return False


# the dynamic loader before main: its entry (unnamed in a stripped ld.so) calls _dl_start; a
# whole chain of its own, sampled more often where startup is slow (a TCG guest)
LOADER = ["ld-linux-*", "_dl_start"]


# a process or thread at its first instructions (a sample as its exec or clone returns, in
# the loader's entry, unnamed, or at _start): the first frame is the whole chain
FIRST = [["ld-linux-*"], ["_start"], ["__clone3"], ["clone3"]]


# the main thread around run(): creating the worker, the exit handlers; libc's own frames
# below (a larger share where startup is slow: a TCG guest)
SETUP = [
    ["_start", "__libc_start_main*", "__libc_start_call_main", "main", "pthread_create*"],
    ["_start", "__libc_start_main*", "__libc_start_call_main", "exit"],
    ["_start", "__libc_start_main*", "__internal_atexit"],
]


def chain_ok(frames):
    if len(frames) >= 2 and all(name_is(f, p) for f, p in zip(frames, LOADER)):
        return True, None
    for root in SETUP:
        n = len(root)
        if len(frames) >= n and all(name_is(f, p) for f, p in zip(frames, root)):
            return all(f not in OWN for f in frames[n:]), None
    if any(len(frames) == 1 and name_is(frames[0], p[0]) for p in FIRST):
        return True, None
    for root in ROOTS:
        n = len(root)
        if len(frames) < n or not all(name_is(f, p) for f, p in zip(frames, root)):
            continue
        rest = frames[n:]
        # run() itself, or run() reading the clock (directly or through now_ns())
        clock = rest[1:] if rest[:1] == ["now_ns"] else rest
        if not rest or all(is_clock(f) for f in clock):
            return True, None
        d = 0
        while d < len(rest) and rest[d] == "descend":
            d += 1
        rest = rest[d:]
        # a sample in descend() itself, on the way down
        if not rest:
            return 1 <= d <= DEPTH[0] + 1, None
        if d != DEPTH[0] + 1:
            return False, None
        task = rest[0]
        return tail_ok(task, rest), task
    return False, None


def main():
    path, minimum = sys.argv[1], float(sys.argv[2])
    if len(sys.argv) > 3:
        DEPTH[0] = int(sys.argv[3])
    check_split = DEPTH[0] == 24 and os.environ.get("CHAINS_SPLIT") != "0"
    total = correct = 0
    tasks = dict.fromkeys(SPLIT, 0)
    bad = []
    for line in open(path):
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        count = int(count)
        # kernel frames (a sample taken in a system call or interrupt) sit at the leaf end
        frames = [f for f in stack.split(";") if not f.endswith("_[k]")]
        total += count
        ok, task = chain_ok(frames)
        if ok:
            correct += count
        else:
            bad.append((count, stack))
        if task in tasks:
            tasks[task] += count
    if total == 0:
        print("no samples")
        return 1
    share = 100.0 * correct / total
    print(f"{correct} of {total} samples carry the correct chain ({share:.2f} %)")
    worked = sum(tasks.values())
    failed = share < minimum
    for t, want in SPLIT.items():
        got = 100.0 * tasks[t] / worked if worked else 0
        flag = "" if abs(got - want) <= 6 or not check_split else "  <- off"
        failed |= bool(flag)
        print(f"  {t:10} {got:5.1f} % (expected {want} %){flag}")
    for count, stack in sorted(bad, reverse=True)[:5]:
        print(f"  wrong ({count}): {stack[-300:]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
