#!/usr/bin/env bash
# Processes that lay traps for the profiler. An unprivileged process in its own user and mount
# namespace with a root of its own (unshare -Urm, then pivot_root as container runtimes do) makes the files scorch reads on its
# behalf point out of that root at a root-only host file, whose contents must never show in a
# profile or an upload; FIFOs, /dev/zero and huge files in place of a perf map or a debug file
# must not hang scorch or make it take memory; a perf map of another user is refused. Each check
# also has a control: the same file laid honestly inside the root is used.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf
command -v unshare >/dev/null && command -v setpriv >/dev/null ||
	{ fail "unshare and setpriv (util-linux) are needed"; finish; }
source "$(dirname "${BASH_SOURCE[0]}")/parca_lib.sh"
BID=${HOSTILE_BUILD_ID:?}
NOBODY=65534
# the container's root must be reachable by the unprivileged user, the host secret not
chmod 711 "$TMP"
mkdir -m 700 "$TMP/host"
install -m 600 "$HOSTILE_SECRET" "$TMP/host/secret.debug"
install -m 600 "$HOSTILE_SECRET" "$TMP/host/secret.bin"

# new_root DIR: a bare root for the process: its binary, /tmp, the debug directory
new_root() {
	local r=$1
	mkdir -p "$r/tmp" "$r/.old" "$r/usr/lib/debug/.build-id/${BID:0:2}"
	cp "$HOSTILE_SPIN" "$r/hostile-spin"
	chmod 1777 "$r/tmp"
	chown -R "$NOBODY:$NOBODY" "$r"
}

# in_root ROOT PROGRAM ARGS...: PROGRAM (a path inside ROOT) run unprivileged in a user and mount
# namespace of its own with ROOT as its root (pivot_root, as a container runtime does)
in_root() {
	local r=$1
	shift
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		unshare -Urm "$HOSTILE_SPIN" --root "$r" "$@"
}

# start_in ROOT SECONDS [jit]: the process in its root; sets SPIN_PID and SPIN_JIT (the address
# of its JIT code)
start_in() {
	local r=$1 out=$1.out
	shift
	in_root "$r" /hostile-spin "$@" >"$out" 2>&1 &
	PIDS+=($!)
	SPIN_PID=
	for _ in $(seq 100); do
		SPIN_PID=$(sed -n 's/^pid //p' "$out")
		[ -n "$SPIN_PID" ] && break
		sleep 0.1
	done
	SPIN_JIT=$(sed -n 's/^jit 0x//p' "$out")
	[ -n "$SPIN_PID" ] || { fail "the namespaced process did not start: $(cat "$out")"; finish; }
	PIDS+=("$SPIN_PID")
}

# record NAME ROOT [ARGS]: start the process's spinning, profile it for 2 s within a bounded
# time; the folded profile in $TMP/NAME.folded, scorch's messages in $TMP/NAME.log, its peak RSS
# (KB) in $TMP/NAME.rss; false when scorch did not finish in time
record() {
	local name=$1 r=$2
	shift 2
	touch "$r/go"
	$PY - "$TMP/$name.rss" timeout -k 5 60 "$SCORCH" record -p "$SPIN_PID" -d 2 --format folded --no-comm-root \
		-o "$TMP/$name.folded" "$@" 2>"$TMP/$name.log" <<-'EOF'
		import resource, subprocess, sys
		rc = subprocess.call(sys.argv[2:])
		open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
		sys.exit(rc)
	EOF
}

has() { grep -q -- "$2" "$TMP/$1.folded" 2>/dev/null; }

# 1. Escapes by absolute links: the build-id debug file and the perf map's directory point at
# root-only host files. Neither the secret's function names nor its JIT names may show.
R=$TMP/ctr1
new_root "$R"
start_in "$R" 3 jit
ln -s "$TMP/host/secret.debug" "$R/usr/lib/debug/.build-id/${BID:0:2}/${BID:2}.debug"
printf '%s 10 host_secret_jit\n' "$SPIN_JIT" >"$TMP/host/perf-$SPIN_PID.map"
chmod 600 "$TMP/host/perf-$SPIN_PID.map"
rm -rf "$R/tmp"
ln -s "$TMP/host" "$R/tmp"
if record escape "$R"; then
	! has escape host_secret_function && ok "debug file link out of the root not followed" ||
		fail "a host file's symbols in the profile: $(grep -m1 host_secret "$TMP/escape.folded")"
	! has escape host_secret_jit && ok "perf map through a link out of the root not read" ||
		fail "a host perf map read: $(grep -m1 host_secret_jit "$TMP/escape.folded")"
	has escape 'hostile-spin+0x' && ok "the process's own frames kept as addresses" ||
		fail "no frames of the process: $(head -3 "$TMP/escape.folded")"
