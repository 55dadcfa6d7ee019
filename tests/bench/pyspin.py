# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python workload of tests/bench/bpf-cost.sh: a loop 20 Python frames deep, for SECONDS."""
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


deep(19, time.monotonic() + float(sys.argv[1]))
