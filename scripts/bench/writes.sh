#!/usr/bin/env bash
# Control-plane write latency of two revisions, in one run: builds the
# cmd/keygate test binary at BEFORE and at AFTER (default: the work tree)
# and runs, alternately, BenchmarkAdminWrites (route, service, consumer and
# key creation through the admin API at 0, 1,000 and 10,000 existing
# routes: median and p99) and BenchmarkRequestsWhileRoutesAreWritten
# (request latency through the gateway, with 10,000 routes, while routes
# are created, and without).
#
# Usage: scripts/bench/writes.sh BEFORE [AFTER]     (see docs/benchmarks.md)
# Environment:
#   WRITES=200x      -benchtime of BenchmarkAdminWrites (BEFORE's route and
#                    service writes at 10,000 routes take ~0.4 s each)
#   REQUESTS=3000x   -benchtime of BenchmarkRequestsWhileRoutesAreWritten
#   RUNS=1           how many times to run the pair (before, after, before, ...)
#   POSTGRES=        a PostgreSQL URL: run on it (a schema of its own per
#                    gateway) instead of SQLite
# BEFORE must hold cmd/keygate/writes_bench_test.go (b80494b or later).
set -euo pipefail

before=${1:?usage: $0 BEFORE [AFTER]}
after=${2:-}
WRITES=${WRITES:-200x}
REQUESTS=${REQUESTS:-3000x}
RUNS=${RUNS:-1}
POSTGRES=${POSTGRES:-}

repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

build() { # build NAME REV: the test binary of REV ("" = the work tree)
	local src=$repo
	if [ -n "$2" ]; then
		src=$tmp/src-$1
		mkdir -p "$src"
		git -C "$repo" archive "$2" | tar -x -C "$src"
	fi
	(cd "$src" && go test -c -o "$tmp/$1.test" ./cmd/keygate)
}
build before "$before"
build after "$after"

if [ -n "$POSTGRES" ]; then
	export KEYGATE_TEST_POSTGRES_URL=$POSTGRES KEYGATE_BENCH_POSTGRES=1
fi
for run in $(seq "$RUNS"); do
	for which in before after; do
		echo "== $which (${!which:-work tree}), run $run"
		"$tmp/$which.test" -test.run '^$' -test.bench 'AdminWrites' -test.benchtime "$WRITES" | grep '^Benchmark'
		"$tmp/$which.test" -test.run '^$' -test.bench 'RequestsWhileRoutesAreWritten' -test.benchtime "$REQUESTS" | grep '^Benchmark'
	done
done
