# bash completion for scorch(1): commands, then each command's long options as its own --help
# lists them (so the completion never lags behind the program), then files for the arguments.
_scorch()
{
	local cur prev cmd words
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "record report flame diff convert agent healthcheck --help --version" -- "$cur"))
		return
	fi
	cmd=${COMP_WORDS[1]}
	case $prev in
	--format)
		COMPREPLY=($(compgen -W "pprof folded" -- "$cur")); return ;;
	--unwind)
		COMPREPLY=($(compgen -W "auto fp dwarf" -- "$cur")); return ;;
	--granularity)
		COMPREPLY=($(compgen -W "functions lines files" -- "$cur")); return ;;
	--log-level)
		COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return ;;
	--log-format)
		COMPREPLY=($(compgen -W "text logfmt json" -- "$cur")); return ;;
	-p | --pid)
		COMPREPLY=($(compgen -W "$(ls /proc 2>/dev/null | grep -E '^[0-9]+$')" -- "$cur")); return ;;
	-o | --output | --pprof | --btf | --config | --config-path | --remote-store-ca-file | \
		--remote-store-bearer-token-file | --remote-store-client-cert-file | \
		--remote-store-client-key-file | --http-bearer-token-file)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--debug-dir | --spool-dir | --output-dir | --cgroup)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	esac
	if [[ $cur == -* ]]; then
		words=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _scorch scorch
