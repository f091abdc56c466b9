#!/usr/bin/env bash
# A flood of fresh, well-formed API keys (valid checksum, identifiers never
# issued) against keygate while legitimate, cached keys are also sent: what
# the flood does to the legitimate requests' latency, and how many store
# reads it causes (keygate's /metrics: keygate_key_filter_*).
#
#   (A) legitimate keys alone            wrk -c LEGIT_CONNECTIONS
#   (B) the same, with the flood         + wrk -c FLOOD_CONNECTIONS of fresh keys, at full rate
#   (C) the same, with as much traffic of cached keys instead of the flood (REFERENCE=1):
#       the latency any equal load costs on these shared CPUs
#
# Usage: scripts/bench/flood.sh           (see docs/benchmarks.md)
# Environment:
#   DURATION=10s            each measured run
#   LEGIT_CONNECTIONS=16    wrk connections of legitimate keys
#   FLOOD_CONNECTIONS=64    wrk connections of fresh keys
#   LEGIT_KEYS=20           legitimate keys issued (and cached by a warm-up)
#   FRESH=400000            fresh keys generated (cycled if the flood sends more)
#   REFERENCE=1             0: leave (C) out
#   PIN=none                split: keygate and the upstream on all CPUs but the last, both wrk
#                           on the last, the legitimate one at nice -10 and the flood (and the
#                           load of (C)) at nice 10: the flood's generator gets the CPU the
#                           legitimate one leaves, as an attacker elsewhere would, and the
#                           comparison is of keygate's own behaviour under the flood rather
#                           than of three programs sharing the CPUs. none: nothing pinned.
#   KEYGATE_BIN=            use this keygate binary instead of building ./cmd/keygate
#                           (a build from before the filter has no keygate_key_filter_* metrics)
#   PROFILE_DIR=            write CPU profiles of keygate during (A), (B), (C) there (alone,
#                           flood, reference.pprof), from http://$KG_PPROF/debug/pprof: a keygate
#                           built with -tags pprofhook, KG_PPROF=127.0.0.1:PORT in the environment
#   KEYGATE_ARGS=           more arguments to keygate serve (e.g. --unknown-key-reads 0)
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
LEGIT_CONNECTIONS=${LEGIT_CONNECTIONS:-16}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-64}
LEGIT_KEYS=${LEGIT_KEYS:-20}
FRESH=${FRESH:-400000}
REFERENCE=${REFERENCE:-1}
KEYGATE_BIN=${KEYGATE_BIN:-}
KEYGATE_ARGS=${KEYGATE_ARGS:-}
PIN=${PIN:-none}

die() { echo "flood: $*" >&2; exit 1; }
log() { echo "flood: $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for v in LEGIT_CONNECTIONS FLOOD_CONNECTIONS LEGIT_KEYS FRESH; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $DURATION =~ ^[0-9]+[smh]?$ ]] || die "bad DURATION '$DURATION' (use e.g. 10s, 1m)"
DURATION_S=${DURATION%[smh]}
case $DURATION in *m) DURATION_S=$((DURATION_S * 60)) ;; *h) DURATION_S=$((DURATION_S * 3600)) ;; esac

# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx wrk curl
PATH=$PATH:/usr/sbin
WRK=$(command -v wrk)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-flood.XXXXXX")
chmod 755 "$TMP"
PIDS=()
stop_on_exit

pick_port UP_PORT
pick_port KG_PORT
pick_port KG_ADMIN_PORT

SERVER_PIN=() LEGIT_PIN=() LOAD_PIN=()
case $PIN in
none) ;;
split)
	command -v taskset >/dev/null || die "PIN=split needs taskset (util-linux)"
	NCPU=$(nproc)
	((NCPU >= 2)) || die "PIN=split needs 2 CPUs or more"
	UPSTREAM_CPUS=0-$((NCPU - 2))
	SERVER_PIN=(taskset -c "$UPSTREAM_CPUS")
	LEGIT_PIN=(taskset -c $((NCPU - 1)) nice -n -10)
	LOAD_PIN=(taskset -c $((NCPU - 1)) nice -n 10)
	;;
*) die "PIN must be none or split (got '$PIN')" ;;
esac

