#!/usr/bin/env bash
# A file scorch writes appears whole or not at all, and survives a power loss: written to a
# temporary file beside it, fsync'ed, renamed, and then the directory fsync'ed (without the last
# step the rename itself may not be on disk). Seen with strace on a real write (scorch flame).
# Usage: atomic_write.sh SCORCH
set -euo pipefail
scorch=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v strace >/dev/null || { echo "strace is not installed (scripts/test installs it)"; exit 1; }
printf 'main;work 10\nmain;idle 5\n' >"$tmp/in.folded"
mkdir "$tmp/out"
# LeakSanitizer cannot run under ptrace: leaks are the other tests' business
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -e trace=openat,rename,fsync -o "$tmp/trace" \
	"$scorch" flame "$tmp/in.folded" -o "$tmp/out/flame.svg" 2>/dev/null
[ -s "$tmp/out/flame.svg" ] || { echo "FAIL: no flame.svg"; exit 1; }
# the descriptors of the output directory, the rename, then an fsync of one of them
awk -v dir="$tmp/out" '
	$0 ~ "openat\\(.*\"" dir "\", O_RDONLY[|A-Z_]*O_DIRECTORY" { fd[$NF] = 1 }
	/rename\(.*flame\.svg/ { renamed = 1; next }
	renamed && /fsync\(/ { match($0, /fsync\(([0-9]+)\)/, m); if (m[1] in fd) ok = 1 }
	END { exit !ok }' "$tmp/trace" || { echo "FAIL: no fsync of the directory after the rename:"; cat "$tmp/trace"; exit 1; }
echo "ok: the output and then its directory are fsync'ed around the rename"

# Regression, "scorch -o /dev/null as root made /dev/null a regular file": a target that is not
# a regular file (a device, a FIFO) is written to in place, never replaced by a rename.
mkfifo "$tmp/out.fifo"
timeout 20 cat "$tmp/out.fifo" >"$tmp/got" &
reader=$!
"$scorch" flame "$tmp/in.folded" -o "$tmp/out.fifo" 2>/dev/null
wait "$reader" || true
[ -p "$tmp/out.fifo" ] || { echo "FAIL: the FIFO was replaced: $(ls -l "$tmp/out.fifo")"; exit 1; }
grep -q '<svg' "$tmp/got" || { echo "FAIL: nothing written through the FIFO"; exit 1; }
echo "ok: a FIFO target is written through, not replaced"
