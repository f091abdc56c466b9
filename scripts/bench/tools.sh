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

# pick_port VAR: sets VAR to a free port on 127.0.0.1 below the ephemeral
# range (so that no outgoing connection takes it meanwhile), not picked
# before in this run.
pick_port() {
	local p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	for _ in $(seq 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
		if [[ ${PICKED_PORTS:- } != *" $p "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			PICKED_PORTS="${PICKED_PORTS:- }$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "found no free port on 127.0.0.1"
}

# wait_http URL [PID] [SECONDS]: until URL answers (at most SECONDS, 30 by
# default); fails at once when PID, the process that should answer, exits.
wait_http() {
	local tries=$((${3:-30} * 10))
	for _ in $(seq "$tries"); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		if [[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
		sleep 0.1
	done
	return 1
}

# start_upstream DIR PORT: nginx on 127.0.0.1:PORT answering every request
# with 200 "ok\n", its files in DIR, its pid added to PIDS; on the CPUs in
# UPSTREAM_CPUS (a taskset list) when that is set.
start_upstream() {
	mkdir -p "$1"
	cat >"$1/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$2;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
CONF
	(exec ${UPSTREAM_CPUS:+taskset -c "$UPSTREAM_CPUS"} "$(PATH=$PATH:/usr/sbin command -v nginx)" -p "$1" -c "$1/nginx.conf" -e "$1/error.log" </dev/null >/dev/null 2>&1) &
	PIDS+=($!)
	wait_http "http://127.0.0.1:$2/" $! || die "the upstream (nginx) did not start"
}

# build_keygate DIR [PACKAGE...]: DIR/keygate, copied from KEYGATE_BIN when
# that is set or built from REPO, and each PACKAGE (./scripts/bench/keyload)
# built into DIR under its last name.
build_keygate() {
	local dir=$1 pkg
	shift
	for pkg in "$@"; do
		(cd "$REPO" && go build -o "$dir/${pkg##*/}" "$pkg") || die "building $pkg failed"
	done
	if [[ -n ${KEYGATE_BIN:-} ]]; then
		cp "$KEYGATE_BIN" "$dir/keygate"
	else
		(cd "$REPO" && go build -o "$dir/keygate" ./cmd/keygate) || die "building keygate failed"
	fi
}