# ----------------------------------------------------------------- upstream --
start_upstream "$TMP/upstream" "$UP_PORT"

# ------------------------------------------------------------------ keygate --
if [[ -z $KEYGATE_BIN ]]; then
	log "building keygate"
	(cd "$REPO" && go build -o "$TMP/keygate" ./cmd/keygate) || die "go build ./cmd/keygate failed"
	KEYGATE_BIN=$TMP/keygate
	BUILT="keygate built from $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo "$REPO")"
else
	BUILT="keygate from KEYGATE_BIN=$KEYGATE_BIN"
fi
(cd "$REPO" && go build -o "$TMP/freshkeys" ./scripts/bench/freshkeys) || die "go build ./scripts/bench/freshkeys failed"

export KEYGATE_ADMIN_TOKEN=flood_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYGATE_ADMIN_URL=http://127.0.0.1:$KG_ADMIN_PORT
"$KEYGATE_BIN" root-key generate --out "$TMP/root.key" >/dev/null || die "keygate root-key generate failed"
# shellcheck disable=SC2086 # KEYGATE_ARGS is a list of arguments
(exec "${SERVER_PIN[@]}" "$KEYGATE_BIN" serve --data-dir "$TMP/data" --proxy-listen "127.0.0.1:$KG_PORT" --admin-listen "127.0.0.1:$KG_ADMIN_PORT" \
	--root-key-file "$TMP/root.key" --log-level warn $KEYGATE_ARGS </dev/null >>"$TMP/keygate.log" 2>&1) &
PIDS+=($!)
wait_http "$KEYGATE_ADMIN_URL/healthz" $! || { cat "$TMP/keygate.log" >&2; die "keygate did not start"; }

