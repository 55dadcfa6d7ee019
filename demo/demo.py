# SPDX-License-Identifier: LGPL-2.1-or-later
"""The demo's Python part: a word ranker in pure Python that also calls the demo's shared
library through ctypes, so that a capture shows Python functions with their lines, and the C
library's frames under the Python frame that called them.

Usage: python3 demo.py LIBSCORCH_DEMO_SO [SECONDS]
"""
import ctypes
import sys
import time


def tokenize(text):
    return [w.strip(".,").lower() for w in text.split()]


def score(words):
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + len(w)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def checksum(lib, data):
    return lib.demo_checksum(data, len(data))


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.demo_checksum.restype = ctypes.c_uint32
    lib.demo_checksum.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    text = "The quick brown fox jumps over the lazy dog, again and again. " * 200
    blob = text.encode() * 4
    end = time.monotonic() + secs
    total = 0
    while time.monotonic() < end:
        total += len(score(tokenize(text)))
        total ^= checksum(lib, blob)
    print(total & 0xFF)


if __name__ == "__main__":
    main()
