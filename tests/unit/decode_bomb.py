#!/usr/bin/env python3
# Decompression, unpacking and frame bombs given to scorch report, flame and diff: each is
# refused with one line and exit 1 within seconds, and the command's peak RSS (GNU time) stays
# under RSS_LIMIT_MB. A 16 KB gzip of 16 MiB of empty samples took 1 GB before; 140 bytes of a
# location with 1000 inline lines named 20000 times by a sample made flame take 3 GB (the
# frames are counted while decoding now, PPROF_MAX_SAMPLE_FRAMES a sample and 128 Ki + 192 per
# byte of file in all). The bound: a 16 KB file may decompress into
# 3 MB and unpack into 12 MB (proto/pprof.c), scorch itself is about 4 MB, and the model and
# malloc's overhead stay within twice that: 64 MB. Under sanitizers (shadow memory, quarantine)
# meson passes a larger bound. A large legitimate profile, as costly per byte as the costliest
# real capture measured, is still read by all three. Needs no root.
# Usage: decode_bomb.py SCORCH RSS_LIMIT_MB
import gzip
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

scorch, rss_limit_mb = sys.argv[1], int(sys.argv[2])
TIME = "/usr/bin/time"
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def num(num, value):
    return varint(num << 3) + varint(value)


def printable(n, seed):
    """What gzip can hardly compress, and valid UTF-8 for protobuf-c's strings."""
    rnd = random.Random(seed)
    return bytes(rnd.randrange(0x21, 0x7F) for _ in range(n))


def legit_profile(nsamples):
    """Shaped like a capture of a recursive workload at 9999 Hz (the costliest real shape)."""
    strings = ["", "samples", "count", "cpu", "nanoseconds", "/usr/bin/unwind-workload",
               "comm", "unwind-workload", "pid", "thread_id", "workload.c"]
    out = bytearray()
    out += field(1, num(1, 1) + num(2, 2)) + field(1, num(1, 3) + num(2, 4))
    out += field(3, num(1, 1) + num(2, 0x400000) + num(3, 0x800000) + num(5, 5))
    for f in range(12):
        strings.append("work_%d" % f)
        out += field(5, num(1, f + 1) + num(2, len(strings) - 1) + num(3, len(strings) - 1) +
                     num(4, 10) + num(5, 10 * f))
        out += field(4, num(1, f + 1) + num(2, 1) + num(3, 0x400000 + 16 * f) +
                     field(4, num(1, f + 1) + num(2, f)))
    rnd = random.Random(1)
    for i in range(nsamples):
        depth = 30 + i % 20
        locs = [rnd.randrange(12)]
        locs += [1 + rnd.randrange(2) if j < 12 else 1 if j < depth - 10 else 3 + (depth - j) % 9
                 for j in range(1, depth)]
        value = 1 + (rnd.randrange(8) == 7)
        out += field(2, field(1, b"".join(varint(l + 1) for l in locs)) +
                     field(2, varint(value) + varint(value * 100010)) +
                     field(3, num(1, 6) + num(2, 7)) + field(3, num(1, 8) + num(3, 21538)) +
                     field(3, num(1, 9) + num(3, 21538 + i % 3)))
    for s in strings:
        out += field(6, s.encode())
    out += field(11, num(1, 3) + num(2, 4)) + num(12, 100010)
    return gzip.compress(bytes(out), 6)


def frame_bomb(k, nlines, nsamples, own_roots=False, pad=b""):
    """The review's shape: one location of nlines inline lines, named k times by each of
    nsamples samples: readers expand it into k * nlines frames a sample. With own_roots, each
    sample is called from a location of its own (a bare address), so that no two share a
    frame of a flame graph's tree: the most nodes for the frames. pad: a string more, to make
    the file larger."""
    strings = [b"", b"cpu", b"nanoseconds", b"F" * 8, pad]
    out = bytearray()
    out += field(1, num(1, 1) + num(2, 2))
    out += field(4, num(1, 1) + num(3, 0x1000) + field(4, num(1, 1) + num(2, 7)) * nlines)
    out += field(5, num(1, 1) + num(2, 3))
    for i in range(nsamples if own_roots else 0):
        out += field(4, num(1, i + 2) + num(3, 0x100000 + 16 * i))
    for i in range(nsamples):
        ids = varint(1) * k + (varint(i + 2) if own_roots else b"")
        out += field(2, field(1, ids) + field(2, varint(1)))
    for s in strings:
        out += field(6, s)
    return gzip.compress(bytes(out), 9)