kg() { "$KEYGATE_BIN" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
kg services create --name bench --url "http://127.0.0.1:$UP_PORT"
kg routes create --name bench --service bench --path /bench --key-auth
kg consumers create --username bench
for i in $(seq "$LEGIT_KEYS"); do
	out=$("$KEYGATE_BIN" keys create bench --name "bench$i" --json) || die "keygate keys create failed: $out"
	printf %s "$out" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1 >>"$TMP/legit.txt"
done
[[ $(wc -l <"$TMP/legit.txt") -eq $LEGIT_KEYS ]] || die "keys create gave no key"
PREFIX=$(head -n1 "$TMP/legit.txt" | sed 's/_[^_]*_[^_]*$//')
log "generating $FRESH fresh keys"
"$TMP/freshkeys" -prefix "$PREFIX" -n "$FRESH" >"$TMP/fresh.txt"

# Each wrk sends the keys of a file in turn, one per request.
cat >"$TMP/keys.lua" <<'LUA'
local keys, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do keys[#keys + 1] = line end
  i = math.random(#keys)
end
function request()
  i = i % #keys + 1
  return wrk.format(nil, nil, { ["apikey"] = keys[i] })
end
LUA
URL=http://127.0.0.1:$KG_PORT/bench
wrk_keys() { # wrk_keys FILE CONNECTIONS SECONDS OUT [load]: "load" for the flood and (C)'s load
	local pin=("${LEGIT_PIN[@]}")
	[[ ${5:-} != load ]] || pin=("${LOAD_PIN[@]}")
	"${pin[@]}" "$WRK" -t1 -c"$2" -d"$3s" --latency -s "$TMP/keys.lua" "$URL" -- "$1" >"$4" 2>&1 || true
}
parse() { # parse FILE: "req_per_s p50_ms p99_ms non2xx"
	awk '
	function ms(v) {
		if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
		if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
		if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
		return v + 0
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Non-2xx or 3xx responses:/ { err += $NF }
	END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err }' "$1"
}
metric() { # metric NAME: its value at /metrics, or n/a
	curl -s "$KEYGATE_ADMIN_URL/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print (v == "" ? "n/a" : v) }'
}
filter_counts() { echo "$(metric keygate_key_filter_admitted_total) $(metric keygate_key_filter_unknown_reads_total) $(metric keygate_key_filter_rejected_total)"; }
delta() { [[ $1 == n/a || $2 == n/a ]] && echo n/a || awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

log "warming the cache with the legitimate keys"
wrk_keys "$TMP/legit.txt" 4 2 "$TMP/warm.txt"

# profile NAME: with PROFILE_DIR, a CPU profile of keygate over the next
# DURATION - 1 s, in the background (see scripts/bench/misspath.sh).
profile() {
	[[ -n ${PROFILE_DIR:-} ]] || return 0
	mkdir -p "$PROFILE_DIR"
	curl -s -o "$PROFILE_DIR/$1.pprof" "http://$KG_PPROF/debug/pprof/profile?seconds=$((DURATION_S - 1))" &
}

log "(A) legitimate keys alone, $DURATION"
profile alone
wrk_keys "$TMP/legit.txt" "$LEGIT_CONNECTIONS" "$DURATION_S" "$TMP/a.txt"
read -r A_RPS A_P50 A_P99 A_ERR < <(parse "$TMP/a.txt")

log "(B) legitimate keys with a flood of fresh keys, $DURATION"
read -r ADM0 UNK0 REJ0 < <(filter_counts)
wrk_keys "$TMP/fresh.txt" "$FLOOD_CONNECTIONS" $((DURATION_S + 2)) "$TMP/flood.txt" load &
FLOOD=$!
sleep 1
profile flood
wrk_keys "$TMP/legit.txt" "$LEGIT_CONNECTIONS" "$DURATION_S" "$TMP/b.txt"
wait "$FLOOD"
read -r ADM1 UNK1 REJ1 < <(filter_counts)
read -r B_RPS B_P50 B_P99 B_ERR < <(parse "$TMP/b.txt")
read -r F_RPS F_P50 F_P99 F_NON2XX < <(parse "$TMP/flood.txt")
F_REQS=$(awk '/requests in/ { print $1 }' "$TMP/flood.txt")

if ((REFERENCE)); then
	log "(C) legitimate keys with as much traffic of cached keys, $DURATION"
	wrk_keys "$TMP/legit.txt" "$FLOOD_CONNECTIONS" $((DURATION_S + 2)) "$TMP/cload.txt" load &
	CLOAD=$!
	sleep 1
	profile reference
	wrk_keys "$TMP/legit.txt" "$LEGIT_CONNECTIONS" "$DURATION_S" "$TMP/c.txt"
	wait "$CLOAD"
	read -r C_RPS C_P50 C_P99 C_ERR < <(parse "$TMP/c.txt")
	read -r CL_RPS _ _ _ < <(parse "$TMP/cload.txt")
fi

echo "# $BUILT; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); PIN=$PIN DURATION=$DURATION LEGIT_CONNECTIONS=$LEGIT_CONNECTIONS FLOOD_CONNECTIONS=$FLOOD_CONNECTIONS ${KEYGATE_ARGS:+KEYGATE_ARGS='$KEYGATE_ARGS'}"
echo
echo "| run | legitimate req/s | legitimate p50 | legitimate p99 | p99 vs (A) | non-2xx (legitimate) | other load req/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '| (A) alone | %s | %s ms | %s ms | 1.0× | %s | – |\n' "$A_RPS" "$A_P50" "$A_P99" "$A_ERR"
printf '| (B) with the flood | %s | %s ms | %s ms | %s× | %s | %s (fresh keys, %s answered 401) |\n' "$B_RPS" "$B_P50" "$B_P99" \
	"$(awk -v a="$A_P99" -v b="$B_P99" 'BEGIN { printf "%.1f", b / a }')" "$B_ERR" "$F_RPS" "$F_NON2XX"
if ((REFERENCE)); then
	printf '| (C) with as much cached traffic | %s | %s ms | %s ms | %s× | %s | %s (cached keys) |\n' "$C_RPS" "$C_P50" "$C_P99" \
		"$(awk -v a="$A_P99" -v b="$C_P99" 'BEGIN { printf "%.1f", b / a }')" "$C_ERR" "$CL_RPS"
fi
echo
echo "During (B), ${F_REQS:-?} fresh keys sent; the filter admitted $(delta "$ADM0" "$ADM1") (store reads: its false positives), let $(delta "$UNK0" "$UNK1") through as unknown-key reads (the budget) and refused $(delta "$REJ0" "$REJ1") without a store read."
