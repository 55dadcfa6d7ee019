#!/usr/bin/env bash
# Run one command as root inside a QEMU guest booted on one of Debian's kernels, with the host's
# filesystem as the guest's root (read-only over 9p, under a tmpfs overlay), so that a tree built
# on the host can be tested on another kernel.
#
#   tests/kernels/run-in-guest.sh KERNEL COMMAND [ARGS...]
#
# KERNEL is 5.10 (bullseye), 6.1 (bookworm) or 6.12 (bookworm-security or -backports): the
# newest Debian package of that series. COMMAND runs from the same directory as the caller, with
# PATH, CI, HOME=/root and the variables named in RUN_IN_GUEST_ENV; its stdout and stderr come
# back on this script's stdout and stderr (after the guest powers off) and its exit status is
# this script's. 125 and a one-line message: the guest could not be booted or did not report
# (its console's last lines follow).
#
# Environment:
#   RUN_IN_GUEST_ENV      names of variables to pass to the command (space-separated)
#   RUN_IN_GUEST_TIMEOUT  seconds before QEMU is killed (default 900)
#   RUN_IN_GUEST_OUTDIR   an existing host directory mounted read-write in the guest at the
#                         same path (the rest of the host is read-only there)
#   RUN_IN_GUEST_MEM, RUN_IN_GUEST_SMP   guest memory (default 3G) and CPUs (default 2)
#   RUN_IN_GUEST_ACCEL    kvm or tcg (default: kvm when a probe boot with it works)
#   RUN_IN_GUEST_CONSOLE  keep the guest's console log in this file
#   SCORCH_KERNEL_CACHE   downloaded packages, kernels and initramfs (/var/cache/scorch/kernels)
#
# Only Debian's archive is downloaded from, with an apt state of its own under the cache (never
# the system's sources). The cache is keyed by package version and built under a lock, so that
# concurrent runs share it.
set -euo pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SCORCH_KERNEL_CACHE:-/var/cache/scorch/kernels}
TIMEOUT=${RUN_IN_GUEST_TIMEOUT:-900}
MEM=${RUN_IN_GUEST_MEM:-3G}
SMP=${RUN_IN_GUEST_SMP:-2}
# apt lists older than this are refreshed before picking the newest kernel package
LISTS_MAX_AGE=${SCORCH_KERNEL_LISTS_MAX_AGE:-86400}
# the modules the 9p root and the overlay need, and FUSE for the tests that use it; their
# dependencies are added, modules built in or absent from a kernel are skipped
WANTED_MODULES=(virtio_pci 9pnet_virtio 9p overlay fuse)

KERNEL=${1:-}
if [ $# -lt 2 ]; then
	echo "usage: $0 KERNEL COMMAND [ARGS...]   (KERNEL: 5.10, 6.1 or 6.12)" >&2
	exit 2
fi
shift

# a run that cannot boot the guest or get its report ends here: status 125, one line
die() {
	echo "run-in-guest: kernel $KERNEL: $*" >&2
	exit 125
}
note() { echo "run-in-guest: kernel $KERNEL: $*" >&2; }

case $KERNEL in
5.10)
	DIST=bullseye
	PATTERN='^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$'
	;;
6.1)
	DIST=bookworm
	PATTERN='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$'
	;;
6.12)
	DIST=bookworm
	PATTERN='^linux-image-6\.12\.[0-9]+\+(deb12|bpo)-amd64-unsigned$'
	;;
*)
	echo "run-in-guest: unknown kernel '$KERNEL' (5.10, 6.1 or 6.12)" >&2
	exit 2
	;;
esac

for tool in qemu-system-x86_64 apt-get dpkg flock objcopy readelf xz gzip; do
	command -v "$tool" >/dev/null || die "'$tool' is missing (scripts/lib/common.sh lists the packages)"
done
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx switch_root ||
	die "/bin/busybox (busybox-static) is missing"
