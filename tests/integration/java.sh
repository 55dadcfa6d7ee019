#!/usr/bin/env bash
# Java through its JIT code (Debian's openjdk-17): a workload of known shape
# (tests/fixtures/JavaWork.java) run with -XX:+PreserveFramePointer, its perf map written by
# jcmd PID Compiler.perfmap, profiled by pid: the thread that runs its main has complete,
# named stacks from the thread's start through the JVM's C++ into the Java frames.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
for t in javac java jcmd; do
	command -v "$t" >/dev/null ||
		{ fail "$t missing (openjdk-17-jdk-headless is in SCORCH_PACKAGES)"; finish; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
javac -d "$TMP" "$HERE/../fixtures/JavaWork.java" 2>"$TMP/javac.err" ||
	{ fail "javac: $(head -3 "$TMP/javac.err")"; finish; }

# its perf map is /tmp/perf-PID.map, the test's to remove
cleanup_map() { [ -z "${jpid:-}" ] || rm -f "/tmp/perf-$jpid.map"; }
trap 'cleanup_map; cleanup' EXIT

java -XX:+PreserveFramePointer -cp "$TMP" JavaWork 60 >"$TMP/java.out" 2>"$TMP/java.err" &
jvm=$!; PIDS+=("$jvm")
for _ in $(seq 300); do [ -s "$TMP/java.out" ] && break; sleep 0.1; done
jpid=$(head -1 "$TMP/java.out")
[ "$jpid" = "$jvm" ] || { fail "the JVM's pid: '$jpid', started $jvm"; finish; }
# the perf map once the workload's methods are compiled (JIT'ed code is what it names)
for _ in $(seq 60); do
	jcmd "$jpid" Compiler.perfmap >/dev/null 2>&1
	grep -q "JavaWork.alpha" "/tmp/perf-$jpid.map" 2>/dev/null && break
	sleep 0.5
done
grep -q "JavaWork.alpha" "/tmp/perf-$jpid.map" 2>/dev/null && ok "jcmd wrote the perf map" ||
	fail "no JavaWork.alpha in /tmp/perf-$jpid.map"
# the JIT compiles more while the capture runs: the map is written again meanwhile, and the
# capture names its code from the map as it is at the end (the newest entry for an address)
"$SCORCH" record -v -F 499 -p "$jpid" -d 3 -o "$TMP/java.pb.gz" >/dev/null 2>"$TMP/rec.err" &
rec=$!; PIDS+=("$rec")
while kill -0 "$rec" 2>/dev/null; do
	jcmd "$jpid" Compiler.perfmap >/dev/null 2>&1
	sleep 0.5
done
wait "$rec" || fail "record exit $?: $(tail -3 "$TMP/rec.err")"
kill "$jvm" 2>/dev/null
check_program "$TMP/rec.err"
if /usr/bin/python3 "$HERE/check_java.py" "$TMP/java.pb.gz" 95 >"$TMP/check.out"; then
	ok "java $(java -version 2>&1 | head -1 | cut -d'"' -f2): complete, named stacks through the JIT code"
else
	fail "java: $(grep FAIL "$TMP/check.out" | head -3)"
fi
sed 's/^/    /' "$TMP/check.out"
grep -o "user stacks: .*" "$TMP/rec.err" | sed 's/^/    /'
finish
