#!/usr/bin/env bash
# A node restarted under steady load: the p99 of its first 10 s after it
# reports ready (--ready-path) against the steady p99 before, with a working
# set of distinct keys that the running node has all cached. keyload acts as
# the load balancer: it sends only to nodes that say they are ready.
#
# Usage: scripts/bench/restart.sh      SQLite: one node, stopped and started again
#        STORE=postgres://postgres@127.0.0.1:5432/test?sslmode=disable REDIS=redis://127.0.0.1:6379/0 \
#          scripts/bench/restart.sh    two nodes on PostgreSQL + Redis (docs/cluster.md); the second is restarted
# (Two nodes on one SQLite file are not a supported shape, so SQLite restarts its only node.)
# Environment:
#   KEYS=20000       the working set: distinct keys, sent in turn, over and over
#   STEADY=30s       load before the restart (usage is written every 10 s: the warm-up reads it)
#   AFTER=25s        load after the restart began
#   CONNECTIONS=32   keyload connections
#   WARM_WINDOW=1h   the restarted node's --warm-window (0: a cold restart, for comparison)
#   KEYGATE_BIN=     this keygate binary instead of building ./cmd/keygate
#   WORKDIR=         keep (and reuse) the data, root key and keys here
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

KEYS=${KEYS:-20000}
STEADY=${STEADY:-30s}
AFTER=${AFTER:-25s}
CONNECTIONS=${CONNECTIONS:-32}
WARM_WINDOW=${WARM_WINDOW:-1h}
STORE=${STORE:-}
REDIS=${REDIS:-}

