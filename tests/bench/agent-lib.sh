# shellcheck shell=bash
# Helpers of the before/after agent benchmarks (agent-ab.sh, churn.sh, http-capture.sh), sourced
# from the top of the tree: the test gRPC server on a free port, a cgroup (v2) of our own for the
# workloads (the agent then samples them alone, whatever else runs on the machine), the agent's
# CPU time and its "interval N: S samples, P processes" lines. Every wait is bounded; cleanup
# kills only the pids in $pids and removes only the cgroups in $cgroups.

# abs_binary PATH: PATH made absolute (relative to $BENCH_CWD, where the script was started),
# or exit when it is not an executable file
abs_binary() {
	local p=$1
	[[ $p = /* ]] || p=$BENCH_CWD/$p
	[ -f "$p" ] && [ -x "$p" ] || { echo "'$1' is not an executable file" >&2; exit 1; }
	realpath "$p"
}

bench_init() {
	tmp=$(mktemp -d)
	pids=()
	cgroups=()
	trap bench_cleanup EXIT
	CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	[ -n "$CG_ROOT" ] || { echo "no cgroup2 mount" >&2; exit 1; }
}

bench_cleanup() {
	local p c
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for c in "${cgroups[@]}"; do cgroup_remove "$c"; done
	rm -rf "$tmp"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_server: the test Parca server on a free port ($port), profiles received in $tmp/recv.jsonl
start_server() {
	port=$(free_port)
	mkdir -p "$tmp/stubs"
	/usr/bin/python3 tests/integration/parca_server.py --port "$port" --out "$tmp/recv.jsonl" \
		--proto-dir proto --work "$tmp/stubs" >"$tmp/server.log" 2>&1 &
	server=$!; pids+=("$server")
	wait_line "$tmp/server.log" listening 30 "$server" ||
		{ echo "the test gRPC server did not start: $(cat "$tmp/server.log")" >&2; exit 1; }
}

# cgroup_new NAME: a new cgroup v2 NAME (unique to this run) under the root; $cg is its path
# relative to the cgroup2 mount, as the agent's --cgroup takes it (not a command substitution:
# the cgroup is remembered in $cgroups for the cleanup)
cgroup_new() {
	cg=scorch-bench-$$-$1
	mkdir "$CG_ROOT/$cg"
	cgroups+=("$cg")
}

# cgroup_remove CG: once the processes left in it have exited (at most 30 s)
cgroup_remove() {
	local _
	[ -d "$CG_ROOT/$1" ] || return 0
	for _ in $(seq 300); do
		# (cgroup files have no size: read what they say)
		grep -qx "populated 0" "$CG_ROOT/$1/cgroup.events" && break
		sleep 0.1
	done
	rmdir "$CG_ROOT/$1" 2>/dev/null || echo "cannot remove cgroup '$CG_ROOT/$1'" >&2
}

# in_cgroup CG CMD ARGS... &: CMD run inside CG, only in the background: it keeps the pid $!
# (the subshell of the function execs sh, which execs CMD), so that stop $! stops CMD itself
in_cgroup() {
	local cg=$1; shift
	exec sh -c 'echo $$ >"$0" && exec "$@"' "$CG_ROOT/$cg/cgroup.procs" "$@"
}

# stop PID: SIGTERM and reap (only pids this script started)
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# cpu_ns PID: the run time of all of PID's threads in ns (schedstat: not the 10 ms ticks of stat)
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}

# wait_line FILE REGEX SECONDS [PID]: until a line of FILE matches REGEX (extended), at most
# SECONDS, and only while PID lives; polls every 20 ms so that what is read right after (the
# agent's CPU time) is close to the moment the line was written
wait_line() {
	local file=$1 re=$2 n=$(($3 * 50)) pid=${4:-} i
	for ((i = 0; i < n; i++)); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			grep -qE "$re" "$file" 2>/dev/null
			return
		fi
		sleep 0.02
	done
	return 1
}

# interval_field LOG N FIELD: samples (FIELD 1) or processes (FIELD 2) of interval N of an agent
# started with -v
interval_field() {
	sed -nE "s/.*interval $2: ([0-9]+) samples, ([0-9]+) processes.*/\\$3/p" "$1" | head -1
}

# agent_start BINARY LOG CG ARGS...: BINARY's agent sampling the processes of cgroup CG, logging
# every interval (-v), pushing to the test server; $agent is its pid
agent_start() {
	local bin=$1 log=$2 cg=$3; shift 3
	"$bin" agent --remote-store-address "127.0.0.1:$port" --remote-store-insecure \
		--spool-dir "$tmp/spool-$$-$RANDOM" --cgroup "$cg" -v "$@" ${AGENT_ARGS:-} \
		2>"$log" &
	agent=$!; pids+=("$agent")
}

# warm BINARY CACHE_DIR: one short record, so that the kernel-symbol cache exists as on a
# machine that runs scorch (agent.sh does the same)
warm() { SCORCH_CACHE_DIR=$2 "$1" record -q -d 1 -o "$tmp/warm.pb.gz" >/dev/null 2>&1 || true; }

# median of the numbers on stdin
median() {
	sort -g | awk '{ a[NR] = $1 }
		END { if (!NR) print "nan"
		      else print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# spread of the numbers on stdin: (max - min) / median, in %
spread() {
	sort -g | awk '{ a[NR] = $1 }
		END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		      if (NR && m) printf "%.0f\n", 100 * (a[NR] - a[1]) / m; else print "nan" }'
}

# cell CMD ARGS...: the median of the figures CMD ARGS prints, with their spread
cell() { printf '%.2f (%s%%)' "$("$@" | median)" "$("$@" | spread)"; }
# rat CMD ARGS...: the median of CMD new ARGS over the median of CMD old ARGS
rat() {
	local f=$1; shift
	awk -v a="$($f new "$@" | median)" -v b="$($f old "$@" | median)" \
		'BEGIN { if (a != "nan" && b + 0) printf "%.2f", a / b; else printf "-" }'
}
