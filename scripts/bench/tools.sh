# Sourced by the benchmark scripts.

# need_tools COMMAND[:PACKAGE]...: installs
# the Debian packages of the commands that are missing, with apt-get when
# running as root, or says what to install and stops. die and log come from
# the script that sources this file.
need_tools() {
	local spec cmd pkg missing=()
	for spec in "$@"; do
		cmd=${spec%%:*} pkg=${spec#*:}
		command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing ${missing[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		die "missing ${missing[*]}; install them (e.g. sudo apt-get install -y ${missing[*]}) and run again"
	fi
}

# stop_on_exit: on exit, Ctrl-C or SIGTERM, stops every process in PIDS
# (the last started first, politely, then for good after 5 s) and removes
# the directory TMP.
stop_on_exit() {
	trap stop_all EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
stop_all() {
	local pid i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
