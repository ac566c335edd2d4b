# bash completion for rwith(1). Lock names are free text; after `--` the command and its
# arguments complete as commands do.
_rwith() {
	local cur prev words cword
	_init_completion || return

	local i
	for ((i = 1; i < cword; i++)); do
		if [[ ${words[i]} == -- ]]; then
			_command_offset $((i + 1))
			return
		fi
	done

	case $prev in
	-r | --redis)
		COMPREPLY=($(compgen -W 'redis:// rediss:// unix://' -- "$cur"))
		compopt -o nospace
		return
		;;
	--tls-ca)
		_filedir
		return
		;;
	--notify-ready)
		COMPREPLY=($(compgen -W 'rwith command' -- "$cur"))
		return
		;;
	-c | --command)
		return
		;;
	-t | --ttl | --heartbeat | -w | --wait | --timeout | -k | --kill-after | --min-hold)
		COMPREPLY=($(compgen -W '250ms 1s 5s 30s 1m 5m 1h' -- "$cur"))
		return
		;;
	-E | --conflict-exit-code | -l | --limit | -T | --task | --prefix | --pid)
		return
		;;
	esac

	# --list takes no lock name: offer its one option instead.
	if [[ $cur != -* && " ${words[*]:1:cword-1} " == *" --list "* ]]; then
		COMPREPLY=($(compgen -W '--json' -- "$cur"))
		return
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '-r --redis -t --ttl --heartbeat -w --wait --timeout -n
			--nonblock --nb --nonblocking -E --conflict-exit-code -s --shared -x -e --exclusive
			-l --limit -T --task -c --command -k --kill-after --min-hold --prefix --tls-ca
			--sync --notify-ready --status --json --break --list --hold --pid --release -v
			--verbose -q --quiet -h --help -V --version --' -- "$cur"))
	fi
} &&
	complete -F _rwith rwith
