#!/usr/bin/env bash
# Load balancing and blue/green deploys under load, on loopback, in one run:
#   (a) requests/s through a service with one target, and through one with
#       three weighted targets (50/30/20), each behind key-auth, alternated
#       RUNS times so that both see the same machine;
#   (b) failed requests (non-2xx answers and socket errors) while wrk loads a
#       service whose targets a pipeline flips blue/green FLIPS times through
#       the deploy hook (goal 0).
# The targets are nginx instances answering 200 "ok".
#
# Usage: scripts/bench/targets.sh            (see docs/benchmarks.md)
# Environment:
#   DURATION=10s     wrk duration of each (a) run
#   CONNECTIONS=32   wrk connections (-c)
#   THREADS=1        wrk threads (-t)
#   RUNS=2           how many times to measure one target and three (alternated)
#   FLIPS=10         deploys during (b), alternating green and blue
#   FLIP_EVERY=1     seconds between two deploys
#   KEYGATE_BIN=     use this keygate binary instead of building ./cmd/keygate
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
RUNS=${RUNS:-2}
FLIPS=${FLIPS:-10}
FLIP_EVERY=${FLIP_EVERY:-1}
KEYGATE_BIN=${KEYGATE_BIN:-}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $CONNECTIONS =~ ^[0-9]+$ && $CONNECTIONS -ge $THREADS ]] || die "CONNECTIONS must be a whole number >= THREADS"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ $FLIPS =~ ^[1-9][0-9]*$ ]] || die "FLIPS must be a positive integer (got '$FLIPS')"
[[ $FLIP_EVERY =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "FLIP_EVERY must be a number of seconds (got '$FLIP_EVERY')"
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "bad DURATION '$DURATION' (use e.g. 10s)"

# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx wrk curl
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-targets.XXXXXX")
chmod 755 "$TMP"
PIDS=()
stop_on_exit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "building keygate"
build_keygate "$TMP"
KEYGATE_BIN=$TMP/keygate

UP=()
for name in a b c; do
	pick_port port
	start_upstream "$TMP/upstream-$name" "$port"
	UP+=("http://127.0.0.1:$port")
done

pick_port KG_PORT
pick_port KG_ADMIN_PORT
ADMIN_TOKEN=bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYGATE_ADMIN_TOKEN=$ADMIN_TOKEN KEYGATE_ADMIN_URL=http://127.0.0.1:$KG_ADMIN_PORT
"$KEYGATE_BIN" root-key generate --out "$TMP/root.key" >/dev/null || die "keygate root-key generate failed"
(exec "$KEYGATE_BIN" serve --data-dir "$TMP/data" --root-key-file "$TMP/root.key" --proxy-listen "127.0.0.1:$KG_PORT" \
	--admin-listen "127.0.0.1:$KG_ADMIN_PORT" --log-level warn </dev/null >>"$TMP/keygate.log" 2>&1) &
PIDS+=($!)
wait_http "$KEYGATE_ADMIN_URL/healthz" $! || { cat "$TMP/keygate.log" >&2; die "keygate did not start"; }

kg() { "$KEYGATE_BIN" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
kg services create --name one --url "${UP[0]}"
kg services create --name three --url "${UP[0]}"
kg targets set three "${UP[0]}=50" "${UP[1]}=30" "${UP[2]}=20"
kg services create --name flip --url "${UP[0]}"
for s in one three flip; do kg routes create --name "$s" --service "$s" --path "/$s" --key-auth; done
kg consumers create --username bench
out=$("$KEYGATE_BIN" keys create bench --name bench --json) || die "keygate keys create failed: $out"
API_KEY=$(printf %s "$out" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1)
[[ -n $API_KEY ]] || die "no key in the answer of keys create"
for s in one three flip; do
	body=$(curl -s --max-time 2 -H "apikey: $API_KEY" "http://127.0.0.1:$KG_PORT/$s") || die "/$s does not answer"
	[[ $body == ok ]] || die "/$s answered '$body'"
done

# run_wrk PATH DURATION: prints "requests/s failed" of one wrk run.
run_wrk() {
	local res rps non2xx sock
	res=$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2" -H "apikey: $API_KEY" "http://127.0.0.1:$KG_PORT$1")
	echo "$res" >>"$TMP/wrk.log"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$res")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$res")
	sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$res")
	echo "$rps $((${non2xx:-0} + ${sock:-0}))"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) CPUs)"
echo "wrk -t $THREADS -c $CONNECTIONS -d $DURATION -H 'apikey: ...' http://127.0.0.1:$KG_PORT/{one,three}"
declare -a ONE THREE
for run in $(seq "$RUNS"); do
	read -r rps failed < <(run_wrk /one "$DURATION")
	ONE+=("$rps")
	echo "run $run: one target:    $rps requests/s ($failed failed)"
	read -r rps failed < <(run_wrk /three "$DURATION")
	THREE+=("$rps")
	echo "run $run: three targets: $rps requests/s ($failed failed)"
done
awk -v one="${ONE[*]}" -v three="${THREE[*]}" 'BEGIN {
	n = split(one, o, " "); split(three, t, " ")
	for (i = 1; i <= n; i++) { so += o[i]; st += t[i] }
	printf "mean: one target %.0f requests/s, three targets %.0f requests/s, ratio three/one %.2f\n", so / n, st / n, st / so
}'

flip_seconds=$(awk -v f="$FLIPS" -v e="$FLIP_EVERY" 'BEGIN { printf "%d", f * e + 3 }')
echo "blue/green: wrk -t $THREADS -c $CONNECTIONS -d ${flip_seconds}s on /flip while keygate targets deploy flips it $FLIPS times, every ${FLIP_EVERY}s"
run_wrk /flip "${flip_seconds}s" >"$TMP/flip.out" &
WRK_PID=$!
sleep 1
for i in $(seq "$FLIPS"); do
	if ((i % 2)); then url=${UP[1]} color=green; else url=${UP[0]} color=blue; fi
	kg targets deploy flip "$url" --color "$color"
	sleep "$FLIP_EVERY"
done
wait "$WRK_PID"
read -r rps failed <"$TMP/flip.out"
echo "blue/green: $FLIPS deploys under load: $rps requests/s, $failed failed requests"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
