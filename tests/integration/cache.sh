#!/usr/bin/env bash
# The per-boot cache on the real kernel: kernel symbols and the minimal BTF for CO-RE: written by the first capture, used by the next,
# names that /proc/kallsyms agrees with, and a corrupt cache replaced.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

# two threads for 0.9 s of CPU each: ~180 samples, ~18 of them in the read(2) of in_kernel (with
# ~50 the chance of none in the kernel was 0.5 %, and a repeated run saw it)
run() { "$SCORCH" record -v -d 3 --format folded --no-comm-root -o "$TMP/$1.folded" -- "$WORKLOAD" 2 0.9 >/dev/null 2>"$TMP/$1.err"; }

run cold
check_program "$TMP/cold.err"
grep -q "kernel symbols from /proc/kallsyms (saved to the cache)" "$TMP/cold.err" && ok "first capture fills the cache" ||
	fail "first capture: $(grep 'kernel symbols' "$TMP/cold.err")"
[ -f "$SCORCH_CACHE_DIR/kallsyms" ] && [ "$(stat -c %a "$SCORCH_CACHE_DIR")" = 700 ] &&
	[ "$(stat -c %a "$SCORCH_CACHE_DIR/kallsyms")" = 600 ] && ok "cache private to root (700/600)" || fail "cache file or modes"

run warm
grep -q "kernel symbols from the cache$" "$TMP/warm.err" && ok "next capture uses the cache" ||
	fail "second capture: $(grep 'kernel symbols' "$TMP/warm.err")"
# every kernel frame named from the cache is a symbol the kernel lists now
names=$(grep -o '[^;]*_\[k\]' "$TMP/warm.folded" | sed 's/_\[k\]$//' | sort -u)
n=0 bad=0
for f in $names; do
	n=$((n + 1))
	grep -qE "^[0-9a-f]+ [tTwW] $f(\s|$)" /proc/kallsyms || { bad=$((bad + 1)); echo "not in kallsyms: $f"; }
done
[ "$n" -gt 3 ] && [ "$bad" -eq 0 ] && ok "$n kernel frame names from the cache all in /proc/kallsyms" ||
	fail "$bad of $n cached kernel names unknown to the kernel"
grep -q 'in_kernel;entry_SYSCALL_64[a-z_]*_\[k\]' "$TMP/warm.folded" && ok "syscall frames named" || fail "no syscall frames"

# the minimal BTF for CO-RE, one per boot
btf="$SCORCH_CACHE_DIR/btf-$(cat /proc/sys/kernel/random/boot_id)"
[ -f "$btf" ] && [ "$(stat -c %s "$btf")" -lt 10000 ] && ok "minimal BTF cached ($(stat -c %s "$btf") bytes)" ||
	fail "no minimal BTF in the cache"
# a corrupt one: the kernel's BTF serves, the capture works, the bad file goes
echo "not BTF at all" >"$btf"
run badbtf
grep -q ';worker;hot_a' "$TMP/badbtf.folded" && ok "capture works with a corrupt cached BTF" ||
	fail "corrupt cached BTF broke the capture: $(cat "$TMP/badbtf.err")"
grep -q "not BTF" "$btf" 2>/dev/null && fail "corrupt BTF left in the cache" || ok "corrupt BTF removed"

# a corrupt cache is ignored and rewritten
truncate -s 1000 "$SCORCH_CACHE_DIR/kallsyms"
run corrupt
grep -q "kernel symbols from /proc/kallsyms (saved to the cache)" "$TMP/corrupt.err" && ok "corrupt cache replaced" ||
	fail "corrupt cache: $(grep 'kernel symbols' "$TMP/corrupt.err")"

# libc's compressed debug sections (libc6-dbg): what the first capture inflated, the next reads
# from the cache, with the same lines
dwarf_run() {
	SCORCH_CACHE_DIR=$TMP/dcache "$SCORCH" record -v -d 3 -o "$TMP/$1.pb.gz" -- "$WORKLOAD" 2 0.9 >/dev/null 2>"$TMP/$1.err"
	"$SCORCH" report "$TMP/$1.pb.gz" --granularity lines --json | python3 -c '
import json, sys
for f in json.load(sys.stdin)["functions"]:
    if f["name"].split(" ")[0] in ("start_thread", "__clone3"): print(f["name"])' | sort >"$TMP/$1.lines"
}
if [ -d /usr/lib/debug/.build-id ] && dpkg -s libc6-dbg >/dev/null 2>&1; then
	dwarf_run dcold
	dwarf_run dwarm
	from_cache() { sed -n 's/.*; \([0-9]*\) from the cache of earlier runs.*/\1/p' "$TMP/$1.err"; }
	entries=$(find "$TMP/dcache/dwarf" -name '*.zc' -perm 600 2>/dev/null | wc -l)
	[ "$(from_cache dcold)" = 0 ] && [ "${entries:-0}" -ge 1 ] && [ "$(stat -c %a "$TMP/dcache/dwarf")" = 700 ] &&
		ok "first capture keeps what it inflated ($entries entry, private)" ||
		fail "dwarf cache after the first capture: $(grep DWARF "$TMP/dcold.err"), $entries entries"
	[ "$(from_cache dwarm)" -ge 1 ] && ok "next capture reads units from it ($(from_cache dwarm))" ||
		fail "dwarf cache unused: $(grep DWARF "$TMP/dwarm.err")"
	[ -s "$TMP/dcold.lines" ] && cmp -s "$TMP/dcold.lines" "$TMP/dwarm.lines" &&
		ok "same libc lines from the cache: $(tr '\n' ' ' <"$TMP/dwarm.lines")" ||
		fail "libc lines differ: $(cat "$TMP/dcold.lines") / $(cat "$TMP/dwarm.lines")"
elif [ "${CI:-}" = true ]; then
	fail "libc6-dbg is not installed"
fi

# SCORCH_CACHE_DIR= turns the cache off
SCORCH_CACHE_DIR= run off
grep -q "kernel symbols from /proc/kallsyms$" "$TMP/off.err" && ok "cache can be turned off" ||
	fail "cache off: $(grep 'kernel symbols' "$TMP/off.err")"
finish
