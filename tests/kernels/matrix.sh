#!/usr/bin/env bash
# The kernel matrix: boot each kernel once (tests/kernels/run-in-guest.sh) and run a list of
# commands in it, each with its own timeout, exit status and output, from the tree's top
# directory.
#
#   tests/kernels/matrix.sh [-v] [-c CMD]... [-t TEST]... [-f FILE] [-b BUILDDIR] [-T SECONDS] [KERNEL...]
#
#   -v          also print the output of the commands that passed
#   -c CMD      a shell command (repeatable)
#   -t TEST     a meson integration test, run in the guest as meson would run it:
#               meson test -C BUILDDIR --no-rebuild --suite integration TEST (repeatable)
#   -f FILE     commands, one a line (blank lines and lines starting with # skipped)
#   -b BUILDDIR the build directory for -t, relative to the top directory (default: build)
#   -T SECONDS  timeout of each command in the guest (default 600)
#   KERNEL      5.10, 6.1, 6.12 (default: all three, booted one after the other)
#
# Without -c, -t or -f it runs DEFAULT_COMMANDS below. It prints "ok KERNEL NAME" or
# "FAIL KERNEL NAME (status N)" and the last 40 lines of the failed command's output, for each
# kernel and command, then "N passed, N failed"; its exit status is 0 only if all passed.
# Timings go to stderr. Variables named in RUN_IN_GUEST_ENV are passed to the commands.
set -euo pipefail

DEFAULT_COMMANDS=(
	'build/scorch record -d 2 -o /tmp/m.pb.gz'
	'uname -r'
)
DEFAULT_KERNELS=(5.10 6.1 6.12)

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_IN_GUEST=$TOP/tests/kernels/run-in-guest.sh

usage() {
	sed -n '5,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

NAMES=() CMDS=()
build=build
cmd_timeout=600
verbose=
tests=()
while getopts vc:t:f:b:T:h opt; do
	case $opt in
	v) verbose=1 ;;
	c) NAMES+=("$OPTARG") CMDS+=("$OPTARG") ;;
	t) tests+=("$OPTARG") ;;
	f)
		[ -r "$OPTARG" ] || { echo "matrix: cannot read '$OPTARG'" >&2; exit 2; }
		while IFS= read -r line || [ -n "$line" ]; do
			[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
			NAMES+=("$line") CMDS+=("$line")
		done <"$OPTARG"
		;;
	b) build=$OPTARG ;;
	T)
		[[ $OPTARG =~ ^[1-9][0-9]*$ ]] || { echo "matrix: -T '$OPTARG' is not a number of seconds" >&2; exit 2; }
		cmd_timeout=$OPTARG
		;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
for t in "${tests[@]}"; do
	[[ $t =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "matrix: '$t' is not a test name" >&2; exit 2; }
	[ -f "$TOP/$build/build.ninja" ] ||
		{ echo "matrix: '$TOP/$build' is not a meson build directory (-b)" >&2; exit 2; }
	NAMES+=("integration/$t")
	CMDS+=("meson test -C $(printf %q "$build") --no-rebuild --print-errorlogs --suite integration $t")
done
if [ ${#CMDS[@]} -eq 0 ]; then
	NAMES=("${DEFAULT_COMMANDS[@]}") CMDS=("${DEFAULT_COMMANDS[@]}")
fi
KERNELS=("$@")
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=("${DEFAULT_KERNELS[@]}")
for k in "${KERNELS[@]}"; do
	case $k in 5.10 | 6.1 | 6.12) ;; *) echo "matrix: unknown kernel '$k' (5.10, 6.1 or 6.12)" >&2; exit 2 ;; esac
done

WORK=$(mktemp -d /tmp/scorch-matrix.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# the script the guest runs: each command under its own timeout, its output, status and
# duration in the shared directory
write_guest_script() { # write_guest_script DIR
	local dir=$1 i
	{
		echo "set -u"
		echo "cut -d' ' -f1 /proc/uptime >$(printf %q "$dir/boot")"
		echo "cd $(printf %q "$TOP") || exit 125"
		for i in "${!CMDS[@]}"; do
			printf 'start=$(date +%%s.%%N)\n'
			printf 'timeout -k 10 %s bash -c %q >%q 2>&1 </dev/null\n' "$cmd_timeout" \
				"${CMDS[$i]}" "$dir/$i.out"
			printf 'echo $? >%q\n' "$dir/$i.status"
			printf 'echo "$(date +%%s.%%N) $start" | awk '\''{ printf "%%.1f\\n", $1 - $2 }'\'' >%q\n' \
				"$dir/$i.time"
		done
	} >"$dir/guest.sh"
}

passed=0 failed=0
for k in "${KERNELS[@]}"; do
	dir=$WORK/$k
	mkdir "$dir"
	write_guest_script "$dir"
	t0=$(date +%s.%N)
	rc=0
	RUN_IN_GUEST_OUTDIR=$dir RUN_IN_GUEST_TIMEOUT=${RUN_IN_GUEST_TIMEOUT:-$((${#CMDS[@]} * (cmd_timeout + 15) + 300))} \
		"$RUN_IN_GUEST" "$k" bash "$dir/guest.sh" >"$dir/guest.log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	boot=$(cat "$dir/boot" 2>/dev/null || echo "?")
	echo "matrix: kernel $k: first command at $boot s of guest uptime," \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s in all" >&2
	for i in "${!CMDS[@]}"; do
		status=$(cat "$dir/$i.status" 2>/dev/null || true)
		if [ -z "$status" ]; then
			echo "FAIL $k ${NAMES[$i]} (not run: the guest failed, status $rc)"
			failed=$((failed + 1))
		elif [ "$status" -eq 0 ]; then
			echo "ok $k ${NAMES[$i]}"
			[ -z "$verbose" ] || sed 's/^/    /' "$dir/$i.out"
			passed=$((passed + 1))
		else
			why=""
			if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
				why=", timed out after $cmd_timeout s"
			fi
			echo "FAIL $k ${NAMES[$i]} (status $status$why)"
			tail -n 40 "$dir/$i.out" | sed 's/^/    /'
			failed=$((failed + 1))
		fi
		if [ -f "$dir/$i.time" ]; then
			echo "matrix: kernel $k: '${NAMES[$i]}' took $(cat "$dir/$i.time") s" >&2
		fi
	done
	# the guest's own messages: why it did not boot or report
	if [ "$rc" -ne 0 ]; then
		sed 's/^/    /' "$dir/guest.log"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
