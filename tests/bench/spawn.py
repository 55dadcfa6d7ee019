#!/usr/bin/env python3
"""Start short-lived processes at a steady rate: the load of tests/bench/churn.sh.

Usage: spawn.py --rate N --seconds S [--max-running M] [--min-cpu A --max-cpu B] -- CMD ARGS...
Runs CMD ARGS... X, with X a CPU time in seconds drawn at random in [A, B] for each process
(tests/fixtures/workload spins for that much of its own CPU time), N times a second for S
seconds: at most N * S processes and at most M at once (when M are running the next start waits
for one to end, so an overloaded machine slows the rate instead of piling processes up). On
SIGTERM, or at the end, kills the processes it started that still run, waits for them and prints
"started X, waited for the M running" on stdout.
"""
import argparse
import random
import signal
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--max-running", type=int, default=16)
    ap.add_argument("--min-cpu", type=float, default=0.02)
    ap.add_argument("--max-cpu", type=float, default=0.05)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or a.rate <= 0 or a.seconds <= 0 or a.max_running < 1:
        ap.error("a command, a positive rate and seconds and --max-running >= 1 are needed")

    stop = False

    def on_term(_sig, _frm):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    running = []
    started = 0
    limit = int(a.rate * a.seconds)
    start = time.monotonic()
    end = start + a.seconds
    while not stop and started < limit and time.monotonic() < end:
        running = [p for p in running if p.poll() is None]
        if len(running) >= a.max_running:
            time.sleep(0.002)
            continue
        # the schedule, not the previous start, decides when the next starts (no drift)
        due = start + started / a.rate
        now = time.monotonic()
        if now < due:
            time.sleep(min(due - now, 0.05))
            continue
        cpu = random.uniform(a.min_cpu, a.max_cpu)
        running.append(subprocess.Popen(cmd + ["%.3f" % cpu], stdout=subprocess.DEVNULL))
        started += 1
    left = [p for p in running if p.poll() is None]
    for p in left:
        p.kill()
    for p in left:
        p.wait()
    print("started %d, waited for the %d running" % (started, len(left)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
