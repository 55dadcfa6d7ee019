# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python workload of tests/bench/bpf-cost.sh and py-walk-cost.sh: a loop DEPTH Python
frames deep (20 unless given), for SECONDS."""
import sys
import time


def deep(n, end):
    if n:
        return deep(n - 1, end)
    x = 0
    while time.monotonic() < end:
        for i in range(1000):
            x += i
    return x


depth = int(sys.argv[2]) if len(sys.argv) > 2 else 20
deep(depth - 1, time.monotonic() + float(sys.argv[1]))
