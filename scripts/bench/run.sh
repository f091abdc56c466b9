#!/usr/bin/env bash
# Benchmark keygate against nginx on loopback, in one run:
#   (a) the upstream directly
#   (b) nginx as a plain reverse proxy (upstream keepalive) to that upstream
#   (c) keygate with key-auth on a route to that upstream
# and print requests/s, p99 latency and the ratio c/b; then keygate with
# HMAC signatures and with key-auth under a usage plan (rate and quota
# checked on every request), each against (c).
#
# Usage: scripts/bench/run.sh            (see docs/benchmarks.md)
# Environment:
#   DURATION=10s     wrk duration of each measured run
#   CONNECTIONS=64   wrk connections (-c)
#   THREADS=2        wrk threads (-t)
#   WARMUP=3s        wrk warm-up before each target (0 or 0s: none)
#   RUNS=1           how many times to measure the three targets (a b c, a b c, ...)
#   PIN=split        CPU pinning: split (wrk on the last CPU, servers on the others),
#                    none (no pinning), wrk (wrk on the last CPU, servers unpinned)
#   GOAL=0.40        the c/b throughput ratio keygate must reach (exit status 3 below it)
#   MAX_OTHER=10     a measurement during which other processes used more than this
#                    percentage of the CPUs is repeated, up to RETRY_NOISY=2 times
#   KEYGATE_BIN=     use this keygate binary instead of building ./cmd/keygate
#   REFERENCE=1      also measure scripts/bench/refproxy, a minimal httputil.ReverseProxy
#                    with a key map (the yardstick the performance goal is stated against)
#   HMAC=1           0: leave the hmac-auth target out (keygate key-auth and key+plan only)
#   FASTREF=0        1: also measure scripts/bench/fastref, the same proxy on fasthttp
#                    (server + HostClient), a yardstick for what leaving net/http would gain
#   FASTREF_HEADERS=0  N (1-7) with FASTREF=1: also measure a second fastref adding N of
#                    keygate's rate-limit headers to every answer (the per-header cost)
#   VERBOSE=0        1: also print the generated nginx configs
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-3s}
RUNS=${RUNS:-1}
PIN=${PIN:-split}
GOAL=${GOAL:-0.40}
MAX_OTHER=${MAX_OTHER:-10}
RETRY_NOISY=${RETRY_NOISY:-2}
KEYGATE_BIN=${KEYGATE_BIN:-}
REFERENCE=${REFERENCE:-1}
FASTREF=${FASTREF:-0}
FASTREF_HEADERS=${FASTREF_HEADERS:-0}
VERBOSE=${VERBOSE:-0}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---------------------------------------------------------------- arguments --
[[ $CONNECTIONS =~ ^[0-9]+$ && $CONNECTIONS -gt 0 ]] || die "CONNECTIONS must be a positive integer (got '$CONNECTIONS')"
[[ $THREADS =~ ^[0-9]+$ && $THREADS -gt 0 ]] || die "THREADS must be a positive integer (got '$THREADS')"
[[ $RUNS =~ ^[0-9]+$ && $RUNS -gt 0 ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ $MAX_OTHER =~ ^[0-9]+$ ]] || die "MAX_OTHER must be a whole percentage (got '$MAX_OTHER')"
[[ $RETRY_NOISY =~ ^[0-9]+$ ]] || die "RETRY_NOISY must be a whole number (got '$RETRY_NOISY')"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be >= THREADS ($THREADS), as wrk requires"
# wrk durations: a number with an optional s, m or h suffix.
to_seconds() {
	local d=$1
	[[ $d =~ ^([0-9]+)([smh]?)$ ]] || die "bad duration '$d' (use e.g. 10s, 1m)"
	case ${BASH_REMATCH[2]} in
	m) echo $((BASH_REMATCH[1] * 60)) ;;
	h) echo $((BASH_REMATCH[1] * 3600)) ;;
	*) echo "${BASH_REMATCH[1]}" ;;
	esac
}
DURATION_S=$(to_seconds "$DURATION")
WARMUP_S=$(to_seconds "$WARMUP")
((DURATION_S > 0)) || die "DURATION must be more than 0"
[[ $PIN == split || $PIN == none || $PIN == wrk ]] || die "PIN must be split, none or wrk (got '$PIN')"
[[ $FASTREF_HEADERS =~ ^[0-7]$ ]] || die "FASTREF_HEADERS must be 0 to 7 (got '$FASTREF_HEADERS')"
((FASTREF_HEADERS == 0 || FASTREF)) || die "FASTREF_HEADERS needs FASTREF=1"

