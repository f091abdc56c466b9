#!/usr/bin/env bash
# The key-lookup miss path against the cached path, in one run: keygate with
# key-auth in front of an nginx upstream, N keys created through the store
# directly (scripts/bench/keyload seed), then, in turns, the cached path (one
# key, always in the cache), the miss path (each request a different key
# that exists but that this node has not seen yet) and the miss run's keys
# again, cached now: what many credentials cost without the store reads.
#
# Usage: scripts/bench/misspath.sh                  (SQLite)
#        STORE=postgres://postgres@127.0.0.1:5432/test?sslmode=disable scripts/bench/misspath.sh
# Environment:
#   KEYS=200000     keys to create (each miss run uses up to rate × DURATION of them)
#   DURATION=10s    each measured run; CONNECTIONS=64 connections
#   RUNS=2          each run: cached (one key), miss (keys this node has not seen), and
#                   cached again with the miss run's keys (as many credentials, each with
#                   its own usage row a minute, but no store read)
#   STORE=          empty: SQLite in a temporary data dir; a postgres:// URL: PostgreSQL,
#                   in a schema of its own (dropped at the end)
#   USAGE_FLUSH=10s keygate's --usage-flush-interval (the default). Each miss writes a
#                   usage row (one per key and minute), and each flush's commit makes
#                   every reader connection drop its mapping of the file, so its cost
#                   belongs to the misses: each run is followed by a pause of the
#                   interval + 1 s, counted in its CPU/request, so that the flush of its
#                   last keys lands in it and not in the next run. With DURATION equal to
#                   the interval, each run also holds one flush, as in a steady state.
#   KEYGATE_ARGS=   more serve flags
#   KEYGATE_BIN=    measure this keygate binary instead of building ./cmd/keygate
#   PROFILE_DIR=    write a CPU profile of each measured run there (LABEL.pprof), from
#                   http://$KG_PPROF/debug/pprof (a keygate built with -tags pprofhook and
#                   KG_PPROF=127.0.0.1:PORT in its environment), and of the pause after
#                   it, which holds the flush of its usage (LABEL-pause.pprof)
#   WORKDIR=        keep the data dir, root key and keys here, and reuse them when they are
#                   there already (seeding takes minutes; a restarted node has a cold cache,
#                   so the same keys are misses again)
# Each run's line gives keygate's CPU and page faults per request and, on PostgreSQL,
# the server's CPU per request (every postgres process on the machine: run nothing
# else against it meanwhile).
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

KEYS=${KEYS:-200000}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
RUNS=${RUNS:-2}
STORE=${STORE:-}
KEYGATE_ARGS=${KEYGATE_ARGS:-}
USAGE_FLUSH=${USAGE_FLUSH:-10s}

die() { echo "misspath: $*" >&2; exit 1; }
log() { echo "misspath: $*" >&2; }
[[ $USAGE_FLUSH =~ ^[0-9]+s$ ]] || die "USAGE_FLUSH must be whole seconds, e.g. 10s (got '$USAGE_FLUSH')"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx curl psql:postgresql-client
PATH=$PATH:/usr/sbin

WORKDIR=${WORKDIR:-}
if [[ -n $WORKDIR ]]; then
	mkdir -p "$WORKDIR"
	TMP=$(cd "$WORKDIR" && pwd)
else
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-miss.XXXXXX")
fi
chmod 755 "$TMP"
REUSE=0
[[ -s $TMP/keys.txt && -s $TMP/cached.txt ]] && REUSE=1
PIDS=()
SCHEMA=""
stop_on_exit
drop_schema() { [[ -z $SCHEMA || -n $WORKDIR ]] || psql -q "$STORE" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; }
# stop_all removes TMP: not a WORKDIR.
cleanup() {
	[[ -z $WORKDIR ]] || TMP=$(mktemp -d)
	stop_all
	drop_schema
}
trap cleanup EXIT

pick_port UP_PORT
pick_port KG_PORT
pick_port KG_ADMIN_PORT

log "building keyload${KEYGATE_BIN:+ (keygate: $KEYGATE_BIN)}"
build_keygate "$TMP" ./scripts/bench/keyload

start_upstream "$TMP/up" "$UP_PORT"

[[ -s $TMP/root.key ]] || "$TMP/keygate" root-key generate --out "$TMP/root.key" >/dev/null
[[ -s $TMP/admin.token ]] || echo "bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TMP/admin.token"
KEYGATE_ADMIN_TOKEN=$(cat "$TMP/admin.token")
export KEYGATE_ADMIN_TOKEN
export KEYGATE_ADMIN_URL=http://127.0.0.1:$KG_ADMIN_PORT
STORE_ARGS=() SEED_ARGS=(-data-dir "$TMP/data")
if [[ -n $STORE ]]; then
	SCHEMA=kg_miss_$(cksum <<<"$TMP" | cut -d' ' -f1)
	STORE_ARGS=(--store "$STORE" --store-schema "$SCHEMA")
	SEED_ARGS=(-store "$STORE" -store-schema "$SCHEMA")
fi
# shellcheck disable=SC2206
KG_CMD=("$TMP/keygate" serve --data-dir "$TMP/data" --root-key-file "$TMP/root.key" "${STORE_ARGS[@]}"
	--proxy-listen "127.0.0.1:$KG_PORT" --admin-listen "127.0.0.1:$KG_ADMIN_PORT" --log-level warn
	--usage-flush-interval "$USAGE_FLUSH" $KEYGATE_ARGS)