die() { echo "restart: $*" >&2; exit 1; }
log() { echo "restart: $*" >&2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx curl
PATH=$PATH:/usr/sbin
secs() { [[ $1 =~ ^([0-9]+)s$ ]] || die "durations are in seconds, such as 30s (got '$1')"; echo "${BASH_REMATCH[1]}"; }
STEADY_S=$(secs "$STEADY") AFTER_S=$(secs "$AFTER")

WORKDIR=${WORKDIR:-}
if [[ -n $WORKDIR ]]; then
	mkdir -p "$WORKDIR"
	TMP=$(cd "$WORKDIR" && pwd)
else
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-restart.XXXXXX")
fi
chmod 755 "$TMP"
REUSE=0
[[ -s $TMP/keys.txt ]] && REUSE=1
PIDS=()
stop_on_exit
cleanup() {
	[[ -z $WORKDIR ]] || TMP=$(mktemp -d) # stop_all removes TMP
	stop_all
}
trap cleanup EXIT


build_keygate "$TMP" ./scripts/bench/keyload

pick_port UP_PORT
start_upstream "$TMP/up" "$UP_PORT"

[[ -s $TMP/root.key ]] || "$TMP/keygate" root-key generate --out "$TMP/root.key" >/dev/null
[[ -s $TMP/admin.token ]] || echo "bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TMP/admin.token"
KEYGATE_ADMIN_TOKEN=$(cat "$TMP/admin.token")
export KEYGATE_ADMIN_TOKEN
NODES=1 STORE_ARGS=() SEED_ARGS=(-data-dir "$TMP/data0")
if [[ -n $STORE ]]; then
	[[ -n $REDIS ]] || die "STORE (PostgreSQL) needs REDIS too: a cluster's nodes share changes through it"
	NODES=2
	SCHEMA=kg_restart_$(cksum <<<"$TMP" | cut -d' ' -f1)
	STORE_ARGS=(--store "$STORE" --store-schema "$SCHEMA" --redis-url "$REDIS" --redis-prefix "$SCHEMA:")
	SEED_ARGS=(-store "$STORE" -store-schema "$SCHEMA")
fi
declare -a PORT ADMIN PID
for ((n = 0; n < NODES; n++)); do pick_port "PORT[n]"; pick_port "ADMIN[n]"; done
node_cmd() { # node_cmd N WARM: the serve command of node N
	echo "$TMP/keygate" serve --data-dir "$TMP/data$1" --root-key-file "$TMP/root.key" "${STORE_ARGS[@]}" \
		--proxy-listen "127.0.0.1:${PORT[$1]}" --admin-listen "127.0.0.1:${ADMIN[$1]}" --log-level info --warm-window "$2"
}
start_node() { # start_node N WARM [LOG]
	# shellcheck disable=SC2046
	(exec $(node_cmd "$1" "$2") </dev/null >>"${3:-$TMP/node$1.log}" 2>&1) &
	PID[$1]=$!
	PIDS+=($!)
	wait_http "http://127.0.0.1:${ADMIN[$1]}/healthz" "" 60 || { cat "$TMP/node$1.log" >&2; die "node $1 did not start"; }
}
for ((n = 0; n < NODES; n++)); do start_node "$n" 0; done
export KEYGATE_ADMIN_URL=http://127.0.0.1:${ADMIN[0]}
if ((REUSE)); then
	KEYS=$(wc -l <"$TMP/keys.txt")
	"$TMP/keygate" services update bench --url "http://127.0.0.1:$UP_PORT" >>"$TMP/setup.log" 2>&1 || die "services update failed"
else
	kg() { "$TMP/keygate" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
	kg services create --name bench --url "http://127.0.0.1:$UP_PORT"
	kg routes create --name bench --service bench --path /bench --key-auth
	kg consumers create --username bench
	log "creating $KEYS keys through the store"
	"$TMP/keyload" seed "${SEED_ARGS[@]}" -root-key-file "$TMP/root.key" -consumer bench -n "$KEYS" -out "$TMP/keys.tmp" >&2
	mv "$TMP/keys.tmp" "$TMP/keys.txt"
fi
URLS=""
for ((n = 0; n < NODES; n++)); do URLS+=${URLS:+,}http://127.0.0.1:${PORT[n]}/bench; done
sleep 2 # routes reach every node (Redis, or the change log every second)
for ((n = 0; n < NODES; n++)); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "apikey: $(head -n1 "$TMP/keys.txt")" "http://127.0.0.1:${PORT[n]}/bench")
	[[ $code == 200 ]] || die "node $n answered $code with a seeded key, want 200"
done

R=$((NODES - 1)) # the node restarted
echo "keygate restart under load — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:  $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build:    ${KEYGATE_BIN:-$(cd "$REPO" && git describe --always --dirty)}"
SHAPE=SQLite; [[ -z $STORE ]] || SHAPE="PostgreSQL + Redis"
echo "shape:    $NODES node(s) on $SHAPE; working set $KEYS keys of one consumer; node $R restarted with --warm-window $WARM_WINDOW"
echo "node $R:   $(node_cmd "$R" "$WARM_WINDOW")"
echo "load:     keyload run -url $URLS -ready /.keygate/ready -keys keys.txt -cycle -c $CONNECTIONS -d $((STEADY_S + AFTER_S))s"
"$TMP/keyload" run -url "$URLS" -ready /.keygate/ready -keys "$TMP/keys.txt" -cycle -c "$CONNECTIONS" \
	-d "$((STEADY_S + AFTER_S))s" -label "all" >"$TMP/load.txt" &
LOAD=$!
PIDS+=($!)
sleep "$STEADY_S"
log "restarting node $R"
t0=$(date +%s.%N)
kill -TERM "${PID[R]}"
wait "${PID[R]}" 2>/dev/null || true
: >"$TMP/restarted.log"
start_node "$R" "$WARM_WINDOW" "$TMP/restarted.log"
for _ in $(seq 600); do
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[R]}/.keygate/ready") == 200 ]] && break
	sleep 0.05
done
log "node $R ready $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the stop; $(grep -o 'key cache warmed.*' "$TMP/restarted.log" | tail -n1)"
wait "$LOAD" || die "keyload failed"
cat "$TMP/load.txt"