# -------------------------------------------------------------------- tools --
# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx wrk curl
PATH=$PATH:/usr/sbin
NGINX=$(command -v nginx)
WRK=$(command -v wrk)
[[ -n $KEYGATE_BIN ]] || command -v go >/dev/null 2>&1 || die "go is needed to build keygate (or set KEYGATE_BIN)"
command -v taskset >/dev/null 2>&1 || { [[ $PIN == none ]] || die "taskset (util-linux) is needed for PIN=$PIN; or run with PIN=none"; }

# ------------------------------------------------------------------ cleanup --
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-bench.XXXXXX")
chmod 755 "$TMP" # nginx workers may run as another user when started as root
PIDS=()
stop_on_exit

# ------------------------------------------------------------------ pinning --
NCPU=$(nproc)
WRK_CPUS="" SERVER_CPUS=""
if [[ $PIN != none ]] && ((NCPU < 2)); then
	log "PIN=$PIN needs 2 CPUs or more; running without pinning"
	PIN=none
fi
case $PIN in
split) WRK_CPUS=$((NCPU - 1)) SERVER_CPUS=0-$((NCPU - 2)) ;;
wrk) WRK_CPUS=$((NCPU - 1)) ;;
esac
SERVER_NCPU=$NCPU
[[ $PIN == split ]] && SERVER_NCPU=$((NCPU - 1))
[[ $SERVER_CPUS == 0-0 ]] && SERVER_CPUS=0
# Command prefixes; "exec" in the background subshell makes $! the server's own
# pid (taskset execs the server), so that cleanup kills the server itself.
SRV=() WRKP=()
[[ -n $SERVER_CPUS ]] && SRV=(taskset -c "$SERVER_CPUS")
[[ -n $WRK_CPUS ]] && WRKP=(taskset -c "$WRK_CPUS")
SRV_PREFIX=${SRV[*]:+${SRV[*]} }
WRK_PREFIX=${WRKP[*]:+${WRKP[*]} }

# -------------------------------------------------------------------- ports --
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TAKEN=" "
# Ports come from below the kernel's ephemeral range, so that no outgoing
# connection (wrk's, the proxies') can be holding one when a server binds it.
read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
PORT_LOW=10000 PORT_HIGH=$((EPHEMERAL_LOW - 1))
((PORT_HIGH - PORT_LOW >= 1000)) || PORT_LOW=$((PORT_HIGH - 1000))
port_free() { # no socket in any state uses the port locally, and nothing answers on it
	if command -v ss >/dev/null 2>&1; then
		[[ -z $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]] || return 1
	fi
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
pick_port() { # pick_port VAR: a free port not picked before
	local p
	for _ in $(seq 200); do
		p=$((PORT_LOW + (RANDOM * 32768 + RANDOM) % (PORT_HIGH - PORT_LOW + 1)))
		if [[ $TAKEN != *" $p "* ]] && port_free "$p"; then
			TAKEN+="$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "found no free port on 127.0.0.1"
}
pick_port UP_PORT
pick_port NGX_PORT
pick_port KG_PORT
pick_port KG_ADMIN_PORT
pick_port REF_PORT
pick_port FAST_PORT
pick_port FASTH_PORT

wait_http() { # wait_http URL NAME [PID]: until URL answers, at most 20 s
	for _ in $(seq 200); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then break; fi
		sleep 0.1
	done
	return 1
}

# -------------------------------------------------------------------- nginx --
WORKER_CONNECTIONS=$((CONNECTIONS * 4 + 1024))
nginx_common() { # nginx_common DIR WORKERS
	cat <<EOF
daemon off;
master_process on;
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $WORKER_CONNECTIONS; }
EOF
}
http_common() { # http_common DIR
	cat <<EOF
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    # nginx closes a client connection after 1000 requests by default;
    # keygate (Go) does not, so lift the limit for a like-for-like comparison.
    keepalive_requests 1000000;
    keepalive_timeout 120s;
EOF
}

