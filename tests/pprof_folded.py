#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turn a pprof file into folded stacks, an independent reader written from the profile.proto
field numbers (no protobuf library): root first, kernel frames (mapping [kernel.kallsyms] or a
[module]) marked _[k], inlined functions as frames of their own.

Usage: pprof_folded.py PROFILE [COMM_REGEX]   only samples whose comm label matches
"""
import gzip
import re
import sys


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def fields(buf):
    """(field number, value) pairs; length-delimited values are bytes. A value that runs past
    its message is refused: a profile cut short must not pass for a smaller one."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError(f"field {num}: {n} bytes past the end of its message")
            v, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            if i + n > len(buf):
                raise ValueError(f"field {num}: fixed value past the end of its message")
            v, i = int.from_bytes(buf[i:i + n], "little"), i + n
        else:
            raise ValueError(f"field {num}: wire type {wire}")
        yield num, v


def ints(v):
    """A repeated integer field: packed (bytes) or one value."""
    if isinstance(v, int):
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def main():
    data = open(sys.argv[1], "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    comm_re = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    strings, samples, mappings, locations, functions = [], [], {}, {}, {}
    for num, v in fields(data):
        if num == 6:
            strings.append(v.decode("utf-8", "replace"))
        elif num == 2:
            samples.append(v)
        elif num == 3:
            m = dict(fields(v))
            mappings[m.get(1, 0)] = m.get(5, 0)
        elif num == 4:
            loc = {"lines": []}
            for n, x in fields(v):
                if n == 1:
                    loc["id"] = x
                elif n == 2:
                    loc["mapping"] = x
                elif n == 4:
                    loc["lines"].append(dict(fields(x)).get(1, 0))
            locations[loc.get("id", 0)] = loc
        elif num == 5:
            f = dict(fields(v))
            functions[f.get(1, 0)] = f.get(2, 0)
    out = {}
    for s in samples:
        locs, values, comm = [], [], ""
        for n, x in fields(s):
            if n == 1:
                locs += ints(x)
            elif n == 2:
                values += ints(x)
            elif n == 3:
                label = dict(fields(x))
                if strings[label.get(1, 0)] == "comm":
                    comm = strings[label.get(2, 0)]
        if comm_re and not comm_re.search(comm):
            continue
        frames = []
        for lid in locs:
            loc = locations[lid]
            mapping = strings[mappings.get(loc.get("mapping", 0), 0)] if loc.get("mapping") else ""
            kernel = mapping.startswith("[") and mapping not in ("[vdso]", "[anon]")
            names = [strings[functions.get(f, 0)] or "??" for f in loc["lines"]] or ["??"]
            frames += [n + ("_[k]" if kernel else "") for n in names]
        key = ";".join(reversed(frames))
        out[key] = out.get(key, 0) + (values[0] if values else 0)
    for k, v in out.items():
        print(f"{k} {v}")


if __name__ == "__main__":
    main()
