#!/usr/bin/env bash
# Count the instructions keygate executes per proxied request, under
# valgrind's callgrind, for several kinds of request on one keygate process:
#   key-auth          a key, no plan
#   key+plan          a key on a usage plan (rate + monthly quota, never reached)
#   key+plan hidden   the same plan with hide_client_headers (no rate-limit headers)
#   hmac-auth         an HMAC-signed request (replay protection off)
#
# Unlike requests per second (scripts/bench/run.sh), an instruction count does
# not depend on what else the machine is doing: the same build gives the same
# count within about 1%, so that a change of a few percent in keygate's own
# work can be seen on a shared, noisy machine. It counts user-space
# instructions only: system calls (the kernel's share, about 40% of keygate's
# CPU time on loopback) and cache misses are not in it. Use it to compare
# builds and request kinds, and run.sh for throughput.
#
# Usage: scripts/bench/instructions.sh            (see docs/benchmarks.md)
# Environment:
#   DURATION=10s   wrk duration per target (keygate runs about 50 times slower under callgrind)
#   ROUNDS=2       how many times to measure every target (in turn)
#   KEYGATE_BIN=   use this keygate binary instead of building ./cmd/keygate
#   TOP=25         also list the functions whose own instructions per request differ
#                  most between key+plan and key-auth, from the last round (0: none)
# Everything listens on 127.0.0.1 only; everything started is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
KEYGATE_BIN=${KEYGATE_BIN:-}
TOP=${TOP:-25}

die() { echo "instructions: $*" >&2; exit 1; }
log() { echo "instructions: $*" >&2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ $TOP =~ ^[0-9]+$ ]] || die "TOP must be a whole number (got '$TOP')"
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "bad DURATION '$DURATION' (use e.g. 10s)"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# shellcheck source=tools.sh
source "$REPO/scripts/bench/tools.sh"
need_tools nginx wrk curl valgrind openssl
PATH=$PATH:/usr/sbin

TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-instructions.XXXXXX")
chmod 755 "$TMP"
PIDS=()
stop_on_exit

pick_port UP_PORT
pick_port KG_PORT
pick_port KG_ADMIN_PORT


start_upstream "$TMP/upstream" "$UP_PORT"

if [[ -z $KEYGATE_BIN ]]; then
	log "building keygate"
	(cd "$REPO" && CGO_ENABLED=0 go build -o "$TMP/keygate" ./cmd/keygate) || die "go build ./cmd/keygate failed"
	KEYGATE_BIN=$TMP/keygate
	BUILT="built from $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo "$REPO")"
else
	BUILT="KEYGATE_BIN=$KEYGATE_BIN"
fi
export KEYGATE_ADMIN_TOKEN=bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export KEYGATE_ADMIN_URL=http://127.0.0.1:$KG_ADMIN_PORT
"$KEYGATE_BIN" root-key generate --out "$TMP/root.key" >/dev/null || die "keygate root-key generate failed"