# The upstream: nginx answering a fixed 3-byte body. One instance serves all
# three targets; it starts once and keeps running across them.
UP_DIR=$TMP/upstream
mkdir -p "$UP_DIR"
{
	nginx_common "$UP_DIR" "$SERVER_NCPU"
	echo "http {"
	http_common "$UP_DIR"
	cat <<EOF
    server {
        listen 127.0.0.1:$UP_PORT;
        location / {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF
} >"$UP_DIR/nginx.conf"

# The plain reverse proxy (b), a separate nginx instance, as keygate is a
# separate process.
NGX_DIR=$TMP/proxy
mkdir -p "$NGX_DIR"
{
	nginx_common "$NGX_DIR" "$SERVER_NCPU"
	echo "http {"
	http_common "$NGX_DIR"
	cat <<EOF
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$NGX_DIR/nginx.conf"

start_nginx() { # start_nginx DIR NAME URL
	local dir=$1
	"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >/dev/null 2>&1 ||
		{ cat "$dir/error.log" >&2 2>/dev/null; "$NGINX" -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >&2 || true; die "$2: bad nginx config"; }
	(exec "${SRV[@]}" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null >>"$dir/stdout.log" 2>&1) &
	PIDS+=($!)
	LAST_PID=$!
	wait_http "$3" "$2" $! || { cat "$dir/error.log" >&2 2>/dev/null || true; die "$2 did not start"; }
}

# ------------------------------------------------------------------ keygate --
if [[ -z $KEYGATE_BIN ]]; then
	log "building keygate"
	(cd "$REPO" && go build -o "$TMP/keygate" ./cmd/keygate) || die "go build ./cmd/keygate failed"
	KEYGATE_BIN=$TMP/keygate
	KEYGATE_BUILT="keygate built from $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo "$REPO")"
else
	KEYGATE_BUILT="keygate from KEYGATE_BIN=$KEYGATE_BIN"
fi
[[ -x $KEYGATE_BIN ]] || die "KEYGATE_BIN=$KEYGATE_BIN is not an executable"

KG_DIR=$TMP/keygate-data
ADMIN_TOKEN=bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYGATE_ADMIN_TOKEN=$ADMIN_TOKEN KEYGATE_ADMIN_URL=http://127.0.0.1:$KG_ADMIN_PORT
KG_CMD=("$KEYGATE_BIN" serve --data-dir "$KG_DIR" --proxy-listen "127.0.0.1:$KG_PORT" --admin-listen "127.0.0.1:$KG_ADMIN_PORT" --log-level warn)
# A root key for the keyring (keygate builds from before the keyring have none).
if "$KEYGATE_BIN" root-key --help >/dev/null 2>&1; then
	"$KEYGATE_BIN" root-key generate --out "$TMP/root.key" >/dev/null || die "keygate root-key generate failed"
	KG_CMD+=(--root-key-file "$TMP/root.key")
fi

start_keygate() {
	(exec "${SRV[@]}" "${KG_CMD[@]}" </dev/null >>"$TMP/keygate.log" 2>&1) &
	PIDS+=($!)
	KG_PID=$!
	wait_http "$KEYGATE_ADMIN_URL/healthz" keygate $! || { cat "$TMP/keygate.log" >&2; die "keygate did not start"; }
}

kg() { "$KEYGATE_BIN" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
setup_keygate() {
	kg services create --name bench --url "http://127.0.0.1:$UP_PORT"
	kg routes create --name bench --service bench --path /bench --key-auth
	kg consumers create --username bench
	local out
	out=$("$KEYGATE_BIN" keys create bench --name bench --json) || die "keygate keys create failed: $out"
	API_KEY=$(printf %s "$out" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1)
	[[ -n $API_KEY ]] || die "no key in the answer of keys create: $out"
	((HMAC_ON)) || return 0
	# One signature for the whole run: the clock skew allows a day.
	kg routes create --name bench-hmac --service bench --path /bench-hmac --strip-path=false --hmac-auth --hmac-clock-skew 86400 --hmac-replay-protection=false
	local secret
	out=$("$KEYGATE_BIN" hmac-credentials create bench --username bench-signer --json) || die "keygate hmac-credentials create failed: $out"
	secret=$(printf %s "$out" | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p' | head -n1)
	[[ -n $secret ]] || die "no secret in the answer of hmac-credentials create: $out"
	HMAC_DATE=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
	local sig
	sig=$(printf 'date: %s\nx-bench: 1\nGET /bench-hmac HTTP/1.1' "$HMAC_DATE" | openssl dgst -sha256 -hmac "$secret" -binary | base64)
	HMAC_AUTH="hmac username=\"bench-signer\", algorithm=\"hmac-sha256\", headers=\"date x-bench request-line\", signature=\"$sig\""
}
# A key under a usage plan whose limits are never reached, so that every
# request pays for the check (GCRA and a monthly quota, in memory) and none
# is refused.
setup_plan() {
	((PLAN_ON)) || return 0
	kg routes create --name bench-plan --service bench --path /bench-plan --strip-path=false --key-auth
	kg plans create --name bench --rate 1000000 --burst 1000000 --quota-month 1000000000000
	local out
	out=$("$KEYGATE_BIN" keys create bench --name bench-plan --plan bench --json) || die "keygate keys create --plan failed: $out"
	PLAN_KEY=$(printf %s "$out" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1)
	[[ -n $PLAN_KEY ]] || die "no key in the answer of keys create: $out"
}

# ---------------------------------------------------------------------- wrk --
TARGET_NAMES=("upstream (direct)" "nginx proxy" "keygate key-auth" "keygate hmac-auth")
TARGET_URLS=("http://127.0.0.1:$UP_PORT/bench" "http://127.0.0.1:$NGX_PORT/bench" "http://127.0.0.1:$KG_PORT/bench" "http://127.0.0.1:$KG_PORT/bench-hmac")
# keygate builds from before HMAC signing are measured without the fourth target.
HMAC_ON=1 HMAC_DATE="" HMAC_AUTH=""
[[ ${HMAC:-1} == 1 ]] && "$KEYGATE_BIN" hmac-credentials --help >/dev/null 2>&1 || HMAC_ON=0
((HMAC_ON)) || TARGET_NAMES=("${TARGET_NAMES[@]:0:3}") TARGET_URLS=("${TARGET_URLS[@]:0:3}")
HMAC_I=3
# keygate builds from before usage plans are measured without the plan target.
PLAN_ON=1 PLAN_KEY=""
"$KEYGATE_BIN" plans --help >/dev/null 2>&1 || PLAN_ON=0
if ((PLAN_ON)); then
	PLAN_I=${#TARGET_NAMES[@]}
	TARGET_NAMES+=("keygate key+plan") TARGET_URLS+=("http://127.0.0.1:$KG_PORT/bench-plan")
fi
if ((REFERENCE)); then
	REF_I=${#TARGET_NAMES[@]}
	TARGET_NAMES+=("reference proxy") TARGET_URLS+=("http://127.0.0.1:$REF_PORT/bench")
	(cd "$REPO" && go build -o "$TMP/refproxy" ./scripts/bench/refproxy) || die "go build ./scripts/bench/refproxy failed"
fi
# fastref is a Go module of its own (fasthttp stays out of keygate's go.mod):
# built from its directory, not with ./scripts/bench/fastref from the root.
if ((FASTREF)); then
	FAST_I=${#TARGET_NAMES[@]}
	TARGET_NAMES+=("fasthttp reference") TARGET_URLS+=("http://127.0.0.1:$FAST_PORT/bench")
	if ((FASTREF_HEADERS)); then
		FASTH_I=${#TARGET_NAMES[@]}
		TARGET_NAMES+=("fasthttp +$FASTREF_HEADERS headers") TARGET_URLS+=("http://127.0.0.1:$FASTH_PORT/bench")
	fi
	(cd "$REPO/scripts/bench/fastref" && go build -o "$TMP/fastref" .) || die "go build in scripts/bench/fastref failed"
	FASTHTTP_VERSION=$(cd "$REPO/scripts/bench/fastref" && go list -m -f '{{.Version}}' github.com/valyala/fasthttp 2>/dev/null || echo "?")
fi
NT=${#TARGET_NAMES[@]}

# The same request goes to the first three targets (the key header too, so
# that the bytes sent are identical); only keygate checks it. The fourth
# sends a signed request (Kong's scheme, hmac-sha256 over date, x-bench and
# the request line), the same one each time: the bench route has replay
# protection off.
key_for() { # key_for URL: the key a target's requests carry
	if [[ $1 == *bench-plan ]]; then echo "$PLAN_KEY"; else echo "$API_KEY"; fi
}
wrk_args() { # wrk_args DURATION URL
	printf '%s\n' -t "$THREADS" -c "$CONNECTIONS" -d "$1" --timeout 5s --latency -H "apikey: $(key_for "$2")"
	if [[ $2 == *bench-hmac ]]; then
		printf '%s\n' -H "Date: $HMAC_DATE" -H "X-Bench: 1" -H "Authorization: $HMAC_AUTH"
	fi
	printf '%s\n' "$2"
}
run_wrk() { # run_wrk DURATION URL OUTFILE
	local args
	mapfile -t args < <(wrk_args "$1" "$2")
	local limit=$(($(to_seconds "$1") + 30))
	# --foreground: wrk stays in our process group, so Ctrl-C reaches it.
	timeout --foreground "$limit" "${WRKP[@]}" "$WRK" "${args[@]}" >"$3" 2>&1
}
wrk_cmdline() { # for the header: the exact command, shell-quoted
	local args
	mapfile -t args < <(wrk_args "$1" "$2")
	printf '%s%s' "$WRK_PREFIX" "$WRK"
	local a
	for a in "${args[@]}"; do
		if [[ $a == *[[:space:]]* ]]; then printf " '%s'" "$a"; else printf ' %s' "$a"; fi
	done
	echo
}

# parse_wrk FILE: prints "req_per_s p50_ms p99_ms errors requests"
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
		if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
		if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
		if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
		return v + 0
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/requests in/ { reqs = $1 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	END {
		if (rps == "" || p99 == "") exit 1
		printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, err, reqs
	}' "$1"
}

# ------------------------------------------------------------------- header --
# busy_percent: share of all CPUs busy over one second, before we start anything.
busy_percent() {
	local a b
	a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'
}
BUSY=$(busy_percent 2>/dev/null || echo "?")

# cpu_ticks: "BUSY TOTAL OURS": user+nice+system and all clock ticks of the whole machine,
# and those of this script's reaped children (wrk) plus the live servers (nginx
# masters and their workers, keygate). The difference over a run is CPU that
# someone else used while we measured. (Interrupt time is left out of both.)
cpu_ticks() {
	local pid pids=() sys ours
	sys=$(awk '/^cpu / { print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	for pid in "${PIDS[@]}"; do
		pids+=("$pid")
		mapfile -t -O "${#pids[@]}" pids < <(pgrep -P "$pid" || true)
	done
	# /proc/PID/stat after the ")" of the command name: field 12 utime, 13 stime, 14 cutime, 15 cstime.
	ours=$({
		sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'
		for pid in "${pids[@]}"; do sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }'; done
	} | awk '{ n += $1 } END { print n + 0 }')
	echo "$sys $ours"
}

# proc_ticks PID: user+system clock ticks of a server: the process and its
# children (nginx workers); 0 for no PID.
proc_ticks() {
	[[ -n $1 ]] || { echo 0; return; }
	local pid
	{
		for pid in "$1" $(pgrep -P "$1" || true); do
			sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }'
		done
	} | awk '{ n += $1 } END { print n + 0 }'
}
# per_request TICKS REQUESTS: CPU microseconds per request
per_request() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }'; }
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
[[ -n $CPU_MODEL ]] || CPU_MODEL=$(uname -m)

start_nginx "$UP_DIR" upstream "${TARGET_URLS[0]}"
body=$(curl -s --max-time 2 "${TARGET_URLS[0]}") || die "upstream does not answer"
[[ $body == ok ]] || die "upstream answered '$body', want 'ok'"
UP_PID=$LAST_PID
start_nginx "$NGX_DIR" "nginx proxy" "${TARGET_URLS[1]}"
NGX_PID=$LAST_PID
start_keygate
PROXY_PIDS=("" "$NGX_PID" "$KG_PID")
((HMAC_ON == 0)) || PROXY_PIDS+=("$KG_PID")
((PLAN_ON == 0)) || PROXY_PIDS+=("$KG_PID")
setup_keygate
setup_plan
if ((REFERENCE)); then
	("${SRV[@]}" "$TMP/refproxy" -listen "127.0.0.1:$REF_PORT" -upstream "http://127.0.0.1:$UP_PORT" -key "$API_KEY" </dev/null >>"$TMP/refproxy.log" 2>&1) &
	PIDS+=($!)
	REF_PID=$!
	PROXY_PIDS+=("$REF_PID")
	wait_http "http://127.0.0.1:$REF_PORT/" "reference proxy" "$REF_PID" || true
fi
start_fastref() { # start_fastref PORT HEADERS NAME: sets FAST_PID
	(exec "${SRV[@]}" "$TMP/fastref" -listen "127.0.0.1:$1" -upstream "http://127.0.0.1:$UP_PORT" -key "$API_KEY" -headers "$2" </dev/null >>"$TMP/fastref.log" 2>&1) &
	PIDS+=($!)
	FAST_PID=$!
	PROXY_PIDS+=("$FAST_PID")
	wait_http "http://127.0.0.1:$1/" "$3" "$FAST_PID" || { cat "$TMP/fastref.log" >&2; die "$3 did not start"; }
}
if ((FASTREF)); then
	start_fastref "$FAST_PORT" 0 "fasthttp reference"
	((FASTREF_HEADERS == 0)) || start_fastref "$FASTH_PORT" "$FASTREF_HEADERS" "fasthttp +$FASTREF_HEADERS headers"
fi
# The routes are live once the admin API has answered; check all targets answer 200 "ok".
for ((i = 0; i < NT; i++)); do
	code=$(curl -s -o "$TMP/check" -w '%{http_code}' --max-time 2 -H "apikey: $(key_for "${TARGET_URLS[i]}")" \
		-H "Date: $HMAC_DATE" -H "X-Bench: 1" -H "Authorization: $HMAC_AUTH" "${TARGET_URLS[i]}") || code=000
	[[ $code == 200 && $(cat "$TMP/check") == ok ]] ||
		die "${TARGET_NAMES[i]} answered $code '$(cat "$TMP/check" 2>/dev/null)', want 200 'ok'"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${TARGET_URLS[2]}") || code=000
[[ $code == 401 ]] || die "keygate without a key answered $code, want 401: key-auth is not on"
if ((HMAC_ON)); then
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Date: $HMAC_DATE" "${TARGET_URLS[3]}") || code=000
	[[ $code == 401 ]] || die "keygate without a signature answered $code, want 401: hmac-auth is not on"
fi
if ((FASTREF)); then
	for i in "$FAST_I" ${FASTH_I:+"$FASTH_I"}; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${TARGET_URLS[i]}") || code=000
		[[ $code == 401 ]] || die "${TARGET_NAMES[i]} without a key answered $code, want 401"
	done
fi

echo "keygate benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:  $NCPU CPUs, $CPU_MODEL; $(uname -sr)"
echo "versions: $("$WRK" -v 2>&1 | head -n1 | awk '{print $1, $2}'); $("$NGINX" -v 2>&1 | sed 's/.*: //'); $KEYGATE_BUILT; $(go version 2>/dev/null | awk '{print $3}')"
echo "idle?:    CPUs ${BUSY}% busy before the start; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $BUSY =~ ^[0-9]+$ ]] && ((BUSY > 10)); then
	echo "WARNING:  something else is using the CPUs; the numbers will be noisy and lower than on an idle machine"
fi
echo "load:     DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS WARMUP=$WARMUP RUNS=$RUNS"
case $PIN in
split) echo "pinning:  PIN=split: wrk on CPU $WRK_CPUS; upstream, nginx and keygate on CPU(s) $SERVER_CPUS (nginx worker_processes $SERVER_NCPU)" ;;
wrk) echo "pinning:  PIN=wrk: wrk on CPU $WRK_CPUS; servers unpinned (nginx worker_processes $SERVER_NCPU)" ;;
none) echo "pinning:  PIN=none: nothing pinned, everything shares $NCPU CPUs (nginx worker_processes $SERVER_NCPU)" ;;
esac
echo "commands:"
echo "  upstream: $SRV_PREFIX$NGINX -p $UP_DIR -c $UP_DIR/nginx.conf -e $UP_DIR/error.log"
printf '            (return 200 "ok\\n" on 127.0.0.1:%s; configs printed with VERBOSE=1)\n' "$UP_PORT"
echo "  nginx:    $SRV_PREFIX$NGINX -p $NGX_DIR -c $NGX_DIR/nginx.conf -e $NGX_DIR/error.log"
echo "            (proxy_pass to the upstream, keepalive 256)"
echo "  keygate:  KEYGATE_ADMIN_TOKEN=... $SRV_PREFIX${KG_CMD[*]}"
echo "            route /bench --key-auth -> service http://127.0.0.1:$UP_PORT, consumer bench, one key"
((HMAC_ON == 0)) || echo "            route /bench-hmac --hmac-auth (replay protection off) -> the same service, one HMAC credential"
((PLAN_ON == 0)) || echo "            route /bench-plan --key-auth -> the same service, a key on plan bench (--rate 1000000 --quota-month 10^12: checked, never reached)"
if ((FASTREF)); then
	echo "  fastref:  $SRV_PREFIX$TMP/fastref -listen 127.0.0.1:$FAST_PORT -upstream http://127.0.0.1:$UP_PORT -key ... -headers 0"
	((FASTREF_HEADERS == 0)) || echo "            and the same on 127.0.0.1:$FASTH_PORT with -headers $FASTREF_HEADERS"
	echo "            (scripts/bench/fastref, fasthttp $FASTHTTP_VERSION: a yardstick, not keygate)"
fi
for ((i = 0; i < NT; i++)); do
	printf '  wrk %-18s %s' "${TARGET_NAMES[i]}:" "$(wrk_cmdline "$DURATION" "${TARGET_URLS[i]}")"
	echo
done
((WARMUP_S > 0)) && echo "  (each preceded by the same command with -d $WARMUP, not measured)"
if [[ $VERBOSE == 1 ]]; then
	echo "--- $UP_DIR/nginx.conf"; cat "$UP_DIR/nginx.conf"
	echo "--- $NGX_DIR/nginx.conf"; cat "$NGX_DIR/nginx.conf"
fi
echo

# -------------------------------------------------------------------- runs --
# measure RUN I: one measured wrk run of target I; sets the globals below.
measure() {
	local run=$1 i=$2 out=$TMP/wrk-$1-$2.txt
	local sys0 tot0 ours0 sys1 tot1 ours1 up0 up1 px0 px1
	log "run $run/$RUNS: ${TARGET_NAMES[i]}"
	read -r sys0 tot0 ours0 < <(cpu_ticks)
	up0=$(proc_ticks "$UP_PID") px0=$(proc_ticks "${PROXY_PIDS[i]}")
	run_wrk "$DURATION" "${TARGET_URLS[i]}" "$out" || { cat "$out" >&2; die "wrk on ${TARGET_NAMES[i]} failed"; }
	read -r sys1 tot1 ours1 < <(cpu_ticks)
	up1=$(proc_ticks "$UP_PID") px1=$(proc_ticks "${PROXY_PIDS[i]}")
	m_other=$(awk -v s=$((sys1 - sys0)) -v o=$((ours1 - ours0)) -v t=$((tot1 - tot0)) \
		'BEGIN { v = (t > 0 ? 100 * (s - o) / t : 0); printf "%.0f", (v < 0 ? 0 : v) }')
	read -r m_rps m_p50 m_p99 m_err m_reqs < <(parse_wrk "$out") || { cat "$out" >&2; die "could not parse wrk's output"; }
	m_upcpu=$(per_request $((up1 - up0)) "$m_reqs")
	m_pxcpu=-
	[[ -z ${PROXY_PIDS[i]} ]] || m_pxcpu=$(per_request $((px1 - px0)) "$m_reqs")
}

declare -a RPS P50 P99 ERR OTHER UPCPU PXCPU
bad=0 noisy=0
for ((run = 1; run <= RUNS; run++)); do
	for ((i = 0; i < NT; i++)); do
		if ((WARMUP_S > 0)); then
			run_wrk "$WARMUP" "${TARGET_URLS[i]}" "$TMP/warmup.txt" || { cat "$TMP/warmup.txt" >&2; die "warm-up of ${TARGET_NAMES[i]} failed"; }
		fi
		measure "$run" "$i"
		# Someone else's load on this machine skews one target and not the
		# others: measure that target again, up to RETRY_NOISY times.
		for ((retry = 1; retry <= RETRY_NOISY && m_other > MAX_OTHER; retry++)); do
			log "other processes used ${m_other}% of the CPUs during that run; measuring ${TARGET_NAMES[i]} again ($retry/$RETRY_NOISY)"
			sleep 5
			measure "$run" "$i"
		done
		k=$((run * NT + i))
		RPS[k]=$m_rps P50[k]=$m_p50 P99[k]=$m_p99 ERR[k]=$m_err OTHER[k]=$m_other UPCPU[k]=$m_upcpu PXCPU[k]=$m_pxcpu
		((m_other <= MAX_OTHER)) || noisy=1
		if ((m_err > 0)); then
			bad=1
			grep -E 'Socket errors|Non-2xx' "$TMP/wrk-$run-$i.txt" | sed "s|^ *|bench: ${TARGET_NAMES[i]}, run $run: |" >&2 || true
		fi
	done
done

# ------------------------------------------------------------------- table --
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# ratio_line RUN NAME I J: the per-run line of target I against target J,
# requests/s and CPU per request.
ratio_line() {
	local k=$(($1 * NT))
	printf '%-4s %-20s %11s %8s %8s %12s\n' "$1" "$2" "$(ratio "${RPS[k + $3]}" "${RPS[k + $4]}")" "" "" \
		"$(ratio "${PXCPU[k + $3]}" "${PXCPU[k + $4]}")"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-4s %-20s %11s %8s %8s %12s %12s %7s %9s\n' run target "requests/s" "p50 ms" "p99 ms" "proxy µs[1]" "upstr. µs[1]" errors "other[2]"
for ((run = 1; run <= RUNS; run++)); do
	for ((i = 0; i < NT; i++)); do
		k=$((run * NT + i))
		printf '%-4s %-20s %11s %8.2f %8.2f %12s %12s %7s %8s%%\n' "$run" "${TARGET_NAMES[i]}" "${RPS[k]}" "${P50[k]}" "${P99[k]}" "${PXCPU[k]}" "${UPCPU[k]}" "${ERR[k]}" "${OTHER[k]}"
	done
	ratio_line "$run" "keygate/nginx" 2 1
	if ((HMAC_ON)); then
		ratio_line "$run" "hmac/key-auth" HMAC_I 2
	fi
	if ((PLAN_ON)); then
		ratio_line "$run" "plan/key-auth" PLAN_I 2
	fi
	if ((REFERENCE)); then
		ratio_line "$run" "reference/nginx" REF_I 1
	fi
	if ((FASTREF)); then
		ratio_line "$run" "fasthttp/nginx" FAST_I 1
	fi
	if ((FASTREF_HEADERS)); then
		ratio_line "$run" "fasthttp hdrs/plain" FASTH_I FAST_I
	fi
done
final_ratio=$(ratio "${RPS[NT + 2]}" "${RPS[NT + 1]}")
if ((RUNS > 1)); then
	echo
	printf '%-4s %-20s %11s %8s %8s %12s %12s\n' "" "median of $RUNS runs" "requests/s" "p50 ms" "p99 ms" "proxy µs" "upstr. µs"
	ratios=()
	for ((i = 0; i < NT; i++)); do
		r=() a=() b=() c=() d=()
		for ((run = 1; run <= RUNS; run++)); do
			k=$((run * NT + i))
			r+=("${RPS[k]}") a+=("${P50[k]}") b+=("${P99[k]}") c+=("${PXCPU[k]}") d+=("${UPCPU[k]}")
		done
		px=-
		((i > 0)) && px=$(median "${c[@]}")
		printf '%-4s %-20s %11.0f %8.2f %8.2f %12s %12s\n' "" "${TARGET_NAMES[i]}" "$(median "${r[@]}")" "$(median "${a[@]}")" "$(median "${b[@]}")" "$px" "$(median "${d[@]}")"
	done
	hratios=() rratios=() pratios=() fratios=() fhratios=()
	for ((run = 1; run <= RUNS; run++)); do
		ratios+=("$(ratio "${RPS[run * NT + 2]}" "${RPS[run * NT + 1]}")")
		if ((HMAC_ON)); then hratios+=("$(ratio "${RPS[run * NT + HMAC_I]}" "${RPS[run * NT + 2]}")"); fi
		if ((PLAN_ON)); then pratios+=("$(ratio "${RPS[run * NT + PLAN_I]}" "${RPS[run * NT + 2]}")"); fi
		if ((REFERENCE)); then rratios+=("$(ratio "${RPS[run * NT + REF_I]}" "${RPS[run * NT + 1]}")"); fi
		if ((FASTREF)); then fratios+=("$(ratio "${RPS[run * NT + FAST_I]}" "${RPS[run * NT + 1]}")"); fi
		if ((FASTREF_HEADERS)); then fhratios+=("$(ratio "${RPS[run * NT + FASTH_I]}" "${RPS[run * NT + FAST_I]}")"); fi
	done
	final_ratio=$(median "${ratios[@]}")
	printf '%-4s %-20s %11s   (median of the per-run ratios)\n' "" "keygate/nginx" "$final_ratio"
	if ((HMAC_ON)); then
		printf '%-4s %-20s %11s   (median of the per-run ratios)\n' "" "hmac/key-auth" "$(median "${hratios[@]}")"
	fi
	if ((PLAN_ON)); then
		printf '%-4s %-20s %11s   (median of the per-run ratios)\n' "" "plan/key-auth" "$(median "${pratios[@]}")"
	fi
	if ((REFERENCE)); then
		printf '%-4s %-20s %11s   (median of the per-run ratios)\n' "" "reference/nginx" "$(median "${rratios[@]}")"
	fi
	if ((FASTREF)); then
		printf '%-4s %-20s %11s   (median of the per-run ratios)\n' "" "fasthttp/nginx" "$(median "${fratios[@]}")"
	fi
	if ((FASTREF_HEADERS)); then
		printf '%-4s %-20s %11s   (median of the per-run ratios)\n' "" "fasthttp hdrs/plain" "$(median "${fhratios[@]}")"
	fi
fi
echo
echo "[1] CPU time (user + system) the proxy under test (nginx, keygate or a reference proxy) and the upstream spent per request, in µs."
echo "[2] share of the machine's CPU used by other processes (not wrk, nginx or keygate) during the measurement."
if ((noisy)); then
	echo "WARNING: other processes used more than $MAX_OTHER% of the CPUs during a measurement: those numbers are low and noisy;"
	echo "         run again on a quiet machine."
fi
if ((bad)); then
	echo "WARNING: some requests failed (errors column: non-2xx answers and socket errors); the numbers are not valid."
	exit 2
fi
if awk -v r="$final_ratio" -v g="$GOAL" 'BEGIN { exit !(r + 0 >= g + 0) }'; then
	echo "keygate/nginx = $final_ratio >= $GOAL: goal met"
else
	echo "keygate/nginx = $final_ratio < $GOAL: goal NOT met"
	exit 3
fi
