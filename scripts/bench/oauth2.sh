#!/usr/bin/env bash
# The oauth2 route kind against key-auth, in one run: wrk on a route taking
# an ES256 JWT access token of an external issuer (a stand-in IdP serving
# its JWKS on loopback) and on a route taking an API key, same service, same
# upstream, alternated RUNS times so that both see the same machine. Prints
# requests/s and keygate's CPU per request of each, and the ratios.
#
# Usage: scripts/bench/oauth2.sh            (see docs/benchmarks.md)
# Environment:
#   DURATION=5s      wrk duration of each run
#   CONNECTIONS=32   wrk connections (-c)
#   THREADS=1        wrk threads (-t)
#   RUNS=3           runs of each route (alternated)
#   KEYGATE_BIN=     use this keygate binary instead of building ./cmd/keygate
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
RUNS=${RUNS:-3}
KEYGATE_BIN=${KEYGATE_BIN:-}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $CONNECTIONS =~ ^[0-9]+$ && $CONNECTIONS -ge $THREADS ]] || die "CONNECTIONS must be a whole number >= THREADS"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "bad DURATION '$DURATION' (use e.g. 5s)"

# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx wrk curl
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-oauth2.XXXXXX")
chmod 755 "$TMP"
PIDS=()
stop_on_exit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "building keygate and jwtidp"
build_keygate "$TMP" ./scripts/bench/jwtidp
KEYGATE_BIN=$TMP/keygate

pick_port UP_PORT
start_upstream "$TMP/upstream" "$UP_PORT"

pick_port IDP_PORT
("$TMP/jwtidp" -listen "127.0.0.1:$IDP_PORT" -issuer https://bench.idp -audience bench-api -sub bench -scope bench \
	</dev/null >"$TMP/idp.out" 2>>"$TMP/idp.log") &
PIDS+=($!)
wait_http "http://127.0.0.1:$IDP_PORT/jwks" $! || die "jwtidp did not start"
TOKEN=$(awk '$1 == "token" { print $2 }' "$TMP/idp.out")
[[ -n $TOKEN ]] || die "jwtidp printed no token"

pick_port KG_PORT
pick_port KG_ADMIN_PORT
ADMIN_TOKEN=bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYGATE_ADMIN_TOKEN=$ADMIN_TOKEN KEYGATE_ADMIN_URL=http://127.0.0.1:$KG_ADMIN_PORT
"$KEYGATE_BIN" root-key generate --out "$TMP/root.key" >/dev/null || die "keygate root-key generate failed"
(exec "$KEYGATE_BIN" serve --data-dir "$TMP/data" --root-key-file "$TMP/root.key" --proxy-listen "127.0.0.1:$KG_PORT" \
	--admin-listen "127.0.0.1:$KG_ADMIN_PORT" --log-level warn </dev/null >>"$TMP/keygate.log" 2>&1) &
KG_PID=$!
PIDS+=($KG_PID)
wait_http "$KEYGATE_ADMIN_URL/healthz" $KG_PID || { cat "$TMP/keygate.log" >&2; die "keygate did not start"; }

kg() { "$KEYGATE_BIN" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
kg services create --name bench --url "http://127.0.0.1:$UP_PORT"
kg routes create --name bench --service bench --path /bench --key-auth
curl -sf -o "$TMP/route.json" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
	-d '{"name": "bench-jwt", "service": "bench", "paths": ["/bench-jwt"], "oauth2": {"scopes": ["bench"], "issuers": [
		{"issuer": "https://bench.idp", "jwks_uri": "http://127.0.0.1:'"$IDP_PORT"'/jwks", "audience": "bench-api",
		 "consumer_claim": "sub", "consumer_by": "username"}]}}' \
	"$KEYGATE_ADMIN_URL/v1/routes" || die "creating the oauth2 route failed"
kg consumers create --username bench
out=$("$KEYGATE_BIN" keys create bench --name bench --json) || die "keygate keys create failed: $out"
API_KEY=$(printf %s "$out" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1)
[[ -n $API_KEY ]] || die "no key in the answer of keys create"

body=$(curl -s --max-time 2 -H "apikey: $API_KEY" "http://127.0.0.1:$KG_PORT/bench") || die "/bench does not answer"
[[ $body == ok ]] || die "/bench answered '$body'"
body=$(curl -s --max-time 2 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$KG_PORT/bench-jwt") || die "/bench-jwt does not answer"
[[ $body == ok ]] || die "/bench-jwt answered '$body'"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Authorization: Bearer ${TOKEN%?}A" "http://127.0.0.1:$KG_PORT/bench-jwt")
[[ $code == 401 ]] || die "/bench-jwt answered $code to a token with a bad signature, want 401"

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
HZ=$(getconf CLK_TCK)

# run_wrk PATH HEADER: prints "requests/s failed keygate-µs-per-request" of one wrk run.
run_wrk() {
	local res rps non2xx sock t0 t1 reqs
	t0=$(ticks "$KG_PID")
	res=$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -H "$2" "http://127.0.0.1:$KG_PORT$1")
	t1=$(ticks "$KG_PID")
	echo "$res" >>"$TMP/wrk.log"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$res")
	reqs=$(awk '/requests in/ {print $1}' <<<"$res")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$res")
	sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$res")
	echo "$rps $((${non2xx:-0} + ${sock:-0})) $(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) CPUs)"
echo "wrk -t $THREADS -c $CONNECTIONS -d $DURATION, $RUNS runs each, alternated: /bench (apikey) and /bench-jwt (Bearer ES256 JWT)"
wrk -t "$THREADS" -c "$CONNECTIONS" -d 2s -H "apikey: $API_KEY" "http://127.0.0.1:$KG_PORT/bench" >/dev/null
wrk -t "$THREADS" -c "$CONNECTIONS" -d 2s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$KG_PORT/bench-jwt" >/dev/null
printf '%-4s %12s %12s %10s %10s %8s %8s\n' run key-rps jwt-rps jwt/key key-µs jwt-µs errors
for run in $(seq "$RUNS"); do
	read -r krps kfail kus < <(run_wrk /bench "apikey: $API_KEY")
	read -r jrps jfail jus < <(run_wrk /bench-jwt "Authorization: Bearer $TOKEN")
	printf '%-4s %12s %12s %10s %10s %8s %8s\n' "$run" "$krps" "$jrps" \
		"$(awk -v a="$jrps" -v b="$krps" 'BEGIN { printf "%.2f", a / b }')" "$kus" "$jus" "$((kfail + jfail))"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
