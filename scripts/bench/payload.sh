#!/usr/bin/env bash
# wrk throughput of a route with payload_encryption dynamic against a plain
# route, both with key-auth, 1 KiB JSON POSTs to a Go upstream that echoes
# the body (docs/benchmarks.md, docs/payload-encryption.md).
#
# Usage: scripts/bench/payload.sh
# Environment: DURATION=5s CONNECTIONS=16 THREADS=2 N=60000 (envelopes in all:
# a run must end before a thread has sent its N/THREADS; the script says
# when it did not). Everything listens on 127.0.0.1 only and is stopped on exit.
set -euo pipefail
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
N=${N:-60000}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "payload.sh: $1 did not answer" >&2; exit 1; }

(cd "$REPO" && go build -o "$TMP/keygate" ./cmd/keygate && go build -o "$TMP/payload" ./scripts/bench/payload)
UP=$(port) PROXY=$(port) ADMIN=$(port)
"$TMP/payload" upstream -listen "127.0.0.1:$UP" & PIDS+=($!)
export KEYGATE_ADMIN_TOKEN=bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$TMP/keygate" root-key generate --out "$TMP/root.key" >/dev/null
"$TMP/keygate" serve --data-dir "$TMP/data" --proxy-listen "127.0.0.1:$PROXY" --admin-listen "127.0.0.1:$ADMIN" \
	--root-key-file "$TMP/root.key" --log-level warn >"$TMP/keygate.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$ADMIN/healthz"
"$TMP/payload" setup -admin "http://127.0.0.1:$ADMIN" -token "$KEYGATE_ADMIN_TOKEN" -proxy "http://127.0.0.1:$PROXY" \
	-upstream "http://127.0.0.1:$UP" -n "$N" -threads "$THREADS" -dir "$TMP"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for route in plain sealed; do
	echo "== /$route"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$TMP/$route.lua" "http://127.0.0.1:$PROXY/$route" | grep -E 'Requests/sec|Non-2xx|99%|Transfer/sec|requests in'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
