#!/usr/bin/env bash
# The pprof encoder read back by an independent reader, `go tool pprof` from Debian's golang-go.
# Usage: go_pprof.sh TEST_PPROF_BINARY
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp PPROF_TMPDIR=$tmp PPROF_BINARY_PATH=/nonexistent GOFLAGS=-mod=mod
command -v go >/dev/null || { echo "go is not installed (scripts/test installs golang-go)"; exit 1; }

"$bin" "$tmp/p.pb.gz" >/dev/null 2>&1
fail=0
check() { if ! grep -qE "$2" <<<"$1"; then echo "FAIL: expected /$2/ in:"; echo "$1"; fail=1; fi; }

raw=$(go tool pprof -symbolize=none -raw "$tmp/p.pb.gz")
check "$raw" 'PeriodType: cpu nanoseconds'
check "$raw" 'Period: 10101010'
check "$raw" 'samples/count cpu/nanoseconds'
check "$raw" '60 +606060600:'
check "$raw" 'pid:\[100\]'
check "$raw" 'comm:\[work\]'
check "$raw" 'inlined_helper'
check "$raw" 'build_id 0123456789abcdef0123456789abcdef01234567|0123456789abcdef0123456789abcdef01234567'

# default sample type is cpu: totals in time units; the inline frame is a function of its own
top=$(go tool pprof -symbolize=none -top -nodecount=20 "$tmp/p.pb.gz")
check "$top" 'Type: cpu'
check "$top" 'inlined_helper'
check "$top" 'do_syscall_64'
# 100 samples x 10101010 ns = 1.01 s in all
check "$top" '1.01s total|1010.10ms total'

tags=$(go tool pprof -symbolize=none -sample_index=samples -tags "$tmp/p.pb.gz")
check "$tags" 'pid: Total 100(\.0)?$'
check "$tags" '90(\.0)? \(90.00%\): 100$'

if [ $fail -ne 0 ]; then exit 1; fi
echo "go tool pprof read the profile: raw, top and tags agree"