else
	fail "record of the escaping process failed: $(cat "$TMP/escape.log")"
fi

# control: the same files laid inside the root are used
R=$TMP/ctr2
new_root "$R"
start_in "$R" 3 jit
install -o $NOBODY -m 644 "$HOSTILE_DEBUG" "$R/usr/lib/debug/.build-id/${BID:0:2}/${BID:2}.debug"
printf '%s 10 jit_named\n' "$SPIN_JIT" >"$R/tmp/perf-$SPIN_PID.map"
chown $NOBODY:$NOBODY "$R/tmp/perf-$SPIN_PID.map"
if record inside "$R"; then
	has inside ';spin_here' && ok "debug file inside the root used (spin_here named)" ||
		fail "the root's own debug file not used: $(head -3 "$TMP/inside.folded")"
	has inside ';jit_named' && ok "perf map inside the root used" ||
		fail "the root's own perf map not used: $(head -3 "$TMP/inside.folded")"
else
	fail "record failed: $(cat "$TMP/inside.log")"
fi

# 2. A perf map that is a FIFO: opening it for reading would block until a writer comes
R=$TMP/ctr3
new_root "$R"
start_in "$R" 3 jit
mkfifo "$R/tmp/perf-$SPIN_PID.map"
chown $NOBODY:$NOBODY "$R/tmp/perf-$SPIN_PID.map"
record fifo "$R" && ok "a FIFO perf map does not block the capture" ||
	fail "capture with a FIFO perf map did not finish: $(tail -3 "$TMP/fifo.log")"

# 3. A .gnu_debuglink whose target is /dev/zero (endless): the CRC would never end. Both inside
# a root (an absolute link) and in the host's root (the process's own directory).
R=$TMP/ctr4
new_root "$R"
start_in "$R" 3
ln -s /dev/zero "$R/hostile.debug"
record zero "$R" && ok "a debuglink to /dev/zero does not hang the capture" ||
	fail "capture with a /dev/zero debuglink did not finish: $(tail -3 "$TMP/zero.log")"
# control: the real debug file beside the binary, found by its debuglink inside the root
R=$TMP/ctr4b
new_root "$R"
start_in "$R" 3
install -o $NOBODY -m 644 "$HOSTILE_DEBUG" "$R/hostile.debug"
if record debuglink "$R"; then
	has debuglink ';spin_here' && ok "debuglink beside the binary inside the root used" ||
		fail "the root's debuglink target not used: $(head -3 "$TMP/debuglink.folded")"
else
	fail "record failed: $(cat "$TMP/debuglink.log")"
fi
mkdir -m 755 "$TMP/hostdir"
cp "$HOSTILE_SPIN" "$TMP/hostdir/hostile-spin"
ln -s /dev/zero "$TMP/hostdir/hostile.debug"
touch "$TMP/hostdir/go"
(cd "$TMP/hostdir" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	"$TMP/hostdir/hostile-spin" 30 >"$TMP/hostdir.out") &
hpid=$!
PIDS+=("$hpid")
wait_for "$TMP/hostdir.out" '^pid' 10
if timeout -k 5 60 "$SCORCH" record -p "$hpid" -d 1 --format folded --no-comm-root -o "$TMP/zero-host.folded" \
	2>"$TMP/zero-host.log" && has zero-host 'hostile-spin'; then
	ok "a debuglink to /dev/zero beside a host binary does not hang"
else
	fail "capture of a host process with a /dev/zero debuglink: $(tail -3 "$TMP/zero-host.log")"
fi
kill "$hpid" 2>/dev/null

