#!/usr/bin/env bash
# Start-up time and memory of scorch against the number of CPUs, in QEMU guests of the kernel
# matrix with CPUS vCPUs each (default "2 16 64"; TCG: the host's 2 cores run them all, so the
# guest is slow, but what scorch opens and allocates per CPU is what a machine of that many
# CPUs gets). Each guest runs `scorch record -v -d 2` on an idle machine three times and the
# benchmark prints, per CPU count, the median of: the load-and-attach phase (program load, one
# perf event and link per CPU, maps and rings), the whole run's CPU time, and peak RSS.
# Not a test: the figures are for docs/benchmarks.md. Run as root after a build:
#   [CPUS="2 16 64"] [KERNEL=6.12] tests/bench/cpus.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=${KERNEL:-6.12}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# in the guest: three runs, each "load_ms cpu_s rss_kb samples" on a line of its own
guest_cmd='for i in 1 2 3; do /usr/bin/time -f "TIME %U %S %M" build/scorch record -v -d 2 -o /tmp/c.pb.gz 2>&1 | awk "/load and attach/ { sub(/ ms,.*/, \"\"); sub(/.*load and attach /, \"\"); l = \$0 } /samples,/ { n = \$2 } /^TIME/ { printf \"RUN %s %.3f %s %s\\n\", l, \$2 + \$3, \$4, n }"; done; nproc'

printf '%5s %14s %10s %10s %8s\n' cpus load+attach_ms cpu_s rss_kb samples
for n in ${CPUS:-2 16 64}; do
	RUN_IN_GUEST_SMP=$n RUN_IN_GUEST_TIMEOUT=1800 tests/kernels/matrix.sh -v -T 1500 \
		-c "$guest_cmd" "$kernel" >"$out/$n.log" 2>&1 ||
		{ echo "guest with $n CPUs failed:"; tail -20 "$out/$n.log"; continue; }
	awk -v n="$n" '
		$1 == "RUN" { l[++k] = $2; c[k] = $3; r[k] = $4; s[k] = $5 }
		function med(a,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((k + 1) / 2)] }
		END { if (k) printf "%5s %14s %10s %10s %8s\n", n, med(l), med(c), med(r), med(s);
		      else print n " CPUs: no run" }' "$out/$n.log"
done