def peak_rss_mb(args, tmp, timeout=120):
    """Run a command under GNU time: exit code, stderr, peak RSS in MB and seconds taken (a
    command still running after timeout seconds is killed: exit code None)."""
    rss = os.path.join(tmp, "rss")
    t0 = time.monotonic()
    # a session of its own: on timeout the command goes too, not only GNU time
    p = subprocess.Popen([TIME, "-f", "%M", "-o", rss] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, "", float("nan"), timeout
    took = time.monotonic() - t0
    with open(rss) as f:
        kb = int(f.read().split()[-1])
    return p.returncode, err, kb / 1024, took


def main():
    if not shutil.which(TIME):
        print("GNU time is not installed (scripts/test installs the 'time' package)")
        return 1
    tmp = tempfile.mkdtemp()
    try:
        return run(tmp)
    finally:
        shutil.rmtree(tmp)


def run(tmp):
    pad = printable(14000, 2)
    size_refusal = r"%s [0-9]+ MB.* \(file of [0-9]+ KB\); refusing"
    frames_refusal = (r"profile expands into more than [0-9]+ (thousand|million) frames "
                      r"\(file of [0-9]+ (bytes|KB)\); refusing")
    sample_refusal = r"sample 0 expands into more than 65536 frames; refusing"
    bombs = {
        # the reported one: 16 MiB of empty Sample messages in 16 KB
        "empty-samples.pb.gz": (gzip.compress(b"\x12\x00" * (8 << 20), 9),
                                size_refusal % "decompresses to more than"),
        # within the decompression bound of its size, but 1 Mi samples to unpack
        "unpack.pb.gz": (gzip.compress(b"\x12\x00" + field(6, pad) + b"\x12\x00" * (1 << 20), 9),
                         size_refusal % "profile needs more than"),
        # folded text: 16 MiB of lines, then 600000 lines after an incompressible comment
        "lines.folded.gz": (gzip.compress(b"a 1\n" * (4 << 20), 9),
                            size_refusal % "decompresses to more than"),
        "model.folded.gz": (gzip.compress(b"#" + pad + b"\n" + b"a 1\n" * 600000, 9),
                            size_refusal % "profile needs more than"),
        # the review's: 140 bytes that made flame take 3 GB in 60 s and report 5 s (one
        # location of 1000 inline lines, 20000 times in a sample), and 540 bytes (20000 lines,
        # 200000 times) that ran for minutes
        "inline-lines.pb.gz": (frame_bomb(20000, 1000, 1), sample_refusal),
        "inline-lines-2.pb.gz": (frame_bomb(200000, 20000, 1), sample_refusal),
        # samples within the bound of one, 300 of them: the total is bounded by the file size
        "deep-samples.pb.gz": (frame_bomb(64, 1024, 300), frames_refusal),
        # folded text: 8 lines of 65536 frames in 1 KB
        "deep.folded.gz": (gzip.compress((b";".join([b"a"] * 65536) + b" 1\n") * 8, 9),
                           frames_refusal),
    }
    # 10 bytes decompressed and 125 unpacked per byte of file, as the costliest real capture
    good = os.path.join(tmp, "good.pb.gz")
    with open(good, "wb") as f:
        f.write(legit_profile(20000))
    # the other side of a diff, small so that the peak is the bomb's
    small = os.path.join(tmp, "small.pb.gz")
    with open(small, "wb") as f:
        f.write(legit_profile(100))
    svg = os.path.join(tmp, "out.svg")

    for name, (data, want) in bombs.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        line = re.compile(r"scorch: '%s': %s$" % (re.escape(path), want))
        runs = {
            "report": ["report", path],
            "flame": ["flame", path, "-o", svg],
            "diff (first)": ["diff", path, small],
            "diff (second)": ["diff", small, path],
        }
        for what, args in runs.items():
            # a refusal takes what decoding the file's bounds allows: milliseconds, however
            # busy the machine; the review's bombs took seconds to minutes
            rc, err, mb, took = peak_rss_mb([scorch] + args, tmp, timeout=30)
            desc = "%s %s (%.2f KB): exit %s, peak RSS %.1f MB, %.2f s" % (
                what, name, len(data) / 1024, rc, mb, took)
            lines = err.splitlines()
            if rc != 1 or len(lines) != 1 or not line.match(lines[0]):
                fail("%s, expected exit 1 and one line /%s/: %r" % (desc, line.pattern,
                                                                    err[:300]))
            elif mb >= rss_limit_mb:
                fail("%s, over %d MB" % (desc, rss_limit_mb))
            elif took >= 10:
                fail("%s, 10 s or more" % desc)
            else:
                print("ok: %s: %s" % (desc, lines[0]))

    # the most a file of this size can decode into: samples up to the budget, then the model
    # built from them (as large again at most), and what the commands make of it
    head = (field(6, b"") + field(6, b"samples") + field(6, b"count") + field(6, pad) +
            field(1, num(1, 1) + num(2, 2)))
    path = os.path.join(tmp, "fits.pb.gz")
    n = 1 << 20
    while n > 1000:
        data = gzip.compress(head + field(2, num(2, 1)) * n, 9)
        with open(path, "wb") as f:
            f.write(data)
        rc, err, mb, took = peak_rss_mb([scorch, "report", path], tmp)
        if rc == 0:
            break
        n = n * 7 // 8
    runs = {
        "report": ["report", path],
        "flame": ["flame", path, "-o", svg],
        "diff": ["diff", path, small],
    }
    for what, args in runs.items():
        rc, err, mb, took = peak_rss_mb([scorch] + args, tmp)
        desc = "%s of %d samples, the most a %.1f KB file decodes into: exit %s, peak RSS %.1f MB" % (
            what, n, len(data) / 1024, rc, mb)
        if rc != 0:
            fail("%s: %s" % (desc, err.strip()))
        elif mb >= rss_limit_mb:
            fail("%s, over %d MB" % (desc, rss_limit_mb))
        else:
            print("ok: " + desc)

    # the most frames a file may expand into (samples of 65536 frames, as many as fit the
    # file's bound): all the same in 13 KB (2.5 million frames), and each under a root of its
    # own, which makes every frame a node of flame's tree, in 130 bytes; read by all three
    # within the RSS bound and in seconds
    for shape, own, padding in (("the same", False, pad), ("each under its own root", True, b"")):
        path = os.path.join(tmp, "frames.pb.gz")
        n = 64
        while n > 1:
            data = frame_bomb(64 - own, 1024, n, own, padding)
            with open(path, "wb") as f:
                f.write(data)
            rc, err, mb, took = peak_rss_mb([scorch, "report", path], tmp)
            if rc == 0:
                break
            n -= 1
        runs = {
            "report": ["report", path],
            "flame": ["flame", path, "-o", svg],
            "diff": ["diff", path, small],
        }
        for what, args in runs.items():
            rc, err, mb, took = peak_rss_mb([scorch] + args, tmp, timeout=60)
            desc = ("%s of %d samples of 65536 frames, %s, the most a %d-byte file expands "
                    "into: exit %s, peak RSS %.1f MB, %.2f s" % (what, n, shape, len(data), rc,
                                                                  mb, took))
            if rc != 0:
                fail("%s: %s" % (desc, err.strip()[:300]))
            elif mb >= rss_limit_mb or took >= 30:
                fail("%s, over %d MB or 30 s" % (desc, rss_limit_mb))
            else:
                print("ok: " + desc)

    # the legitimate profile: read by all three
    runs = {
        "report": ["report", good],
        "flame": ["flame", good, "-o", svg],
        "diff": ["diff", good, small],
    }
    for what, args in runs.items():
        rc, err, mb, took = peak_rss_mb([scorch] + args, tmp)
        desc = "%s of a large legitimate profile (%.1f KB): exit %s, peak RSS %.1f MB" % (
            what, os.path.getsize(good) / 1024, rc, mb)
        if rc != 0:
            fail("%s: %s" % (desc, err.strip()))
        else:
            print("ok: " + desc)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