[ "$(id -u)" -eq 0 ] || die "needs root (the guest exports the host's whole filesystem)"
case $TIMEOUT in '' | *[!0-9]*) die "RUN_IN_GUEST_TIMEOUT '$TIMEOUT' is not a number of seconds" ;; esac
for name in ${RUN_IN_GUEST_ENV:-}; do
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "RUN_IN_GUEST_ENV: '$name' is not a variable name"
done
if [ -n "${RUN_IN_GUEST_OUTDIR:-}" ]; then
	[ -d "$RUN_IN_GUEST_OUTDIR" ] || die "RUN_IN_GUEST_OUTDIR '$RUN_IN_GUEST_OUTDIR' is not a directory"
	RUN_IN_GUEST_OUTDIR=$(cd "$RUN_IN_GUEST_OUTDIR" && pwd)
fi

mkdir -p "$CACHE"
exec {lockfd}>>"$CACHE/lock"

# --- the kernel package: newest of the series, downloaded once --------------------------------

APT_DIR=$CACHE/apt/$DIST
APT_OPTS=(-o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o Dir::Etc::sourceparts=-
	-o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
	-o "Dir::State::status=$APT_DIR/status" -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0
	-o Acquire::Retries=3)

apt_refresh() {
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg suites s
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	[ -f "$APT_DIR/status" ] || : >"$APT_DIR/status"
	case $DIST in
	bullseye) suites="bullseye" ;;
	bookworm) suites="bookworm bookworm-backports" ;;
	esac
	{
		for s in $suites; do
			echo "deb [signed-by=$keyring] http://deb.debian.org/debian $s main"
		done
		echo "deb [signed-by=$keyring] http://deb.debian.org/debian-security $DIST-security main"
	} >"$APT_DIR/sources.list"
	local age=$LISTS_MAX_AGE
	if [ -f "$APT_DIR/updated" ]; then
		age=$(($(date +%s) - $(stat -c %Y "$APT_DIR/updated")))
	fi
	[ "$age" -lt "$LISTS_MAX_AGE" ] && return 0
	if apt-get -qq "${APT_OPTS[@]}" update >"$APT_DIR/update.log" 2>&1; then
		touch "$APT_DIR/updated" "$APT_DIR/lists"
	else
		note "cannot update the $DIST package lists (apt-get update: $(tail -1 "$APT_DIR/update.log")), using the lists or kernels already cached"
	fi
}

# newest package of the series in the lists: prints "NAME VERSION" (remembered until the lists
# change: apt-cache takes seconds)
apt_newest() {
	local memo=$APT_DIR/newest-$KERNEL names best
	if [ -s "$memo" ] && [ "$memo" -nt "$APT_DIR/lists" ]; then
		cat "$memo"
		return
	fi
	names=$(apt-cache "${APT_OPTS[@]}" search --names-only "$PATTERN" 2>/dev/null |
		awk '{ print $1 }' | grep -E "$PATTERN" || true)
	[ -n "$names" ] || return 1
	# shellcheck disable=SC2086 # one name per word
	best=$(apt-cache "${APT_OPTS[@]}" madison $names | awk -F'|' '{ gsub(/ /, ""); print $1, $2 }' |
		while read -r name ver; do
			if [ -z "${best_ver:-}" ] || dpkg --compare-versions "$ver" gt "$best_ver"; then
				best_name=$name best_ver=$ver
			fi
			echo "$best_name $best_ver"
		done | tail -1)
	[ -n "$best" ] || return 1
	echo "$best" >"$memo.$$" && mv "$memo.$$" "$memo"
	echo "$best"
}

# --- the boot files: kernel, initramfs with busybox and the modules it loads -------------------