# 4. A FUSE filesystem of the process that never answers (its /tmp, where its perf map would
# be): a look-up there waits uninterruptibly, so scorch must never make one. Root in a mount
# namespace of its own, as a container with FUSE is; the mount goes away with the process.
mkdir -m 755 "$TMP/fusedir"
touch "$TMP/fusedir/go"
(cd "$TMP/fusedir" && exec unshare -m --propagation private "$HOSTILE_SPIN" --fuse-tmp 30 jit \
	>"$TMP/fuse.out" 2>&1) &
PIDS+=($!)
if wait_for "$TMP/fuse.out" '^pid' 10; then
	fpid=$(sed -n 's/^pid //p' "$TMP/fuse.out")
	PIDS+=("$fpid")
	start=$(date +%s)
	rc=0
	timeout -k 5 20 "$SCORCH" record -p "$fpid" -d 1 --format folded --no-comm-root -o "$TMP/fuse.folded" \
		2>"$TMP/fuse.log" || rc=$?
	took=$(($(date +%s) - start))
	[ "$rc" -eq 0 ] && [ "$took" -le 10 ] && ok "a silent FUSE mount does not hold the capture (${took}s)" ||
		fail "capture of a process with a silent FUSE /tmp: rc $rc after ${took}s: $(tail -2 "$TMP/fuse.log")"
	kill "$fpid" 2>/dev/null
else
	fail "the FUSE process did not start: $(cat "$TMP/fuse.out")"
fi

# 5. Huge perf maps without a newline: one over the size bound (sparse, 1 GiB), one under it
# (60 MB: read, bounded per line). Neither costs memory.
for size in 1G 60M; do
	R=$TMP/ctr5-$size
	new_root "$R"
	start_in "$R" 3 jit
	truncate -s "$size" "$R/tmp/perf-$SPIN_PID.map"
	chown $NOBODY:$NOBODY "$R/tmp/perf-$SPIN_PID.map"
	if record "huge-$size" "$R"; then
		rss=$(cat "$TMP/huge-$size.rss")
		[ "$rss" -lt 49152 ] && ok "a $size perf map without a newline: peak RSS $((rss / 1024)) MB" ||
			fail "a $size perf map took $((rss / 1024)) MB"
	else
		fail "capture with a $size perf map failed: $(tail -3 "$TMP/huge-$size.log")"
	fi
done
grep -q 'perf map refused: larger than' "$TMP/huge-1G.log" && ok "the 1 GiB perf map refused, said once" ||
	fail "no word of the refused perf map: $(cat "$TMP/huge-1G.log")"

# 6. A perf map of another user (as perf, only the process's own or root's are read)
R=$TMP/ctr6
new_root "$R"
start_in "$R" 3 jit
printf '%s 10 planted_by_other\n' "$SPIN_JIT" >"$R/tmp/perf-$SPIN_PID.map"
chown 12345:12345 "$R/tmp/perf-$SPIN_PID.map"
if record other "$R"; then
	! has other planted_by_other && ok "a perf map owned by another user not read" ||
		fail "another user's perf map read"
	grep -q 'perf map refused: owned by neither' "$TMP/other.log" && ok "the refusal is said" ||
		fail "no word of the refused perf map: $(cat "$TMP/other.log")"
else
	fail "record failed: $(cat "$TMP/other.log")"
fi

# 7. A debug file a container lays in its own root names the code of its own processes only:
# a host process mapping the very same file (a hardlink: the same inode) must not get its names.
# The agent, so that the victim starts only once the attacker was profiled (its first interval
# is written): the attacker's snapshot comes first.
R=$TMP/ctr9
new_root "$R"
mkdir -m 755 "$TMP/victim"
rm "$R/hostile-spin"
cp "$HOSTILE_SPIN" "$TMP/victim/victim-spin"
ln "$TMP/victim/victim-spin" "$R/hostile-spin"
install -o $NOBODY -m 644 "$HOSTILE_SECRET" "$R/usr/lib/debug/.build-id/${BID:0:2}/${BID:2}.debug"
start_in "$R" 30
attacker=$SPIN_PID
touch "$R/go"
(cd "$TMP/victim" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	"$TMP/victim/victim-spin" 30 >"$TMP/victim.out") &
PIDS+=($!)
wait_for "$TMP/victim.out" '^pid' 10
victim=$(sed -n 's/^pid //p' "$TMP/victim.out")
PIDS+=("$victim")
"$SCORCH" agent --output-dir "$TMP/poison" --profiling-duration 1s -p "$attacker,$victim" \
	2>"$TMP/poison.log" &
