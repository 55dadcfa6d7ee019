#!/usr/bin/env bash
# meson install puts the program, its manual page and its bash completion in place; the page
# has a section for every command the program lists and renders with man; the completion
# offers the commands, each command's options as its --help gives them, and option values.
# Usage: install.sh BUILD_ROOT
set -uo pipefail
build=${1:?build root}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

meson install -C "$build" --destdir "$TMP/root" --no-rebuild --quiet >"$TMP/log" 2>&1 ||
	{ echo "FAIL: meson install: $(tail -5 "$TMP/log")"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
bin=$TMP/root$prefix/bin/scorch
man=$(find "$TMP/root" -path '*/man1/scorch.1' | head -1)
comp=$(find "$TMP/root" -path '*/bash-completion/completions/scorch' | head -1)
[ -x "$bin" ] && ok "the program: ${bin#"$TMP/root"}" || fail "no scorch under $TMP/root$prefix/bin"
[ -n "$man" ] && ok "the manual page: ${man#"$TMP/root"}" || fail "no man1/scorch.1 installed"
[ -n "$comp" ] && ok "the bash completion: ${comp#"$TMP/root"}" || fail "no bash-completion/completions/scorch"

# every command of 'scorch --help' has its own entry in the page, and it renders
cmds=$("$bin" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
missing=
for c in $cmds; do grep -q "^\\.B $c\$\|^\\\\fB$c\\\\fR" "$man" 2>/dev/null || missing+=" $c"; done
[ -n "$cmds" ] && [ -z "$missing" ] && ok "the page has every command: $(echo $cmds)" ||
	fail "commands without an entry in the page:${missing:- (no commands found)}"
if command -v man >/dev/null; then
	MANWIDTH=80 man -l "$man" 2>"$TMP/err" >"$TMP/page.txt"
	grep -q "^NAME" "$TMP/page.txt" && grep -q "EXIT STATUS" "$TMP/page.txt" &&
		ok "man -l renders it ($(wc -l <"$TMP/page.txt") lines)" || fail "man -l: $(head -3 "$TMP/err")"
else
	groff -man -Tascii "$man" >"$TMP/page.txt" 2>"$TMP/err" && grep -q "EXIT STATUS" "$TMP/page.txt" &&
		ok "groff renders it" || fail "groff: $(head -3 "$TMP/err")"
fi

# the completion, driven as bash drives it
complete_words() { # complete_words WORD... : what TAB offers for the last word
	PATH=$(dirname "$bin"):$PATH bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_scorch; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@" | sort | tr '\n' ' '
}
got=$(complete_words scorch r)
[ "$got" = "record report " ] && ok "scorch r<TAB>: $got" || fail "scorch r<TAB>: '$got'"
got=$(complete_words scorch report --fo)
[ "$got" = "--focus " ] && ok "scorch report --fo<TAB>: $got" || fail "report --fo<TAB>: '$got'"
got=$(complete_words scorch agent --remote-store-client)
[ "$got" = "--remote-store-client-cert-file --remote-store-client-key-file " ] &&
	ok "agent --remote-store-client<TAB>: $got" || fail "agent --remote-store-client<TAB>: '$got'"
got=$(complete_words scorch report x.pb.gz --granularity "")
[ "$got" = "files functions lines " ] && ok "--granularity <TAB>: $got" || fail "--granularity <TAB>: '$got'"
# every long option a command's --help names is offered
for c in $cmds; do
	want=$("$bin" "$c" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u | tr '\n' ' ')
	got=$(complete_words scorch "$c" --)
	[ "$got" = "$want" ] || fail "scorch $c --<TAB> offers '$got', its --help names '$want'"
done
ok "every command's options offered as its --help names them"
[ "$fails" -eq 0 ] && echo "all checks passed" || { echo "$fails failed"; exit 1; }