# Go's asynchronous preemption signals trip callgrind; with them off and one
# P, the runtime still schedules every goroutine, only cooperatively. Nor
# does valgrind 3.19 know RDTSCP, which Go's runtime reads the clock with
# on CPUs that have it.
(GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=1 exec valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" \
	"$KEYGATE_BIN" serve --data-dir "$TMP/data" --proxy-listen "127.0.0.1:$KG_PORT" \
	--admin-listen "127.0.0.1:$KG_ADMIN_PORT" --log-level warn --root-key-file "$TMP/root.key" \
	</dev/null >"$TMP/keygate.log" 2>&1) &
PIDS+=($!)
KG_PID=$!
# callgrind starts slowly: a minute at most
wait_http "$KEYGATE_ADMIN_URL/healthz" "$KG_PID" 60 || { tail -20 "$TMP/keygate.log" >&2; die "keygate did not start under callgrind"; }

kg() { "$KEYGATE_BIN" "$@" >>"$TMP/setup.log" 2>&1 || { cat "$TMP/setup.log" >&2; die "keygate $1 $2 failed"; }; }
key_of() { sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n1; }
kg services create --name bench --url "http://127.0.0.1:$UP_PORT"
# One route for every key, so that only the key's plan differs between them.
kg routes create --name bench --service bench --path /bench --strip-path=false --key-auth
kg routes create --name bench-hmac --service bench --path /bench-hmac --strip-path=false --hmac-auth \
	--hmac-clock-skew 86400 --hmac-replay-protection=false
kg consumers create --username bench
kg plans create --name bench --rate 1000000 --burst 1000000 --quota-month 1000000000000
kg plans create --name hidden --rate 1000000 --burst 1000000 --quota-month 1000000000000 --hide-client-headers
KEY=$("$KEYGATE_BIN" keys create bench --name plain --json | key_of)
PLAN_KEY=$("$KEYGATE_BIN" keys create bench --name plan --plan bench --json | key_of)
HIDDEN_KEY=$("$KEYGATE_BIN" keys create bench --name hidden --plan hidden --json | key_of)
SECRET=$("$KEYGATE_BIN" hmac-credentials create bench --username bench-signer --json | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p' | head -n1)
[[ -n $KEY && -n $PLAN_KEY && -n $HIDDEN_KEY && -n $SECRET ]] || die "setup failed: $(cat "$TMP/setup.log")"
HMAC_DATE=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
SIG=$(printf 'date: %s\nx-bench: 1\nGET /bench-hmac HTTP/1.1' "$HMAC_DATE" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)
HMAC_AUTH="hmac username=\"bench-signer\", algorithm=\"hmac-sha256\", headers=\"date x-bench request-line\", signature=\"$SIG\""

NAMES=("key-auth" "key+plan" "key+plan hidden" "hmac-auth")
wrk_args() { # wrk_args I DURATION
	printf '%s\n' -t 1 -c 8 -d "$2"
	case $1 in
	0) printf '%s\n' -H "apikey: $KEY" "http://127.0.0.1:$KG_PORT/bench" ;;
	1) printf '%s\n' -H "apikey: $PLAN_KEY" "http://127.0.0.1:$KG_PORT/bench" ;;
	2) printf '%s\n' -H "apikey: $HIDDEN_KEY" "http://127.0.0.1:$KG_PORT/bench" ;;
	3) printf '%s\n' -H "Date: $HMAC_DATE" -H "X-Bench: 1" -H "Authorization: $HMAC_AUTH" "http://127.0.0.1:$KG_PORT/bench-hmac" ;;
	esac
}
# load I DURATION: prints how many requests wrk completed; fails on any non-200.
load() {
	local args out
	mapfile -t args < <(wrk_args "$1" "$2")
	out=$(wrk "${args[@]}" 2>&1) || die "wrk failed: $out"
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then die "${NAMES[$1]}: requests failed: $out"; fi
	awk '/requests in/ { print $1 }' <<<"$out"
}
# Counters are zeroed before and dumped after each measurement; a dump's
# summary line is the instructions executed since the last zeroing.
# dump LABEL: sets DUMP[LABEL] to the dump's file and IR to its count.
declare -A DUMP
dump() {
	callgrind_control -d "$1" "$KG_PID" >/dev/null 2>&1
	local f=""
	for _ in $(seq 100); do
		f=$(grep -l "^desc: Trigger: dump $1\$" "$TMP"/callgrind.out.* 2>/dev/null | head -n1) && [[ -n $f ]] && break
		sleep 0.1
	done
	[[ -n $f ]] || die "callgrind wrote no dump for $1"
	DUMP[$1]=$f
	IR=$(awk '/^summary:/ { print $2 }' "$f")
}
# self_costs FILE: "instructions function" for each function's own
# instructions (not those of what it calls), from a callgrind dump.
self_costs() {
	awk '
	/^fn=/ { name = $0; sub(/^fn=/, "", name)
		if (match(name, /^\([0-9]+\) /)) { id = substr(name, 1, RLENGTH - 1); name = substr(name, RLENGTH + 1); names[id] = name }
		else if (name ~ /^\([0-9]+\)$/) name = names[name]
		fn = name; next }
	/^cfn=/ { name = $0; sub(/^cfn=/, "", name)
		if (match(name, /^\([0-9]+\) /)) names[substr(name, 1, RLENGTH - 1)] = substr(name, RLENGTH + 1)
		next }
	/^calls=/ { skip = 1; next }
	/^[0-9+*-]/ { if (skip) { skip = 0; next } if (fn != "") cost[fn] += $2 }
	END { for (f in cost) print cost[f], f }' "$1"
}

