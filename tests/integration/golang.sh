#!/usr/bin/env bash
# Go programs as fleets ship them: stripped of symbols and DWARF (-ldflags='-s -w'), so with no
# CFI and no .symtab, also position-independent, and linked by the system linker (cgo). Their stacks are unwound and named from Go's
# own function table (.gopclntab): whole chains from runtime.goexit down to the sampled leaf,
# the program's known CPU split, and file:line as Go's own addr2line reads the binary.
source "${TESTLIB:?run the integration tests through meson test}"
require_bpf

export GOCACHE=$TMP/gocache GOPATH=$TMP/gopath HOME=$TMP GOFLAGS=-mod=mod GO111MODULE=off
src="$(dirname "$TESTLIB")/../fixtures/gocpu/main.go"
go build -o "$TMP/go-full" "$src" 2>"$TMP/err" &&
	go build -ldflags='-s -w' -o "$TMP/go-stripped" "$src" 2>>"$TMP/err" &&
	go build -buildmode=pie -ldflags='-s -w' -o "$TMP/go-pie" "$src" 2>>"$TMP/err" &&
	CGO_ENABLED=1 go build -buildmode=pie -ldflags='-s -w -linkmode=external' -o "$TMP/go-cgo" \
		"$src" 2>>"$TMP/err" ||
	{ fail "go build: $(cat "$TMP/err")"; finish; }
# what makes these binaries hard: nothing but Go's table to go by
secs=$(readelf -S -W "$TMP/go-stripped")
grep -qE '\.(symtab|eh_frame|debug_frame|zdebug_frame) ' <<<"$secs" &&
	fail "the stripped build still has symbols or CFI" || ok "stripped build: no .symtab, no CFI"

# linked by the system linker as a PIE (as cgo programs are): the table has no section of its own
grep -q gopclntab <<<"$(readelf -S -W "$TMP/go-cgo")" && fail "the cgo build has a .gopclntab section" ||
	ok "cgo PIE: no .gopclntab section"

# the program's entry, where a process's first sample can land, ends a stack as complete
"$GO_UNWIND" "$TMP/go-stripped" >"$TMP/entry.out" 2>&1 && ok "entry frame: $(cat "$TMP/entry.out")" ||
	fail "entry frame: $(cat "$TMP/entry.out")"

for b in stripped pie cgo full; do
	# gocpu writes its own CPU profile too (Go's SIGPROF profiler): its handler shows up
	"$SCORCH" record -v --format folded --no-comm-root -o "$TMP/$b.folded" -- "$TMP/go-$b" "$TMP/$b.pprof" 3 70 \
		>/dev/null 2>"$TMP/$b.err" || fail "$b: record failed: $(cat "$TMP/$b.err")"
	total=$(folded_total "$TMP/$b.folded")
	burn=$(awk '/;main\.burn[AB];/ { s += $NF } END { print s + 0 }' "$TMP/$b.folded")
	# the whole chain, from the goroutine's first frame, named as Go names it (.symtab says
	# runtime.goexit.abi0)
	whole=$(awk '/^runtime\.goexit;runtime\.main;main\.main;main\.burn[AB];main\.spin/ { s += $NF }
		END { print s + 0 }' "$TMP/$b.folded")
	a=$(folded_count "$TMP/$b.folded" main.burnA)
	line=$(grep -o 'user stacks: [0-9]* unwound with CFI in user space ([0-9]* complete' "$TMP/$b.err" || true)
	read -r unwound complete < <(sed -E 's/[^0-9]*([0-9]+)[^0-9]*([0-9]+).*/\1 \2/' <<<"${line:-x 0 0}")
	echo "$b: $total samples, $burn in main.burnA/B, $whole with the whole chain, burnA $(pct "$a" "$burn")%; $line"
	[ "$burn" -gt 200 ] && [ "$whole" -ge $((burn * 97 / 100)) ] &&
		ok "$b: whole chains runtime.goexit;runtime.main;main.main;main.burn*;main.spin ($whole of $burn)" ||
		fail "$b: $whole of $burn samples with the whole chain: $(sort -t' ' -k2 -rn "$TMP/$b.folded" | head -5)"
	[ "${unwound:-0}" -gt 0 ] && [ "$complete" -ge $((unwound * 97 / 100)) ] &&
		ok "$b: $complete of $unwound user stacks complete" || fail "$b: ${line:-no unwind summary}"
	# where an unwind stopped for want of unwind information, the frame was not Go code (the C
	# library's signal return, sampled inside rt_sigreturn, has none at its end: seen once)
	stuck=$(awk '/^\[truncated: no unwind info\];[a-z0-9_\/]+\.[A-Za-z(]/' "$TMP/$b.folded")
	[ -z "$stuck" ] && ok "$b: no Go frame left without unwind info" ||
		fail "$b: Go frames without unwind info: $stuck"
	# about 300 samples: one standard deviation is 2.6 points
	within "$(pct "$a" "$burn")" 70 9 && ok "$b: main.burnA has $(pct "$a" "$burn")% of the split (70)" ||
		fail "$b: main.burnA $(pct "$a" "$burn")% of main.burnA/B, not 70±9"
done

# lines from the table, checked against go tool addr2line reading the same binary, at every
# location of the binary's mapping: a leaf's address is the sampled pc, a caller's the return
# address - 1 (inside the call instruction), so each is looked up at its address as it is. Code
# inlined from another file (os.(*File).Write into main.main) keeps that file: pprof reads a
# line in its function's file
"$SCORCH" record -q -o "$TMP/s.pb.gz" -- "$TMP/go-stripped" "$TMP/s.pprof" 1 70 >/dev/null
raw=$(gopprof -raw "$TMP/s.pb.gz")
locs=$(awk '/^Locations/ { on = 1; next } /^Mappings/ { on = 0; maps = 1; next }
	on && /^ *[0-9]+: 0x/ { loc[$1] = $2 " " $4 " " $5; m[$1] = $3 }
	maps && $3 ~ /\/go-stripped$/ { sub(/:$/, "", $1); bin = "M=" $1 }
	END { for (id in loc) if (m[id] == bin) print loc[id] }' <<<"$raw" | sort -u)
n=0 bad=0
while read -r addr fn fl; do
	want=$(printf '0x%x\n' "$addr" | go tool addr2line "$TMP/go-stripped" | paste -sd' ')
	n=$((n + 1))
	[ "$want" = "$fn $fl" ] || { bad=$((bad + 1)); echo "at $addr: scorch '$fn $fl', go tool addr2line '$want'"; }
done <<<"$locs"
[ "$n" -ge 5 ] && [ "$bad" -eq 0 ] && ok "$n locations: function and file:line as go tool addr2line says" ||
	fail "$bad of $n locations differ from go tool addr2line"
# a function's start line is its entry's line: the func keyword
start=$(awk '$4 == "main.burnA" { sub("s=", "", $6); print $6; exit }' <<<"$(awk '/^Locations/,/^Mappings/' <<<"$raw")")
decl=$(grep -n '^func burnA' "$src" | cut -d: -f1)
[ -n "$start" ] && [ "$start" = "$decl" ] && ok "main.burnA starts at line $decl" ||
	fail "main.burnA start line '${start:-}', the source says $decl"
finish