AGENT=$!
PIDS+=("$AGENT")
for _ in $(seq 300); do ls "$TMP/poison"/scorch-*.pb.gz >/dev/null 2>&1 && break; sleep 0.1; done
touch "$TMP/victim/go"
# two more intervals with the victim spinning
for _ in $(seq 300); do [ "$(ls "$TMP/poison" | wc -l)" -ge 3 ] && break; sleep 0.1; done
kill -TERM "$AGENT"
wait "$AGENT"
for f in "$TMP"/poison/scorch-*.pb.gz; do $PY "$(dirname "${BASH_SOURCE[0]}")/../pprof_folded.py" "$f" '^victim-spin$'; done >"$TMP/victim.folded"
for f in "$TMP"/poison/scorch-*.pb.gz; do $PY "$(dirname "${BASH_SOURCE[0]}")/../pprof_folded.py" "$f" '^hostile-spin$'; done >"$TMP/attacker.folded"
grep -q host_secret_function "$TMP/attacker.folded" && ok "the container's own debug file names its own process" ||
	fail "the container's debug file not used for its own process: $(head -2 "$TMP/attacker.folded")"
[ -s "$TMP/victim.folded" ] && ! grep -q host_secret_function "$TMP/victim.folded" &&
	ok "a host process mapping the same file is not named by it" ||
	fail "the victim: $(grep -m1 host_secret "$TMP/victim.folded" || echo no samples)"

# 8. An executable the process may run but not read (0711) gives it no names; readable, it does
mkdir -m 755 "$TMP/xonly"
install -m 711 "$HOSTILE_SPIN_SYMBOLS" "$TMP/xonly/xonly-spin"
touch "$TMP/xonly/go"
for mode in 711 755; do
	chmod "$mode" "$TMP/xonly/xonly-spin"
	(cd "$TMP/xonly" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		"$TMP/xonly/xonly-spin" 30 >"$TMP/xonly-$mode.out") &
	PIDS+=($!)
	wait_for "$TMP/xonly-$mode.out" '^pid' 10
	xpid=$(sed -n 's/^pid //p' "$TMP/xonly-$mode.out")
	timeout -k 5 60 "$SCORCH" record -p "$xpid" -d 1 --format folded --no-comm-root -o "$TMP/xonly-$mode.folded" \
		2>"$TMP/xonly-$mode.log"
	kill "$xpid" 2>/dev/null
done
! has xonly-711 spin_here && has xonly-711 'xonly-spin+0x' &&
	ok "an execute-only binary: bare addresses" || fail "execute-only: $(head -2 "$TMP/xonly-711.folded")"
has xonly-755 spin_here && ok "the same binary readable: named" ||
	fail "readable binary not named: $(head -2 "$TMP/xonly-755.folded")"