# The miss path is measured cold: no preload of the keys earlier runs used.
"$TMP/keygate" serve --help 2>&1 | grep -q -- --warm-window && KG_CMD+=(--warm-window 0)
start_keygate() {
	(exec "${KG_CMD[@]}" </dev/null >>"$TMP/keygate.log" 2>&1) &
	PIDS+=($!)
	KG_PID=$!
	wait_http "$KEYGATE_ADMIN_URL/healthz" || { cat "$TMP/keygate.log" >&2; die "keygate did not start"; }
}
start_keygate
if ((REUSE)); then
	KEYS=$(wc -l <"$TMP/keys.txt")
	log "reusing the $KEYS keys in $TMP"
	"$TMP/keygate" services update bench --url "http://127.0.0.1:$UP_PORT" >>"$TMP/setup.log" 2>&1 || die "services update failed"
else
kg() { "$TMP/keygate" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
kg services create --name bench --url "http://127.0.0.1:$UP_PORT"
kg routes create --name bench --service bench --path /bench --key-auth
kg consumers create --username bench
out=$("$TMP/keygate" keys create bench --name cached --json)
printf %s "$out" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1 >"$TMP/cached.txt"
[[ -s $TMP/cached.txt ]] || die "no key in: $out"

log "creating $KEYS keys through the store"
"$TMP/keyload" seed "${SEED_ARGS[@]}" -root-key-file "$TMP/root.key" -consumer bench -n "$KEYS" -out "$TMP/keys.tmp" >&2
mv "$TMP/keys.tmp" "$TMP/keys.txt"
fi
URL=http://127.0.0.1:$KG_PORT/bench
code=$(curl -s -o /dev/null -w '%{http_code}' -H "apikey: $(head -n1 "$TMP/keys.txt")" "$URL")
[[ $code == 200 ]] || die "a seeded key answered $code, want 200"

echo "keygate miss path — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:  $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build:    ${KEYGATE_BIN:-$(cd "$REPO" && git describe --always --dirty)}"
if [[ -n $STORE ]]; then echo "store:    PostgreSQL $STORE schema $SCHEMA; $KEYS keys of one consumer"; else echo "store:    SQLite; $KEYS keys of one consumer"; fi
echo "keygate:  ${KG_CMD[*]}"
echo "load:     keyload run -url $URL -c $CONNECTIONS -d $DURATION (-keys cached.txt -cycle | -keys keys.txt -skip N)"
# ticks PID: user+system clock ticks the process has used.
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# server_ticks: the clock ticks PostgreSQL's processes have used (0 on SQLite): on
# PostgreSQL part of a miss is the server's, on the same CPUs.
server_ticks() {
	[[ -n $STORE ]] || { echo 0; return; }
	local p
	for p in $(pgrep -x postgres); do ticks "$p" 2>/dev/null; done | awk '{ s += $1 } END { print s + 0 }'
}
# per_request TICKS N: µs of CPU per request.
per_request() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }'; }
# faults PID: the minor page faults the process has taken (a page of a mapped file
# touched for the first time since it was mapped is one).
faults() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $8 }'; }
# measure LABEL KEYLOAD-ARGS...: one keyload run, with keygate's CPU per request (µs)
# appended: on a machine shared with other work, requests/s follow the others' load,
# CPU per request much less so.
measure() {
	local label=$1 t0 t1 f0 f1 s0 s1 line n
	shift
	t0=$(ticks "$KG_PID") f0=$(faults "$KG_PID") s0=$(server_ticks)
	local prof=""
	if [[ -n ${PROFILE_DIR:-} ]]; then
		mkdir -p "$PROFILE_DIR"
		curl -s -o "$PROFILE_DIR/${label// /-}.pprof" "http://$KG_PPROF/debug/pprof/profile?seconds=$((${DURATION%s} - 1))" &
		prof=$!
	fi
	line=$("$TMP/keyload" run -url "$URL" -c "$CONNECTIONS" -d "$DURATION" -label "$label" "$@")
	[[ -z $prof ]] || wait "$prof" || true
	if [[ -n ${PROFILE_DIR:-} ]]; then
		# The pause holds the flush of the run's usage: profiled on its own.
		curl -s -o "$PROFILE_DIR/${label// /-}-pause.pprof" "http://$KG_PPROF/debug/pprof/profile?seconds=$((${USAGE_FLUSH%s} + 1))" || true
	else
		sleep $((${USAGE_FLUSH%s} + 1))
	fi
	t1=$(ticks "$KG_PID") f1=$(faults "$KG_PID") s1=$(server_ticks)
	n=$(printf %s "$line" | awk '{ for (i = 1; i < NF; i++) if ($i == "requests") { print $(i + 1); exit } }')
	echo "$line  keygate CPU/request $(per_request $((t1 - t0)) "$n") µs  faults/request $(awk -v f=$((f1 - f0)) -v n="$n" 'BEGIN { printf "%.1f", f / n }')${STORE:+  server CPU/request $(per_request $((s1 - s0)) "$n") µs}"
}
skip=1 # the first key was tried above
"$TMP/keyload" run -url "$URL" -keys "$TMP/cached.txt" -cycle -c "$CONNECTIONS" -d 2s -label warm-up >/dev/null
for ((run = 1; run <= RUNS; run++)); do
	measure "run $run cached (1 key)" -keys "$TMP/cached.txt" -cycle
	line=$(measure "run $run miss (new keys)" -keys "$TMP/keys.txt" -skip "$skip")
	echo "$line"
	used=$(printf %s "$line" | sed -n 's/.*keys used \([0-9]*\).*/\1/p')
	[[ ${used:-0} -gt 0 ]] || die "the miss run used no keys: $line"
	# The same keys again, all cached now: as many credentials as the miss
	# run, each writing its own usage row, but no store read.
	measure "run $run cached (its keys)" -keys "$TMP/keys.txt" -skip "$skip" -count "$used" -cycle
	skip=$((skip + used))
	((skip < KEYS)) || { log "all keys used; stopping"; break; }
done
