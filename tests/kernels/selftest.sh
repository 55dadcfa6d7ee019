#!/usr/bin/env bash
# Checks of run-in-guest.sh itself, on one kernel (default 6.1): what the guest offers the
# command (root, cwd, environment, mounts, loopback, BTF, memlock), that its output and exit
# status come back apart, that the host's tree is not written to, and status 125 with a message
# naming the kernel when the guest does not report in time.
#
#   tests/kernels/selftest.sh [KERNEL]
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$TOP/tests/integration/lib.sh"
KERNEL=${1:-6.1}
RIG=$TOP/tests/kernels/run-in-guest.sh
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }

# what the command sees, one "key value" a line
probe() {
	echo "uid $(id -u)"
	echo "cwd $PWD"
	echo "kernel $(uname -r)"
	echo "home $HOME"
	echo "ci ${CI-unset}"
	printf 'tricky %q\n' "${TRICKY-unset}"
	echo "unlisted ${UNLISTED-unset}"
	echo "memlock $(ulimit -l)"
	echo "lo $(ip -o link show lo | grep -c 'UP')"
	echo "btf $([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
	echo "procsubst $(cat <(echo works))"
	echo "hosttmp $(cat "$HOSTFILE" 2>/dev/null || echo missing)"
	echo "tmpfs $(findmnt -n -o FSTYPE --target /tmp)"
	local m
	for m in /proc:proc /sys:sysfs /dev:devtmpfs /dev/pts:devpts /dev/shm:tmpfs \
		/run:tmpfs /sys/fs/cgroup:cgroup2 /sys/fs/bpf:bpf; do
		echo "mount ${m%%:*} $(findmnt -n -o FSTYPE --mountpoint "${m%%:*}" || echo none)"
	done
	echo "tree-write $(touch "$PWD/.guest-write-$$" && echo yes || echo no)"
	echo "outdir $(echo from-guest >"$OUT/file" && echo yes || echo no)"
	echo to-stderr >&2
	exit 7
}

OUT=$TMP/out
mkdir "$OUT"
# a file under the host's /tmp, where a fresh clone may live
HOSTFILE=$TMP/host-file
echo from-host >"$HOSTFILE"
cd "$TOP"
rc=0
CI=true TRICKY=$'a b \'c" $d\nline' UNLISTED=x OUT=$OUT HOSTFILE=$HOSTFILE RUN_IN_GUEST_ENV="TRICKY OUT HOSTFILE" \
	RUN_IN_GUEST_OUTDIR=$OUT "$RIG" "$KERNEL" bash -c "$(declare -f probe); probe" \
	>"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
val() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$TMP/stdout"; }

[ "$rc" -eq 7 ] && ok "exit status comes back" || fail "exit status $rc, not 7: $(tail -3 "$TMP/stderr")"
# run-in-guest's own notes (a kernel package downloaded on a machine that had none cached, or a
# newer one the archive just published) are not the guest's
guest_err=$(grep -v "^run-in-guest: kernel $KERNEL: " "$TMP/stderr" || true)
[ "$guest_err" = to-stderr ] && ok "stderr comes back apart" ||
	fail "stderr: '$(head -3 "$TMP/stderr")'"
grep -q to-stderr "$TMP/stdout" && fail "stderr mixed into stdout" || ok "stdout holds no stderr"
[ "$(val uid)" = 0 ] && ok "root" || fail "uid '$(val uid)'"
[ "$(val cwd)" = "$TOP" ] && ok "cwd is the caller's" || fail "cwd '$(val cwd)', not '$TOP'"
case $(val kernel) in "$KERNEL".*) ok "kernel $(val kernel)" ;; *) fail "kernel '$(val kernel)'" ;; esac
[ "$(val home)" = /root ] && ok "HOME=/root" || fail "HOME '$(val home)'"
[ "$(val ci)" = true ] && ok "CI passed" || fail "CI '$(val ci)'"
TRICKY_EXPECTED=$'a b \'c" $d\nline'
[ "$(val tricky)" = "$(printf '%q' "$TRICKY_EXPECTED")" ] && ok "RUN_IN_GUEST_ENV value passed intact" ||
	fail "TRICKY '$(val tricky)'"
[ "$(val unlisted)" = unset ] && ok "unlisted variables not passed" || fail "UNLISTED '$(val unlisted)'"
[ "$(val memlock)" = unlimited ] && ok "ulimit -l unlimited" || fail "memlock '$(val memlock)'"
[ "$(val lo)" = 1 ] && ok "loopback up" || fail "loopback not up"
[ "$(val btf)" = yes ] && ok "kernel BTF readable" || fail "no /sys/kernel/btf/vmlinux"
[ "$(val procsubst)" = works ] && ok "process substitution (/dev/fd)" || fail "no /dev/fd"
[ "$(val tmpfs)" = overlay ] && ok "/tmp is in the overlay" || fail "/tmp is '$(val tmpfs)', not overlay"
[ "$(val hosttmp)" = from-host ] && ok "the host's /tmp seen in the guest" ||
	fail "host file under /tmp: '$(val hosttmp)'"
for m in /proc:proc /sys:sysfs /dev:devtmpfs /dev/pts:devpts /dev/shm:tmpfs \
	/run:tmpfs /sys/fs/cgroup:cgroup2 /sys/fs/bpf:bpf; do
	got=$(awk -v p="${m%%:*}" '$1 == "mount" && $2 == p { print $3 }' "$TMP/stdout")
	[ "$got" = "${m#*:}" ] && ok "${m%%:*} is ${m#*:}" || fail "${m%%:*} is '$got', not ${m#*:}"
done
[ "$(val tree-write)" = yes ] && ok "the tree is writable in the guest" || fail "tree not writable"
ls "$TOP"/.guest-write-* >/dev/null 2>&1 && fail "a write in the guest reached the host's tree" ||
	ok "the host's tree is untouched"
[ "$(cat "$OUT/file" 2>/dev/null)" = from-guest ] && ok "RUN_IN_GUEST_OUTDIR written from the guest" ||
	fail "RUN_IN_GUEST_OUTDIR: '$(cat "$OUT/file" 2>/dev/null)'"

# a guest that does not report in time: 125, a message naming the kernel, QEMU gone
rc=0
# its run directory under $TMP, to find its QEMU by command line
TMPDIR=$TMP RUN_IN_GUEST_TIMEOUT=3 "$RIG" "$KERNEL" sleep 600 >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
[ "$rc" -eq 125 ] && ok "a hung guest: status 125" || fail "a hung guest: status $rc"
grep -q "kernel $KERNEL: .*did not finish in 3 s" "$TMP/stderr" && ok "a hung guest: message" ||
	fail "a hung guest: '$(tail -1 "$TMP/stderr")'"
pgrep -f "qemu-system-x86_64 .*$TMP" >/dev/null && fail "QEMU left running" || ok "QEMU killed"

# a command that cannot start is the command's status, not the guest's
rc=0
"$RIG" "$KERNEL" /nonexistent/command >/dev/null 2>"$TMP/stderr" || rc=$?
[ "$rc" -eq 127 ] && ok "a missing command: status 127" || fail "a missing command: status $rc"
finish