# its name, which the warning quotes, is the process's to choose: an escape sequence and a line
# of its own are written as \xNN, never as they are
evil=$TMP/xonly/$'spin\e[31m\nscorch: warning: forged'
install -m 711 "$HOSTILE_SPIN_SYMBOLS" "$evil"
(cd "$TMP/xonly" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$evil" 30 \
	>"$TMP/evil.out") &
PIDS+=($!)
wait_for "$TMP/evil.out" '^pid' 10
xpid=$(sed -n 's/^pid //p' "$TMP/evil.out")
timeout -k 5 60 "$SCORCH" record -p "$xpid" -d 1 -o "$TMP/evil.pb.gz" 2>"$TMP/evil.log"
kill "$xpid" 2>/dev/null
if grep -q $'\e' "$TMP/evil.log" || grep -q '^scorch: warning: forged' "$TMP/evil.log"; then
	fail "a control character of a file name reached the log: $(grep -a spin "$TMP/evil.log" | cat -v)"
elif grep -q 'spin\\x1b\[31m' "$TMP/evil.log"; then
	ok "control characters of a file name escaped in the log: $(grep -m1 'x1b' "$TMP/evil.log" | cut -c1-120)"
else
	fail "no warning about the execute-only file: $(cat -v "$TMP/evil.log" | head -3)"
fi

# 9. The debuginfo upload: what reaches the server is the file the process mapped, never a host
# file. (a) The process replaces its binary (inside its root) by a link to a root-only host file
# with the same build-id.
# start_uploader LOG PID: the agent uploading the debug info of PID's files
start_uploader() {
	"$SCORCH" agent --remote-store-address "$ADDR" --remote-store-insecure \
		--profiling-duration 1s --spool-dir "$TMP/spool" --debuginfo-upload -p "$2" 2>"$1" &
	AGENT=$!
	PIDS+=("$AGENT")
	wait_for "$1" 'info: profiling' 30 || fail "the agent did not start: $(cat "$1")"
}
leaked() {
	local f n=0
	for f in "$TMP"/stubs/debuginfo/*; do
		[ -f "$f" ] && cmp -s "$f" "$TMP/host/secret.bin" && n=$((n + 1))
	done
	echo "$n"
}
start_server "$TMP/up.jsonl"
R=$TMP/ctr7
new_root "$R"
start_in "$R" 30
ln -sf "$TMP/host/secret.bin" "$R/hostile-spin.new"
mv -T "$R/hostile-spin.new" "$R/hostile-spin"
touch "$R/go"
start_uploader "$TMP/agent7.log" "$SPIN_PID"
wait_for "$TMP/up.jsonl.debuginfo" "\"MarkUploadFinished\".*$BID" 30
kill -TERM "$AGENT"
wait "$AGENT"
up=$TMP/stubs/debuginfo/$BID
[ -f "$up" ] && cmp -s "$up" "$HOSTILE_SPIN" && ok "the upload is the file the process mapped" ||
	fail "upload of $BID: $(ls -l "$up" 2>&1); $(tail -3 "$TMP/agent7.log")"
[ "$(leaked)" -eq 0 ] && ok "a swapped binary: no host file uploaded" ||
	fail "the host secret was uploaded for a swapped binary"
stop_server

# (b) The process runs from a path that names such a host file, and exits before the upload
# (the uploader used to fall back to the host's own path). It spins 0.4 s at the start of a 4 s
# interval, so it is gone when the interval closes and its files are queued.
rm -rf "$TMP/stubs/debuginfo" "$TMP/spool"
start_server "$TMP/up2.jsonl"
R=$TMP/ctr8
new_root "$R"
mkdir -p "$R$TMP/host"
mv "$R/hostile-spin" "$R$TMP/host/secret.bin"
in_root "$R" "$TMP/host/secret.bin" 0.4 >"$R.out" 2>&1 &
PIDS+=($!)
wait_for "$R.out" '^pid ' 10
gone=$(sed -n 's/^pid //p' "$R.out")
"$SCORCH" agent --remote-store-address "$ADDR" --remote-store-insecure --profiling-duration 4s \
	--spool-dir "$TMP/spool" --debuginfo-upload -p "$gone" 2>"$TMP/agent8.log" &
AGENT=$!
PIDS+=("$AGENT")
wait_for "$TMP/agent8.log" 'info: profiling' 30 || fail "the agent did not start: $(cat "$TMP/agent8.log")"
touch "$R/go"
# its samples reach the server; an upload would start at once (nothing else is queued)
if wait_for "$TMP/up2.jsonl" "\"pid\": \"$gone\"" 30; then
	wait_for "$TMP/up2.jsonl.debuginfo" "\"MarkUploadFinished\".*$BID" 5 || true
	[ "$(leaked)" -eq 0 ] && ok "a process gone before the upload: no host file uploaded" ||
		fail "the host file at the process's path was uploaded"
else
	fail "no samples of the short process reached the server: $(tail -3 "$TMP/agent8.log")"
fi
kill -TERM "$AGENT"
wait "$AGENT"

# 10. Symbol bombs: 500,000 function symbols all named by one 1000-byte string (a 12 MB file),
# and the same table as 10 KB of MiniDebugInfo. Copying each symbol's name cost 560 MB. Names
# are copied once now; what is left is the table's own size a few times over while it is read
# (its file pages, the array of its 500,000 entries, the decompressed image): about 45 MB at
# the peak with a record's own 10 MB, under 64 MB.
mkdir -m 755 "$TMP/bomb"
cp "$SYMBOMB" "$TMP/bomb/symbomb"
"$SYMBOMB" write "$TMP/bomb/bomb.so" 500000 1000
"$SYMBOMB" write "$TMP/bomb/minibomb.so" 500000 1000 mini
chown -R $NOBODY:$NOBODY "$TMP/bomb"
for b in bomb minibomb; do
	(cd "$TMP/bomb" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		./symbomb run "$b.so" 30 >"$TMP/$b.out") &
	PIDS+=($!)
	wait_for "$TMP/$b.out" '^pid ' 10 || { fail "the $b process did not start"; continue; }
	SPIN_PID=$(sed -n 's/^pid //p' "$TMP/$b.out")
	PIDS+=("$SPIN_PID")
	if record "$b" "$TMP/bomb"; then
		rss=$(cat "$TMP/$b.rss")
		[ "$rss" -lt 65536 ] && ok "$b.so ($(stat -c %s "$TMP/bomb/$b.so") bytes): peak RSS $((rss / 1024)) MB" ||
			fail "$b.so took $((rss / 1024)) MB"
		has "$b" ';AAAAAAAAAA' && ok "$b.so still named by its symbol" ||
			fail "$b.so not named: $(cut -c 1-100 "$TMP/$b.folded" | head -3)"
	else
		fail "capture of $b.so failed: $(tail -3 "$TMP/$b.log")"
	fi
	kill "$SPIN_PID" 2>/dev/null
done
# The agent's budget for all files' symbol tables (32 MiB): four bombs with their 500,000 symbols
# at addresses of their own (12 MB of table each) do not all fit; those past it keep bare
# addresses, said once. The agent's peak, its own ~35 MB, the budget and a table's file pages
# while it is read, stays under 96 MB, inside its MemoryMax=128M (it was 2 GB: 500 MB a bomb).
bombs=()
for i in 1 2 3 4; do
	"$SYMBOMB" write "$TMP/bomb/spread$i.so" 500000 1000 spread
	chown $NOBODY:$NOBODY "$TMP/bomb/spread$i.so"
	(cd "$TMP/bomb" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		./symbomb run "spread$i.so" 30 >"$TMP/spread$i.out") &
	PIDS+=($!)
	wait_for "$TMP/spread$i.out" '^pid ' 10 || fail "bomb process $i did not start"
	bombs+=("$(sed -n 's/^pid //p' "$TMP/spread$i.out")")
done
PIDS+=("${bombs[@]}")
"$SCORCH" agent --output-dir "$TMP/bomb-out" --profiling-duration 1s \
	-p "$(IFS=,; echo "${bombs[*]}")" 2>"$TMP/bomb-agent.log" &
AGENT=$!
PIDS+=("$AGENT")
for _ in $(seq 200); do
	[ "$(ls "$TMP/bomb-out" 2>/dev/null | wc -l)" -ge 3 ] && break
	sleep 0.1
done
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT/status" 2>/dev/null || echo 0)
kill -TERM "$AGENT"
wait "$AGENT" && rc=0 || rc=$?
[ "$rc" -eq 0 ] && [ "$peak" -gt 0 ] && [ "$peak" -lt 98304 ] &&
	ok "agent with four bombs: peak RSS $((peak / 1024)) MB" ||
	fail "agent with four bombs: exit $rc, peak RSS $((peak / 1024)) MB: $(tail -3 "$TMP/bomb-agent.log")"
[ "$(grep -c 'symbol tables over their memory budget (32 MiB for all files)' "$TMP/bomb-agent.log")" -eq 1 ] &&
	ok "the agent's symbol budget hit, said once" ||
	fail "no word of the symbol budget: $(grep -v info: "$TMP/bomb-agent.log" | head -5)"
kill "${bombs[@]}" 2>/dev/null

# 11. A library its process owns, dlopen'ed (mapped, not exec'ed: it can still be written), cut to
# the end of its last PT_LOAD once scorch has it mapped: the symbol table, DWARF and section
# headers that scorch reads later (building the profile) are gone, and reading them was a
# SIGBUS that killed record and agent (exit 135). Now the file is said to have shrunk, once, and
# the capture goes on.
# start_shrink NAME: a copy of the library and its process; sets SHRINK_PID, KEEP and LIB
start_shrink() {
	local d=$TMP/$1
	mkdir -m 755 "$d"
	cp "$SHRINK_SPIN" "$SHRINK_LIB" "$d/"
	chown -R $NOBODY:$NOBODY "$d"
	LIB=$d/$(basename "$SHRINK_LIB")
	(cd "$d" && exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		./shrink-spin "$LIB" 30 >"$d.out" 2>&1) &
	PIDS+=($!)
	wait_for "$d.out" '^pid ' 10 || { fail "the shrinking process did not start: $(cat "$d.out")"; finish; }
	SHRINK_PID=$(sed -n 's/^pid \([0-9]*\) .*/\1/p' "$d.out")
	KEEP=$(sed -n 's/.* keep //p' "$d.out")
	PIDS+=("$SHRINK_PID")
}
# cut_when_mapped PID: once scorch (PID) maps the library, its owner cuts it; false if never
cut_when_mapped() {
	local _
	for _ in $(seq 300); do
		if grep -qF "$LIB" "/proc/$1/maps" 2>/dev/null; then
			setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups truncate -s "$KEEP" "$LIB"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
# wait_bounded PID SECONDS: its exit status; killed (137) when it takes longer
wait_bounded() {
	local _ rc=0
	for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" || rc=$?
	return $rc
}
start_shrink shrink
"$SCORCH" record -p "$SHRINK_PID" -d 3 --format folded --no-comm-root -o "$TMP/shrink.folded" 2>"$TMP/shrink.log" &
rec=$!
PIDS+=("$rec")
cut_when_mapped "$rec" || fail "scorch record never mapped '$LIB'"
[ "$(stat -c %s "$LIB")" -eq "$KEEP" ] || fail "the library was not cut: $(stat -c %s "$LIB") bytes"
wait_bounded "$rec" 60 && rc=0 || rc=$?
[ "$rc" -eq 0 ] && ok "record survives its profiled library cut short under it" ||
	fail "record of a shrinking library: exit $rc $(tail -3 "$TMP/shrink.log")"
grep -qE ';(lib_spin|libshrink\.so\+0x)' "$TMP/shrink.folded" 2>/dev/null &&
	ok "the profile is written, with the library's frames" ||
	fail "no profile of the shrinking library: $(head -3 "$TMP/shrink.folded" 2>&1)"
[ "$(grep -c "'$LIB': file shrank while being read, keeping what was read" "$TMP/shrink.log")" -eq 1 ] &&
	ok "the shrink is said once" || fail "the shrink not said once: $(cat "$TMP/shrink.log")"

# the agent, whose every interval reads files: it goes on writing profiles, and stops cleanly
start_shrink shrink-agent
"$SCORCH" agent --output-dir "$TMP/shrink-out" --profiling-duration 1s -p "$SHRINK_PID" \
	2>"$TMP/shrink-agent.log" &
AGENT=$!
PIDS+=("$AGENT")
cut_when_mapped "$AGENT" || fail "scorch agent never mapped '$LIB'"
before=$(ls "$TMP/shrink-out" 2>/dev/null | wc -l)
for _ in $(seq 100); do
	[ "$(ls "$TMP/shrink-out" 2>/dev/null | wc -l)" -ge $((before + 2)) ] && break
	kill -0 "$AGENT" 2>/dev/null || break
	sleep 0.1
done
kill -TERM "$AGENT" 2>/dev/null
wait_bounded "$AGENT" 30 && rc=0 || rc=$?
after=$(ls "$TMP/shrink-out" 2>/dev/null | wc -l)
[ "$rc" -eq 0 ] && [ "$after" -ge $((before + 2)) ] &&
	ok "the agent goes on after the cut ($((after - before)) more profiles), exits 0" ||
	fail "agent with a shrinking library: exit $rc, $before then $after profiles: $(tail -3 "$TMP/shrink-agent.log")"
finish