log "warming up (keygate runs about 50 times slower under callgrind)"
for i in "${!NAMES[@]}"; do load "$i" 3s >/dev/null; done

# What keygate does with no traffic (timers, the change-log reconciler):
# reported, so that it can be seen to be negligible per request.
callgrind_control -z "$KG_PID" >/dev/null 2>&1
sleep 5
dump idle
IDLE_PER_S=$((IR / 5))

echo "keygate instruction counts — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "keygate $BUILT; $(go version 2>/dev/null | awk '{print $3}'); $(valgrind --version)"
echo "load: wrk -t 1 -c 8 -d $DURATION per target, ROUNDS=$ROUNDS; idle: $IDLE_PER_S instructions per second"
echo "per request = (instructions - idle instructions per second × seconds of the run) / requests"
echo
printf '%-6s %-16s %10s %16s %14s\n' round target requests instructions "per request"
declare -A PER
declare -a N
for ((round = 1; round <= ROUNDS; round++)); do
	for i in "${!NAMES[@]}"; do
		callgrind_control -z "$KG_PID" >/dev/null 2>&1
		start=$(date +%s%N)
		n=$(load "$i" "$DURATION")
		dump "r$round-t$i"
		ir=$IR
		idle=$((IDLE_PER_S * ($(date +%s%N) - start) / 1000000000))
		per=$(((ir - idle) / n))
		PER[$round,$i]=$per
		N[i]=$n
		printf '%-6s %-16s %10s %16s %14s\n' "$round" "${NAMES[i]}" "$n" "$ir" "$per"
	done
done
echo
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -a MED
for i in "${!NAMES[@]}"; do
	vals=()
	for ((round = 1; round <= ROUNDS; round++)); do vals+=("${PER[$round,$i]}"); done
	MED[i]=$(median "${vals[@]}")
	printf '       %-16s %41.0f   (median per request)\n' "${NAMES[i]}" "${MED[i]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo
echo "       key+plan / key-auth          $(ratio "${MED[1]}" "${MED[0]}")"
echo "       key+plan hidden / key-auth   $(ratio "${MED[2]}" "${MED[0]}")   (the plan's check without its headers)"
echo "       hmac-auth / key-auth         $(ratio "${MED[3]}" "${MED[0]}")"
if ((TOP > 0)); then
	echo
	echo "functions whose own instructions per request differ most, key+plan against key-auth (round $ROUNDS):"
	printf '%12s %12s %12s  %s\n' key-auth key+plan difference "function (its own instructions, idle work included)"
	join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,2.2 \
		<(self_costs "${DUMP[r$ROUNDS-t0]}" | awk -v n="${N[0]}" '{ c = $1; $1 = ""; sub(/^ /, ""); printf "%s\t%.0f\n", $0, c / n }' | sort -t $'\t' -k1,1) \
		<(self_costs "${DUMP[r$ROUNDS-t1]}" | awk -v n="${N[1]}" '{ c = $1; $1 = ""; sub(/^ /, ""); printf "%s\t%.0f\n", $0, c / n }' | sort -t $'\t' -k1,1) |
		awk -F '\t' '{ d = $3 - $2; printf "%12d %12d %12d  %s\n", $2, $3, d, $1 }' | sort -k3,3gr | head -n "$TOP"
fi