# module_file ROOT KVER NAME: path of the module NAME, "builtin", or nothing
module_file() {
	local root=$1 kver=$2 name=${3//-/_} f
	if grep -qE "/${name//_/[_-]}\.ko$" "$root/lib/modules/$kver/modules.builtin" 2>/dev/null; then
		echo builtin
		return
	fi
	f=$(find "$root/lib/modules/$kver/kernel" -regextype posix-extended \
		-regex ".*/${name//_/[_-]}\.ko(\.xz|\.zst|\.gz)?" -print -quit)
	[ -n "$f" ] && echo "$f"
	return 0
}

# add_module ROOT KVER NAME INITRD: unpack NAME and what it depends on into INITRD/modules,
# dependencies first, and append them to INITRD/modules/order
add_module() {
	local root=$1 kver=$2 name=${3//-/_} initrd=$4 f dep deps
	grep -qx "$name.ko" "$initrd/modules/order" 2>/dev/null && return 0
	f=$(module_file "$root" "$kver" "$name")
	case $f in
	builtin) echo "$name (built in)" >>"$initrd/modules.txt"; return 0 ;;
	'') echo "$name (absent)" >>"$initrd/modules.txt"; return 0 ;;
	esac
	case $f in
	*.ko.xz) xz -dc "$f" >"$initrd/modules/$name.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$initrd/modules/$name.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$initrd/modules/$name.ko" ;;
	*) cp "$f" "$initrd/modules/$name.ko" ;;
	esac
	# objcopy writes only to a file it can seek in
	objcopy -O binary --only-section=.modinfo "$initrd/modules/$name.ko" "$initrd/modinfo"
	deps=$(tr '\0' '\n' <"$initrd/modinfo" | sed -n 's/^depends=//p' | tr ',' ' ')
	rm -f "$initrd/modinfo"
	for dep in $deps; do
		add_module "$root" "$kver" "$dep" "$initrd"
	done
	echo "$name.ko" >>"$initrd/modules/order"
	echo "$name" >>"$initrd/modules.txt"
}

