#!/usr/bin/env bash
# Clear one-line errors, the documented exit code and no output file for each kind of bad input.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

# expect CODE PATTERN ARGS... : run scorch, check exit code, a one-line message and no output
expect() {
	local code=$1 pattern=$2 out="$TMP/out.pb.gz" rc=0
	shift 2
	rm -f "$out"
	"$SCORCH" "$@" >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
	if [ "$rc" -ne "$code" ]; then fail "scorch $* exited $rc, expected $code"; cat "$TMP/stderr"; return; fi
	if ! grep -qE "$pattern" "$TMP/stderr"; then fail "scorch $*: no /$pattern/ in: $(cat "$TMP/stderr")"; return; fi
	if [ "$(wc -l <"$TMP/stderr")" -ne 1 ]; then fail "scorch $*: more than one line: $(cat "$TMP/stderr")"; return; fi
	if ls "$TMP"/out.pb.gz "$TMP"/.out.pb.gz.* >/dev/null 2>&1; then fail "scorch $*: left an output file"; return; fi
	ok "scorch $* -> $rc: $(cat "$TMP/stderr")"
}
o=(-o "$TMP/out.pb.gz")

expect 2 "invalid frequency '0'" record -F 0 "${o[@]}"
expect 2 "invalid frequency '10001'" record -F 10001 "${o[@]}"
expect 2 "invalid frequency 'fast'" record -F fast "${o[@]}"
expect 2 "invalid duration '-1'" record -d -1 "${o[@]}"
expect 2 "invalid duration 'soon'" record -d soon "${o[@]}"
expect 2 "invalid duration '0'" record -d 0 "${o[@]}"
expect 2 "invalid pid list '12,abc'" record -p 12,abc "${o[@]}"
expect 2 "invalid pid list '0'" record -p 0 "${o[@]}"
expect 2 "invalid pid list '1,,2'" record -p 1,,2 "${o[@]}"
expect 2 "unknown option '--bogus'" record --bogus "${o[@]}"
expect 2 "unknown option '-x'" record -x "${o[@]}"
expect 2 "needs a value" record "${o[@]}" -F
expect 2 "unknown format 'svg'" record --format svg "${o[@]}"
# long options only when spelled whole: a prefix may be another tool's flag with a secret value
expect 2 "unknown option '--fre'" record --fre 99 "${o[@]}"
expect 2 "unknown option '--form'" record --form=folded "${o[@]}"
expect 2 "unknown option '--remote-store-addr'" agent --remote-store-addr h:1 --output-dir "$TMP/x"
expect 2 "unknown option '--to'" report --to 3 /nonexistent
expect 2 "unknown option '--fail-on'" diff --fail-on 2 a b
# Parca Agent's own token flag: refused with a pointer, its value never shown
for form in "--remote-store-bearer-token s3cr3t" "--remote-store-bearer-token=s3cr3t"; do
	# shellcheck disable=SC2086
	expect 2 "not scorch's: .*--remote-store-bearer-token-file FILE" agent $form --output-dir "$TMP/x"
	grep -q s3cr3t "$TMP/stderr" && fail "the token value was printed: $(cat "$TMP/stderr")"
done
expect 2 "unknown option '--secret-flag'" record --secret-flag=s3cr3t "${o[@]}"
grep -q s3cr3t "$TMP/stderr" && fail "an unknown option's value was printed: $(cat "$TMP/stderr")"
expect 2 "unknown command 'recrod'" recrod
expect 1 "pid 2147483647: no such process" record -p 2147483647 "${o[@]}"
expect 1 "cannot write '/nonexistent-dir/x.pb.gz'" record -d 1 -o /nonexistent-dir/x.pb.gz
expect 1 "cannot write '$TMP': Is a directory" record -d 1 -o "$TMP"
expect 1 "cannot start '/nonexistent/command'" record "${o[@]}" -- /nonexistent/command
expect 1 "cannot start 'no-such-command-scorch'" record "${o[@]}" -- no-such-command-scorch
touch "$TMP/not-executable"
expect 1 "cannot start '$TMP/not-executable': Permission denied" record "${o[@]}" -- "$TMP/not-executable"
SCORCH_KERNEL_BTF=/nonexistent/vmlinux expect 1 "the kernel has no BTF" record -d 1 "${o[@]}"
SCORCH_KERNEL_BTF=/nonexistent/vmlinux expect 1 "the kernel \\(.*\\) has no BTF" agent --output-dir "$TMP/x"
expect 1 "cannot read BTF file '/nonexistent/btf'" record --btf /nonexistent/btf -d 1 "${o[@]}"

# without privileges: an unprivileged user, and root with every capability dropped
chmod 777 "$TMP"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$SCORCH" record -d 1 "${o[@]}" 2>"$TMP/stderr" || rc=$?
if [ "$rc" -eq 1 ] && grep -q "needs root, or the CAP_BPF and CAP_PERFMON" "$TMP/stderr" && [ ! -e "$TMP/out.pb.gz" ]; then
	ok "unprivileged user: $(cat "$TMP/stderr")"
else
	fail "unprivileged user: rc=$rc $(cat "$TMP/stderr")"
fi
rc=0
setpriv --inh-caps=-all --bounding-set=-all "$SCORCH" record -d 1 "${o[@]}" 2>"$TMP/stderr" || rc=$?
if [ "$rc" -eq 1 ] && grep -q "needs root" "$TMP/stderr"; then ok "root without capabilities: refused"; else fail "root without capabilities: rc=$rc $(cat "$TMP/stderr")"; fi

# help and version
"$SCORCH" --help | grep -q "^Examples:" && ok "scorch --help has examples" || fail "scorch --help"
"$SCORCH" record --help | grep -q "^Examples:" && ok "scorch record --help has examples" || fail "record --help"
"$SCORCH" --version | grep -qE '^scorch [0-9]+\.[0-9]+' && ok "scorch --version" || fail "--version"
finish