# extract_vmlinux BZIMAGE OUT: the uncompressed kernel, when it has a PVH entry (a Xen ELF note
# of type 0x12) that QEMU can boot directly: under TCG this skips seconds of decompression
extract_vmlinux() {
	local bz=$1 out=$2 magic off
	for magic in '\xfd7zXZ\x00:xz -dc' '\x1f\x8b\x08:gzip -dc' '\x28\xb5\x2f\xfd:zstd -qdc'; do
		off=$(LC_ALL=C grep -obUaP "${magic%%:*}" "$bz" | head -1 | cut -d: -f1 || true)
		[ -n "$off" ] || continue
		# the compressed payload is followed by other data: decompressors complain, ignore them
		tail -c +$((off + 1)) "$bz" | ${magic#*:} >"$out" 2>/dev/null || true
		if readelf -n "$out" 2>/dev/null | grep -q 'Xen .*(0x00000012)'; then
			return 0
		fi
	done
	rm -f "$out"
	return 1
}

# build_boot DEB DIR: extract the kernel from DEB, build the initramfs, into DIR (new)
build_boot() {
	local deb=$1 dir=$2 x=$2/extract kver m
	mkdir -p "$x" "$dir/initrd/bin" "$dir/initrd/modules"
	dpkg -x "$deb" "$x"
	kver=$(ls "$x/lib/modules")
	[ -n "$kver" ] && [ -f "$x/boot/vmlinuz-$kver" ] || return 1
	cp "$x/boot/vmlinuz-$kver" "$dir/vmlinuz"
	extract_vmlinux "$dir/vmlinuz" "$dir/vmlinux" || true
	cp "$x/boot/config-$kver" "$dir/config" 2>/dev/null || true
	echo "$kver" >"$dir/kver"
	: >"$dir/initrd/modules/order"
	for m in "${WANTED_MODULES[@]}"; do
		add_module "$x" "$kver" "$m" "$dir/initrd"
	done
	mv "$dir/initrd/modules.txt" "$dir/modules.txt"
	cp /bin/busybox "$dir/initrd/bin/busybox"
	cp "$SELF_DIR/guest-init" "$dir/initrd/init"
	cp "$SELF_DIR/guest-stage2" "$dir/initrd/stage2"
	chmod 755 "$dir/initrd/init" "$dir/initrd/stage2"
	(cd "$dir/initrd" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) |
		gzip -1 >"$dir/initrd.img"
	rm -rf "$x" "$dir/initrd"
}

prepare_kernel() {
	local newest name ver deb boot tmp sum old
	apt_refresh
	newest=$(apt_newest || true)
	if [ -z "$newest" ]; then
		# offline: the newest kernel of the series already in the cache
		boot=$(for b in "$CACHE"/boot/*/series; do
			[ -f "$b" ] && grep -qx "$KERNEL" "$b" && dirname "$b"
		done | sort -V | tail -1)
		[ -n "$boot" ] || die "no Debian package matches '$PATTERN' in the $DIST lists and none is cached"
		note "using the cached $(basename "$boot")"
		BOOT=$boot
		return
	fi
	read -r name ver <<<"$newest"
	deb=$CACHE/debs/${name}_${ver}_amd64.deb
	# the boot files are rebuilt when the scripts that make them change
	sum=$(cat "${BASH_SOURCE[0]}" "$SELF_DIR/guest-init" "$SELF_DIR/guest-stage2" | sha256sum)
	boot=$CACHE/boot/${name}_${ver}_${sum:0:12}
	if [ ! -f "$boot/initrd.img" ]; then
		mkdir -p "$CACHE/debs" "$CACHE/boot"
		if [ ! -f "$deb" ]; then
			note "downloading $name $ver"
			tmp=$(mktemp -d "$CACHE/debs/.download.XXXXXX")
			if ! (cd "$tmp" && apt-get -qq "${APT_OPTS[@]}" download "$name=$ver" >"$tmp/log" 2>&1); then
				note "apt-get download $name=$ver: $(tail -1 "$tmp/log")"
				rm -rf "$tmp"
				die "cannot download $name $ver"
			fi
			mv "$tmp"/*.deb "$deb"
			rm -rf "$tmp"
		fi
		tmp=$(mktemp -d "$CACHE/boot/.build.XXXXXX")
		if ! build_boot "$deb" "$tmp"; then
			rm -rf "$tmp"
			die "cannot extract a kernel from $deb"
		fi
		echo "$KERNEL" >"$tmp/series"
		echo "$name $ver" >"$tmp/package"
		mv "$tmp" "$boot"
		# older builds of this package (a run that started from one has loaded it already)
		for old in "$CACHE/boot/${name}_${ver}"_*; do
			[ "$old" = "$boot" ] || rm -rf "$old"
		done
	fi
	BOOT=$boot
}

flock "$lockfd"
prepare_kernel
flock -u "$lockfd"
KVER=$(cat "$BOOT/kver")
KERNEL_IMAGE=$BOOT/vmlinuz
[ -f "$BOOT/vmlinux" ] && KERNEL_IMAGE=$BOOT/vmlinux

# --- the run: a shared directory for the command, its environment and its results -------------

RUN=$(mktemp -d "${TMPDIR:-/tmp}/run-in-guest.XXXXXX")
QEMU_PID=""
finish() {
	if [ -n "$QEMU_PID" ]; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	rm -rf "$RUN"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$RUN/share"

{
	echo "export PATH=$(printf %q "$PATH") HOME=/root"
	[ -n "${CI+set}" ] && echo "export CI=$(printf %q "$CI")"
	for name in ${RUN_IN_GUEST_ENV:-}; do
		[ -n "${!name+set}" ] && echo "export $name=$(printf %q "${!name}")"
	done
	echo "cd $(printf %q "$PWD") || exit 125"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$RUN/share/command"
printf '%s\n' "${RUN_IN_GUEST_OUTDIR:-}" >"$RUN/share/outdir"
echo "scorch-guest-${KERNEL//./-}" >"$RUN/share/hostname"

QEMU_ARGS=(-nodefaults -no-user-config -display none -monitor none -no-reboot
	-serial "file:$RUN/console"
	-m "$MEM" -smp "$SMP" -nic none
	-kernel "$KERNEL_IMAGE" -initrd "$BOOT/initrd.img"
	-append "console=ttyS0 quiet loglevel=3 panic=-1 tsc=unstable clocksource=hpet rdinit=/init"
	-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
	-fsdev "local,id=share,path=$RUN/share,security_model=none"
	-device virtio-9p-pci,fsdev=share,mount_tag=share)
if [ -n "${RUN_IN_GUEST_OUTDIR:-}" ]; then
	QEMU_ARGS+=(-fsdev "local,id=outdir,path=$RUN_IN_GUEST_OUTDIR,security_model=none"
		-device virtio-9p-pci,fsdev=outdir,mount_tag=outdir)
fi

# KVM when it works here: a probe boot of the guest kernel that must reach the init script (on
# some hosts -enable-kvm fails on a model-specific register, or the vCPU never runs)
kvm_works() {
	[ -w /dev/kvm ] || return 1
	local probe=$CACHE/kvm-probe
	# one probe per host boot and QEMU build
	local key
	key="$(cat /proc/sys/kernel/random/boot_id) $(qemu-system-x86_64 --version | head -1)"
	if [ -f "$probe" ] && [ "$(head -1 "$probe")" = "$key" ]; then
		[ "$(sed -n 2p "$probe")" = yes ]
		return
	fi
	local log=$RUN/kvm-probe.log pid ok=no i
	# in a subshell: bash would report QEMU's abort on this script's stderr
	(exec qemu-system-x86_64 -accel kvm -cpu host -nodefaults -no-user-config -display none \
		-monitor none -no-reboot -serial "file:$log" -m 256M -kernel "$BOOT/vmlinuz" \
		-append "console=ttyS0 panic=-1 rdinit=/nonexistent" </dev/null >"$log.qemu" 2>&1) &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		if grep -q "Kernel panic\|Run /nonexistent\|No working init" "$log" 2>/dev/null; then
			ok=yes
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	printf '%s\n%s\n' "$key" "$ok" >"$probe.$$" && mv "$probe.$$" "$probe"
	[ "$ok" = yes ]
}

case ${RUN_IN_GUEST_ACCEL:-auto} in
kvm) QEMU_ARGS+=(-accel kvm -cpu host) ;;
tcg) QEMU_ARGS+=(-accel tcg,thread=multi -cpu max) ;;
auto)
	# its stderr too: bash reports there a QEMU that aborted
	if kvm_works 2>/dev/null; then
		QEMU_ARGS+=(-accel kvm -cpu host)
	else
		QEMU_ARGS+=(-accel tcg,thread=multi -cpu max)
	fi
	;;
*) die "RUN_IN_GUEST_ACCEL '$RUN_IN_GUEST_ACCEL' is not kvm, tcg or auto" ;;
esac

console_tail() {
	echo "run-in-guest: last lines of the guest's console:" >&2
	tail -n 30 "$RUN/console" 2>/dev/null | sed 's/\r$//' >&2 || true
}

qemu-system-x86_64 "${QEMU_ARGS[@]}" </dev/null >"$RUN/qemu.log" 2>&1 &
QEMU_PID=$!
start=$SECONDS
while kill -0 "$QEMU_PID" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
		QEMU_PID=""
		[ -n "${RUN_IN_GUEST_CONSOLE:-}" ] && cp "$RUN/console" "$RUN_IN_GUEST_CONSOLE"
		[ -f "$RUN/share/stdout" ] && cat "$RUN/share/stdout"
		[ -f "$RUN/share/stderr" ] && cat "$RUN/share/stderr" >&2
		console_tail
		die "$KVER: the guest did not finish in $TIMEOUT s (RUN_IN_GUEST_TIMEOUT), QEMU killed"
	fi
	sleep 0.2
done
qemu_status=0
wait "$QEMU_PID" || qemu_status=$?
QEMU_PID=""
[ -n "${RUN_IN_GUEST_CONSOLE:-}" ] && cp "$RUN/console" "$RUN_IN_GUEST_CONSOLE"

[ -f "$RUN/share/stdout" ] && cat "$RUN/share/stdout"
[ -f "$RUN/share/stderr" ] && cat "$RUN/share/stderr" >&2
status=$(cat "$RUN/share/status" 2>/dev/null || true)
case $status in
'' | *[!0-9]*)
	sed 's/^/run-in-guest: qemu: /' "$RUN/qemu.log" | grep -v 'requested feature' >&2 || true
	console_tail
	if [ -f "$RUN/share/error" ]; then
		die "$KVER: $(cat "$RUN/share/error")"
	fi
	die "$KVER: the guest did not report an exit status (QEMU status $qemu_status)"
	;;
esac
exit "$status"
